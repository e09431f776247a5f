import DequeModule
import Synchronization

/// Bounds the proposals a leader holds (``Config/maxPendingApplies``): ``Raft/apply(_:timeout:)``
/// waits here for room, up to its timeout (``RaftError/Code/enqueueTimeout``, as hashicorp/raft's
/// enqueue timeout); the rest of the timeout bounds the commit, on the node's ticks.
final class ApplyLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: Deque<(id: UInt64, continuation: CheckedContinuation<Void, any Error>)> = []
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state: Mutex<State>

    init(capacity: Int) { state = Mutex(State(available: capacity)) }

    /// Takes a slot, waiting up to `timeout` (nil: forever) for one to free up.
    func acquire(timeout: Duration?, clock: any RaftClock) async throws {
        let immediate: Bool = try state.withLock { state in
            if state.closed { throw RaftError.shutdown }
            guard state.available > 0, state.waiters.isEmpty else { return false }
            state.available -= 1
            return true
        }
        if immediate { return }
        guard let timeout else {
            try await wait()
            return
        }
        do {
            try await clock.withTimeout(timeout, "waiting to enqueue") { try await self.wait() }
        } catch let error as RaftError where error.code == .timeout {
            throw RaftError(.enqueueTimeout, "timed out enqueuing operation")
        }
    }

    private func wait() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Bool, any Error> = state.withLock { state in
                    if state.closed { return .failure(RaftError.shutdown) }
                    // Checked under the lock that `onCancel` also takes: a cancellation that ran
                    // before this waiter was queued is seen here instead of being missed.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.available > 0 && state.waiters.isEmpty {
                        state.available -= 1
                        return .success(true)
                    }
                    state.waiters.append((id, continuation))
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let position = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: position).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Returns a slot, handing it straight to the longest waiter if there is one.
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.waiters.popFirst() { return waiter.continuation }
            state.available += 1
            return nil
        }
        next?.resume()
    }

    /// Fails every waiter and every later acquire with ``RaftError/Code/shutdown``.
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(throwing: RaftError.shutdown) }
    }
}
