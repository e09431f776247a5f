import Synchronization

/// Receives a node's ``RaftObservation``s through a bounded stream (hashicorp/raft's `Observer`).
///
/// Register it with ``Raft/registerObserver(_:)`` on one or more nodes and read
/// ``observations``:
///
/// ```swift
/// let observer = RaftObserver(bufferSize: 128) { observation in
///     if case .leaderChanged = observation.event { return true }
///     return false
/// }
/// raft.registerObserver(observer)
/// Task {
///     for await observation in observer.observations {
///         print("\(observation.node): \(observation.event)")
///     }
/// }
/// ```
///
/// The node never waits for an observer: an event that finds the buffer full is dropped and
/// counted in ``droppedCount`` (hashicorp/raft's non-blocking observer), so a slow or stuck
/// reader costs events, never progress. Deregistering, or the node shutting down (whose last
/// event is `.stateChanged(.shutdown)`), does not end the stream, since one observer may watch
/// several nodes; call ``finish()`` when done with it.
public final class RaftObserver: Sendable {
    /// The events accepted by the filter, oldest first.
    public let observations: AsyncStream<RaftObservation>
    private let continuation: AsyncStream<RaftObservation>.Continuation
    private let filter: (@Sendable (RaftObservation) -> Bool)?
    private let counts = Mutex((observed: 0, dropped: 0))

    /// Creates an observer.
    ///
    /// - Parameters:
    ///   - bufferSize: how many events may wait to be read before new ones are dropped; at least 1.
    ///   - filter: which events to keep; nil keeps all. It runs on the node's loop, for every
    ///     event of every node the observer is registered with: it must be quick and must not
    ///     block.
    public init(bufferSize: Int = 64, filter: (@Sendable (RaftObservation) -> Bool)? = nil) {
        (observations, continuation) = AsyncStream.makeStream(of: RaftObservation.self, bufferingPolicy: .bufferingOldest(max(bufferSize, 1)))
        self.filter = filter
    }

    /// How many events passed the filter and were queued for reading (hashicorp/raft's
    /// `GetNumObserved`).
    public var observedCount: Int { counts.withLock { $0.observed } }

    /// How many events passed the filter but were dropped because the buffer was full, or
    /// because the stream had finished (hashicorp/raft's `GetNumDropped`).
    public var droppedCount: Int { counts.withLock { $0.dropped } }

    /// Ends ``observations``: a reader's loop finishes once it has read what is buffered. Later
    /// events are dropped.
    public func finish() { continuation.finish() }

    /// Offers `observation`: queued if the filter takes it and there is room. Never waits.
    func offer(_ observation: RaftObservation) {
        if let filter, !filter(observation) { return }
        let queued: Bool
        switch continuation.yield(observation) {
        case .enqueued: queued = true
        case .dropped, .terminated: queued = false
        @unknown default: queued = false
        }
        counts.withLock { counts in
            if queued { counts.observed += 1 } else { counts.dropped += 1 }
        }
    }
}

/// The observers registered with one node, in registration order (a simulated run must wake
/// their readers in the same order every time).
final class ObserverRegistry: Sendable {
    private let observers = Mutex<[RaftObserver]>([])
    /// Read on every potential event by the loop: a lock-free check keeps the cost of
    /// observation at one load when nobody observes.
    private let count = Atomic<Int>(0)

    var isEmpty: Bool { count.load(ordering: .relaxed) == 0 }

    func register(_ observer: RaftObserver) {
        let total = observers.withLock { observers in
            if !observers.contains(where: { $0 === observer }) { observers.append(observer) }
            return observers.count
        }
        count.store(total, ordering: .relaxed)
    }

    func deregister(_ observer: RaftObserver) {
        let total = observers.withLock { observers in
            observers.removeAll { $0 === observer }
            return observers.count
        }
        count.store(total, ordering: .relaxed)
    }

    /// Offers `event` of `node` to every observer, outside the lock (a filter may be slow to
    /// return; registering should not wait for it).
    func notify(_ event: @autoclosure () -> RaftEvent, node: ServerID) {
        guard !isEmpty else { return }
        let targets = observers.withLock { $0 }
        let observation = RaftObservation(node: node, event: event())
        for observer in targets { observer.offer(observation) }
    }
}
