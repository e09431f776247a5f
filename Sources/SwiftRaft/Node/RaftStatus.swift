/// One consistent reading of a node's state: every field as of the same instant, so a service
/// reports, say, a leader and a commit index that belong together, without parsing
/// ``Raft/stats()``'s strings.
public struct RaftStatus: Sendable, Hashable {
    /// What the node is doing.
    public var state: RaftState
    /// Its current term.
    public var term: UInt64
    /// The leader it knows of (itself when leading), with the address a client can be sent to.
    public var leader: Server?
    /// The highest log index known committed.
    public var commitIndex: UInt64
    /// The highest log index applied to the FSM.
    public var appliedIndex: UInt64
    /// The index of the last entry in the log.
    public var lastLogIndex: UInt64
    /// The term of the last entry in the log.
    public var lastLogTerm: UInt64
    /// How long ago a leader was last heard from: zero while leading, nil if never.
    public var lastContact: Duration?
    /// The newest configuration in the log, committed or not, and its index.
    public var configuration: Configuration
    /// The index of ``configuration``.
    public var configurationIndex: UInt64

    /// Creates a status; the node builds these, tests may too.
    public init(
        state: RaftState,
        term: UInt64,
        leader: Server?,
        commitIndex: UInt64,
        appliedIndex: UInt64,
        lastLogIndex: UInt64,
        lastLogTerm: UInt64,
        lastContact: Duration?,
        configuration: Configuration,
        configurationIndex: UInt64
    ) {
        self.state = state
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.lastContact = lastContact
        self.configuration = configuration
        self.configurationIndex = configurationIndex
    }
}

extension Raft {
    /// The node's state, read at one instant (a lock, not a hop onto the node).
    public nonisolated var status: RaftStatus {
        let current = observed.current
        return RaftStatus(
            state: current.state,
            term: current.term,
            leader: current.leader,
            commitIndex: current.commitIndex,
            appliedIndex: current.appliedIndex,
            lastLogIndex: current.lastLogIndex,
            lastLogTerm: current.lastLogTerm,
            lastContact: current.lastContact,
            configuration: current.latestConfiguration,
            configurationIndex: current.latestConfigurationIndex
        )
    }
}
