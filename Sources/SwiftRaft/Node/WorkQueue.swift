import DequeModule
import Synchronization

/// A queue between two loops running on different executors: producers append without waiting,
/// the consumer takes everything queued at once — which is what turns many small writes into one
/// group commit. Unbounded by itself; its producers are bounded by the core's windows and
/// ``Config/maxPendingApplies``.
final class WorkQueue<Item: Sendable>: Sendable {
    private let items = Mutex<Deque<Item>>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func append(_ item: Item) {
        items.withLock { $0.append(item) }
        wake.yield()
    }

    /// Removes and returns everything queued.
    func drain() -> [Item] {
        items.withLock { items in
            // Keep the buffer: the next append would otherwise allocate a new one.
            defer { items.removeAll(keepingCapacity: true) }
            return Array(items)
        }
    }

    /// Calls `body` with each batch of queued items until the queue is finished or the task is
    /// cancelled.
    func consume(_ body: ([Item]) async -> Void) async {
        for await _ in wakeups {
            while true {
                let batch = drain()
                if batch.isEmpty { break }
                await body(batch)
            }
            if Task.isCancelled { return }
        }
    }

    func finish() { wake.finish() }
}
