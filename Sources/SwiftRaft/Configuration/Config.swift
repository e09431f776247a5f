public import Logging

/// A node's settings: hashicorp/raft's `Config`, with its field names, defaults
/// (hashicorp/raft's `DefaultConfig()`) and validation rules, as Swift types.
public struct Config: Sendable {
    /// The Raft protocol version spoken; swift-raft speaks 3 (hashicorp/raft's `ProtocolVersion`).
    public var protocolVersion: Int = 3
    /// How long a follower waits without hearing a leader before campaigning; randomized between
    /// this and twice this (`HeartbeatTimeout`, default 1 s). Leaders send heartbeats ten times as
    /// often.
    public var heartbeatTimeout: Duration = .seconds(1)
    /// How long a candidate waits for an election to finish before retrying; randomized between
    /// this and twice this (`ElectionTimeout`, default 1 s).
    public var electionTimeout: Duration = .seconds(1)
    /// The interval at which the leader retries a follower it could not reach, and the shortest
    /// timer swift-raft needs (`CommitTimeout`, default 50 ms). Commit indexes themselves travel
    /// eagerly with the next AppendEntries rather than waiting for this.
    public var commitTimeout: Duration = .milliseconds(50)
    /// The most entries in one AppendEntries request and one FSM batch (`MaxAppendEntries`,
    /// default 64, at most 1024).
    public var maxAppendEntries: Int = 64
    /// Whether ``Raft/apply(_:timeout:)`` may queue up to ``maxAppendEntries`` proposals more
    /// before waiting (`BatchApplyCh`). swift-raft always batches queued proposals; this only
    /// widens the queue, and is kept for hashicorp/raft familiarity.
    public var batchApplyCh: Bool = false
    /// Whether a leader removed from the configuration shuts down (`ShutdownOnRemove`, default
    /// true).
    public var shutdownOnRemove: Bool = true
    /// How many log entries to keep behind a snapshot when the log is compacted, so a follower
    /// that is a little behind catches up from the log rather than through a whole snapshot
    /// (`TrailingLogs`, default 10240).
    public var trailingLogs: UInt64 = 10240
    /// How often to check whether a snapshot is due; each wait is randomized between this and
    /// twice this (`SnapshotInterval`, default 120 s).
    public var snapshotInterval: Duration = .seconds(120)
    /// How many entries the FSM must have applied since the last snapshot for the next check to
    /// take one (`SnapshotThreshold`, default 8192).
    public var snapshotThreshold: UInt64 = 8192
    /// A leader that has not heard from a quorum for this long steps down
    /// (`LeaderLeaseTimeout`, default 500 ms, at most ``heartbeatTimeout``).
    public var leaderLeaseTimeout: Duration = .milliseconds(500)
    /// This server's unique, stable ID (`LocalID`); required.
    public var localID: ServerID
    /// Start without restoring the newest snapshot into the FSM (`NoSnapshotRestoreOnStart`):
    /// for an FSM that keeps its own durable state. The node still starts from the snapshot's
    /// index, and re-applies only the entries after it.
    public var noSnapshotRestoreOnStart: Bool = false
    /// Disable the pre-vote round before elections (`PreVoteDisabled`; pre-vote is on by default,
    /// as in hashicorp/raft 1.7).
    public var preVoteDisabled: Bool = false
    /// Where the node logs; swift-raft never bootstraps the logging system itself.
    ///
    /// The default is made when the `Config` is created, with whatever handler swift-log has
    /// then: call `LoggingSystem.bootstrap` before creating the `Config` (or set this yourself),
    /// or the node logs through swift-log's default handler.
    public var logger: Logger = Logger(label: "swift-raft")

    // MARK: swift-raft additions

