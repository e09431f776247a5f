import Synchronization

/// Committed entries on their way to the FSM, with the callers waiting for them on the leader.
struct ApplyBatch: Sendable {
    var entries: [Log]
    var waiters: [UInt64: ApplyWaiter]
    /// When the leader saw the waiters' entries commit (`raft.proposal.applied`); unused
    /// without waiters.
    var committedAt: Duration = .zero
}

/// Work for the FSM's executor, done in order.
enum ApplyWork: Sendable {
    case apply(ApplyBatch)
    /// Captures the FSM between two batches and passes the result on; fails with
    /// ``RaftError/Code/nothingNewToSnapshot`` unless the FSM applied something after `newerThan`.
    case snapshot(newerThan: UInt64, done: @Sendable (Result<CapturedSnapshot, any Error>) -> Void)
    /// Replaces the FSM's state with the stored snapshot `id`, which captures `point`.
    case restore(id: String, point: SnapshotPoint, done: @Sendable (Result<Void, any Error>) -> Void)
    /// Runs once everything queued before it is done (used to wait for the FSM at shutdown).
    case marker(@Sendable () -> Void)
}

/// An FSM snapshot just taken, with the point of the log it captures.
struct CapturedSnapshot: Sendable {
    var snapshot: any FSMSnapshot
    var point: SnapshotPoint
}

/// Applies committed entries to the user's FSM — on its own executor, so a slow FSM never delays
/// the node's heartbeats or votes, or inline on the node's loop for a ``NonBlockingFSM`` — and
/// resolves the waiting ``Raft/apply(_:timeout:)`` calls straight from there, without another hop
/// through the node.
final class FSMApplier: Sendable {
    let fsm: any FSM
    /// The same FSM when it applies in batches, decided once rather than per batch.
    let batchingFSM: (any BatchingFSM)?
    let node: ServerID
    let status: NodeStatus
    let maxBatch: Int
    let tracer: (@Sendable (RaftTraceEvent) -> Void)?
    let snapshotStore: any SnapshotStore
    let metrics: NodeMetrics
    let clock: any RaftClock
    /// Set at shutdown: batches not yet applied fail their callers instead.
    private let stopped = Atomic<Bool>(false)
    /// The last entry applied and the configuration in force there: what a snapshot taken now
    /// captures. Only the FSM's executor changes it; the lock is for `Sendable`'s sake.
    private let appliedPoint: Mutex<SnapshotPoint>
    /// The last index applied, for the node to read without a lock before each step.
    private let applied: Atomic<UInt64>
    /// Set by the node when it holds entries back until the FSM catches up (the apply backlog is
    /// full): the next batch applied then wakes it.
    private let wakeNodeOnProgress = Atomic<Bool>(false)
    private let wakeNode: @Sendable () -> Void

    init(
        fsm: any FSM,
        node: ServerID,
        status: NodeStatus,
        maxBatch: Int,
        tracer: (@Sendable (RaftTraceEvent) -> Void)?,
        snapshotStore: any SnapshotStore,
        restoredPoint: SnapshotPoint,
        metrics: NodeMetrics,
        clock: any RaftClock,
        wakeNode: @escaping @Sendable () -> Void
    ) {
        self.fsm = fsm
        self.metrics = metrics
        self.clock = clock
        self.snapshotStore = snapshotStore
        self.appliedPoint = Mutex(restoredPoint)
        self.applied = Atomic(restoredPoint.index)
        self.wakeNode = wakeNode
        self.batchingFSM = fsm as? any BatchingFSM
        self.node = node
        self.status = status
        self.maxBatch = maxBatch
        self.tracer = tracer
    }

    /// Carries out one batch of work on the FSM's executor.
    func process(_ work: [ApplyWork]) {
        for item in work {
            switch item {
            case .apply(let batch): apply(batch)
            case .snapshot(let newerThan, let done): done(capture(newerThan: newerThan))
            case .restore(let id, let point, let done): done(restore(id: id, point: point))
            case .marker(let done): done()
            }
        }
    }

    /// From now on, batches are failed with ``RaftError/Code/shutdown`` rather than applied: once
    /// shutdown has answered a caller, the FSM must not change under it.
    func stop() { stopped.store(true, ordering: .releasing) }

