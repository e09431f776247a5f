@testable import RaftNetworkTransport
import SwiftRaft

/// The values behind `Fixtures/golden/*.hex`, as `GoPeers/golden/main.go` encodes them.
/// Change both together.
enum Golden {
    /// The sender's address in every golden request.
    static let leaderAddress: ServerAddress = "127.0.0.1:7000"
    /// The header of every newest-shape golden request.
    static let leaderHeader = RPCHeader(protocolVersion: 3, id: "n1", address: "127.0.0.1:7000")
    /// The header of the newest-shape golden responses.
    static let followerHeader = RPCHeader(protocolVersion: 3, id: "n2", address: "127.0.0.1:7001")
    /// What a 1.1.2 sender's header decodes to: no ID, no Addr.
    static let legacyHeader = RPCHeader(protocolVersion: 3, id: "", address: "")
    /// A header hashicorp/raft leaves unpopulated (InstallSnapshot and TimeoutNow responses).
    static let emptyHeader = RPCHeader(protocolVersion: 0, id: "", address: "")

    /// The Go program's deterministic filler.
    static func pattern(_ count: Int, _ seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 * 7 + seed) }
    }

    /// hashicorp/raft's `EncodeConfiguration` of n1 and n2 (voters) and n3 (nonvoter).
    static let configuration: [UInt8] = {
        func raw(_ text: String) -> [UInt8] { [0xa0 | UInt8(text.utf8.count)] + Array(text.utf8) }
        func server(_ id: String, _ address: String, _ suffrage: UInt8) -> [UInt8] {
            [0x83] + raw("Address") + raw(address) + raw("ID") + raw(id) + raw("Suffrage") + [suffrage]
        }
        return [0x81] + raw("Servers") + [0x93]
            + server("n1", "127.0.0.1:7000", 0) + server("n2", "127.0.0.1:7001", 0) + server("n3", "127.0.0.1:7002", 1)
    }()

    /// The legacy peers blob: msgpack array of the voters' addresses.
    static let peers: [UInt8] = [0x92, 0xae] + Array("127.0.0.1:7000".utf8) + [0xae] + Array("127.0.0.1:7001".utf8)

    /// 2024-01-02T03:04:05.000000006Z.
    static let t2024 = LogTimestamp(nanosecondsSinceEpoch: 1_704_164_645_000_000_006)
    /// 1969-07-20T20:17:40.5Z: before the epoch, so the nanoseconds need floor division.
    static let t1969 = LogTimestamp(nanosecondsSinceEpoch: -14_182_939_500_000_000)
    /// 2006-01-02T15:04:05Z, hashicorp/raft's own time-format test value.
    static let t2006 = LogTimestamp(nanosecondsSinceEpoch: 1_136_214_245_000_000_000)

    /// The five entries of `req-append-entries`; 1.1.2 sends them without AppendedAt.
    static func entries(stamped: Bool) -> [Log] {
        [
            Log(index: 128, term: 65536, type: .noop),
            Log(index: 129, term: 65536, type: .command, data: Array("hello".utf8), appendedAt: stamped ? t2024 : .unset),
            Log(index: 130, term: 65536, type: .command, data: pattern(40, 2), extensions: Array("ext-bytes".utf8),
                appendedAt: stamped ? t1969 : .unset),
            Log(index: 131, term: 65536, type: .configuration, data: pattern(70000, 1), extensions: pattern(33, 3),
                appendedAt: stamped ? t2006 : .unset),
            Log(index: 132, term: 65536, type: .barrier),
        ]
    }

    /// A golden request: its file, the value, and whether our encoder must reproduce the bytes.
    struct RequestCase: Sendable, CustomStringConvertible {
        /// The fixture's name, without `.hex`.
        var name: String
        /// The value the bytes hold.
        var request: RaftRequest
        /// Whether our encoder must produce exactly these bytes.
        var exact: Bool
        /// The name, for test arguments.
        var description: String { name }
    }

    /// A golden response: its file, the RPC it answers, the error text and value (nil when the
    /// frame has none; decoding then gives `decoded`), and whether we must reproduce the bytes.
    struct ResponseCase: Sendable, CustomStringConvertible {
        /// The fixture's name, without `.hex`.
        var name: String
        /// The RPC the response answers.
        var type: RPCType
        /// The error text ("" for none).
        var error: String
        /// The response value, nil when the frame carries nil.
        var response: RaftResponse?
        /// Whether our encoder must produce exactly these bytes.
        var exact: Bool
        /// The name, for test arguments.
        var description: String { name }

        /// What decoding the frame's value gives: the response, or all zeros for nil.
        var decoded: RaftResponse {
            if let response { return response }
            switch type {
            case .appendEntries: return .appendEntries(AppendEntriesResponse(header: Golden.emptyHeader, term: 0, lastLog: 0, success: false))
            case .requestVote: return .requestVote(RequestVoteResponse(header: Golden.emptyHeader, term: 0, granted: false))
            case .installSnapshot: return .installSnapshot(InstallSnapshotResponse(header: Golden.emptyHeader, term: 0, success: false))
            case .timeoutNow: return .timeoutNow(TimeoutNowResponse(header: Golden.emptyHeader))
            case .requestPreVote: return .requestPreVote(RequestPreVoteResponse(header: Golden.emptyHeader, term: 0, granted: false))
            case .readIndex: return .readIndex(ReadIndexResponse(header: Golden.emptyHeader, term: 0, readIndex: 0))
            }
        }
    }

    /// `req-*`: newest-shape requests.
    static let requests: [RequestCase] = {
        let h = leaderHeader
        let a = leaderAddress
        return [
            RequestCase(name: "req-append-heartbeat", request: .appendEntries(AppendEntriesRequest(header: h, term: 5, leader: a)), exact: true),
            RequestCase(name: "req-append-empty", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 300, leader: a, prevLogEntry: 200, prevLogTerm: 70000, entries: [], leaderCommitIndex: 5_000_000_000)), exact: true),
            RequestCase(name: "req-append-entries", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 4_294_967_303, leader: a, prevLogEntry: 127, prevLogTerm: 128, entries: entries(stamped: true),
                leaderCommitIndex: 65535)), exact: true),
            RequestCase(name: "req-append-empty-data", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 6, leader: a, entries: [Log(index: 1, term: 6, data: [UInt8]())])), exact: false),
            RequestCase(name: "req-append-newtime", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 7, leader: a, entries: [
                    Log(index: 1, term: 7, data: Array("a".utf8), appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)),
                    Log(index: 2, term: 7, data: Array("b".utf8), appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_001_123_456_789)),
                    Log(index: 3, term: 7, data: Array("c".utf8), appendedAt: LogTimestamp(nanosecondsSinceEpoch: -999_999_995)),
                    Log(index: 4, term: 7, data: Array("d".utf8)),
                ])), exact: false),
            RequestCase(name: "req-append-zoned", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 8, leader: a, entries: [
                    Log(index: 1, term: 8, appendedAt: t2024), Log(index: 2, term: 8, appendedAt: t2024),
                ])), exact: false),
            RequestCase(name: "req-vote", request: .requestVote(RequestVoteRequest(
                header: h, term: 70000, candidate: a, lastLogIndex: 5_000_000_000, lastLogTerm: 129, leadershipTransfer: true)), exact: true),
            RequestCase(name: "req-vote-plain", request: .requestVote(RequestVoteRequest(
                header: h, term: 1, candidate: a, lastLogIndex: 0, lastLogTerm: 0)), exact: true),
            RequestCase(name: "req-prevote", request: .requestPreVote(RequestPreVoteRequest(
                header: h, term: 256, lastLogIndex: 65536, lastLogTerm: 255)), exact: true),
            RequestCase(name: "req-install-snapshot", request: .installSnapshot(InstallSnapshotRequest(
                header: h, snapshotVersion: 1, term: 9, leader: a, lastLogIndex: 1234, lastLogTerm: 8, peers: peers,
                configuration: configuration, configurationIndex: 7, size: 300)), exact: true),
            RequestCase(name: "req-install-snapshot-big", request: .installSnapshot(InstallSnapshotRequest(
                header: h, snapshotVersion: 200, term: 4_294_967_296, leader: a, lastLogIndex: 4_294_967_295, lastLogTerm: 65535,
                configuration: configuration, configurationIndex: 255, size: 5_000_000_000)), exact: true),
            RequestCase(name: "req-install-snapshot-negative", request: .installSnapshot(InstallSnapshotRequest(
                header: RPCHeader(protocolVersion: -33, id: "n1", address: a), snapshotVersion: -1, term: 1, leader: a,
                lastLogIndex: 0, lastLogTerm: 0, configuration: configuration, configurationIndex: 0, size: -300)), exact: true),
            RequestCase(name: "req-timeout-now", request: .timeoutNow(TimeoutNowRequest(header: h)), exact: true),
        ]
    }()

    /// `legacy-req-*`: requests from 1.1.2's structs.
    static let legacyRequests: [RequestCase] = {
        let h = legacyHeader
        let a = leaderAddress
        return [
            RequestCase(name: "legacy-req-append-heartbeat", request: .appendEntries(AppendEntriesRequest(header: h, term: 5, leader: a)), exact: false),
            RequestCase(name: "legacy-req-append-empty", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 300, leader: a, prevLogEntry: 200, prevLogTerm: 70000, entries: [], leaderCommitIndex: 5_000_000_000)), exact: false),
            RequestCase(name: "legacy-req-append-entries", request: .appendEntries(AppendEntriesRequest(
                header: h, term: 4_294_967_303, leader: a, prevLogEntry: 127, prevLogTerm: 128, entries: entries(stamped: false),
                leaderCommitIndex: 65535)), exact: false),
            RequestCase(name: "legacy-req-vote", request: .requestVote(RequestVoteRequest(
                header: h, term: 70000, candidate: a, lastLogIndex: 5_000_000_000, lastLogTerm: 129, leadershipTransfer: true)), exact: false),
            RequestCase(name: "legacy-req-install-snapshot", request: .installSnapshot(InstallSnapshotRequest(
                header: h, snapshotVersion: 1, term: 9, leader: a, lastLogIndex: 1234, lastLogTerm: 8, peers: peers,
                configuration: configuration, configurationIndex: 7, size: 300)), exact: false),
            RequestCase(name: "legacy-req-timeout-now", request: .timeoutNow(TimeoutNowRequest(header: h)), exact: false),
        ]
    }()

    /// `resp-*`: newest-shape responses.
    static let responses: [ResponseCase] = [
        ResponseCase(name: "resp-append-ok", type: .appendEntries, error: "", response: .appendEntries(AppendEntriesResponse(
            header: followerHeader, term: 5, lastLog: 70000, success: true)), exact: true),
        ResponseCase(name: "resp-append-reject", type: .appendEntries, error: "", response: .appendEntries(AppendEntriesResponse(
            header: followerHeader, term: 4_294_967_301, lastLog: 300, success: false, noRetryBackoff: true)), exact: true),
        ResponseCase(name: "resp-vote-granted", type: .requestVote, error: "", response: .requestVote(RequestVoteResponse(
            header: followerHeader, term: 300, granted: true)), exact: true),
        ResponseCase(name: "resp-vote-peers", type: .requestVote, error: "", response: .requestVote(RequestVoteResponse(
            header: RPCHeader(protocolVersion: 1, id: "n2", address: "127.0.0.1:7001"), term: 2, peers: peers, granted: false)), exact: true),
        ResponseCase(name: "resp-prevote", type: .requestPreVote, error: "", response: .requestPreVote(RequestPreVoteResponse(
            header: followerHeader, term: 256, granted: true)), exact: true),
        ResponseCase(name: "resp-install-snapshot", type: .installSnapshot, error: "", response: .installSnapshot(InstallSnapshotResponse(
            header: emptyHeader, term: 9, success: true)), exact: true),
        ResponseCase(name: "resp-timeout-now", type: .timeoutNow, error: "", response: .timeoutNow(TimeoutNowResponse(header: emptyHeader)), exact: true),
        ResponseCase(name: "resp-error", type: .requestVote, error: "boom", response: nil, exact: true),
        ResponseCase(name: "resp-error-version", type: .appendEntries, error: "operation not supported with current protocol version",
                     response: nil, exact: true),
    ]

    /// `legacy-resp-*`: responses from 1.1.2's structs.
    static let legacyResponses: [ResponseCase] = [
        ResponseCase(name: "legacy-resp-append-ok", type: .appendEntries, error: "", response: .appendEntries(AppendEntriesResponse(
            header: legacyHeader, term: 5, lastLog: 70000, success: true)), exact: false),
        ResponseCase(name: "legacy-resp-append-reject", type: .appendEntries, error: "", response: .appendEntries(AppendEntriesResponse(
            header: legacyHeader, term: 4_294_967_301, lastLog: 300, success: false, noRetryBackoff: true)), exact: false),
        ResponseCase(name: "legacy-resp-vote-granted", type: .requestVote, error: "", response: .requestVote(RequestVoteResponse(
            header: legacyHeader, term: 300, granted: true)), exact: false),
        ResponseCase(name: "legacy-resp-vote-peers", type: .requestVote, error: "", response: .requestVote(RequestVoteResponse(
            header: RPCHeader(protocolVersion: 1, id: "", address: ""), term: 2, peers: peers, granted: false)), exact: false),
        ResponseCase(name: "legacy-resp-install-snapshot", type: .installSnapshot, error: "", response: .installSnapshot(
            InstallSnapshotResponse(header: emptyHeader, term: 9, success: true)), exact: false),
        ResponseCase(name: "legacy-resp-timeout-now", type: .timeoutNow, error: "", response: .timeoutNow(TimeoutNowResponse(header: emptyHeader)), exact: false),
    ]

    /// Every golden request frame, newest and legacy: the seeds of the fuzz test.
    static var allRequestNames: [String] { (requests + legacyRequests).map(\.name) }
}
