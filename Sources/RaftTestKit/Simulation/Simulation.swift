#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
public import SwiftRaft

/// A deterministic world to run Raft nodes in: one executor for everything and a virtual clock.
///
/// ```swift
/// let outcome = try await Simulation.run(seed: 7) { simulation in
///     // build nodes with simulation.environment(node:), drive them, check them
/// }
/// ```
///
/// The body and every task it starts run on ``executor``, one job at a time; virtual time
/// advances only when no job can run. The same seed therefore replays the same run, event for
/// event, in any process. (swift-raft never lets `Dictionary` order, which Swift seeds per process,
/// decide what happens next; if your FSM or test code does, set `SWIFT_DETERMINISTIC_HASHING=1`.)
public final class Simulation: Sendable {
    /// The seed the run is derived from.
    public let seed: UInt64
    /// The executor every simulated job runs on.
    public let executor: SimulationExecutor
    /// The virtual clock.
    public let clock: SimulatedClock
    private let random: Mutex<SplitMix64>

    private init(seed: UInt64) {
        self.seed = seed
        self.executor = SimulationExecutor()
        self.clock = SimulatedClock()
        self.random = Mutex(SplitMix64(seed: seed))
    }

    /// Why a simulation stopped before its body finished.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened.
        public var description: String
    }

    /// Runs `body` in a new simulation and returns its result.
    ///
    /// The simulation ends with the body (or with the run's failure): timers still pending then
    /// are dropped, and tasks still asleep on its clock wake with `CancellationError` and run to
    /// their end before `run` returns, so nothing the run made outlives it. Close what the body
    /// opened (transports, nodes) before it returns all the same: a call still waiting for an
    /// answer then can never get one.
    ///
    /// - Parameters:
    ///   - seed: the seed everything random in the run derives from.
    ///   - timeLimit: the most virtual time the run may take; past it the run fails, so a test
    ///     that would wait forever fails instead of hanging.
    ///   - body: the test, running inside the simulation.
    public static func run<Result: Sendable>(
        seed: UInt64,
        timeLimit: Duration = .seconds(3600),
        _ body: @escaping @Sendable (Simulation) async throws -> Result
    ) async throws -> Result {
        let simulation = Simulation(seed: seed)
        // Set by the body's own last job, on the driver thread, so the driver stops at exactly
        // the same point in every run.
        let finished = Flag()
        let task = Task(executorPreference: simulation.executor) {
            defer { finished.set() }
            return try await body(simulation)
        }
        let driverOutcome: Simulation.Failure? = await withCheckedContinuation { continuation in
            simulation.startDriver(
                timeLimit: timeLimit,
                isFinished: { finished.isSet },
                abandonBody: { task.cancel() }
            ) {
                continuation.resume(returning: $0)
            }
        }
        if let driverOutcome { throw driverOutcome }
        return try await task.value
    }

    /// A new random seed drawn from the simulation's generator, for plugins and nodes.
    public func nextSeed() -> UInt64 { random.withLock { $0.next() } }

    /// An environment that runs a node entirely inside this simulation.
    public func environment(tracer: (@Sendable (RaftTraceEvent) -> Void)? = nil) -> RaftEnvironment {
        let executor = executor
        return RaftEnvironment(
            clock: clock,
            makeExecutor: { _ in executor },
            randomSeed: nextSeed(),
            tracer: tracer
        )
    }

    /// Runs jobs and advances time on a thread of its own (never on Swift's cooperative pool) until
    /// the body's task finishes, winds the simulation down, then reports how it ended.
    private func startDriver(
        timeLimit: Duration,
        isFinished: @escaping @Sendable () -> Bool,
        abandonBody: @escaping @Sendable () -> Void,
        completion: @escaping @Sendable (Simulation.Failure?) -> Void
    ) {
        Driver(
            simulation: self,
            timeLimit: timeLimit,
            isFinished: isFinished,
            abandonBody: abandonBody,
            completion: completion
        ).start()
    }
}

/// A flag set once, readable from any thread.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// The loop that drives a simulation: run every runnable job, then move time to the next timer.
private final class Driver: @unchecked Sendable {
    // @unchecked Sendable: every field is immutable after init; the thread is the only user.
    let simulation: Simulation
    let timeLimit: Duration
    let isFinished: @Sendable () -> Bool
    /// Cancels the body's task, when the run fails before the body finished.
    let abandonBody: @Sendable () -> Void
    let completion: @Sendable (Simulation.Failure?) -> Void

    init(
        simulation: Simulation,
        timeLimit: Duration,
        isFinished: @escaping @Sendable () -> Bool,
        abandonBody: @escaping @Sendable () -> Void,
        completion: @escaping @Sendable (Simulation.Failure?) -> Void
    ) {
        self.simulation = simulation
        self.timeLimit = timeLimit
        self.isFinished = isFinished
        self.abandonBody = abandonBody
        self.completion = completion
    }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            let driver = Unmanaged<Driver>.fromOpaque(context!).takeRetainedValue()
            Driver.lowerPriority()
            let outcome = driver.loop()
            if outcome != nil { driver.abandonBody() }
            driver.windDown()
            driver.completion(outcome)
            return nil
        }, context)
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(thread)
    }

    /// Runs this thread below normal priority. A simulation keeps a core busy for as long as it
    /// runs, and a full test run starts dozens at once; at normal priority they starved the
    /// threads of tests on real time (a TCP server answering within a 10 s timeout), which waited
    /// in the run queue behind them. Virtual time does not care how long a simulation waits for a
    /// core, so it yields to them. On Linux a nice value is a thread's own, and `who` 0 is the
    /// calling thread.
    static func lowerPriority() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }

    /// The most rounds ``windDown()`` takes, and the most jobs it runs in one: a task that
    /// catches the `CancellationError` of its sleep and sleeps again gets woken this many times,
    /// then is left asleep, and one that spins on a cancelled sleep cannot hold the driver.
    static let windDownRounds = 100
    static let windDownJobsPerRound = 100_000

    /// Ends what the run left behind, once it is over: timers that can no longer fire (virtual
    /// time has stopped) are dropped, tasks still asleep on the clock (an abandoned body, a
    /// client loop the body never stopped) wake with `CancellationError`, and every job that
    /// wakes is run here, so none is left queued on an executor nobody drives. Left as they were,
    /// timers and queued jobs hold the transports and nodes that hold the clock and the executor,
    /// and each finished simulation would stay in memory until the process exits.
    private func windDown() {
        let executor = simulation.executor
        let clock = simulation.clock
        for _ in 0..<Self.windDownRounds {
            let ended = clock.cancelAllTimers()
            let ran = executor.runUntilIdle(limit: Self.windDownJobsPerRound)
            if ended == 0 && ran == 0 { return }
        }
    }

    private func loop() -> Simulation.Failure? {
        let executor = simulation.executor
        let clock = simulation.clock
        while true {
            _ = executor.runUntilIdle()
            if isFinished() { return nil }
            if clock.now >= timeLimit {
                return Simulation.Failure(description: "simulation (seed \(simulation.seed)) exceeded its time limit of \(timeLimit)")
            }
            if clock.advanceToNextTimer(limit: timeLimit) { continue }
            // Nothing runnable and no timer: only the outside world (the body's completion being
            // noticed, or a job from another thread) can move things on.
            if !executor.waitForJob(seconds: 10) && !isFinished() {
                return Simulation.Failure(
                    description: "simulation (seed \(simulation.seed)) is stuck: no job can run and no timer is set at \(clock.now)"
                )
            }
        }
    }
}
