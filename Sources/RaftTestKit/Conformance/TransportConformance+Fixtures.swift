import SwiftRaft
import Synchronization

// The requests the checks send and the answers the test server gives. Every field carries a
// value that differs from its default and from the other fields, and integers span every msgpack
// width (fixnum, 8, 16, 32 and 64 bits, up to UInt64.max), so a transport that drops, swaps,
// truncates or hard-codes a field cannot pass. Answers are computed from their requests, so the
// caller can tell its own answer from any other.

extension TransportConformance {
    // MARK: Identities

    /// The ID the test gives the server at `address`; not ASCII, so an encoder counting characters
    /// instead of UTF-8 bytes is caught.
    static func serverID(_ address: ServerAddress) -> ServerID { ServerID("id-\(address.rawValue)-λ") }

    /// The `id:` argument of a call to `transport`.
    static func id(of transport: any Transport) -> ServerID { serverID(transport.localAddress) }

    /// A full header, as swift-raft and hashicorp/raft since 1.3.7 send.
    static func header(_ address: ServerAddress) -> RPCHeader {
        RPCHeader(protocolVersion: 3, id: serverID(address), address: address)
    }

    /// The header of hashicorp/raft before 1.3.7: protocol version 2, empty ID and address.
    static let legacyHeader = RPCHeader(protocolVersion: 2, id: "", address: "")

    // MARK: Requests

