import NIOCore
import SwiftRaft

/// Decodes NetworkTransport request and response values, liberally, as go-msgpack's decoders
/// do (hashicorp-raft.md §4.2): keys matched by Go field name in any order, unknown keys
/// skipped, missing keys and nil values left zero, either integer family (go-msgpack 0.5.5's
/// unsigned, v2's signed), str/bin/raw for strings and bytes, `Log.AppendedAt` in every form a
/// hashicorp/raft version sends (see ``GoTime``).
///
/// Every value is read in one pass straight from the frame's bytes with a
/// ``MessagePackFrameReader`` (AppendEntries requests by their own ``AppendEntriesDecoder``),
/// which applies the frame limits as it goes: nothing is allocated from a peer-declared size
/// before it has been checked against the bytes it would need.
///
/// One decoder serves one connection or event loop (it is not thread-safe): it keeps the
/// AppendEntries decoder's scratch space between frames.
final class WireDecoder {
    /// The limits applied to every value decoded.
    let limits: WireLimits
    private var appendEntries: AppendEntriesDecoder

    /// Creates a decoder enforcing `limits`.
    init(limits: WireLimits = WireLimits()) {
        self.limits = limits
        self.appendEntries = AppendEntriesDecoder(limits: limits)
    }

    // MARK: Entry points

    /// Decodes a request value of type `type`: the bytes after the type byte, exactly one
    /// msgpack value. For InstallSnapshot the snapshot data is not included.
    func decodeRequest(_ type: RPCType, from buffer: ByteBuffer) throws(WireError) -> RaftRequest {
        try withReadableBytes(buffer) { bytes throws(WireError) in try decodeRequest(type, bytes: bytes) }
    }

    /// Decodes a response value: the bytes after the error string, exactly one msgpack value.
    /// Nil (what hashicorp/raft sends with an error and no response) gives a zero response.
    func decodeResponse(_ type: RPCType, from buffer: ByteBuffer) throws(WireError) -> RaftResponse {
        try withReadableBytes(buffer) { bytes throws(WireError) in try decodeResponse(type, bytes: bytes) }
    }

    /// Decodes a request value from `bytes`, which must hold exactly one value.
    func decodeRequest(_ type: RPCType, bytes: UnsafeRawBufferPointer) throws(WireError) -> RaftRequest {
        try MessagePackFrameReader.decodeWhole(bytes, try decodeRequest(type, prefixOf: bytes))
    }

    /// Decodes the request value at the start of `bytes`, which may go on past it (the next
    /// frames, snapshot data) or end before it does (a frame still arriving); see
    /// ``MessagePackFrameReader/decodePrefix(of:limits:_:)`` for which error wins when.
    func decodeRequest(_ type: RPCType, prefixOf bytes: UnsafeRawBufferPointer) throws(WireError) -> PrefixDecodeResult<RaftRequest> {
        switch type {
        case .appendEntries:
            switch try appendEntries.decode(bytes) {
            case .needMoreData: return .needMoreData
            case .complete(let request, let length): return .complete(decoded: request.map(RaftRequest.appendEntries), length: length)
            }
        case .requestVote:
            return try decode(bytes) { reader throws(MessagePackFrameReader.Stop) in .requestVote(try Self.requestVoteRequest(&reader)) }
        case .installSnapshot:
            return try decode(bytes) { reader throws(MessagePackFrameReader.Stop) in .installSnapshot(try Self.installSnapshotRequest(&reader)) }
        case .timeoutNow:
            return try decode(bytes) { reader throws(MessagePackFrameReader.Stop) in
                .timeoutNow(TimeoutNowRequest(header: try Self.headerOnly(&reader, "TimeoutNowRequest")))
            }
        case .requestPreVote:
            return try decode(bytes) { reader throws(MessagePackFrameReader.Stop) in .requestPreVote(try Self.requestPreVoteRequest(&reader)) }
        case .readIndex:
            return try decode(bytes) { reader throws(MessagePackFrameReader.Stop) in .readIndex(try Self.readIndexRequest(&reader)) }
        }
    }

    /// Decodes a response value from `bytes`, which must hold exactly one value.
    func decodeResponse(_ type: RPCType, bytes: UnsafeRawBufferPointer) throws(WireError) -> RaftResponse {
        let result = try decode(bytes) { reader throws(MessagePackFrameReader.Stop) -> RaftResponse in
            switch type {
            case .appendEntries: return .appendEntries(try Self.appendEntriesResponse(&reader))
            case .requestVote: return .requestVote(try Self.requestVoteResponse(&reader))
            case .installSnapshot: return .installSnapshot(try Self.installSnapshotResponse(&reader))
            case .timeoutNow: return .timeoutNow(TimeoutNowResponse(header: try Self.headerOnly(&reader, "TimeoutNowResponse")))
            case .requestPreVote: return .requestPreVote(try Self.requestPreVoteResponse(&reader))
            case .readIndex: return .readIndex(try Self.readIndexResponse(&reader))
            }
        }
        return try MessagePackFrameReader.decodeWhole(bytes, result)
    }

