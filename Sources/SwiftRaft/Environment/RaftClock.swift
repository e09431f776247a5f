#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Time as Raft and its plugins see it. Production uses ``SystemClock``; the test kit's simulator
/// supplies a virtual clock so runs are fast and reproducible.
public protocol RaftClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    /// Wall-clock time, for `Log.appendedAt` and reporting.
    var wallClockNow: LogTimestamp { get }
    /// Suspends for `duration`; throws `CancellationError` if the task is cancelled first.
    func sleep(for duration: Duration) async throws

    /// Calls `work` once, when `delay` has passed, on a thread of the clock's choosing. `work` must
    /// be short and must not block: it typically queues an input for a node. There is no way to
    /// cancel it; whoever schedules checks, when it fires, whether it still matters.
    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void)
}

/// The real clock: `ContinuousClock` for monotonic time and `CLOCK_REALTIME` for the wall clock.
public struct SystemClock: RaftClock {
    private let origin = ContinuousClock.now

    /// Creates a clock whose ``now`` starts at zero.
    public init() {}

    /// Time since this clock was created.
    public var now: Duration { ContinuousClock.now - origin }

    /// The system's wall clock.
    public var wallClockNow: LogTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return LogTimestamp(nanosecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    /// Sleeps on `ContinuousClock`.
    public func sleep(for duration: Duration) async throws {
        try await ContinuousClock().sleep(for: duration)
    }
}

extension RaftClock {
    /// Sleeps on a task of its own, then calls `work`: right for real clocks, whose sleep needs no
    /// particular executor. A virtual clock overrides it to fire on its own executor.
    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        Task {
            try? await sleep(for: delay)
            work()
        }
    }
}

extension RaftClock {
    /// Runs `operation`, throwing ``RaftError/Code/timeout`` if it takes longer than `timeout`
    /// (the operation is then cancelled).
    public func withTimeout<T: Sendable>(
        _ timeout: Duration,
        _ what: @autoclosure () -> String,
        operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        // Described only if the timeout fires: building the text costs allocations on every call.
        let what = what()
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await self.sleep(for: timeout)
                throw RaftError(.timeout, "\(what) timed out after \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