    /// Every AppendEntries shape: entries of every type with binary data and extensions of
    /// assorted sizes (one beyond 64 KiB), an empty non-heartbeat request from an old peer, and a
    /// bare heartbeat.
    static func appendEntriesRequests(from leader: ServerAddress) -> [AppendEntriesRequest] {
        // A slice that does not start at index 0, as decoders hand out views of one buffer.
        let framed: [UInt8] = [0xEE, 0xEE, 0xEE] + (0...255) + [0xEE]
        let everyByte = framed[3..<259]
        let large = (0..<70_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let entries = [
            Log(
                index: 1_001,
                term: 0x1_0000_0000,
                type: .command,
                data: everyByte,
                extensions: [0x00, 0x01, 0xFF],
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_123_456_789)
            ),
            Log(index: 1_002, term: 0x1_0000_0000, type: .noop, data: [], extensions: [], appendedAt: .unset),
            Log(
                index: 1_003,
                term: 0x1_0000_0001,
                type: .addPeerDeprecated,
                data: Array("old-peer:8300".utf8),
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1)
            ),
            Log(
                index: 1_004,
                term: 0x1_0000_0001,
                type: .removePeerDeprecated,
                data: Array("gone:8300".utf8),
                extensions: Array(repeating: 0x5A, count: 40),
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 999_999_999)
            ),
            Log(
                index: 1_005,
                term: 0x1_0000_0002,
                type: .barrier,
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_001_000_000_000)
            ),
            Log(
                index: 1_006,
                term: 0x1_0000_0002,
                type: .configuration,
                data: [0x81, 0xA7] + Array("Servers".utf8) + [0x90],
                extensions: Array(repeating: 0xA5, count: 300),
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_002_000_000_001)
            ),
            Log(
                index: 1_007,
                term: 0x1_0000_0002,
                type: .command,
                data: large[...],
                extensions: Array(repeating: 0x01, count: 70_000)[...],
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 4_102_444_800_000_000_000)
            ),
        ]
        return [
            AppendEntriesRequest(
                header: header(leader),
                term: 0x1_0000_0002,
                leader: leader,
                prevLogEntry: 1_000,
                prevLogTerm: 200,
                entries: entries,
                leaderCommitIndex: 70_000
            ),
            AppendEntriesRequest(
                header: legacyHeader,
                term: 300,
                leader: leader,
                prevLogEntry: 0xFFFF_FFFF,
                prevLogTerm: 127,
                entries: [],
                leaderCommitIndex: UInt64.max
            ),
            heartbeat(from: leader, term: 0x7FFF_FFFF_FFFF_FFFF),
        ]
    }

    /// A bare heartbeat in hashicorp/raft's sense.
    static func heartbeat(from leader: ServerAddress, term: UInt64) -> AppendEntriesRequest {
        AppendEntriesRequest(header: header(leader), term: term, leader: leader)
    }

    /// A small AppendEntries told apart from others by `number`, for pipelines.
    static func numberedAppend(_ number: UInt64, from leader: ServerAddress) -> AppendEntriesRequest {
        AppendEntriesRequest(
            header: header(leader),
            term: 7,
            leader: leader,
            prevLogEntry: number,
            prevLogTerm: 7,
            entries: [Log(index: number + 1, term: 7, data: Array("entry \(number)".utf8))],
            leaderCommitIndex: number
        )
    }

    /// An AppendEntries whose entries' data alone is larger than `limit` bytes, so it exceeds a
    /// `maxMessageSize` of `limit` however compactly a transport encodes it. The entries share
    /// one buffer of at most 1 MiB, so even a limit of many megabytes costs little memory.
    static func oversizedAppend(limit: Int, from leader: ServerAddress) -> AppendEntriesRequest {
        let chunk = max(1, min(1 << 20, limit / 2 + 1))
        let shared = ArraySlice(snapshotBytes(chunk))
        let count = limit / chunk + 1
        return AppendEntriesRequest(
            header: header(leader),
            term: 7,
            leader: leader,
            prevLogEntry: 500,
            prevLogTerm: 7,
            entries: (0..<count).map { Log(index: 501 + UInt64($0), term: 7, data: shared) },
            leaderCommitIndex: 500
        )
    }

    /// RequestVotes: a full one from a leadership transfer, and a minimal one from an old peer.
    static func requestVoteRequests(from candidate: ServerAddress) -> [RequestVoteRequest] {
        [
            RequestVoteRequest(
                header: header(candidate),
                term: 0x1_0000_0007,
                candidate: candidate,
                lastLogIndex: 65_536,
                lastLogTerm: 255,
                leadershipTransfer: true
            ),
            RequestVoteRequest(header: legacyHeader, term: 2, candidate: candidate, lastLogIndex: 0, lastLogTerm: 0),
        ]
    }

    /// A RequestVote told apart from others by its term; `transfer` varies the answer.
    static func vote(term: UInt64, transfer: Bool = false, from candidate: ServerAddress) -> RequestVoteRequest {
        RequestVoteRequest(
            header: header(candidate),
            term: term,
            candidate: candidate,
            lastLogIndex: term / 2,
            lastLogTerm: term / 3,
            leadershipTransfer: transfer
        )
    }

    /// RequestPreVotes: one with 64-bit values, one minimal.
    static func requestPreVoteRequests(from candidate: ServerAddress) -> [RequestPreVoteRequest] {
        [
            RequestPreVoteRequest(
                header: header(candidate),
                term: 0x8000_0000_0000_0001,
                lastLogIndex: 4_294_967_296,
                lastLogTerm: 128
            ),
            RequestPreVoteRequest(header: legacyHeader, term: 1, lastLogIndex: 0, lastLogTerm: 0),
        ]
    }

    /// TimeoutNows with a full and a legacy header.
    static func timeoutNowRequests(from leader: ServerAddress) -> [TimeoutNowRequest] {
        [TimeoutNowRequest(header: header(leader)), TimeoutNowRequest(header: legacyHeader)]
    }

    /// ReadIndex requests (swift-raft's own RPC) with a full and a legacy header, one with a term
    /// past 32 bits.
    static func readIndexRequests(from follower: ServerAddress) -> [ReadIndexRequest] {
        [ReadIndexRequest(header: header(follower), term: 0x1_0000_0007), ReadIndexRequest(header: legacyHeader, term: 1)]
    }

    /// InstallSnapshots, each with the bytes its source holds: more than `size`, which the
    /// transport must not send. A few hundred KB (several TCP windows and read buffers), and
    /// an empty snapshot.
    static func installSnapshotRequests(from leader: ServerAddress) -> [(request: InstallSnapshotRequest, source: [UInt8])] {
        let size = 333_331
        return [
            (
                InstallSnapshotRequest(
                    header: header(leader),
                    snapshotVersion: 1,
                    term: 0x1_0000_0011,
                    leader: leader,
                    lastLogIndex: 123_456_789_012,
                    lastLogTerm: 0x1_0000_0010,
                    peers: [0x91, 0xA9] + Array("old:8300".utf8),
                    configuration: [0x81, 0xA7] + Array("Servers".utf8) + [0x90, 0x00, 0xFF],
                    configurationIndex: 99_999,
                    size: Int64(size)
                ),
                snapshotBytes(size + 4_096)
            ),
            (
                InstallSnapshotRequest(
                    header: legacyHeader,
                    snapshotVersion: 1,
                    term: 3,
                    leader: leader,
                    lastLogIndex: 1,
                    lastLogTerm: 1,
                    configuration: [],
                    configurationIndex: 0,
                    size: 0
                ),
                snapshotBytes(100)
            ),
        ]
    }

    /// A small InstallSnapshot and its source, for checks about something other than the data.
    static func smallSnapshot(from leader: ServerAddress) -> (request: InstallSnapshotRequest, source: [UInt8]) {
        let request = InstallSnapshotRequest(
            header: header(leader),
            term: 5,
            leader: leader,
            lastLogIndex: 10,
            lastLogTerm: 5,
            configuration: [0x80],
            configurationIndex: 2,
            size: 16
        )
        return (request, snapshotBytes(16))
    }

    /// Snapshot bytes without a short period, so bytes delivered out of order or from the wrong
    /// offset do not happen to match.
    static func snapshotBytes(_ count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    /// Snapshot data handed out in pieces of at most `chunkLimit` bytes, fewer than asked for, as
    /// a file or socket may: a transport must keep reading until it has `size` bytes.
    ///
    /// It remembers whether it was closed: the sender's transport must leave it open for its
    /// owner.
    final class ChunkedSource: SnapshotSource {
        private let bytes: [UInt8]
        private let chunkLimit: Int
        private let state = Mutex((offset: 0, closed: false))

        init(_ bytes: [UInt8], chunkLimit: Int = 7_777) {
            self.bytes = bytes
            self.chunkLimit = chunkLimit
        }

        func read(maxLength: Int) throws -> [UInt8] {
            state.withLock { state in
                let end = min(bytes.count, state.offset + min(max(0, maxLength), chunkLimit))
                defer { state.offset = end }
                return Array(bytes[state.offset..<end])
            }
        }

        func close() { state.withLock { $0.closed = true } }

        /// Whether anyone closed it.
        var isClosed: Bool { state.withLock { $0.closed } }
    }

    // MARK: Answers

    /// The test server's answer to `received`, at `server`; nil when it cannot answer (snapshot
    /// data that failed to read), in which case it refuses the RPC. Derived from the request,
    /// with every field differing from the request's and from its default where the type allows.
    static func answer(to received: Received, from server: ServerAddress) -> RaftResponse? {
        switch received {
        case .appendEntries(let request):
            return .appendEntries(answer(to: request, from: server))
        case .requestVote(let request):
            return .requestVote(answer(to: request, from: server))
        case .requestPreVote(let request):
            return .requestPreVote(answer(to: request, from: server))
        case .installSnapshot(let request, let data?):
            return .installSnapshot(answer(to: request, readBytes: data.count, from: server))
        case .installSnapshot(_, data: nil):
            return nil
        case .timeoutNow(let request):
            return .timeoutNow(answer(to: request, from: server))
        case .readIndex(let request):
            return .readIndex(answer(to: request, from: server))
        }
    }

    /// The header of an answer from `server` to a request with `header`.
    private static func answerHeader(to header: RPCHeader, from server: ServerAddress) -> RPCHeader {
        RPCHeader(protocolVersion: header.protocolVersion, id: serverID(server), address: server)
    }

    /// The answer to an AppendEntries: each of `success` and `noRetryBackoff` is true for one of
    /// the shapes in ``appendEntriesRequests(from:)`` and false for another.
    static func answer(to request: AppendEntriesRequest, from server: ServerAddress) -> AppendEntriesResponse {
        AppendEntriesResponse(
            header: answerHeader(to: request.header, from: server),
            term: request.term &+ 1,
            lastLog: request.prevLogEntry &+ UInt64(request.entries.count),
            success: !request.entries.isEmpty || request.isHeartbeat,
            noRetryBackoff: request.entries.isEmpty && !request.isHeartbeat
        )
    }

    /// The answer to a RequestVote: granted, with legacy peers, exactly for leadership transfers.
    static func answer(to request: RequestVoteRequest, from server: ServerAddress) -> RequestVoteResponse {
        RequestVoteResponse(
            header: answerHeader(to: request.header, from: server),
            term: request.term &+ 1,
            peers: request.leadershipTransfer ? [0x91, 0xA4] + Array("peer".utf8) : [],
            granted: request.leadershipTransfer
        )
    }

    /// The answer to a RequestPreVote: granted exactly when the candidate has a log.
    static func answer(to request: RequestPreVoteRequest, from server: ServerAddress) -> RequestPreVoteResponse {
        RequestPreVoteResponse(
            header: answerHeader(to: request.header, from: server),
            term: request.term &+ 1,
            granted: request.lastLogIndex > 0
        )
    }

    /// The answer to an InstallSnapshot: successful exactly when `readBytes` is the size sent and
    /// not zero, so the two shapes of ``installSnapshotRequests(from:)`` answer differently.
    static func answer(
        to request: InstallSnapshotRequest,
        readBytes: Int,
        from server: ServerAddress
    ) -> InstallSnapshotResponse {
        InstallSnapshotResponse(
            header: answerHeader(to: request.header, from: server),
            term: request.term &+ 1,
            success: Int64(readBytes) == request.size && request.size > 0
        )
    }

    /// The answer to a TimeoutNow.
    static func answer(to request: TimeoutNowRequest, from server: ServerAddress) -> TimeoutNowResponse {
        TimeoutNowResponse(header: answerHeader(to: request.header, from: server))
    }

    /// The answer to a ReadIndex: a read index past 32 bits for a request with a term past 32
    /// bits, a refusal for the other.
    static func answer(to request: ReadIndexRequest, from server: ServerAddress) -> ReadIndexResponse {
        ReadIndexResponse(
            header: answerHeader(to: request.header, from: server),
            term: request.term &+ 1,
            readIndex: request.term > UInt32.max ? request.term &* 3 : 0,
            refusal: request.term > UInt32.max ? nil : .leadershipLost
        )
    }
}
