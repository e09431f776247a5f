import SwiftRaft

/// Decodes an AppendEntries request in one pass over its msgpack bytes, straight into an
/// ``AppendEntriesRequest``.
///
/// AppendEntries is the RPC that carries the bulk of a follower's input (a pipelined leader
/// sends batches of 64 entries back to back), so unlike the other values (``WireDecoder``) it
/// has a decoder of its own that keeps scratch space between frames and matches entry keys by
/// whole words. It reads each byte once, with the ``MessagePackFrameReader`` every value is
/// read with.
///
/// It accepts go-msgpack's liberal forms (hashicorp-raft.md §4.2): keys str or bin matched
/// byte-exactly by Go field name, in any order, the last of duplicates winning (except
/// `Entries`, whose arrays append to one another, as msgpack-c's tree walk that this replaced
/// did); other keys skipped with their values, nested ones included; nil anywhere for the zero
/// value; either integer family; `AppendedAt` as string, binary, nil or extension -1. A field
/// error is only reported once the whole value is known to be well-formed
/// (``MessagePackFrameReader/decodePrefix(of:limits:_:)``).
///
/// Entry `Data` and `Extensions` become slices of one copy of the bytes they span in the
/// frame, made once the frame is complete, so a request of any number of entries costs one
/// allocation for all their bytes, and a heartbeat none.
///
/// Not thread-safe: one per ``WireDecoder``, which serves one connection. It keeps a scratch
/// array between frames, so steady-state decoding allocates only the request itself.
struct AppendEntriesDecoder {
    /// Where one entry's `Data` and `Extensions` lie in the frame, until the frame is complete
    /// and copied.
    private struct EntryPayloads {
        var data: Range<Int> = 0..<0
        var extensions: Range<Int> = 0..<0
    }

    /// The limits applied to every request decoded.
    let limits: WireLimits
    /// `EntryPayloads` of `request.entries`, index for index; kept between frames.
    private var payloads: [EntryPayloads] = []

    /// Creates a decoder enforcing `limits`.
    init(limits: WireLimits) {
        self.limits = limits
    }

    /// Decodes the AppendEntries request value at the start of `bytes`, which must begin at its
    /// first byte and may end before it does (a frame still arriving) or go on past it (the
    /// next frames).
    ///
    /// Throws at once, however little of the value has arrived, a structural error in the
    /// bytes present (``WireError/frameTooLarge(limit:)``, ``WireError/nestingTooDeep(limit:)``,
    /// ``WireError/reservedByte(offset:)``), so a hostile peer cannot make the connection wait.
    mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> PrefixDecodeResult<AppendEntriesRequest> {
        defer {
            // A huge request must not pin its scratch for the connection's lifetime.
            if payloads.capacity > 4096 { payloads = [] } else { payloads.removeAll(keepingCapacity: true) }
        }
        return try MessagePackFrameReader.decodePrefix(of: bytes, limits: limits) { reader throws(MessagePackFrameReader.Stop) in
            try readRequest(&reader)
        }
    }

    // MARK: Fields

