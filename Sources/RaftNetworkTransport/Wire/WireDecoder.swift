internal import CMsgPack
import NIOCore
import SwiftRaft

/// Decodes NetworkTransport request and response values, liberally, as go-msgpack's decoders
/// do (hashicorp-raft.md §4.2): keys matched by Go field name in any order, unknown keys
/// skipped, missing keys and nil values left zero, either integer family, str/bin/raw for
/// bytes, `Log.AppendedAt` in every form a hashicorp/raft version sends (see ``GoTime``).
///
/// AppendEntries requests, the bulk of what a server reads, are decoded in one pass straight
/// from the bytes by ``AppendEntriesDecoder``, with the same results and errors.
///
/// Every other value goes through msgpack-c, which parses it into a zone-allocated object tree
/// whose strings point into the input (no copies), and the tree is walked field by field. Each
/// such decode first runs ``MessagePackScanner`` over the bytes unless the caller says it
/// already has, so no peer-declared length reaches msgpack-c's allocator unchecked.
///
/// One decoder serves one connection or event loop (it is not thread-safe): it keeps its
/// msgpack-c zone between frames, so steady-state decoding allocates nothing for the tree.
final class WireDecoder {
    /// The limits applied to every value decoded.
    let limits: WireLimits
    private var appendEntries: AppendEntriesDecoder
    private let zone: UnsafeMutablePointer<msgpack_zone>
    private let zoneChunkSize: Int
    /// False only while malloc has failed to give the zone its first chunk.
    private var zoneReady: Bool

    /// Creates a decoder. `zoneChunkSize` is the object-tree memory kept between frames; a
    /// frame needing more borrows further chunks and frees them afterwards. AppendEntries
    /// requests, decoded without a tree, need none; the default holds the tree of any other
    /// request or response (a dozen fields at most) several times over, and every connection
    /// keeps one.
    init(limits: WireLimits = WireLimits(), zoneChunkSize: Int = 4 << 10) {
        self.limits = limits
        self.appendEntries = AppendEntriesDecoder(limits: limits)
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

    /// Decodes a request value from `bytes`, which must hold exactly one value. `scanned` says
    /// ``MessagePackScanner`` has already found it so (the frame decoders have); AppendEntries
    /// requests, read in one pass with the scanner's checks, do not need it.
    func decodeRequest(_ type: RPCType, bytes: UnsafeRawBufferPointer, scanned: Bool) throws(WireError) -> WireRequest {
        switch type {
        case .appendEntries:
            switch try appendEntries.decode(bytes) {
            case .needMoreData: throw .malformed("truncated value (\(bytes.count) bytes)")
            case .complete(_, let length) where length != bytes.count:
                throw .malformed("\(bytes.count - length) bytes after the value")
            case .complete(let request, _): return .appendEntries(try request.get())
            }
        case .requestVote:
            return try withObject(bytes, scanned: scanned) { root throws(WireError) in .requestVote(try decodeRequestVoteRequest(root)) }
        case .installSnapshot:
            return try withObject(bytes, scanned: scanned) { root throws(WireError) in .installSnapshot(try decodeInstallSnapshotRequest(root)) }
        case .timeoutNow:
            return try withObject(bytes, scanned: scanned) { root throws(WireError) in
                .timeoutNow(TimeoutNowRequest(header: try decodeHeaderOnly(root, "TimeoutNowRequest")))
            }
        case .requestPreVote:
            return try withObject(bytes, scanned: scanned) { root throws(WireError) in .requestPreVote(try decodeRequestPreVoteRequest(root)) }
        }
    }

    /// Decodes the AppendEntries request value at the start of `bytes`, which may go on past it
    /// (the next frames) or end before it does (a frame still arriving); see
    /// ``AppendEntriesDecoder/decode(_:)``.
    func decodeAppendEntries(prefixOf bytes: UnsafeRawBufferPointer) throws(WireError) -> AppendEntriesDecoder.Progress {
        try appendEntries.decode(bytes)
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
