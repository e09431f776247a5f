import SwiftRaft

// The wire carries the core's own messages: a request is a `RaftRequest`, a response a
// `RaftResponse`, from Raft through the encoder to the socket and back, with no enum of the
// transport's own in between. What the wire adds is the type byte (``RPCType``).

extension RaftRequest {
    /// The type byte that precedes this request on the wire.
    var type: RPCType {
        switch self {
        case .appendEntries: return .appendEntries
        case .requestVote: return .requestVote
        case .installSnapshot: return .installSnapshot
        case .timeoutNow: return .timeoutNow
        case .requestPreVote: return .requestPreVote
        case .readIndex: return .readIndex
        }
    }
}

extension RaftResponse {
    /// The type of the request this answers. The wire does not say which RPC a response
    /// answers, so the decoder is told the type (see ``RPCType``).
    var type: RPCType {
        switch self {
        case .appendEntries: return .appendEntries
        case .requestVote: return .requestVote
        case .installSnapshot: return .installSnapshot
        case .timeoutNow: return .timeoutNow
        case .requestPreVote: return .requestPreVote
        case .readIndex: return .readIndex
        }
    }
}
