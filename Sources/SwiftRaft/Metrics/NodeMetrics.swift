import CoreMetrics

/// Every metric one node emits, created once when the node starts (Docs/metrics.md lists them).
///
/// The names are hashicorp/raft's, under `raft.`, so dashboards built for it read these too.
/// Each carries a `node` dimension with the node's ID: several nodes in one process (tests, the
/// demo, an application hosting more than one group) would otherwise share every series, and
/// their gauges would overwrite each other. Creating the objects up front makes recording a
/// call on a cached handler: with swift-metrics' default no-op backend it does nothing.
///
/// The factory is the one in force when the node starts: `MetricsSystem.bootstrap`'s, or the one
/// `withMetricsFactory` bound to the task that created the node.
final class NodeMetrics: Sendable {
    let factory: any MetricsFactory
    let node: ServerID
    /// Whether to measure durations at all. Under swift-metrics' no-op backend, which discards
    /// them, the per-proposal and per-entry paths read no clock for metrics.
    let timing: Bool

    // hashicorp/raft's names.
    let apply: Counter
    let barrier: Counter
    let commitTime: Timer
    let fsmApply: Timer
    let fsmApplyBatch: Timer
    let fsmApplyBatchNum: Recorder
    let fsmRestore: Timer
    let fsmSnapshot: Timer
    let leaderLastContact: Timer
    let leaderDispatchLog: Timer
    let followerStoreLogs: Timer
    let stateCandidate: Counter
    let stateFollower: Counter
    let stateLeader: Counter
    let heartbeatTimeout: Counter
    let snapshotCreate: Timer
    let snapshotPersist: Timer
    let snapshotTakeSnapshot: Timer
    let snapshotInstall: Timer

    // Beyond hashicorp/raft: the stages of one proposal on the leader.
    let proposalQueued: Timer
    let proposalPersisted: Timer
    let proposalCommitted: Timer
    let proposalApplied: Timer

    init(node: ServerID, factory: any MetricsFactory) {
        self.factory = factory
        self.node = node
        self.timing = !(factory is NOOPMetricsHandler)
        let dimensions = [("node", node.rawValue)]
        func timer(_ label: String) -> Timer { Timer(label: label, dimensions: dimensions, factory: factory) }
        func counter(_ label: String) -> Counter { Counter(label: label, dimensions: dimensions, factory: factory) }
        apply = counter("raft.apply")
        barrier = counter("raft.barrier")
        commitTime = timer("raft.commitTime")
        fsmApply = timer("raft.fsm.apply")
        fsmApplyBatch = timer("raft.fsm.applyBatch")
        fsmApplyBatchNum = Recorder(label: "raft.fsm.applyBatchNum", dimensions: dimensions, factory: factory)
        fsmRestore = timer("raft.fsm.restore")
        fsmSnapshot = timer("raft.fsm.snapshot")
        leaderLastContact = timer("raft.leader.lastContact")
        leaderDispatchLog = timer("raft.leader.dispatchLog")
        followerStoreLogs = timer("raft.rpc.appendEntries.storeLogs")
        stateCandidate = counter("raft.state.candidate")
        stateFollower = counter("raft.state.follower")
        stateLeader = counter("raft.state.leader")
        heartbeatTimeout = counter("raft.transition.heartbeat_timeout")
        snapshotCreate = timer("raft.snapshot.create")
        snapshotPersist = timer("raft.snapshot.persist")
        snapshotTakeSnapshot = timer("raft.snapshot.takeSnapshot")
        snapshotInstall = timer("raft.snapshot.install")
        proposalQueued = timer("raft.proposal.queued")
        proposalPersisted = timer("raft.proposal.persisted")
        proposalCommitted = timer("raft.proposal.committed")
        proposalApplied = timer("raft.proposal.applied")
    }

    /// The metrics of replication to `peer`, made with the same factory and dimensions.
    func peer(_ peer: ServerID) -> PeerMetrics { PeerMetrics(node: node, peer: peer, factory: factory) }
}

/// What a leader measures of replication to one follower, each with a `peer` dimension.
final class PeerMetrics: Sendable {
    let appendEntriesRPC: Timer
    let appendEntriesLogs: Counter
    let heartbeat: Timer
    let lagEntries: Gauge
    let lagTime: Gauge

    init(node: ServerID, peer: ServerID, factory: any MetricsFactory) {
        let dimensions = [("node", node.rawValue), ("peer", peer.rawValue)]
        appendEntriesRPC = Timer(label: "raft.replication.appendEntries.rpc", dimensions: dimensions, factory: factory)
        appendEntriesLogs = Counter(label: "raft.replication.appendEntries.logs", dimensions: dimensions, factory: factory)
        heartbeat = Timer(label: "raft.replication.heartbeat", dimensions: dimensions, factory: factory)
        lagEntries = Gauge(label: "raft.replication.lag.entries", dimensions: dimensions, factory: factory)
        lagTime = Gauge(label: "raft.replication.lag.time", dimensions: dimensions, factory: factory)
    }
}

extension Timer {
    /// Records a span measured on a ``RaftClock``; a negative one (which a clock never yields)
    /// as zero.
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
