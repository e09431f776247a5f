extension RaftInstance {
    /// The instance's settings. Durations are in ticks; the shell chooses the tick length.
    public struct Options: Hashable, Sendable {
        /// This server's ID.
        public var localID: ServerID
        /// This server's address, sent in headers and in the legacy Leader/Candidate fields.
        public var localAddress: ServerAddress
        /// The protocol version sent in every header (3).
        public var protocolVersion: Int = 3
        /// A follower that hears no leader for this long (randomized up to twice it) campaigns.
        public var heartbeatTimeoutTicks: Int = 20
        /// A candidate that wins no election for this long (randomized up to twice it) retries.
        public var electionTimeoutTicks: Int = 20
        /// How often a leader sends heartbeats.
        public var heartbeatIntervalTicks: Int = 2
        /// A leader that has not heard from a quorum for this long steps down (check-quorum).
        public var leaderLeaseTicks: Int = 10
        /// The first back-off after a failed replication request; it doubles per failure.
        public var retryBackoffTicks: Int = 1
        /// The longest back-off after failed replication requests.
        public var maxRetryBackoffTicks: Int = 10
        /// The most entries in one AppendEntries request.
        public var maxAppendEntries: Int = 64
        /// The most AppendEntries in flight to one follower.
        public var maxInflightAppends: Int = 64
        /// The most entry bytes in flight to one follower.
        public var maxInflightBytes: Int = 64 << 20
        /// The most entry bytes in one AppendEntries request (at least one entry is always sent).
        public var maxAppendBytes: Int = 1 << 20
        /// Whether to run a pre-vote round before each election.
        public var preVote: Bool = true
        /// How many entries to keep in memory beyond those still needed.
        public var logWindowCapacity: Int = 16_384
        /// How many entries before a snapshot's index stay in the log store when the log is
        /// compacted, so a follower a little behind catches up from the log, not a snapshot
        /// (hashicorp/raft's `TrailingLogs`).
        public var trailingLogs: UInt64 = 10_240
        /// The most entries handed to the FSM and not yet reported applied (see
        /// ``RaftInstance/applied(through:)``).
        public var maxApplyBacklog: Int = 8192
        /// A staged server (``ServerSuffrage/staging``) counts as caught up while its log is known
        /// (a probe succeeded this term), its match is at most this many entries behind the
        /// leader's last index, and it answered within ``leaderLeaseTicks``.
        ///
        /// The default, 250, is Consul autopilot's `MaxTrailingLogs`, the same judgement of "healthy
        /// enough to vote" made on hashicorp/raft: a few AppendEntries batches, so a follower in step
        /// under load (its pipelined requests in flight) qualifies, while one still streaming a long
        /// backlog or a snapshot does not. A voter that far behind slows no commit: the others
        /// form the quorum while it closes the gap.
        public var stagingCatchUpEntries: UInt64 = 250
        /// How long a staged server must stay caught up, without a break, before the leader
        /// promotes it to voter; nil means ``electionTimeoutTicks``: long enough that a server
        /// which answers only now and then (a flapping link, a pausing process) is not promoted
        /// in a lucky moment.
        public var stagingStabilityTicks: Int? = nil

        /// For this many ticks after the instance is created, it refuses votes and pre-votes
        /// (leadership transfers aside): a server that answered a leader just before it restarted
        /// must keep refusing, for as long as its leader stickiness would have, because that
        /// leader's lease (``RaftInstance/leaseBasis``) counts on it. 0 turns it off; the shell
        /// sets ``heartbeatTimeoutTicks``. A freshly started cluster loses nothing by it (no
        /// campaign starts sooner); an election that needs a just-restarted voter waits for it
        /// at most that long.
        public var voteRefusalTicksAfterStart: Int = 0

        /// Creates options with hashicorp/raft's default timing at a 50 ms tick.
        public init(localID: ServerID, localAddress: ServerAddress) {
            self.localID = localID
            self.localAddress = localAddress
        }
    }

    /// The durable state the shell found at startup.
    public struct RestoredState: Hashable, Sendable {
        /// Term and vote from the stable store.
        public var hardState: HardState
        /// The index before ``entries``: the last index of the snapshot the shell restored, or 0.
        /// Every entry at or before it is committed.
        public var baseIndex: UInt64
        /// The term of ``baseIndex``.
        public var baseTerm: UInt64
        /// Every log entry after ``baseIndex``, in order.
        public var entries: [Log]
        /// The configuration in force at ``baseIndex`` (from a snapshot), if any.
        public var baseConfiguration: Configuration
        /// The index of ``baseConfiguration``.
        public var baseConfigurationIndex: UInt64
        /// The first index the log store holds, when it holds entries at or before ``baseIndex``
        /// (a snapshot's trailing logs); nil means ``baseIndex`` + 1.
        public var firstStoredIndex: UInt64?

        /// Creates restored state; the defaults describe a brand-new server.
        public init(
            hardState: HardState = HardState(),
            baseIndex: UInt64 = 0,
            baseTerm: UInt64 = 0,
            entries: [Log] = [],
            baseConfiguration: Configuration = Configuration(),
            baseConfigurationIndex: UInt64 = 0,
            firstStoredIndex: UInt64? = nil
        ) {
            self.hardState = hardState
            self.baseIndex = baseIndex
            self.baseTerm = baseTerm
            self.entries = entries
            self.baseConfiguration = baseConfiguration
            self.baseConfigurationIndex = baseConfigurationIndex
            self.firstStoredIndex = firstStoredIndex
        }
    }
}
