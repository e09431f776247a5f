/// The byte that starts every request on a NetworkTransport connection and says which RPC the
/// msgpack value after it is (hashicorp/raft's `rpcAppendEntries` … `rpcRequestPreVote`).
///
/// Responses carry no type byte: a connection answers strictly in request order, so the client
/// knows the type from its queue of outstanding requests.
enum RPCType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// ``AppendEntriesRequest``, also used for heartbeats.
    case appendEntries = 0
    /// ``RequestVoteRequest``.
    case requestVote = 1
    /// ``InstallSnapshotRequest``, followed on the wire by the snapshot's `Size` raw bytes.
    case installSnapshot = 2
    /// ``TimeoutNowRequest`` (hashicorp/raft 1.1.0 and later).
    case timeoutNow = 3
    /// ``RequestPreVoteRequest`` (hashicorp/raft 1.7.0 and later; older servers close the
    /// connection when they read this byte).
    case requestPreVote = 4
    /// ``ReadIndexRequest``: swift-raft's own RPC, a follower asking the leader for a read index.
    /// hashicorp/raft knows no such byte and closes the connection, which the client reports as
    /// ``SwiftRaft/RaftError/Code/unsupportedProtocol``. The value sits far above hashicorp's
    /// sequence (0–4 so far) so that an RPC hashicorp/raft adds later cannot collide with it.
    case readIndex = 0x52

    /// The hashicorp/raft name of the RPC, for logs and errors.
    var description: String {
        switch self {
        case .appendEntries: return "AppendEntries"
        case .requestVote: return "RequestVote"
        case .installSnapshot: return "InstallSnapshot"
        case .timeoutNow: return "TimeoutNow"
        case .requestPreVote: return "RequestPreVote"
        case .readIndex: return "ReadIndex"
        }
    }
}
