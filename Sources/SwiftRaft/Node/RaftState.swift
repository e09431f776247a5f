/// What a node is doing now (hashicorp/raft's `RaftState`).
public enum RaftState: Hashable, Sendable, CustomStringConvertible {
    /// Replicating from a leader (or waiting for one).
    case follower
    /// Campaigning for leadership.
    case candidate
    /// Leading the cluster.
    case leader
    /// Shut down; every call fails with ``RaftError/Code/shutdown``.
    case shutdown

    init(_ role: RaftRole) {
        switch role {
        case .follower: self = .follower
        case .candidate: self = .candidate
        case .leader: self = .leader
        }
    }

    /// `Follower`, `Candidate`, `Leader` or `Shutdown`, as hashicorp/raft prints them.
    public var description: String {
        switch self {
        case .follower: return "Follower"
        case .candidate: return "Candidate"
        case .leader: return "Leader"
        case .shutdown: return "Shutdown"
        }
    }
}

/// The outcome of a successful ``Raft/apply(_:timeout:)``.
public struct ApplyResult: Sendable {
    /// The log index the command was committed at.
    public var index: UInt64
    /// What the leader's ``FSM/apply(_:)`` returned for it.
    public var response: (any Sendable)?
}

/// A change of leadership as seen by one node (the payload of ``Raft/leadershipChanges()``).
public struct LeadershipChange: Hashable, Sendable {
    /// Whether this node is now the leader.
    public var isLeader: Bool
    /// The leader now known, if any.
    public var leader: Server?
    /// The term of the change.
    public var term: UInt64
}
