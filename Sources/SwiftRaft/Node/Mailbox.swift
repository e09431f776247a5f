import DequeModule
import Synchronization

/// Work for one serial executor, posted from any thread and taken in batches.
///
/// Producers append an item and wake the consumer only if it is not already running: a consumer
/// that is draining picks the item up in its next round, without a wake, a task or a lock held
/// across the work. The consumer takes everything queued at once, which is what turns a burst of
/// inputs into one core step, many small writes into one group commit, many commits into one FSM
/// batch. Unbounded by itself; its producers are bounded by the core's windows and
/// ``Config/maxPendingApplies``.
final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var items: Deque<Item> = []
        /// A drain is queued on the executor or running: posting needs no wake.
        var scheduled = false
        /// Closed: posts are refused, so nothing is handed to an executor that is going away.
        var closed = false
    }

    /// A struct around the function: a bare function kept in a generic container is re-wrapped
    /// in conversion thunks on every access.
    private struct Consumer: Sendable {
        let consume: @Sendable ([Item]) -> Void
    }

    private let state = Mutex(State())
    private let consumer = Mutex<Consumer?>(nil)
    private let executor: any RaftExecutor

    /// A mailbox whose batches run on `executor` once a consumer is attached.
    init(executor: any RaftExecutor) {
        self.executor = executor
    }

    /// Sets what takes the batches, in posting order. Separate from `init` so the consumer can be
    /// the object that owns the mailbox; items posted before are kept for it.
    func attach(_ consume: @escaping @Sendable ([Item]) -> Void) {
        consumer.withLock { $0 = Consumer(consume: consume) }
        state.withLock { state in
            if !state.items.isEmpty { scheduleDrain(&state) }
        }
    }

    /// Queues `item`; from any thread, never blocks beyond a short lock. Returns false, queueing
    /// nothing, once the mailbox is closed: the caller then answers whoever waits on the item.
    @discardableResult
    func post(_ item: Item) -> Bool {
        state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.items.append(item)
            scheduleDrain(&state)
            return true
        }
    }

    /// Refuses later posts. Items already queued are still consumed, by a drain already handed
    /// to the executor: shut the executor down only after this returns.
    func close() {
        state.withLock { $0.closed = true }
    }

    /// Hands a drain to the executor unless one is queued or running. Called with the lock held,
    /// so that once `close()` returns no drain can still be on its way to the executor; the
    /// executor never takes this lock while holding its own.
    private func scheduleDrain(_ state: inout State) {
        guard !state.scheduled else { return }
        state.scheduled = true
        executor.execute { [self] in drain() }
    }

    /// Runs on the executor: consumes batches until the queue stays empty.
    private func drain() {
        guard let consume = consumer.withLock({ $0 })?.consume else {
            state.withLock { $0.scheduled = false }
            return
        }
        while true {
            let batch = state.withLock { state -> [Item] in
                guard !state.items.isEmpty else {
                    state.scheduled = false
                    return []
                }
                // Keep the buffer: the next post would otherwise allocate a new one.
                defer { state.items.removeAll(keepingCapacity: true) }
                return Array(state.items)
            }
            if batch.isEmpty { return }
            consume(batch)
        }
    }
}
