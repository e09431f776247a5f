import CMsgPack
@testable import RaftNetworkTransport
import SwiftRaft

// The msgpack-c path the transport decoded with before every value went through
// MessagePackFrameReader, kept as the oracle of the differential tests: the old boundary scanner,
// msgpack-c's `msgpack_unpack` into an object tree, then a walk of the tree. AppendEntries has
// its own walk (AppendEntriesReference); this file holds the rest and what they share.

/// Decodes values as the msgpack-c tree path did, with the same results and errors.
enum MsgpackCReference {
    /// Decodes `bytes` as exactly one request value of `type`: truncated values and trailing
    /// bytes are `.malformed`.
    static func decodeRequest(_ type: RPCType, _ bytes: [UInt8], limits: WireLimits = WireLimits()) throws(WireError) -> RaftRequest {
        switch type {
        case .appendEntries: return .appendEntries(try AppendEntriesReference.decode(bytes, limits: limits))
        case .requestVote: return try withObject(bytes, limits: limits) { root throws(WireError) in .requestVote(try decodeRequestVoteRequest(root)) }
        case .installSnapshot:
            return try withObject(bytes, limits: limits) { root throws(WireError) in .installSnapshot(try decodeInstallSnapshotRequest(root)) }
        case .timeoutNow:
            return try withObject(bytes, limits: limits) { root throws(WireError) in
                .timeoutNow(TimeoutNowRequest(header: try decodeHeaderOnly(root, "TimeoutNowRequest")))
            }
        case .requestPreVote:
            return try withObject(bytes, limits: limits) { root throws(WireError) in .requestPreVote(try decodeRequestPreVoteRequest(root)) }
        case .readIndex:
            return try withObject(bytes, limits: limits) { root throws(WireError) in .readIndex(try decodeReadIndexRequest(root)) }
        }
    }

    /// Decodes `bytes` as exactly one response value of `type`.
    static func decodeResponse(_ type: RPCType, _ bytes: [UInt8], limits: WireLimits = WireLimits()) throws(WireError) -> RaftResponse {
        try withObject(bytes, limits: limits) { root throws(WireError) in
            switch type {
            case .appendEntries: return .appendEntries(try decodeAppendEntriesResponse(root))
            case .requestVote: return .requestVote(try decodeRequestVoteResponse(root))
            case .installSnapshot: return .installSnapshot(try decodeInstallSnapshotResponse(root))
            case .timeoutNow: return .timeoutNow(TimeoutNowResponse(header: try decodeHeaderOnly(root, "TimeoutNowResponse")))
            case .requestPreVote: return .requestPreVote(try decodeRequestPreVoteResponse(root))
            case .readIndex: return .readIndex(try decodeReadIndexResponse(root))
            }
        }
    }

