/// Something that happened to a node, as an observer sees it (hashicorp/raft's `Observation`).
public struct RaftObservation: Sendable, Hashable {
    /// The node it happened to, so one observer can watch several nodes.
    public let node: ServerID
    /// What happened.
    public let event: RaftEvent

    /// Creates an observation.
    public init(node: ServerID, event: RaftEvent) {
        self.node = node
        self.event = event
    }
}

/// What observers are told (hashicorp/raft's observation types, plus snapshots).
public enum RaftEvent: Sendable, Hashable {
    /// The leader this node knows of changed: a new one (possibly itself), or none
    /// (hashicorp/raft's `LeaderObservation`).
    case leaderChanged(leader: Server?, term: UInt64)
    /// This node's role changed, including to ``RaftState/shutdown`` as the last event of a node
    /// (hashicorp/raft's `RaftState` observation).
    case stateChanged(RaftState)
    /// As leader, this node started replicating to a server: one of the configuration when it
    /// took over, or one a membership change added (hashicorp/raft's `PeerObservation`).
    case peerAdded(Server)
    /// As leader, this node stopped replicating to a server a membership change removed
    /// (hashicorp/raft's `PeerObservation` with `Removed`).
    case peerRemoved(Server)
    /// As leader, this node's requests to a follower (heartbeats or entries) started failing;
    /// `lastContact` is how long ago that follower last answered, if ever
    /// (hashicorp/raft's `FailedHeartbeatObservation`). Told once per outage, not per retry.
    case heartbeatFailed(peer: ServerID, lastContact: Duration?)
    /// A follower whose requests were failing answered again
    /// (hashicorp/raft's `ResumedHeartbeatObservation`).
    case heartbeatResumed(peer: ServerID)
    /// A candidate asked this node for its vote (hashicorp/raft's `RequestVoteRequest`
    /// observation), told before the node answers.
    case voteRequested(RequestVoteRequest)
    /// A would-be candidate asked this node whether it would vote for it
    /// (hashicorp/raft's `RequestPreVoteRequest` observation).
    case preVoteRequested(RequestPreVoteRequest)
    /// This node took a snapshot of its FSM and stored it.
    case snapshotTaken(SnapshotMeta)
    /// This node stored a snapshot its leader sent and moved its log (and, if behind, its FSM)
    /// to it.
    case snapshotInstalled(SnapshotMeta)
}