    private func decode<Decoded>(
        _ bytes: UnsafeRawBufferPointer,
        _ body: (inout MessagePackFrameReader) throws(MessagePackFrameReader.Stop) -> Decoded
    ) throws(WireError) -> PrefixDecodeResult<Decoded> {
        try MessagePackFrameReader.decodePrefix(of: bytes, limits: limits, body)
    }

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

    // MARK: Requests

    private typealias Reader = MessagePackFrameReader
    private typealias Stop = MessagePackFrameReader.Stop

    private static func requestVoteRequest(_ reader: inout Reader) throws(Stop) -> RequestVoteRequest {
        var r = RequestVoteRequest(header: RPCHeader(protocolVersion: 0), term: 0, candidate: "", lastLogIndex: 0, lastLogTerm: 0)
        try reader.readStruct("RequestVoteRequest", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "RequestVoteRequest.Addr"))
            case "Candidate": r.candidate = ServerAddress(try reader.string(value, "RequestVoteRequest.Candidate"))
            case "ID": r.header.id = ServerID(try reader.string(value, "RequestVoteRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("RequestVoteRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("RequestVoteRequest.LastLogTerm")
            case "LeadershipTransfer": r.leadershipTransfer = try value.bool("RequestVoteRequest.LeadershipTransfer")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestVoteRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestVoteRequest.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func requestPreVoteRequest(_ reader: inout Reader) throws(Stop) -> RequestPreVoteRequest {
        var r = RequestPreVoteRequest(header: RPCHeader(protocolVersion: 0), term: 0, lastLogIndex: 0, lastLogTerm: 0)
        try reader.readStruct("RequestPreVoteRequest", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "RequestPreVoteRequest.Addr"))
            case "ID": r.header.id = ServerID(try reader.string(value, "RequestPreVoteRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("RequestPreVoteRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("RequestPreVoteRequest.LastLogTerm")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestPreVoteRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestPreVoteRequest.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func installSnapshotRequest(_ reader: inout Reader) throws(Stop) -> InstallSnapshotRequest {
        var r = InstallSnapshotRequest(
            header: RPCHeader(protocolVersion: 0), snapshotVersion: 0, term: 0, leader: "", lastLogIndex: 0,
            lastLogTerm: 0, configuration: [], configurationIndex: 0, size: 0
        )
        try reader.readStruct("InstallSnapshotRequest", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "InstallSnapshotRequest.Addr"))
            case "Configuration": r.configuration = try reader.byteArray(value, "InstallSnapshotRequest.Configuration")
            case "ConfigurationIndex": r.configurationIndex = try value.uint64("InstallSnapshotRequest.ConfigurationIndex")
            case "ID": r.header.id = ServerID(try reader.string(value, "InstallSnapshotRequest.ID"))
            case "LastLogIndex": r.lastLogIndex = try value.uint64("InstallSnapshotRequest.LastLogIndex")
            case "LastLogTerm": r.lastLogTerm = try value.uint64("InstallSnapshotRequest.LastLogTerm")
            case "Leader": r.leader = ServerAddress(try reader.string(value, "InstallSnapshotRequest.Leader"))
            case "Peers": r.peers = try reader.byteArray(value, "InstallSnapshotRequest.Peers")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("InstallSnapshotRequest.ProtocolVersion")
            case "Size": r.size = try value.int64("InstallSnapshotRequest.Size")
            case "SnapshotVersion": r.snapshotVersion = try value.int("InstallSnapshotRequest.SnapshotVersion")
            case "Term": r.term = try value.uint64("InstallSnapshotRequest.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func headerOnly(_ reader: inout Reader, _ name: StaticString) throws(Stop) -> RPCHeader {
        var header = RPCHeader(protocolVersion: 0)
        try reader.readStruct("\(name)", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": header.address = ServerAddress(try reader.string(value, "\(name).Addr"))
            case "ID": header.id = ServerID(try reader.string(value, "\(name).ID"))
            case "ProtocolVersion": header.protocolVersion = try value.int("\(name).ProtocolVersion")
            default: return false
            }
            return true
        }
        return header
    }

    // MARK: Responses

    private static func appendEntriesResponse(_ reader: inout Reader) throws(Stop) -> AppendEntriesResponse {
        var r = AppendEntriesResponse(header: RPCHeader(protocolVersion: 0), term: 0, lastLog: 0, success: false)
        try reader.readStruct("AppendEntriesResponse", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "AppendEntriesResponse.Addr"))
            case "ID": r.header.id = ServerID(try reader.string(value, "AppendEntriesResponse.ID"))
            case "LastLog": r.lastLog = try value.uint64("AppendEntriesResponse.LastLog")
            case "NoRetryBackoff": r.noRetryBackoff = try value.bool("AppendEntriesResponse.NoRetryBackoff")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("AppendEntriesResponse.ProtocolVersion")
            case "Success": r.success = try value.bool("AppendEntriesResponse.Success")
            case "Term": r.term = try value.uint64("AppendEntriesResponse.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func requestVoteResponse(_ reader: inout Reader) throws(Stop) -> RequestVoteResponse {
        var r = RequestVoteResponse(header: RPCHeader(protocolVersion: 0), term: 0, granted: false)
        try reader.readStruct("RequestVoteResponse", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "RequestVoteResponse.Addr"))
            case "Granted": r.granted = try value.bool("RequestVoteResponse.Granted")
            case "ID": r.header.id = ServerID(try reader.string(value, "RequestVoteResponse.ID"))
            case "Peers": r.peers = try reader.byteArray(value, "RequestVoteResponse.Peers")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestVoteResponse.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestVoteResponse.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func requestPreVoteResponse(_ reader: inout Reader) throws(Stop) -> RequestPreVoteResponse {
        var r = RequestPreVoteResponse(header: RPCHeader(protocolVersion: 0), term: 0, granted: false)
        try reader.readStruct("RequestPreVoteResponse", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "RequestPreVoteResponse.Addr"))
            case "Granted": r.granted = try value.bool("RequestPreVoteResponse.Granted")
            case "ID": r.header.id = ServerID(try reader.string(value, "RequestPreVoteResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("RequestPreVoteResponse.ProtocolVersion")
            case "Term": r.term = try value.uint64("RequestPreVoteResponse.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func readIndexRequest(_ reader: inout Reader) throws(Stop) -> ReadIndexRequest {
        var r = ReadIndexRequest(header: RPCHeader(protocolVersion: 0), term: 0)
        try reader.readStruct("ReadIndexRequest", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "ReadIndexRequest.Addr"))
            case "ID": r.header.id = ServerID(try reader.string(value, "ReadIndexRequest.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("ReadIndexRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("ReadIndexRequest.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func readIndexResponse(_ reader: inout Reader) throws(Stop) -> ReadIndexResponse {
        var r = ReadIndexResponse(header: RPCHeader(protocolVersion: 0), term: 0, readIndex: 0)
        try reader.readStruct("ReadIndexResponse", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "ReadIndexResponse.Addr"))
            case "ID": r.header.id = ServerID(try reader.string(value, "ReadIndexResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("ReadIndexResponse.ProtocolVersion")
            case "ReadIndex": r.readIndex = try value.uint64("ReadIndexResponse.ReadIndex")
            case "Refusal":
                let code = try value.uint8("ReadIndexResponse.Refusal")
                guard code == 0 || ReadIndexResponse.Refusal(rawValue: code) != nil else {
                    throw .field(.valueOutOfRange(field: "ReadIndexResponse.Refusal", value: "\(code)"))
                }
                r.refusal = ReadIndexResponse.Refusal(rawValue: code)
            case "Term": r.term = try value.uint64("ReadIndexResponse.Term")
            default: return false
            }
            return true
        }
        return r
    }

    private static func installSnapshotResponse(_ reader: inout Reader) throws(Stop) -> InstallSnapshotResponse {
        var r = InstallSnapshotResponse(header: RPCHeader(protocolVersion: 0), term: 0, success: false)
        try reader.readStruct("InstallSnapshotResponse", depth: 0) { key, value, reader throws(Stop) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try reader.string(value, "InstallSnapshotResponse.Addr"))
            case "ID": r.header.id = ServerID(try reader.string(value, "InstallSnapshotResponse.ID"))
            case "ProtocolVersion": r.header.protocolVersion = try value.int("InstallSnapshotResponse.ProtocolVersion")
            case "Success": r.success = try value.bool("InstallSnapshotResponse.Success")
            case "Term": r.term = try value.uint64("InstallSnapshotResponse.Term")
            default: return false
            }
            return true
        }
        return r
    }
}
