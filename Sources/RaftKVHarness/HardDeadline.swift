import Synchronization

/// A request that went on long past its own timeout; the harness abandoned it.
///
/// RaftKVClient's `KVClient` can miss its timeout: when the server closes a keep-alive connection
/// between the client's "is it still open" check and its write, the request is dropped by the
/// closed channel's pipeline, and neither its timer nor a cancellation reaches the handler that
/// would fail it, so it never returns (seen against a server that closes each connection after
/// one response: about one request in a hundred hung). A harness that kills servers must not
/// hang with it.
public struct RequestHung: Error, CustomStringConvertible {
    /// The limit the request outlived.
    public let limit: Duration

    /// `request still running after 3 s: abandoned`.
    public var description: String { "request still running after \(limit): abandoned" }
}

/// Runs `body`, and throws ``RequestHung`` if it has not returned after `limit`: the task running
/// it is cancelled and left behind (it holds whatever it holds until it returns, possibly never).
func withHardDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let gate = Gate<T>()
    return try await withCheckedThrowingContinuation { continuation in
        gate.wait(continuation)
        let work = Task {
            do {
                gate.finish(.success(try await body()))
            } catch {
                gate.finish(.failure(error))
            }
        }
        gate.watch(
            Task {
                // A cancelled sleep returns early: the work finished first.
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                if gate.finish(.failure(RequestHung(limit: limit))) { work.cancel() }
            }
        )
    }
}

/// The one resumption of a continuation that two tasks race to complete.
private final class Gate<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var watchdog: Task<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Keeps the watchdog to cancel when the work finishes first (at once if it already has).
    func watch(_ watchdog: Task<Void, Never>) {
        let finished = state.withLock { state in
            state.watchdog = watchdog
            return state.finished
        }
        if finished { watchdog.cancel() }
    }

    /// Resumes the continuation with `result` unless it was resumed already; says whether it was
    /// this call that resumed it.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, watchdog) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { state.continuation = nil }
            return (state.continuation, state.watchdog)
        }
        guard let continuation else { return false }
        watchdog?.cancel()
        continuation.resume(with: result)
        return true
    }
}
