/// Committed entries on their way to the FSM, with the callers waiting for them on the leader.
struct ApplyBatch: Sendable {
    var entries: [Log]
    var waiters: [UInt64: ApplyWaiter]
}

/// Applies committed entries to the user's FSM on its own blocking executor, so a slow FSM never
/// delays the node's heartbeats or votes, and resolves the waiting ``Raft/apply(_:timeout:)``
/// calls straight from there, without another hop through the node.
struct FSMApplier: Sendable {
    let fsm: any FSM
    /// The same FSM when it applies in batches, decided once rather than per batch.
    let batchingFSM: (any BatchingFSM)?
    let node: ServerID
    let status: NodeStatus
    let maxBatch: Int
    let tracer: (@Sendable (RaftTraceEvent) -> Void)?

    func run(queue: WorkQueue<ApplyBatch>) async {
        await queue.consume { batches in
            for batch in batches { apply(batch) }
        }
    }

    func apply(_ batch: ApplyBatch) {
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
