import SwiftRaft

/// A request as it travels on a NetworkTransport connection: one of RaftCore's request structs,
/// tagged with its ``RPCType``.
///
/// The snapshot bytes that follow an InstallSnapshot request are not part of the value; the
/// request frame decoder delivers them separately (``RequestFramePart``).
enum WireRequest: Hashable, Sendable {
    /// Replicates entries, or is a heartbeat.
    case appendEntries(AppendEntriesRequest)
    /// Asks for a vote.
    case requestVote(RequestVoteRequest)
    /// Announces a snapshot whose `size` bytes follow the request.
    case installSnapshot(InstallSnapshotRequest)
    /// Asks the receiver to start an election at once.
    case timeoutNow(TimeoutNowRequest)
    /// Asks whether the receiver would vote, without changing terms.
    case requestPreVote(RequestPreVoteRequest)

    /// The type byte that precedes this request on the wire.
    var type: RPCType {
        switch self {
        case .appendEntries: return .appendEntries
        case .requestVote: return .requestVote
        case .installSnapshot: return .installSnapshot
        case .timeoutNow: return .timeoutNow
        case .requestPreVote: return .requestPreVote
        }
    }
}

/// A response as it travels on a NetworkTransport connection: one of RaftCore's response
/// structs. The wire does not say which RPC a response answers (see ``RPCType``), so the
/// decoder is told the type.
enum WireResponse: Hashable, Sendable {
    /// Answers an AppendEntries request.
    case appendEntries(AppendEntriesResponse)
    /// Answers a RequestVote request.
    case requestVote(RequestVoteResponse)
    /// Answers an InstallSnapshot request.
    case installSnapshot(InstallSnapshotResponse)
    /// Answers a TimeoutNow request.
    case timeoutNow(TimeoutNowResponse)
    /// Answers a RequestPreVote request.
    case requestPreVote(RequestPreVoteResponse)

    /// The type of the request this answers.
    var type: RPCType {
        switch self {
        case .appendEntries: return .appendEntries
        case .requestVote: return .requestVote
        case .installSnapshot: return .installSnapshot
        case .timeoutNow: return .timeoutNow
        case .requestPreVote: return .requestPreVote
        }
    }
}