    /// How many bytes msgpack-c takes for the one value at the start of `bytes`, or nil if it
    /// does not parse one.
    static func unpackedLength(_ bytes: [UInt8]) -> Int? {
        let zone = UnsafeMutablePointer<msgpack_zone>.allocate(capacity: 1)
        defer { zone.deallocate() }
        guard msgpack_zone_init(zone, 4096) else { return nil }
        defer { msgpack_zone_destroy(zone) }
        return bytes.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress else { return nil }
            var object = msgpack_object()
            var offset = 0
            let status = msgpack_unpack(base.assumingMemoryBound(to: CChar.self), raw.count, &offset, zone, &object)
            return status == MSGPACK_UNPACK_SUCCESS || status == MSGPACK_UNPACK_EXTRA_BYTES ? offset : nil
        }
    }

    /// The scan, then msgpack-c, then `body` on the tree, as the old `WireDecoder.withObject`.
    private static func withObject<T>(
        _ bytes: [UInt8],
        limits: WireLimits,
        _ body: (msgpack_object) throws(WireError) -> T
    ) throws(WireError) -> T {
        var scanner = ReferenceMessagePackScanner(valueCount: 1, limits: limits)
        let scanned: Result<ReferenceMessagePackScanner.Progress, WireError> = bytes.withUnsafeBytes { raw in
            do throws(WireError) { return .success(try scanner.scan(raw)) } catch { return .failure(error) }
        }
        switch try scanned.get() {
        case .needMoreData: throw .malformed("truncated value (\(bytes.count) bytes)")
        case .complete(let length) where length != bytes.count: throw .malformed("\(bytes.count - length) bytes after the value")
        case .complete: break
        }
        let zone = UnsafeMutablePointer<msgpack_zone>.allocate(capacity: 1)
        defer { zone.deallocate() }
        guard msgpack_zone_init(zone, 4096) else { throw .malformed("test: no zone") }
        defer { msgpack_zone_destroy(zone) }
        let decoded: Result<T, WireError> = bytes.withUnsafeBytes { raw in
            var object = msgpack_object()
            var offset = 0
            let status = msgpack_unpack(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, &offset, zone, &object)
            guard status == MSGPACK_UNPACK_SUCCESS else { return .failure(.malformed("msgpack-c status \(status.rawValue)")) }
            do throws(WireError) { return .success(try body(object)) } catch { return .failure(error) }
        }
        return try decoded.get()
    }

    // MARK: Requests

    fileprivate static func decodeRequestVoteRequest(_ root: msgpack_object) throws(WireError) -> RequestVoteRequest {
        var r = RequestVoteRequest(header: RPCHeader(protocolVersion: 0), term: 0, candidate: "", lastLogIndex: 0, lastLogTerm: 0)
        try root.forEachField("RequestVoteRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("RequestVoteRequest.Addr"))
            case "Candidate": r.candidate = ServerAddress(try value.string("RequestVoteRequest.Candidate"))
            case "ID": r.header.id = ServerID(try value.string("RequestVoteRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("RequestVoteRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("RequestVoteRequest.LastLogTerm")
            case "LeadershipTransfer": r.leadershipTransfer = try value.bool("RequestVoteRequest.LeadershipTransfer")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestVoteRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestVoteRequest.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeRequestPreVoteRequest(_ root: msgpack_object) throws(WireError) -> RequestPreVoteRequest {
        var r = RequestPreVoteRequest(header: RPCHeader(protocolVersion: 0), term: 0, lastLogIndex: 0, lastLogTerm: 0)
        try root.forEachField("RequestPreVoteRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("RequestPreVoteRequest.Addr"))
            case "ID": r.header.id = ServerID(try value.string("RequestPreVoteRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("RequestPreVoteRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("RequestPreVoteRequest.LastLogTerm")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestPreVoteRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestPreVoteRequest.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeInstallSnapshotRequest(_ root: msgpack_object) throws(WireError) -> InstallSnapshotRequest {
        var r = InstallSnapshotRequest(
            header: RPCHeader(protocolVersion: 0), snapshotVersion: 0, term: 0, leader: "", lastLogIndex: 0,
            lastLogTerm: 0, configuration: [], configurationIndex: 0, size: 0
        )
        try root.forEachField("InstallSnapshotRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("InstallSnapshotRequest.Addr"))
            case "Configuration": r.configuration = try value.byteArray("InstallSnapshotRequest.Configuration")
            case "ConfigurationIndex": r.configurationIndex = try value.uint64("InstallSnapshotRequest.ConfigurationIndex")
            case "ID": r.header.id = ServerID(try value.string("InstallSnapshotRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("InstallSnapshotRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("InstallSnapshotRequest.LastLogTerm")
            case "Leader": r.leader = ServerAddress(try value.string("InstallSnapshotRequest.Leader"))
            case "Peers": r.peers = try value.byteArray("InstallSnapshotRequest.Peers")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("InstallSnapshotRequest.ProtocolVersion")
            case "Size": r.size = try value.int64("InstallSnapshotRequest.Size")
            case "SnapshotVersion": r.snapshotVersion = try value.int("InstallSnapshotRequest.SnapshotVersion")
            case "Term": r.term = try value.uint64("InstallSnapshotRequest.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeHeaderOnly(_ root: msgpack_object, _ name: StaticString) throws(WireError) -> RPCHeader {
        var header = RPCHeader(protocolVersion: 0)
        try root.forEachField("\(name)") { key, value throws(WireError) in
            switch key {
            case "Addr": header.address = ServerAddress(try value.string("\(name).Addr"))
            case "ID": header.id = ServerID(try value.string("\(name).ID"))
            case "ProtocolVersion": header.protocolVersion = try value.int("\(name).ProtocolVersion")
            default: break
            }
        }
        return header
    }

    // MARK: Responses

    fileprivate static func decodeAppendEntriesResponse(_ root: msgpack_object) throws(WireError) -> AppendEntriesResponse {
        var r = AppendEntriesResponse(header: RPCHeader(protocolVersion: 0), term: 0, lastLog: 0, success: false)
        try root.forEachField("AppendEntriesResponse") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("AppendEntriesResponse.Addr"))
            case "ID": r.header.id = ServerID(try value.string("AppendEntriesResponse.ID"))
            case "LastLog": r.lastLog = try value.uint64("AppendEntriesResponse.LastLog")
            case "NoRetryBackoff": r.noRetryBackoff = try value.bool("AppendEntriesResponse.NoRetryBackoff")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("AppendEntriesResponse.ProtocolVersion")
            case "Success": r.success = try value.bool("AppendEntriesResponse.Success")
            case "Term": r.term = try value.uint64("AppendEntriesResponse.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeRequestVoteResponse(_ root: msgpack_object) throws(WireError) -> RequestVoteResponse {
        var r = RequestVoteResponse(header: RPCHeader(protocolVersion: 0), term: 0, granted: false)
        try root.forEachField("RequestVoteResponse") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("RequestVoteResponse.Addr"))
            case "Granted": r.granted = try value.bool("RequestVoteResponse.Granted")
            case "ID": r.header.id = ServerID(try value.string("RequestVoteResponse.ID"))
            case "Peers": r.peers = try value.byteArray("RequestVoteResponse.Peers")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestVoteResponse.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestVoteResponse.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeReadIndexRequest(_ root: msgpack_object) throws(WireError) -> ReadIndexRequest {
        var r = ReadIndexRequest(header: RPCHeader(protocolVersion: 0), term: 0)
        try root.forEachField("ReadIndexRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("ReadIndexRequest.Addr"))
            case "ID": r.header.id = ServerID(try value.string("ReadIndexRequest.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("ReadIndexRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("ReadIndexRequest.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeReadIndexResponse(_ root: msgpack_object) throws(WireError) -> ReadIndexResponse {
        var r = ReadIndexResponse(header: RPCHeader(protocolVersion: 0), term: 0, readIndex: 0)
        try root.forEachField("ReadIndexResponse") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("ReadIndexResponse.Addr"))
            case "ID": r.header.id = ServerID(try value.string("ReadIndexResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("ReadIndexResponse.ProtocolVersion")
            case "ReadIndex": r.readIndex = try value.uint64("ReadIndexResponse.ReadIndex")
            case "Refusal":
                let code = try value.uint64("ReadIndexResponse.Refusal")
                guard code == 0 || UInt8(exactly: code).flatMap(ReadIndexResponse.Refusal.init(rawValue:)) != nil else {
                    throw .valueOutOfRange(field: "ReadIndexResponse.Refusal", value: "\(code)")
                }
                r.refusal = UInt8(exactly: code).flatMap(ReadIndexResponse.Refusal.init(rawValue:))
            case "Term": r.term = try value.uint64("ReadIndexResponse.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeRequestPreVoteResponse(_ root: msgpack_object) throws(WireError) -> RequestPreVoteResponse {
        var r = RequestPreVoteResponse(header: RPCHeader(protocolVersion: 0), term: 0, granted: false)
        try root.forEachField("RequestPreVoteResponse") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("RequestPreVoteResponse.Addr"))
            case "Granted": r.granted = try value.bool("RequestPreVoteResponse.Granted")
            case "ID": r.header.id = ServerID(try value.string("RequestPreVoteResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestPreVoteResponse.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestPreVoteResponse.Term")
            default: break
            }
        }
        return r
    }

    fileprivate static func decodeInstallSnapshotResponse(_ root: msgpack_object) throws(WireError) -> InstallSnapshotResponse {
        var r = InstallSnapshotResponse(header: RPCHeader(protocolVersion: 0), term: 0, success: false)
        try root.forEachField("InstallSnapshotResponse") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("InstallSnapshotResponse.Addr"))
            case "ID": r.header.id = ServerID(try value.string("InstallSnapshotResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("InstallSnapshotResponse.ProtocolVersion")
            case "Success": r.success = try value.bool("InstallSnapshotResponse.Success")
            case "Term": r.term = try value.uint64("InstallSnapshotResponse.Term")
            default: break
            }
        }
        return r
    }
}


/// The reference's liberal readers for the fields of a decoded msgpack-c object tree (the
/// library's own until every value was read in one pass), matching what
/// go-msgpack's decoders accept (hashicorp-raft.md §4.2): nil anywhere means the zero value;
/// both integer families for any integer field (negative only into signed ones); str, bin and
/// raw for strings and bytes; bool also from 0 and 1.
///
/// `field` is evaluated only to name the field in an error, so callers may interpolate paths
/// such as `Entries[\(i)].Data` at no cost on the success path.
extension msgpack_object {
    /// The msgpack family, for error messages.
    var typeName: String {
        switch type {
        case MSGPACK_OBJECT_NIL: return "nil"
        case MSGPACK_OBJECT_BOOLEAN: return "bool"
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "positive integer"
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer"
        case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64: return "float"
        case MSGPACK_OBJECT_STR: return "string"
        case MSGPACK_OBJECT_BIN: return "binary"
        case MSGPACK_OBJECT_ARRAY: return "array"
        case MSGPACK_OBJECT_MAP: return "map"
        case MSGPACK_OBJECT_EXT: return "extension"
        default: return "unknown msgpack type \(type.rawValue)"
        }
    }

    /// The bytes of a string or binary value, pointing into the decoded input (msgpack-c does
    /// not copy them); nil for msgpack nil.
    func bytes(_ field: @autoclosure () -> String) throws(WireError) -> UnsafeRawBufferPointer? {
        switch type {
        case MSGPACK_OBJECT_STR: return UnsafeRawBufferPointer(start: via.str.ptr, count: Int(via.str.size))
        case MSGPACK_OBJECT_BIN: return UnsafeRawBufferPointer(start: via.bin.ptr, count: Int(via.bin.size))
        case MSGPACK_OBJECT_NIL: return nil
        default: throw .wrongType(field: field(), expected: "string or bytes", found: typeName)
        }
    }

    /// A string field's text; "" for nil. Bytes that are not UTF-8 are repaired, not rejected:
    /// Go's `[]byte` fields (ID, Addr, Leader) carry no encoding guarantee.
    func string(_ field: @autoclosure () -> String) throws(WireError) -> String {
        guard let raw = try bytes(field()), !raw.isEmpty else { return "" }
        return String(decoding: raw, as: UTF8.self)
    }

    /// A byte field as its own array; empty for nil.
    func byteArray(_ field: @autoclosure () -> String) throws(WireError) -> [UInt8] {
        guard let raw = try bytes(field()) else { return [] }
        return Array(raw)
    }

    /// An unsigned integer field (Go `uint64`).
    func uint64(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        switch type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return via.u64
        case MSGPACK_OBJECT_NIL: return 0
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: throw .valueOutOfRange(field: field(), value: "\(via.i64)")
        default: throw .wrongType(field: field(), expected: "integer", found: typeName)
        }
    }

    /// A signed integer field (Go `int64`).
    func int64(_ field: @autoclosure () -> String) throws(WireError) -> Int64 {
        switch type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            guard let value = Int64(exactly: via.u64) else { throw .valueOutOfRange(field: field(), value: "\(via.u64)") }
            return value
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return via.i64
        case MSGPACK_OBJECT_NIL: return 0
        default: throw .wrongType(field: field(), expected: "integer", found: typeName)
        }
    }

    /// A signed integer field of Go type `int` (ProtocolVersion, SnapshotVersion).
    func int(_ field: @autoclosure () -> String) throws(WireError) -> Int {
        let value = try int64(field())
        guard let narrow = Int(exactly: value) else { throw .valueOutOfRange(field: field(), value: "\(value)") }
        return narrow
    }

    /// A bool field: true/false, or the integers 0 and 1 as go-msgpack accepts them.
    func bool(_ field: @autoclosure () -> String) throws(WireError) -> Bool {
        switch type {
        case MSGPACK_OBJECT_BOOLEAN: return via.boolean
        case MSGPACK_OBJECT_NIL: return false
        case MSGPACK_OBJECT_POSITIVE_INTEGER where via.u64 <= 1: return via.u64 == 1
        case MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_NEGATIVE_INTEGER:
            throw .valueOutOfRange(field: field(), value: "\(type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "\(via.u64)" : "\(via.i64)") as bool")
        default: throw .wrongType(field: field(), expected: "bool", found: typeName)
        }
    }

    /// Calls `body` with each key and value of a struct's map, skipping keys that are not
    /// strings (go-msgpack would not match them to any field either). Nil, for a struct, means
    /// all fields zero, so `body` is not called.
    func forEachField(
        _ field: @autoclosure () -> String,
        _ body: (FieldKey, msgpack_object) throws(WireError) -> Void
    ) throws(WireError) {
        switch type {
        case MSGPACK_OBJECT_MAP:
            guard let entries = via.map.ptr else { return }
            for i in 0..<Int(via.map.size) {
                let entry = entries[i]
                let keyBytes: UnsafeRawBufferPointer
                switch entry.key.type {
                case MSGPACK_OBJECT_STR: keyBytes = UnsafeRawBufferPointer(start: entry.key.via.str.ptr, count: Int(entry.key.via.str.size))
                case MSGPACK_OBJECT_BIN: keyBytes = UnsafeRawBufferPointer(start: entry.key.via.bin.ptr, count: Int(entry.key.via.bin.size))
                default: continue
                }
                try body(FieldKey(bytes: keyBytes), entry.val)
            }
        case MSGPACK_OBJECT_NIL:
            return
        default:
            throw .wrongType(field: field(), expected: "map", found: typeName)
        }
    }
}

/// The transport's boundary scanner as it was before it was rebuilt on
/// ``MessagePackFrameReader``: header arithmetic of its own, written apart from the reader, that
/// skips payloads without reading them and resumes where the previous call stopped. The oracle
/// for where a frame ends and which structural error stops it (``WireError/frameTooLarge(limit:)``
/// from a header alone, ``WireError/nestingTooDeep(limit:)``, ``WireError/reservedByte(offset:)``)
/// in the differential tests, and the gate in front of msgpack-c in the reference decoders.
struct ReferenceMessagePackScanner {
    /// What a call to ``scan(_:)`` found.
    enum Progress: Hashable, Sendable {
        /// The values are incomplete; call again with the same bytes and more.
        case needMoreData
        /// The values occupy exactly the first `length` bytes.
        case complete(length: Int)
    }

    /// The limits every scanned frame must respect.
    let limits: WireLimits
    /// How many consecutive values make a frame (1 for a request, 2 for a response).
    let valueCount: Int

    /// The offset of the next header to read. After a string or binary header it jumps past
    /// the payload, possibly beyond the bytes received so far.
    private var offset = 0
    /// Values still expected at each open level, `levels[0...depth]`. `levels[0]` counts the
    /// frame's own values; each open array or map adds a level (a map counts keys and values
    /// separately). Allocated once at `maxDepth + 1` entries and never resized.
    private var levels: [Int]
    /// The innermost open level; -1 once the frame is complete.
    private var depth = 0

    /// Creates a scanner for frames of `valueCount` values.
    init(valueCount: Int = 1, limits: WireLimits) {
        self.limits = limits
        self.valueCount = max(valueCount, 1)
        self.levels = [Int](repeating: 0, count: limits.maxDepth + 1)
        self.levels[0] = self.valueCount
    }

    /// Forgets the current frame, to scan a new one starting at offset 0.
    mutating func reset() {
        offset = 0
        depth = 0
        levels[0] = valueCount
    }

    /// Continues scanning `bytes`, which must start at the frame's first byte and begin with
    /// the bytes given to the previous calls since the last ``reset()``.
    ///
    /// Once a frame is complete, further calls return the same length until ``reset()``.
    /// Throws ``WireError/frameTooLarge(limit:)``, ``WireError/nestingTooDeep(limit:)`` or
    /// ``WireError/reservedByte(offset:)``; the scanner must be reset after an error.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Progress {
        var offset = self.offset
        var depth = self.depth
        defer {
            self.offset = offset
            self.depth = depth
        }
        let limits = self.limits
        // One exclusive access to the level stack for the whole loop: no per-value uniqueness
        // checks on the array.
        let result: Result<Progress, WireError> = levels.withUnsafeMutableBufferPointer { levels in
            do throws(WireError) {
                return .success(try Self.run(bytes, &offset, &depth, levels, limits))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func run(
        _ bytes: UnsafeRawBufferPointer,
        _ offset: inout Int,
        _ depth: inout Int,
        _ levels: UnsafeMutableBufferPointer<Int>,
        _ limits: WireLimits
    ) throws(WireError) -> Progress {
        let available = bytes.count
        let maxFrameSize = limits.maxFrameSize
        while true {
            // A skipped payload may end beyond what has arrived.
            if offset > available { return .needMoreData }
            while depth >= 0 && levels[depth] == 0 { depth -= 1 }
            if depth < 0 { return .complete(length: offset) }
            if offset == available { return .needMoreData }

            let head = bytes[offset]
            var size: Int  // header and payload; for a container, its header only
            var elements = -1  // values inside, for arrays and maps; -1 for other values
            switch head {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: size = 1
            case 0xa0...0xbf: size = 1 + Int(head & 0x1f)
            case 0x90...0x9f:
                size = 1
                elements = Int(head & 0x0f)
            case 0x80...0x8f:
                size = 1
                elements = Int(head & 0x0f) * 2
            case 0xcc, 0xd0: size = 2
            case 0xcd, 0xd1: size = 3
            case 0xca, 0xce, 0xd2: size = 5
            case 0xcb, 0xcf, 0xd3: size = 9
            case 0xd4: size = 3  // fixext 1: head, type, 1 byte
            case 0xd5: size = 4
            case 0xd6: size = 6
            case 0xd7: size = 10
            case 0xd8: size = 18
            case 0xc1: throw .reservedByte(offset: offset)
            default:
                // A length follows the head: 1, 2 or 4 bytes, big-endian. Only it must have
                // arrived; the rest of the header and the payload are skipped by arithmetic.
                let width: Int
                switch head {
                case 0xc4, 0xc7, 0xd9: width = 1
                case 0xc5, 0xc8, 0xda, 0xdc, 0xde: width = 2
                default: width = 4  // c6, c9, db, dd, df
                }
                guard offset + 1 + width <= available else { return .needMoreData }
                var declared = 0
                for i in (offset + 1)...(offset + width) { declared = declared << 8 | Int(bytes[i]) }
                switch head {
                case 0xdc, 0xdd:
                    size = 1 + width
                    elements = declared
                case 0xde, 0xdf:
                    size = 1 + width
                    elements = declared * 2  // declared < 2^32: no overflow on 64-bit
                case 0xc7, 0xc8, 0xc9: size = 1 + width + 1 + declared  // the extension's type byte
                default: size = 1 + width + declared
                }
            }

            // offset <= maxFrameSize <= 2^32 and size, elements < 2^34: no overflow.
            let end = offset + size
            if end > maxFrameSize || end + max(elements, 0) > maxFrameSize {
                throw .frameTooLarge(limit: maxFrameSize)
            }
            if elements >= 0 && depth >= limits.maxDepth {
                throw .nestingTooDeep(limit: limits.maxDepth)
            }
            levels[depth] -= 1
            offset = end
            if elements > 0 {
                depth += 1
                levels[depth] = elements
            }
        }
    }
}
