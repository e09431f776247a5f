import SwiftRaft

/// The legacy `Peers` field of a snapshot's metadata, as hashicorp/raft's `encodePeers` writes it
/// for servers that still speak protocol versions below 3: a msgpack array of the voters'
/// addresses.
///
/// hashicorp/raft encodes each address with `Transport.EncodePeer`, which is the address's bytes
/// for both of its transports, and msgpack-encodes the `[][]byte` with go-msgpack's default
/// handle: arrays as fixarray/array16/array32, byte strings in the legacy "raw" family
/// (fixraw/raw16/raw32), and a nil slice — no voters at all — as msgpack nil.
///
/// RaftCore has a msgpack writer, but it is internal to that module; this is the whole of the
/// encoding this field needs.
enum LegacyPeers {
    /// The `Peers` bytes for `configuration`.
    static func encode(_ configuration: Configuration) -> [UInt8] {
        let voters = configuration.voters
        guard !voters.isEmpty else { return [0xc0] }
        var bytes: [UInt8] = []
        appendHeader(count: voters.count, fix: 0x90, fixLimit: 16, wide16: 0xdc, wide32: 0xdd, to: &bytes)
        for voter in voters {
            let address = Array(voter.address.rawValue.utf8)
            appendHeader(count: address.count, fix: 0xa0, fixLimit: 32, wide16: 0xda, wide32: 0xdb, to: &bytes)
            bytes.append(contentsOf: address)
        }
        return bytes
    }

    private static func appendHeader(
        count: Int, fix: UInt8, fixLimit: Int, wide16: UInt8, wide32: UInt8, to bytes: inout [UInt8]
    ) {
        if count < fixLimit {
            bytes.append(fix | UInt8(count))
        } else if count <= 0xffff {
            bytes.append(wide16)
            bytes.append(UInt8(truncatingIfNeeded: count >> 8))
            bytes.append(UInt8(truncatingIfNeeded: count))
        } else {
            bytes.append(wide32)
            for shift in stride(from: 24, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: count >> shift))
            }
        }
    }
}
