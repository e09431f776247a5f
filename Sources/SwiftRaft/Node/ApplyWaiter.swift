import Synchronization

/// The caller of one ``Raft/apply(_:timeout:)`` (or barrier), waiting for its command to be
/// applied: resumed exactly once, by whichever comes first — the FSM's answer, a failure, or the
/// caller's task being cancelled.
///
/// The node and the FSM thread resume it when the command's fate is known; a cancellation
/// resumes it at once, from the cancelling thread, with an error that says how far the command
/// had got. The node still tracks the command (and holds its ``Config/maxPendingApplies`` slot)
/// until it commits or leadership is lost, so cancelling never lets more proposals pile up.
final class ApplyWaiter: Sendable {
    private struct State {
        var continuation: CheckedContinuation<ApplyResult, any Error>?
        var committed = false
        var cancelled = false
    }

    /// The command's log index.
    let index: UInt64
    private let state = Mutex(State())

    init(index: UInt64) { self.index = index }

    /// Attaches the caller; if the task was cancelled before this, it is resumed at once.
    func wait(_ continuation: CheckedContinuation<ApplyResult, any Error>) {
        let cancelledEarly = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.continuation = continuation
            return false
        }
        if cancelledEarly { continuation.resume(throwing: Self.cancelledError(index: index, committed: false)) }
    }

    /// The command committed: from now on a cancellation says so.
    func markCommitted() {
        state.withLock { $0.committed = true }
    }

    /// Resumes the caller unless it was already resumed.
    func resume(with result: Result<ApplyResult, any Error>) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }

    /// The caller's task was cancelled: resume it now.
    func cancel() {
        let (continuation, committed) = state.withLock { state in
            state.cancelled = true
            defer { state.continuation = nil }
            return (state.continuation, state.committed)
        }
        continuation?.resume(throwing: Self.cancelledError(index: index, committed: committed))
    }

    private static func cancelledError(index: UInt64, committed: Bool) -> RaftError {
        if committed {
            return RaftError(.cancelled, "cancelled after the command committed at index \(index): it will be applied")
        }
        return RaftError(.cancelled, "cancelled after the command was appended at index \(index): it may still commit and be applied")
    }
}
