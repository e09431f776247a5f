import Synchronization

/// The caller of one ``Raft/apply(_:timeout:)`` (or barrier, or membership change), waiting for
/// its command to be applied: resumed exactly once, by whichever comes first — the FSM's answer,
/// a failure, the caller's task being cancelled, or its deadline passing.
///
/// The node and the FSM thread resume it when the command's fate is known; a cancellation
/// resumes it at once, from the cancelling thread, and a deadline on the node's next tick after
/// it, each with an error that says how far the command had got. The node still tracks the
/// command (and holds its ``Config/maxPendingApplies`` slot) until it commits or leadership is
/// lost, so giving up never lets more proposals pile up.
///
/// The outcome may arrive before the caller attaches its continuation (the FSM thread can apply
/// the command while the caller is still on its way to waiting): it is kept until then.
final class ApplyWaiter: Sendable {
    private struct State {
        var continuation: CheckedContinuation<ApplyResult, any Error>?
        /// The outcome, when it came before the continuation.
        var outcome: Result<ApplyResult, any Error>?
        var committed = false
        /// The node has taken the proposal for the log: a cancellation now has an unknown outcome.
        var appending = false
        /// The command's log index, once appended.
        var index: UInt64?
        /// Resumed already: later outcomes are dropped.
        var done = false
    }

    private let state = Mutex(State())
    /// When the caller stops waiting (``RaftClock/now``), if it gave a timeout.
    let deadline: Duration?
    /// The caller's whole timeout, for the message.
    let timeout: Duration?
    /// When the caller queued the proposal, on the node's clock (`raft.proposal.queued`).
    let queuedAt: Duration

    /// A waiter whose caller waits at most `timeout`, counted from `start` (nil: no limit), and
    /// queued its proposal at `queuedAt`.
    init(timeout: Duration? = nil, start: Duration = .zero, queuedAt: Duration = .zero) {
        self.timeout = timeout
        self.deadline = timeout.map { start + $0 }
        self.queuedAt = queuedAt
    }

    /// Waits for the command's outcome. A cancelled caller is released at once: with
    /// `CancellationError` if the node had not yet taken the proposal (it then never will), or
    /// told that the command may still be applied, while the node keeps tracking it.
    func outcome() async throws -> ApplyResult {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { wait($0) }
        } onCancel: {
            cancel()
        }
    }

    /// Attaches the caller, resuming it at once if the outcome (or a cancellation) came first.
    func wait(_ continuation: CheckedContinuation<ApplyResult, any Error>) {
        let early = state.withLock { state -> Result<ApplyResult, any Error>? in
            if let outcome = state.outcome {
                state.outcome = nil
                state.done = true
                return outcome
            }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Called by the node before it appends the proposal: false if the caller has already been
    /// released (cancelled), in which case the proposal must be dropped.
    func beginAppend() -> Bool {
        state.withLock { state in
            guard !state.done, state.outcome == nil else { return false }
            state.appending = true
            return true
        }
    }

    /// The proposal is in the log at `index`.
    func appended(at index: UInt64) {
        state.withLock { $0.index = index }
    }

    /// The command committed: from now on a cancellation says so.
    func markCommitted() {
        state.withLock { $0.committed = true }
    }

    /// Delivers the command's outcome, unless the caller was already resumed.
    func resume(with result: Result<ApplyResult, any Error>) {
        complete { _ in result }
    }

    /// The caller's task was cancelled: resume it now, saying how far the command had got.
    func cancel() {
        complete { state in
            guard state.appending else { return .failure(CancellationError()) }
            return .failure(Self.cancelledError(index: state.index, committed: state.committed))
        }
    }

    /// The caller's deadline passed after the node appended its command: resume it now, saying
    /// how far the command had got. The node goes on tracking the command.
    func timedOut() {
        complete { state in
            let at = state.index.map { " at index \($0)" } ?? ""
            let after = timeout.map { " after \($0)" } ?? ""
            if state.committed {
                return .failure(RaftError(.timeout, "timed out\(after) with the command committed\(at): it will be applied"))
            }
            return .failure(
                RaftError(
                    .timeout,
                    "timed out\(after) with the command appended\(at): the outcome is unknown, it may still commit and be applied"
                )
            )
        }
    }

    /// Whether the caller has been answered (or told it gave up): its deadline no longer matters.
    var isFinished: Bool {
        state.withLock { $0.done || $0.outcome != nil }
    }

    private func complete(_ outcome: (_ state: State) -> Result<ApplyResult, any Error>) {
        let (continuation, result) = state.withLock { state -> (CheckedContinuation<ApplyResult, any Error>?, Result<ApplyResult, any Error>?) in
            guard !state.done, state.outcome == nil else { return (nil, nil) }
            let result = outcome(state)
            guard let continuation = state.continuation else {
                state.outcome = result
                return (nil, nil)
            }
            state.continuation = nil
            state.done = true
            return (continuation, result)
        }
        if let continuation, let result { continuation.resume(with: result) }
    }

    private static func cancelledError(index: UInt64?, committed: Bool) -> RaftError {
        let at = index.map { " at index \($0)" } ?? ""
        if committed {
            return RaftError(.cancelled, "cancelled after the command committed\(at): it will be applied")
        }
        return RaftError(.cancelled, "cancelled after the command was appended\(at): it may still commit and be applied")
    }
}
