/// A command in raftkv's log: what `Raft.apply` replicates and ``KeyValueStore`` applies.
///
/// Encoding: one tag byte, then each field as a 4-byte big-endian length and its bytes. Binary
/// rather than JSON so any key or value bytes pass unchanged, and cheap to decode on the
/// FSM's thread.
enum KVCommand: Equatable, Sendable {
    /// Sets `key` to `value`.
    case put(key: String, value: [UInt8])
    /// Removes `key` (a no-op when absent).
    case delete(key: String)
    /// Records that server `id` answers HTTP at `address` (`host:port`); a new leader applies
    /// one for itself, and `POST /servers` one for the joiner, so every node can send clients
    /// to the leader's HTTP address.
    case setHTTPAddress(id: String, address: String)

    private enum Tag: UInt8 {
        case put = 1, delete = 2, setHTTPAddress = 3
    }

    /// The command's bytes, for `Raft.apply`.
    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .put(let key, let value):
            bytes.append(Tag.put.rawValue)
            Self.appendField(Array(key.utf8), to: &bytes)
            Self.appendField(value, to: &bytes)
        case .delete(let key):
            bytes.append(Tag.delete.rawValue)
            Self.appendField(Array(key.utf8), to: &bytes)
        case .setHTTPAddress(let id, let address):
            bytes.append(Tag.setHTTPAddress.rawValue)
            Self.appendField(Array(id.utf8), to: &bytes)
            Self.appendField(Array(address.utf8), to: &bytes)
        }
        return bytes
    }

    /// Decodes `bytes`; nil when they are not a command this version knows (an FSM must never
    /// crash on a log entry, so the store skips such entries).
    init?(decoding bytes: some Collection<UInt8>) {
        var reader = ByteReader(Array(bytes))
        guard let tagByte = reader.byte(), let tag = Tag(rawValue: tagByte) else { return nil }
        switch tag {
        case .put:
            guard let key = reader.string(), let value = reader.field() else { return nil }
            self = .put(key: key, value: value)
        case .delete:
            guard let key = reader.string() else { return nil }
            self = .delete(key: key)
        case .setHTTPAddress:
            guard let id = reader.string(), let address = reader.string() else { return nil }
            self = .setHTTPAddress(id: id, address: address)
        }
        guard reader.isAtEnd else { return nil }
    }

    static func appendField(_ field: [UInt8], to bytes: inout [UInt8]) {
        let count = UInt32(field.count)
        bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        bytes += field
    }
}

/// Reads the length-prefixed fields of ``KVCommand`` and of snapshots.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint32() -> UInt32? {
        guard bytes.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func field() -> [UInt8]? {
        guard let count = uint32().map(Int.init), bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string() -> String? {
        field().flatMap { String(validating: $0, as: UTF8.self) }
    }
}
