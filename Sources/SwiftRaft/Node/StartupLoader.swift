import Logging

/// What a node finds in its stores when it starts: term and vote, the newest usable snapshot
/// (restored into the FSM), and only the part of the log after it.
struct StartupLoader {
    let storage: StorageWorker
    let snapshotStore: any SnapshotStore
    let fsm: any FSM
    let restoreFSM: Bool
    let logger: Logger
    let node: ServerID
    let tracer: (@Sendable (RaftTraceEvent) -> Void)?

    /// The core's starting state, and the point of the log the FSM is at.
    struct Loaded {
        var restored: RaftInstance.RestoredState
        var fsmPoint: SnapshotPoint
    }

    /// Loads everything, restoring the FSM; runs on the storage executor (it blocks on disk).
    func load() throws -> Loaded {
        let hardState = try StoredHardState.load(from: storage.stableStore)
        let snapshot = try restoreNewestSnapshot()
        let point = snapshot ?? SnapshotPoint(index: 0, term: 0, configuration: Configuration(), configurationIndex: 0)
        let log = storage.logStore
        var first = try log.firstIndex()
        let last = try log.lastIndex()

        if snapshot != nil, last > 0, try !logContinuesSnapshot(point, first: first, last: last) {
            // A crash between writing an installed snapshot and cutting the log leaves a log that
            // contradicts the snapshot, or ends before it: its entries would leave a hole or follow
            // the wrong history. The snapshot holds everything committed they could hold.
            logger.warning(
                "discarding the log \(first)...\(last): it does not continue the snapshot at \(point.index)/\(point.term)"
            )
            try log.deleteRange(min: first, max: last)
            first = 0
        }
        let loadFrom = point.index + 1
        var entries: [Log] = []
        if first > 0 && last >= loadFrom {
            guard first <= loadFrom else {
                throw RaftError(
                    .corrupt,
                    point.index == 0
                        ? "log starts at \(first) but no snapshot covers the entries before it"
                        : "log starts at \(first), after the snapshot's last index \(point.index) + 1: entries are missing"
                )
            }
            entries = try log.getLogs(from: loadFrom, through: last)
            guard entries.count == Int(last - loadFrom + 1) else {
                throw RaftError(.corrupt, "log store is missing entries between \(loadFrom) and \(last)")
            }
        }
        let restored = RaftInstance.RestoredState(
            hardState: hardState,
            baseIndex: point.index,
            baseTerm: point.term,
            entries: entries,
            baseConfiguration: point.configuration,
            baseConfigurationIndex: point.configurationIndex,
            firstStoredIndex: first > 0 && first <= point.index ? first : nil
        )
        return Loaded(restored: restored, fsmPoint: point)
    }

    /// Restores the newest snapshot that opens and restores (hashicorp/raft's `restoreSnapshot`),
    /// skipping and logging the ones that fail; nil when there is none.
    private func restoreNewestSnapshot() throws -> SnapshotPoint? {
        let snapshots = try snapshotStore.list()
        for meta in snapshots {
            do {
                let (opened, source) = try snapshotStore.open(id: meta.id)
                defer { source.close() }
                if restoreFSM {
                    try fsm.restore(from: source)
                    tracer?(.snapshotRestored(node: node, index: opened.index, term: opened.term))
                }
                logger.info(
                    "restored from snapshot",
                    metadata: [
                        "raft.snapshot.id": "\(opened.id)", "raft.snapshot.index": "\(opened.index)",
                        "raft.snapshot.bytes": "\(opened.size)", "raft.snapshot.fsm_restored": "\(restoreFSM)",
                    ]
                )
                return SnapshotPoint(
                    index: opened.index,
                    term: opened.term,
                    configuration: opened.configuration,
                    configurationIndex: opened.configurationIndex
                )
            } catch {
                logger.error("failed to restore snapshot \(meta.id), trying an older one: \(error)")
            }
        }
        if !snapshots.isEmpty {
            logger.error("no snapshot could be restored: starting from the log alone")
        }
        return nil
    }

    /// Whether the stored log `first...last` fits after the snapshot at `point`: it holds the
    /// snapshot's last entry with the same term, or starts right after it.
    private func logContinuesSnapshot(_ point: SnapshotPoint, first: UInt64, last: UInt64) throws -> Bool {
        // Starting right after the snapshot continues it; starting later leaves a gap, which the
        // load reports as missing entries.
        if first > point.index { return true }
        // Ending before the snapshot's index: nothing to keep, and appends would leave a hole.
        guard last >= point.index else { return false }
        return try storage.logStore.getLog(index: point.index).term == point.term
    }
}
