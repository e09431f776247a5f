import Synchronization

/// The timeouts of an ``InmemTransport``'s calls, kept in one table and checked by one timer.
///
/// A call on the in-memory transport is usually answered within microseconds, so arming a timer
/// for each one would cost more than the call. Instead each call registers its deadline here (a
/// dictionary insert, removed when answered), and a single timer on the transport's clock fires
/// at the earliest deadline, expires whatever is due, and re-arms for the next. With calls
/// answered promptly, the timer fires about once per timeout, whatever the call rate.
///
/// Closing the transport ends every deadline at once (``closeAll(_:)``): the calls it tracks are
/// the transport's calls not yet answered, and they fail then rather than at their timeouts.
final class InmemDeadlines: Sendable {
    /// What a deadline does when it ends: nil when its timeout passed, or the error it ends with
    /// because the transport closed.
    typealias Expire = @Sendable (_ closing: RaftError?) -> Void

    private struct Entry {
        var deadline: Duration
        var expire: Expire
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// When the armed timer fires, if one is armed.
        var armedFor: Duration?
        /// Set by ``closeAll(_:)``: later deadlines end as soon as they are tracked.
        var closed: RaftError?
    }

    private let clock: any RaftClock
    private let state = Mutex(State())

    init(clock: any RaftClock) { self.clock = clock }

    /// Calls `expire` once `timeout` has passed, unless ``finish(_:)`` removes it first, or with
    /// the closing error once the transport closes (at once, if it has). Returns the ID to
    /// remove it by.
    func track(timeout: Duration, expire: @escaping Expire) -> UInt64 {
        let now = clock.now
        let (id, arm, closed) = state.withLock { state -> (UInt64, Duration?, RaftError?) in
            state.nextID += 1
            if let closed = state.closed { return (state.nextID, nil, closed) }
            let deadline = now + max(timeout, .zero)
            state.entries[state.nextID] = Entry(deadline: deadline, expire: expire)
            guard state.armedFor.map({ deadline < $0 }) ?? true else { return (state.nextID, nil, nil) }
            state.armedFor = deadline
            return (state.nextID, deadline - now, nil)
        }
        if let closed { expire(closed) }
        if let arm { clock.schedule(after: arm) { [weak self] in self?.sweep() } }
        return id
    }

    /// Removes a deadline that no longer matters.
    func finish(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Ends every deadline now with `error`, in the order they were tracked, and every deadline
    /// tracked from now on as soon as it is.
    func closeAll(_ error: RaftError) {
        let ending = state.withLock { state -> [Entry] in
            if state.closed == nil { state.closed = error }
            defer { state.entries = [:] }
            return state.entries.sorted { $0.key < $1.key }.map(\.value)
        }
        for entry in ending { entry.expire(error) }
    }

    /// Expires every due entry, in the order they were tracked, and arms the timer for the next.
    private func sweep() {
        let now = clock.now
        let (due, arm) = state.withLock { state -> ([Entry], Duration?) in
            let dueIDs = state.entries.filter { $0.value.deadline <= now }.keys.sorted()
            let due = dueIDs.compactMap { state.entries.removeValue(forKey: $0) }
            guard let next = state.entries.values.map(\.deadline).min() else {
                state.armedFor = nil
                return (due, nil)
            }
            // Another timer may already be armed for an earlier instant; one more is harmless.
            if let armed = state.armedFor, armed > now, armed <= next { return (due, nil) }
            state.armedFor = next
            return (due, next - now)
        }
        if let arm { clock.schedule(after: arm) { [weak self] in self?.sweep() } }
        for entry in due { entry.expire(nil) }
    }
}

/// A completion called at most once, whoever gets there first: the answer, the timeout, or a
/// closing transport.
final class InmemCompletion<Value: Sendable>: Sendable {
    private let completion: Mutex<(@Sendable (Result<Value, any Error>) -> Void)?>
    /// Set once the deadline is tracked, so completing removes it.
    private let deadline = Mutex<(InmemDeadlines, UInt64)?>(nil)

    init(_ completion: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        self.completion = Mutex(completion)
    }

    /// Fails the call with `error` if it is still waiting after `timeout`. Called before the
    /// request goes out, so an answer that comes at once also clears the deadline.
    func expire(after timeout: Duration, in deadlines: InmemDeadlines, with error: @escaping @Sendable () -> RaftError) {
        // Strong: when a hop is lost, the deadline is the only thing left that knows the call.
        let id = deadlines.track(timeout: timeout) { closing in self.complete(.failure(closing ?? error())) }
        deadline.withLock { $0 = (deadlines, id) }
    }

    /// Delivers `result` unless something was delivered already.
    func complete(_ result: Result<Value, any Error>) {
        guard let completion = completion.withLock({ value in
            defer { value = nil }
            return value
        }) else { return }
        if let (deadlines, id) = deadline.withLock({ $0 }) { deadlines.finish(id) }
        completion(result)
    }
}
