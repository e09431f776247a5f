import Synchronization
public import SwiftRaft

/// A virtual clock: time stands still while any simulated job can run, and jumps to the next
/// timer when none can. A simulated minute of elections and heartbeats takes milliseconds.
public final class SimulatedClock: RaftClock {
    private struct Timer {
        var deadline: Duration
        var sequence: UInt64
        var fire: Fire
    }

    /// What a timer does when due: resume a sleeping task, or run scheduled work in place (on
    /// the driver's thread, where every simulated job runs).
    private enum Fire {
        case resume(CheckedContinuation<Void, any Error>)
        case run(@Sendable () -> Void)
    }

    private struct State {
        var now: Duration = .zero
        var timers: [UInt64: Timer] = [:]
        var nextSequence: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The wall-clock time the simulation pretends to start at (2026-01-01T00:00:00Z).
    private static let epoch: Int64 = 1_767_225_600 * 1_000_000_000

    init() {}

    /// Virtual time since the simulation began.
    public var now: Duration { state.withLock { $0.now } }

    /// A wall clock that starts at a fixed date and advances with virtual time.
    public var wallClockNow: LogTimestamp {
        let (seconds, attoseconds) = now.components
        return LogTimestamp(nanosecondsSinceEpoch: Self.epoch + seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Suspends until virtual time has advanced by `duration`.
    public func sleep(for duration: Duration) async throws {
        let sequence = state.withLock { state in
            state.nextSequence += 1
            return state.nextSequence
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    // Checked under the lock `onCancel` takes, so a cancellation is never missed.
                    if Task.isCancelled { return true }
                    let deadline = state.now + max(duration, .zero)
                    state.timers[sequence] = Timer(deadline: deadline, sequence: sequence, fire: .resume(continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let timer = state.withLock { $0.timers.removeValue(forKey: sequence) }
            if case .resume(let continuation) = timer?.fire { continuation.resume(throwing: CancellationError()) }
        }
    }

    /// Runs `work` on the simulation's driver thread when virtual time reaches now + `delay`,
    /// after every timer set before it for the same instant.
    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.nextSequence += 1
            let deadline = state.now + max(delay, .zero)
            state.timers[state.nextSequence] = Timer(deadline: deadline, sequence: state.nextSequence, fire: .run(work))
        }
    }

    /// Moves time to the earliest timer and fires every timer due then, in the order they were
    /// set. Returns false when no timer is pending.
    func advanceToNextTimer(limit: Duration) -> Bool {
        let due: [Timer]? = state.withLock { state in
            guard let earliest = state.timers.values.min(by: { ($0.deadline, $0.sequence) < ($1.deadline, $1.sequence) })
            else { return nil }
            state.now = max(state.now, min(earliest.deadline, limit))
            let ready = state.timers.values.filter { $0.deadline <= state.now }
                .sorted { $0.sequence < $1.sequence }
            for timer in ready { state.timers.removeValue(forKey: timer.sequence) }
            return ready
        }
        guard let due else { return false }
        for timer in due {
            switch timer.fire {
            case .resume(let continuation): continuation.resume()
            case .run(let work): work()
            }
        }
        return true
    }

    var hasTimers: Bool { state.withLock { !$0.timers.isEmpty } }

    /// Ends every pending timer without moving time: scheduled work is dropped, and sleeping
    /// tasks wake with `CancellationError`. For a simulation that is over: its timers can never
    /// fire, and a timer's work often holds what holds this clock (a transport, a node's mailbox),
    /// a cycle that would keep the whole simulated cluster alive for the rest of the process.
    /// Returns how many timers there were.
    func cancelAllTimers() -> Int {
        let pending = state.withLock { state -> [Timer] in
            defer { state.timers.removeAll() }
            return state.timers.values.sorted { $0.sequence < $1.sequence }
        }
        for timer in pending {
            if case .resume(let continuation) = timer.fire { continuation.resume(throwing: CancellationError()) }
        }
        return pending.count
    }
}
