import DequeModule

/// What a leader knows about replicating to one follower (etcd-io/raft's `Progress`).
struct PeerProgress: Sendable {
    enum Mode: Sendable, Equatable {
        /// The follower's log position is unknown: one AppendEntries at a time until one succeeds.
        case probe
        /// The follower is in step: AppendEntries are pipelined, bounded by the in-flight window.
        case replicate
        /// The follower needs entries the log no longer holds: a snapshot is on its way, and
        /// nothing but heartbeats goes to it until the snapshot is answered.
        case snapshot
    }

    var server: Server
    /// Highest index known to be durable on the follower.
    var match: UInt64 = 0
    /// Next index to send.
    var next: UInt64
    var mode: Mode = .probe
    /// Last index and payload size of each AppendEntries in flight, oldest first.
    var inflight: Deque<(lastIndex: UInt64, bytes: Int)> = []
    var inflightBytes = 0
    /// Bumped on every fall-back to probing, so answers to abandoned requests are recognised.
    var epoch: UInt64 = 0
    /// No AppendEntries is sent before this tick (back-off after a failure).
    var pausedUntil: UInt64 = 0
    var consecutiveFailures = 0
    /// Tick of the last successful answer of any kind.
    var lastContact: UInt64
    var heartbeatInFlight = false
    /// Highest heartbeat round this follower acknowledged in the current term.
    var acknowledgedRound: UInt64 = 0
    /// The tick at which the newest AppendEntries or heartbeat this follower answered in this
    /// term was sent (``RaftInstance/leaseBasis``); nil before its first answer.
    var acknowledgedSentAt: UInt64?
    /// Highest commit index this follower can have learned from what was sent to it: a request
    /// lets it commit only up to the last entry the request covers.
    var sentCommit: UInt64 = 0
    /// Set while the shell loads entries for this follower from the log store.
    var awaitingLoad = false
    /// For a staged server: the tick since which it has been caught up without a break (see
    /// ``RaftInstance/Options/stagingCatchUpEntries``); nil while it is not.
    var caughtUpSince: UInt64?

    init(server: Server, next: UInt64, now: UInt64) {
        self.server = server
        self.next = next
        self.lastContact = now
    }

    mutating func fallBackToProbe(next newNext: UInt64) {
        mode = .probe
        next = max(newNext, match + 1)
        inflight.removeAll()
        inflightBytes = 0
        epoch &+= 1
        awaitingLoad = false
    }

    mutating func acknowledge(through index: UInt64) {
        while let first = inflight.first, first.lastIndex <= index {
            inflight.removeFirst()
            inflightBytes -= first.bytes
        }
    }
}
