internal import CMsgPack
import NIOCore
import SwiftRaft

/// Decodes NetworkTransport request and response values, liberally, as go-msgpack's decoders
/// do (hashicorp-raft.md §4.2): keys matched by Go field name in any order, unknown keys
/// skipped, missing keys and nil values left zero, either integer family, str/bin/raw for
/// bytes, `Log.AppendedAt` in every form a hashicorp/raft version sends (see ``GoTime``).
///
/// msgpack-c parses the value into a zone-allocated object tree whose strings point into the
/// input (no copies). Entry `Data` and `Extensions` become slices of one copy of the frame, so
/// an AppendEntries of any number of entries costs one allocation for all their bytes; frames
/// without entry bytes (heartbeats, votes, responses) copy nothing.
///
/// Every decode first runs ``MessagePackScanner`` over the bytes unless the caller says it
/// already has, so no peer-declared length reaches msgpack-c's allocator unchecked.
///
/// One decoder serves one connection or event loop (it is not thread-safe): it keeps its
/// msgpack-c zone between frames, so steady-state decoding allocates nothing for the tree.
final class WireDecoder {
    /// The limits applied to every value decoded.
    let limits: WireLimits
    private let zone: UnsafeMutablePointer<msgpack_zone>
    private let zoneChunkSize: Int
    /// False only while malloc has failed to give the zone its first chunk.
    private var zoneReady: Bool

    /// Creates a decoder. `zoneChunkSize` is the object-tree memory kept between frames; a
    /// frame needing more borrows further chunks and frees them afterwards. The default holds
    /// the tree of a 64-entry AppendEntries.
    init(limits: WireLimits = WireLimits(), zoneChunkSize: Int = 64 << 10) {
        self.limits = limits
        self.zoneChunkSize = max(zoneChunkSize, 1024)
        zone = .allocate(capacity: 1)
        zoneReady = msgpack_zone_init(zone, self.zoneChunkSize)
    }

    deinit {
        if zoneReady { msgpack_zone_destroy(zone) }
        zone.deallocate()
    }

    // MARK: Entry points

    /// Decodes a request value of type `type`: the bytes after the type byte, exactly one
    /// msgpack value. For InstallSnapshot the snapshot data is not included.
    func decodeRequest(_ type: RPCType, from buffer: ByteBuffer) throws(WireError) -> WireRequest {
        try withReadableBytes(buffer) { bytes throws(WireError) in try decodeRequest(type, bytes: bytes, scanned: false) }
    }

    /// Decodes a response value: the bytes after the error string, exactly one msgpack value.
    /// Nil (what hashicorp/raft sends with an error and no response) gives a zero response.
    func decodeResponse(_ type: RPCType, from buffer: ByteBuffer) throws(WireError) -> WireResponse {
        try withReadableBytes(buffer) { bytes throws(WireError) in try decodeResponse(type, bytes: bytes, scanned: false) }
    }

    /// Decodes a request value from `bytes`. `scanned` says ``MessagePackScanner`` has already
    /// found `bytes` to be exactly one value within the limits (the frame decoders have).
    func decodeRequest(_ type: RPCType, bytes: UnsafeRawBufferPointer, scanned: Bool) throws(WireError) -> WireRequest {
        try withObject(bytes, scanned: scanned) { root throws(WireError) in
            switch type {
            case .appendEntries:
                var frame = FrameBytes(base: bytes)
                return .appendEntries(try decodeAppendEntriesRequest(root, frame: &frame))
            case .requestVote: return .requestVote(try decodeRequestVoteRequest(root))
            case .installSnapshot: return .installSnapshot(try decodeInstallSnapshotRequest(root))
            case .timeoutNow: return .timeoutNow(TimeoutNowRequest(header: try decodeHeaderOnly(root, "TimeoutNowRequest")))
            case .requestPreVote: return .requestPreVote(try decodeRequestPreVoteRequest(root))
            }
        }
    }