    /// The most AppendEntries requests in flight to one follower (pipelining depth; 1 turns
    /// pipelining off).
    public var maxInflightAppends: Int = 64
    /// The most entry bytes in flight to one follower.
    public var maxInflightBytes: Int = 64 << 20
    /// The most proposals (applies, barriers) queued or in flight on the leader before
    /// ``Raft/apply(_:timeout:)`` waits for room, up to its timeout.
    public var maxPendingApplies: Int = 8192
    /// How many recent log entries the node keeps in memory to serve followers without reading
    /// its log store.
    public var logCacheCapacity: Int = 16_384
    /// The most committed entries handed to the FSM and not yet applied. Beyond it the node holds
    /// entries back, and a follower whose FSM lags its commit index by more than twice this delays
    /// its answers to AppendEntries, so a slow FSM slows its server down rather than growing a
    /// queue in memory.
    public var maxApplyBacklog: Int = 8192
    /// How long the oldest unfinished write to the log and stable stores may stay unfinished
    /// before this node takes its disk for stalled (default 5 s; nil never does, as in
    /// hashicorp/raft). A leader with a stalled disk steps down, and a stalled node campaigns for
    /// nothing until its writes finish: it could commit nothing, since its FSM applies only
    /// entries durable locally, yet its heartbeats would keep the others from electing a
    /// healthy leader (hashicorp/raft#503). Checked on every tick of the node (50 ms with the
    /// defaults, at most ``commitTimeout``), so a stall is noticed at most a tick late.
    ///
    /// Keep it well above the slowest write a healthy disk makes (several election timeouts by
    /// default): a busy disk's slow fsync must not depose its leader, as every election costs
    /// the cluster its writes for an election timeout or two. Must exceed ``heartbeatTimeout``.
    /// See "Stalled disks" in Docs/architecture.md.
    public var maxStorageStall: Duration? = .seconds(5)
    /// How long an RPC to a peer may take before it counts as failed.
    public var rpcTimeout: Duration = .seconds(1)
    /// A staged server (``Raft/addVoterWhenCaughtUp(id:address:prevIndex:timeout:)``) counts as
    /// caught up while it is at most this many entries behind the leader's last entry and
    /// answered within ``leaderLeaseTimeout``. Default 250, Consul autopilot's `MaxTrailingLogs`:
    /// a server in step under load qualifies, one still copying a backlog does not.
    public var stagingCatchUpEntries: UInt64 = 250
    /// How long a staged server must stay caught up, without a break, before the leader makes it a
    /// voter; nil (the default) means ``electionTimeout``.
    public var stagingStabilityWindow: Duration? = nil
    /// Whether the leader answers ``Raft/readIndex(timeout:)`` (its own callers' and its
    /// followers') from its lease, without a round of heartbeats, while the lease holds. Off by
    /// default (hashicorp/raft has no lease reads).
    ///
    /// The lease runs from the sending of the newest AppendEntries or heartbeat a quorum of
    /// voters answered, for ``heartbeatTimeout`` less one tick and less ``maxClockDrift``: each
    /// of those voters refuses to vote for anyone else for a heartbeat timeout after it got the
    /// request (leader stickiness; a restarted server refuses votes for a heartbeat timeout after
    /// it starts), so no other leader can exist meanwhile. It rests on assumptions the ReadIndex
    /// round does not need: every voter runs swift-raft with the same ``heartbeatTimeout``
    /// (hashicorp/raft votes at once after a restart), and the servers' monotonic clocks run at
    /// rates that differ by less than ``maxClockDrift`` over a heartbeat timeout. A lease never
    /// outlives a pause of the leader (its clock is read when the read is answered), and it is
    /// given up for the rest of the term once a leadership transfer sends TimeoutNow.
    public var leaseReads: Bool = false
    /// For ``leaseReads``: how much sooner than the voters' clocks say a leader's lease ends, to
    /// allow for clocks that run at different rates. Default 50 ms of a 1 s heartbeat timeout: far
    /// above the drift of real clocks (a few parts per million), but it also absorbs a voter
    /// whose tick fires late. Must be less than ``heartbeatTimeout`` less two ticks.
    public var maxClockDrift: Duration = .milliseconds(50)

    /// hashicorp/raft's `DefaultConfig()` for the server `localID`.
    public init(localID: ServerID) {
        self.localID = localID
    }

    /// hashicorp/raft's `DefaultConfig()` for the server `localID`.
    public static func defaultConfig(localID: ServerID) -> Config { Config(localID: localID) }
}