    private mutating func readRequest(_ reader: inout MessagePackFrameReader) throws(MessagePackFrameReader.Stop) -> AppendEntriesRequest {
        var r = AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 0, leader: "")
        let root = try reader.read(depth: 0)
        let fields: Int
        switch root {
        case .map(let count): fields = count
        case .nil: return r
        default: throw .field(.wrongType(field: "AppendEntriesRequest", expected: "map", found: root.typeName))
        }
        for _ in 0..<fields {
            guard let key = try reader.readKey(depth: 1) else {
                try reader.skipValue(depth: 1)
                continue
            }
            let value = try reader.read(depth: 1)
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "AppendEntriesRequest.Addr"))
            case "Entries": try readEntries(value, &reader, into: &r.entries)
            case "ID": r.header.id = ServerID(try reader.string(value, "AppendEntriesRequest.ID"))
            case "Leader": r.leader = ServerAddress(try reader.string(value, "AppendEntriesRequest.Leader"))
            case "LeaderCommitIndex": r.leaderCommitIndex = try value.uint64("AppendEntriesRequest.LeaderCommitIndex")
            case "PrevLogEntry": r.prevLogEntry = try value.uint64("AppendEntriesRequest.PrevLogEntry")
            case "PrevLogTerm": r.prevLogTerm = try value.uint64("AppendEntriesRequest.PrevLogTerm")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("AppendEntriesRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("AppendEntriesRequest.Term")
            default: try reader.skip(value, depth: 1)
            }
        }
        attachPayloads(reader.bytes, to: &r.entries)
        return r
    }

    private mutating func readEntries(
        _ value: MessagePackFrameReader.Value,
        _ reader: inout MessagePackFrameReader,
        into entries: inout [Log]
    ) throws(MessagePackFrameReader.Stop) {
        let count: Int
        switch value {
        case .array(let n): count = n
        case .nil: return
        default: throw .field(.wrongType(field: "AppendEntriesRequest.Entries", expected: "array", found: value.typeName))
        }
        // The count is the peer's word; every entry takes at least a byte of what has arrived.
        let expected = min(count, reader.remaining)
        entries.reserveCapacity(entries.count + expected)
        payloads.reserveCapacity(payloads.count + expected)
        for i in 0..<count {
            let element = try reader.read(depth: 2)
            guard case .map(let fields) = element else {
                // A nil element would be a nil *Log in Go, which hashicorp/raft would
                // dereference and crash on; there is no entry to make of it.
                throw .field(.wrongType(field: "AppendEntriesRequest.Entries[\(i)]", expected: "map", found: element.typeName))
            }
            try readLog(fields: fields, index: i, &reader, into: &entries)
        }
    }

    private mutating func readLog(
        fields: Int,
        index i: Int,
        _ reader: inout MessagePackFrameReader,
        into entries: inout [Log]
    ) throws(MessagePackFrameReader.Stop) {
        // LogTimestamp.unset spelled out: the global's accessor is a call per entry.
        var log = Log(index: 0, term: 0, appendedAt: LogTimestamp(nanosecondsSinceEpoch: 0))
        var payload = EntryPayloads()
        for _ in 0..<fields {
            guard let key = try reader.readKey(depth: 3) else {
                try reader.skipValue(depth: 3)
                continue
            }
            let value = try reader.read(depth: 3)
            switch LogField(key.bytes) {
            case .appendedAt: log.appendedAt = try Self.time(value, reader, "AppendEntriesRequest.Entries[\(i)].AppendedAt")
            case .data: payload.data = try value.bytes("AppendEntriesRequest.Entries[\(i)].Data") ?? 0..<0
            case .extensions: payload.extensions = try value.bytes("AppendEntriesRequest.Entries[\(i)].Extensions") ?? 0..<0
            case .index: log.index = try value.uint64("AppendEntriesRequest.Entries[\(i)].Index")
            case .term: log.term = try value.uint64("AppendEntriesRequest.Entries[\(i)].Term")
            case .type:
                let raw = try value.uint8("AppendEntriesRequest.Entries[\(i)].Type")
                // hashicorp/raft panics on unknown types when applying; refusing them here
                // fails one RPC instead.
                guard let type = LogType(rawValue: raw) else {
                    throw .field(.valueOutOfRange(field: "AppendEntriesRequest.Entries[\(i)].Type", value: "\(raw)"))
                }
                log.type = type
            case .unknown: try reader.skip(value, depth: 3)
            }
        }
        entries.append(log)
        payloads.append(payload)
    }

    /// The Go field a `Log` map key names. Matched by length and whole little-endian words, as
    /// every entry has six keys: the `FieldKey` comparisons, byte by byte, showed in profiles.
    private enum LogField {
        case appendedAt, data, extensions, index, term, type, unknown

        @inline(__always)
        init(_ key: UnsafeRawBufferPointer) {
            switch key.count {
            case 4:
                switch UInt32(littleEndian: key.loadUnaligned(as: UInt32.self)) {
                case 0x6174_6144: self = .data  // "Data"
                case 0x6d72_6554: self = .term  // "Term"
                case 0x6570_7954: self = .type  // "Type"
                default: self = .unknown
                }
            case 5:
                let isIndex = UInt32(littleEndian: key.loadUnaligned(as: UInt32.self)) == 0x6564_6e49 && key[4] == 0x78  // "Inde", "x"
                self = isIndex ? .index : .unknown
            case 10:
                let head = UInt64(littleEndian: key.loadUnaligned(as: UInt64.self))
                let tail = UInt16(littleEndian: key.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
                if head == 0x6465_646e_6570_7041 && tail == 0x7441 {  // "Appended", "At"
                    self = .appendedAt
                } else if head == 0x6f69_736e_6574_7845 && tail == 0x736e {  // "Extensio", "ns"
                    self = .extensions
                } else {
                    self = .unknown
                }
            default:
                self = .unknown
            }
        }
    }

    /// `Log.AppendedAt` in any form a hashicorp/raft version sends (see ``GoTime``).
    private static func time(
        _ value: MessagePackFrameReader.Value,
        _ reader: MessagePackFrameReader,
        _ field: @autoclosure () -> String
    ) throws(MessagePackFrameReader.Stop) -> LogTimestamp {
        let bytes: UnsafeRawBufferPointer
        switch value {
        case .nil: return .unset
        case .string(let range), .binary(let range): bytes = reader.payload(range)
        case .extension(type: -1, let range): bytes = reader.payload(range)
        default:
            throw .field(.wrongType(field: field(), expected: "time (string, binary, nil or extension -1)", found: value.typeName))
        }
        do throws(WireError) {
            return try GoTime.decode(bytes, field: field())
        } catch {
            throw .field(error)
        }
    }

    /// Gives every entry its `Data` and `Extensions` as slices of one copy of the frame bytes
    /// they span (none for entries without bytes).
    private func attachPayloads(_ bytes: UnsafeRawBufferPointer, to entries: inout [Log]) {
        var lower = Int.max
        var upper = 0
        for payload in payloads {
            if !payload.data.isEmpty {
                lower = min(lower, payload.data.lowerBound)
                upper = max(upper, payload.data.upperBound)
            }
            if !payload.extensions.isEmpty {
                lower = min(lower, payload.extensions.lowerBound)
                upper = max(upper, payload.extensions.upperBound)
            }
        }
        guard lower < upper else { return }
        let copy = Array(UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]))
        for (i, payload) in payloads.enumerated() {
            if !payload.data.isEmpty {
                entries[i].data = copy[(payload.data.lowerBound - lower)..<(payload.data.upperBound - lower)]
            }
            if !payload.extensions.isEmpty {
                entries[i].extensions = copy[(payload.extensions.lowerBound - lower)..<(payload.extensions.upperBound - lower)]
            }
        }
    }
}
