import CoreMetrics
import Logging

/// Recovering a cluster that lost its quorum for good: hashicorp/raft's `RecoverCluster`.
extension Raft {
    /// Forces `configuration` onto a stopped server's stores, so a cluster that lost a quorum of
    /// its voters for good can run again (hashicorp/raft's `RecoverCluster`, the `peers.json`
    /// procedure). **Unsafe**: read "Recovering from a lost quorum" in Docs/operations.md first.
    ///
    /// With the node not running, it restores the newest snapshot into `fsm`, applies every
    /// command in the log after it — committed or not, since which were committed cannot be known
    /// any more — then stores a snapshot of `fsm` at the last log entry that carries
    /// `configuration` (as if committed at index 1, like hashicorp/raft), and deletes the whole
    /// log. Term and vote stay. Started afterwards, the server finds only that snapshot, so
    /// `configuration` is its cluster: run this with the same `configuration` on every server
    /// that will be in it (from the same data, ideally the server with the longest log, copied to
    /// the others), then start them. Reads and writes the stores on the calling thread.
    ///
    /// - Parameters:
    ///   - config: the node's settings (its ID, `maxAppendEntries` for batching, its logger).
    ///   - fsm: a fresh FSM: it ends up holding the recovered state, and its snapshot is stored.
    ///   - logStore: the server's log, read and then emptied.
    ///   - stableStore: the server's term and vote, kept.
    ///   - snapshotStore: the server's snapshots, which receives the recovered one.
    ///   - configuration: the servers the cluster will have; at least one voter.
    /// - Returns: the snapshot written.
    /// - Throws: ``RaftError/Code/invalidArgument`` when the stores hold no state (recovering a
    ///   server that never ran is an operator error; use ``bootstrapCluster(config:logStore:stableStore:snapshotStore:configuration:)``)
    ///   or `configuration` is invalid; ``RaftError/Code/invalidConfig``; the stores' and FSM's
    ///   errors, after which the stores may hold the new snapshot, the old log, or both, and the
    ///   recovery can be run again.
    @discardableResult
    public static func recoverCluster(
        config: Config,
        fsm: any FSM,
        logStore: any LogStore,
        stableStore: any StableStore,
        snapshotStore: any SnapshotStore,
        configuration: Configuration
    ) throws -> SnapshotMeta {
        try config.validate()
        do {
            try configuration.validate()
        } catch {
            throw RaftError(.invalidArgument, "invalid recovery configuration: \(error)")
        }
        guard try hasExistingState(logStore: logStore, stableStore: stableStore, snapshotStore: snapshotStore) else {
            throw RaftError(
                .invalidArgument,
                "refusing to recover a cluster from stores that hold no state, which is probably an operator error; "
                    + "a new cluster is started with bootstrapCluster"
            )
        }
        var logger = config.logger
        logger[metadataKey: "raft.node"] = "\(config.localID)"
        let clock = SystemClock()
        let metrics = NodeMetrics(node: config.localID, factory: MetricsSystem.factory)
        let storage = StorageWorker(logStore: logStore, stableStore: stableStore, logger: logger, clock: clock, metrics: metrics)
        let loaded = try StartupLoader(
            storage: storage,
            snapshotStore: snapshotStore,
            fsm: fsm,
            restoreFSM: true,
            logger: logger,
            node: config.localID,
            tracer: nil
        ).load()
        let entries = loaded.restored.entries
        // Through the node's own applier, so the FSM sees the log exactly as a running node
        // would hand it over (which entry types, in which batches).
        let applier = FSMApplier(
            fsm: fsm,
            node: config.localID,
            status: NodeStatus(),
            maxBatch: config.maxAppendEntries,
            tracer: nil,
            snapshotStore: snapshotStore,
            restoredPoint: loaded.fsmPoint,
            metrics: metrics,
            clock: clock,
            wakeNode: {}
        )
        applier.apply(ApplyBatch(entries: entries, waiters: [:]))
        let last = entries.last.map { (index: $0.index, term: $0.term) } ?? (index: loaded.fsmPoint.index, term: loaded.fsmPoint.term)
        guard last.index > 0 else {
            throw RaftError(.invalidArgument, "nothing to recover: the stores hold a term but no log entry or snapshot")
        }

        let point = SnapshotPoint(index: last.index, term: last.term, configuration: configuration, configurationIndex: 1)
        let captured = CapturedSnapshot(snapshot: try fsm.snapshot(), point: point)
        let meta = try SnapshotWorker(store: snapshotStore, logger: logger, clock: clock, metrics: metrics).persist(captured, evenIfNotNewer: true)
        guard try snapshotStore.list().first?.id == meta.id else {
            throw RaftError(.storage, "the snapshot store does not list the recovery snapshot \(meta.id) as its newest")
        }
        // Configuration entries left in the log would take effect again over the forced one.
        let first = try logStore.firstIndex()
        let lastStored = try logStore.lastIndex()
        if first > 0 && lastStored >= first { try logStore.deleteRange(min: first, max: lastStored) }
        logger.warning(
            "recovered cluster: forced a new configuration",
            metadata: [
                "raft.configuration": "\(configuration)", "raft.snapshot.id": "\(meta.id)",
                "raft.snapshot.index": "\(meta.index)", "raft.recovery.replayed_entries": "\(entries.count)",
            ]
        )
        return meta
    }
}
