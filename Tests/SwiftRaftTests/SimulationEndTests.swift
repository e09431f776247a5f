import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

/// What a `Simulation` leaves behind once its run is over: nothing. Virtual time stops with the
/// run, so a timer still pending then can never fire; the run drops it and wakes the tasks still
/// asleep on the clock, instead of keeping them (and the transports and nodes they hold, which
/// hold the clock) in memory until the process exits. LeakSanitizer found whole simulated clusters
/// kept that way (Docs/testing.md, finding 5).
@Suite(.timeLimit(.minutes(1)))
struct SimulationEndTests {
    @Test func workScheduledForAfterTheRunIsDroppedWithWhatItHolds() async throws {
        let probe = WeakReference()
        try await Simulation.run(seed: 1) { simulation in
            // Like a transport: it holds the clock, and the clock holds a timer that holds it.
            let holder = ClockHolder(clock: simulation.clock)
            simulation.clock.schedule(after: .seconds(3600)) { holder.fired() }
            probe.watch(holder)
        }
        #expect(probe.isReleased, "the pending timer's work, and what it held, are gone")
    }

    @Test func aTaskStillAsleepWhenTheRunEndsWakesWithCancellation() async throws {
        let outcome = SleepOutcome()
        try await Simulation.run(seed: 2) { simulation in
            // Started by the body and never awaited, like a client loop nobody stopped.
            Task(executorPreference: simulation.executor) {
                do {
                    try await simulation.clock.sleep(for: .seconds(3600))
                    outcome.record("slept")
                } catch {
                    outcome.record("\(type(of: error))")
                }
            }
        }
        #expect(outcome.recorded == "CancellationError")
    }

    @Test func aBodyPastItsTimeLimitFailsTheRunAndIsCancelled() async throws {
        let outcome = SleepOutcome()
        let failure = await #expect(throws: Simulation.Failure.self) {
            try await Simulation.run(seed: 3, timeLimit: .seconds(1)) { simulation in
                do {
                    try await simulation.clock.sleep(for: .seconds(3600))
                    outcome.record("slept")
                } catch {
                    outcome.record("\(type(of: error))")
                }
            }
        }
        #expect(failure?.description == "simulation (seed 3) exceeded its time limit of 1.0 seconds")
        #expect(outcome.recorded == "CancellationError", "the body's sleep ended before the run reported")
    }
}

/// Holds the clock, as an in-memory transport or a node does.
private final class ClockHolder: Sendable {
    let clock: SimulatedClock
    init(clock: SimulatedClock) { self.clock = clock }
    func fired() {}
}

/// How a sleep in the run ended, read after the run.
private final class SleepOutcome: Sendable {
    private let value = Mutex<String?>(nil)
    func record(_ outcome: String) { value.withLock { $0 = outcome } }
    var recorded: String? { value.withLock { $0 } }
}
