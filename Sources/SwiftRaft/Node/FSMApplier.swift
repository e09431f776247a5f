import Synchronization

/// Committed entries on their way to the FSM, with the callers waiting for them on the leader.
struct ApplyBatch: Sendable {
    var entries: [Log]
    var waiters: [UInt64: ApplyWaiter]
}

/// Work for the FSM's executor, done in order.
enum ApplyWork: Sendable {
    case apply(ApplyBatch)
    /// Runs once everything queued before it is done (used to wait for the FSM at shutdown).
    case marker(@Sendable () -> Void)
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
    /// Set at shutdown: batches not yet applied fail their callers instead.
    private let stopped = Atomic<Bool>(false)

    init(fsm: any FSM, node: ServerID, status: NodeStatus, maxBatch: Int, tracer: (@Sendable (RaftTraceEvent) -> Void)?) {
        self.fsm = fsm
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
                let results = batching.applyBatch(chunk)
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
            for entry in batch.entries where entry.type == .command {
                responses[entry.index] = fsm.apply(entry)
            }
        }
        if let last = batch.entries.last {
            status.update { $0.appliedIndex = max($0.appliedIndex, last.index) }
        }
        for entry in batch.entries {
            tracer?(.applied(node: node, index: entry.index, term: entry.term, type: entry.type))
            if let waiter = batch.waiters[entry.index] {
                waiter.resume(with: .success(ApplyResult(index: entry.index, response: responses[entry.index] ?? nil)))
            }
        }
    }
}
