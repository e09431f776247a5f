#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule
public import SwiftRaft

/// The single executor of a ``Simulation``: every job of every simulated node — shell, plugins,
/// FSM, the test body itself — runs here, one at a time, in the order it was enqueued.
///
/// Combined with a virtual clock that moves only when no job is runnable, this makes a run a pure
/// function of its seed.
public final class SimulationExecutor: SerialExecutor, TaskExecutor, RaftExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` is only touched with `mutex` held; the condition variable is only
    // waited on with it held. Jobs themselves run on the driver thread alone.
    // Heap-allocated: passing `&storedProperty` to C would be a Swift "modify" access, and two
    // threads locking at once would trip the exclusivity checker.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: Deque<Work> = []

    /// One item of work: a Swift job, or a closure given to ``execute(_:)``.
    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Queues a job behind all others.
    public func enqueue(_ job: consuming ExecutorJob) {
        append(.job(UnownedJob(job)))
    }

    /// Queues `work` behind all others, in the same order as jobs.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        append(.closure(work))
    }

    /// Nothing to release: the simulation's driver owns the thread.
    public func shutdown() {}

    private func append(_ work: Work) {
        pthread_mutex_lock(mutex)
        jobs.append(work)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// This executor as a serial executor reference.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// This executor as a task executor reference.
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// Runs queued jobs until none is left, or `limit` of them ran. Returns how many ran.
    func runUntilIdle(limit: Int = .max) -> Int {
        var count = 0
        while count < limit, let work = next() {
            switch work {
            case .job(let job):
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            case .closure(let closure):
                closure()
            }
            count += 1
        }
        return count
    }

    private func next() -> Work? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return jobs.popFirst()
    }

    /// Blocks the driver thread until a job arrives from outside or `seconds` of real time pass.
    /// Returns whether a job is waiting.
    func waitForJob(seconds: Int) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if !jobs.isEmpty { return true }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        while jobs.isEmpty {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return !jobs.isEmpty
    }
}