    /// Decodes a response value from `bytes`; `scanned` as for requests.
    func decodeResponse(_ type: RPCType, bytes: UnsafeRawBufferPointer, scanned: Bool) throws(WireError) -> WireResponse {
        try withObject(bytes, scanned: scanned) { root throws(WireError) in
            switch type {
            case .appendEntries: return .appendEntries(try decodeAppendEntriesResponse(root))
            case .requestVote: return .requestVote(try decodeRequestVoteResponse(root))
            case .installSnapshot: return .installSnapshot(try decodeInstallSnapshotResponse(root))
            case .timeoutNow: return .timeoutNow(TimeoutNowResponse(header: try decodeHeaderOnly(root, "TimeoutNowResponse")))
            case .requestPreVote: return .requestPreVote(try decodeRequestPreVoteResponse(root))
            }
        }
    }

    // MARK: msgpack-c

    private func withReadableBytes<T>(
        _ buffer: ByteBuffer,
        _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
    ) throws(WireError) -> T {
        // ByteBuffer's closure API rethrows untyped errors; carry the typed one out in a Result.
        let result: Result<T, WireError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(WireError) { return .success(try body(bytes)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func withObject<T>(
        _ bytes: UnsafeRawBufferPointer,
        scanned: Bool,
        _ body: (msgpack_object) throws(WireError) -> T
    ) throws(WireError) -> T {
        if !scanned {
            var scanner = MessagePackScanner(valueCount: 1, limits: limits)
            switch try scanner.scan(bytes) {
            case .needMoreData: throw .malformed("truncated value (\(bytes.count) bytes)")
            case .complete(let length) where length != bytes.count:
                throw .malformed("\(bytes.count - length) bytes after the value")
            case .complete: break
            }
        }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { throw .malformed("no bytes") }
        if !zoneReady {
            // A zone without a chunk must never reach msgpack-c; malloc failed at init.
            zoneReady = msgpack_zone_init(zone, zoneChunkSize)
            guard zoneReady else { throw .malformed("out of memory for the msgpack-c zone") }
        }
        defer { msgpack_zone_clear(zone) }
        var object = msgpack_object()
        var offset = 0
        let status = msgpack_unpack(base.assumingMemoryBound(to: CChar.self), bytes.count, &offset, zone, &object)
        switch status {
        case MSGPACK_UNPACK_SUCCESS: break
        case MSGPACK_UNPACK_EXTRA_BYTES: throw .malformed("\(bytes.count - offset) bytes after the value")
        case MSGPACK_UNPACK_CONTINUE: throw .malformed("truncated value (\(bytes.count) bytes)")
        case MSGPACK_UNPACK_NOMEM_ERROR: throw .malformed("msgpack-c ran out of memory or nesting depth")
        default: throw .malformed("msgpack-c parse error")
        }
        return try body(object)
    }

    // MARK: Requests

    private func decodeAppendEntriesRequest(_ root: msgpack_object, frame: inout FrameBytes) throws(WireError) -> AppendEntriesRequest {
        var r = AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 0, leader: "")
        try root.forEachField("AppendEntriesRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("AppendEntriesRequest.Addr"))
            case "Entries":
                let entries = try value.array("AppendEntriesRequest.Entries")
                r.entries.reserveCapacity(entries.count)
                for (i, entry) in entries.enumerated() {
                    r.entries.append(try decodeLog(entry, index: i, frame: &frame))
                }
            case "ID": r.header.id = ServerID(try value.string("AppendEntriesRequest.ID"))
            case "Leader": r.leader = ServerAddress(try value.string("AppendEntriesRequest.Leader"))
            case "LeaderCommitIndex": r.leaderCommitIndex = try value.uint64("AppendEntriesRequest.LeaderCommitIndex")
            case "PrevLogEntry": r.prevLogEntry = try value.uint64("AppendEntriesRequest.PrevLogEntry")
            case "PrevLogTerm": r.prevLogTerm = try value.uint64("AppendEntriesRequest.PrevLogTerm")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("AppendEntriesRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("AppendEntriesRequest.Term")
            default: break
            }
        }
        return r
    }

    private func decodeLog(_ object: msgpack_object, index i: Int, frame: inout FrameBytes) throws(WireError) -> Log {
        // A nil element would be a nil *Log in Go, which hashicorp/raft would dereference and
        // crash on; there is no entry to make of it.
        if object.isNil { throw .wrongType(field: "AppendEntriesRequest.Entries[\(i)]", expected: "map", found: "nil") }
        var log = Log(index: 0, term: 0)
        try object.forEachField("AppendEntriesRequest.Entries[\(i)]") { key, value throws(WireError) in
            switch key {
            case "AppendedAt": log.appendedAt = try decodeTime(value, "AppendEntriesRequest.Entries[\(i)].AppendedAt")
            case "Data": log.data = frame.slice(try value.bytes("AppendEntriesRequest.Entries[\(i)].Data"))
            case "Extensions": log.extensions = frame.slice(try value.bytes("AppendEntriesRequest.Entries[\(i)].Extensions"))
            case "Index": log.index = try value.uint64("AppendEntriesRequest.Entries[\(i)].Index")
            case "Term": log.term = try value.uint64("AppendEntriesRequest.Entries[\(i)].Term")
            case "Type":
                let raw = try value.uint8("AppendEntriesRequest.Entries[\(i)].Type")
                // hashicorp/raft panics on unknown types when applying; refusing them here
                // fails one RPC instead.
                guard let type = LogType(rawValue: raw) else {
                    throw .valueOutOfRange(field: "AppendEntriesRequest.Entries[\(i)].Type", value: "\(raw)")
                }
                log.type = type
            default: break
            }
        }
        return log
    }

    private func decodeTime(_ value: msgpack_object, _ field: @autoclosure () -> String) throws(WireError) -> LogTimestamp {
        switch value.type {
        case MSGPACK_OBJECT_NIL: return .unset
        case MSGPACK_OBJECT_STR, MSGPACK_OBJECT_BIN:
            guard let bytes = try value.bytes(field()) else { return .unset }
            return try GoTime.decode(bytes, field: field())
        case MSGPACK_OBJECT_EXT where value.via.ext.type == -1:
            return try GoTime.decode(UnsafeRawBufferPointer(start: value.via.ext.ptr, count: Int(value.via.ext.size)), field: field())
        default:
            throw .wrongType(field: field(), expected: "time (string, binary, nil or extension -1)", found: value.typeName)
        }
    }

    private func decodeRequestVoteRequest(_ root: msgpack_object) throws(WireError) -> RequestVoteRequest {
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

    private func decodeRequestPreVoteRequest(_ root: msgpack_object) throws(WireError) -> RequestPreVoteRequest {
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

    private func decodeInstallSnapshotRequest(_ root: msgpack_object) throws(WireError) -> InstallSnapshotRequest {
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

    private func decodeHeaderOnly(_ root: msgpack_object, _ name: StaticString) throws(WireError) -> RPCHeader {
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

    private func decodeAppendEntriesResponse(_ root: msgpack_object) throws(WireError) -> AppendEntriesResponse {
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

    private func decodeRequestVoteResponse(_ root: msgpack_object) throws(WireError) -> RequestVoteResponse {
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

    private func decodeRequestPreVoteResponse(_ root: msgpack_object) throws(WireError) -> RequestPreVoteResponse {
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

    private func decodeInstallSnapshotResponse(_ root: msgpack_object) throws(WireError) -> InstallSnapshotResponse {
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

/// The frame being decoded, and the one copy of it that entry bytes are sliced from.
private struct FrameBytes {
    /// The frame's bytes as msgpack-c saw them; its string pointers point in here.
    let base: UnsafeRawBufferPointer
    /// Made on the first non-empty entry field, then shared by every slice.
    private var copy: [UInt8]?

    init(base: UnsafeRawBufferPointer) { self.base = base }

    /// The bytes of `part` (a string inside `base`) as a slice of the frame's copy.
    mutating func slice(_ part: UnsafeRawBufferPointer?) -> ArraySlice<UInt8> {
        guard let part, let start = part.baseAddress, let origin = base.baseAddress, !part.isEmpty else { return [] }
        let offset = start - origin
        guard offset >= 0, offset <= base.count - part.count else {
            return ArraySlice(part)  // not inside the frame: cannot happen with msgpack-c, copy to be safe
        }
        let whole: [UInt8]
        if let copy {
            whole = copy
        } else {
            whole = Array(base)
            copy = whole
        }
        return whole[offset..<(offset + part.count)]
    }
}
