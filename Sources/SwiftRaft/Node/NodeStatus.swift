import Synchronization

/// The node's observable state, readable from any thread without going through the loop, so
/// `raft.state` or `raft.leader` cost a lock, not a hop.
final class NodeStatus: Sendable {
    struct Snapshot: Sendable {
        var state: RaftState = .follower
        var term: UInt64 = 0
        var leader: Server?
        var commitIndex: UInt64 = 0
        var appliedIndex: UInt64 = 0
        var lastLogIndex: UInt64 = 0
        var lastLogTerm: UInt64 = 0
        var lastContact: Duration?
        var latestConfiguration = Configuration()
        var latestConfigurationIndex: UInt64 = 0
        /// The last entry handed to the FSM thread; with appliedIndex, how much it has queued.
        var handedOutIndex: UInt64 = 0
        var lastSnapshotIndex: UInt64 = 0
        var lastSnapshotTerm: UInt64 = 0
    }

    private let snapshot = Mutex(Snapshot())
    private let subscribers = Mutex<[UInt64: AsyncStream<LeadershipChange>.Continuation]>([:])
    private let nextSubscriber = Mutex<UInt64>(0)

    var current: Snapshot { snapshot.withLock { $0 } }

    /// Only the role and the leader: what every `apply` checks, without copying (and retaining)
    /// the configuration and the rest of the snapshot.
    var leadership: (state: RaftState, leader: Server?) { snapshot.withLock { ($0.state, $0.leader) } }

    func update(_ body: (inout Snapshot) -> Void) { snapshot.withLock { body(&$0) } }

    func subscribe() -> AsyncStream<LeadershipChange> {
        // Bounded: a consumer that falls far behind loses the oldest changes, never the latest.
        let (stream, continuation) = AsyncStream.makeStream(of: LeadershipChange.self, bufferingPolicy: .bufferingNewest(64))
        let id = nextSubscriber.withLock { value in
            value += 1
            return value
        }
        let alreadyShutDown = snapshot.withLock { $0.state == .shutdown }
        if alreadyShutDown {
            continuation.finish()
            return stream
        }
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ change: LeadershipChange) {
        // In subscription order, not Dictionary order: simulated runs must replay the same.
        let targets = subscribers.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
        for continuation in targets { continuation.yield(change) }
    }

    func finishSubscribers() {
        let targets = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return subscribers.sorted { $0.key < $1.key }.map(\.value)
        }
        for continuation in targets { continuation.finish() }
    }
}