    func apply(_ batch: ApplyBatch) {
        guard !stopped.load(ordering: .acquiring) else {
            for (_, waiter) in batch.waiters.sorted(by: { $0.key < $1.key }) { waiter.resume(with: .failure(RaftError.shutdown)) }
            return
        }
        var responses: [UInt64: (any Sendable)?] = [:]
        if let batching = batchingFSM {
            var chunk: [Log] = []
            func flush() {
                guard !chunk.isEmpty else { return }
                let started = metrics.timing ? clock.now : .zero
                let results = batching.applyBatch(chunk)
                if metrics.timing { metrics.fsmApplyBatch.record(clock.now - started) }
                metrics.fsmApplyBatchNum.record(chunk.count)
                precondition(
                    results.count == chunk.count,
                    "BatchingFSM.applyBatch returned \(results.count) responses for \(chunk.count) entries"
                )
                for (entry, result) in zip(chunk, results) { responses[entry.index] = result }
                chunk.removeAll(keepingCapacity: true)
            }
            for entry in batch.entries where entry.type == .command || entry.type == .configuration {
                chunk.append(entry)
                if chunk.count >= maxBatch { flush() }
            }
            flush()
        } else {
            if metrics.timing {
                // One clock read per entry: each entry's end is the next one's start.
                var started = clock.now
                for entry in batch.entries where entry.type == .command {
                    responses[entry.index] = fsm.apply(entry)
                    let finished = clock.now
                    metrics.fsmApply.record(finished - started)
                    started = finished
                }
            } else {
                for entry in batch.entries where entry.type == .command {
                    responses[entry.index] = fsm.apply(entry)
                }
            }
        }
        if let last = batch.entries.last {
            appliedPoint.withLock { point in
                point.index = last.index
                point.term = last.term
                for entry in batch.entries where entry.type == .configuration {
                    // The core decoded it already when it was appended; one that failed then was
                    // ignored there, and is here.
                    guard let configuration = try? ConfigurationCodec.decode(entry.data) else { continue }
                    point.configuration = configuration
                    point.configurationIndex = entry.index
                }
            }
            status.update { $0.appliedIndex = max($0.appliedIndex, last.index) }
            reportProgress(last.index)
        }
        let answeredAt = batch.waiters.isEmpty || !metrics.timing ? Duration.zero : clock.now
        for entry in batch.entries {
            tracer?(.applied(node: node, index: entry.index, term: entry.term, type: entry.type))
            if let waiter = batch.waiters[entry.index] {
                metrics.proposalApplied.record(answeredAt - batch.committedAt)
                waiter.resume(with: .success(ApplyResult(index: entry.index, response: responses[entry.index] ?? nil)))
            }
        }
    }
}

extension FSMApplier {
    /// The FSM's snapshot, taken between two batches so it sees every entry through the point
    /// it records and none after.
    func capture(newerThan: UInt64) -> Result<CapturedSnapshot, any Error> {
        guard !stopped.load(ordering: .acquiring) else { return .failure(RaftError.shutdown) }
        let point = appliedPoint.withLock { $0 }
        guard point.index > newerThan else {
            return .failure(
                RaftError(.nothingNewToSnapshot, "nothing new to snapshot: the FSM is at \(point.index), the last snapshot at \(newerThan)")
            )
        }
        let started = clock.now
        defer { metrics.fsmSnapshot.record(clock.now - started) }
        return Result { CapturedSnapshot(snapshot: try fsm.snapshot(), point: point) }
    }

    /// Replaces the FSM's state with the stored snapshot `id`; from then on the FSM is at `point`.
    func restore(id: String, point: SnapshotPoint) -> Result<Void, any Error> {
        guard !stopped.load(ordering: .acquiring) else { return .failure(RaftError.shutdown) }
        let started = clock.now
        do {
            let (_, source) = try snapshotStore.open(id: id)
            defer { source.close() }
            try fsm.restore(from: source)
        } catch {
            return .failure(error)
        }
        metrics.fsmRestore.record(clock.now - started)
        appliedPoint.withLock { $0 = point }
        status.update { $0.appliedIndex = point.index }
        reportProgress(point.index)
        tracer?(.snapshotRestored(node: node, index: point.index, term: point.term))
        return .success(())
    }
}

extension FSMApplier {
    /// The last index applied.
    var appliedIndex: UInt64 { applied.load(ordering: .acquiring) }

    private func reportProgress(_ index: UInt64) {
        applied.store(index, ordering: .releasing)
        if wakeNodeOnProgress.exchange(false, ordering: .acquiringAndReleasing) { wakeNode() }
    }

    /// Asks to be woken by the next progress, unless there has been some since the node read
    /// `known`: then it is woken at once, so no progress between its read and this call is missed.
    func wakeOnProgress(after known: UInt64) {
        wakeNodeOnProgress.store(true, ordering: .releasing)
        if applied.load(ordering: .acquiring) > known, wakeNodeOnProgress.exchange(false, ordering: .acquiringAndReleasing) {
            wakeNode()
        }
    }
}
