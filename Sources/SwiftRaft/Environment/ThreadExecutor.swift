#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule
import Synchronization

/// A serial executor backed by one dedicated, named OS thread.
///
/// A node's loop, its storage I/O and its FSM each run on one: storage and FSM may block (fsync, a
/// slow `apply`), and blocking one of the cooperative pool's threads — two on a two-core machine —
/// would stall every task, heartbeats included. It runs both Swift jobs (as a `SerialExecutor` and
/// `TaskExecutor`) and plain closures (``execute(_:)``), in one FIFO order.
///
/// Waking a sleeping thread costs 25–40 µs on small VMs, more than a whole round of Raft work, so
/// an idle thread first spins for a few microseconds (`spinIterations`) before it sleeps: work
/// that arrives within that window — the next proposal, the answer to the request just sent —
/// is picked up without a wake. The thread exits once ``shutdown()`` has been called and its
/// queue is empty.
public final class ThreadExecutor: SerialExecutor, TaskExecutor, RaftExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `stopping` and `sleeping` are only touched with `mutex` held, and the
    // condition variable is only waited on with it held; `thread` is written once in init;
    // `queued` is an atomic.
    // Heap-allocated: passing `&storedProperty` to C would be a Swift "modify" access, and two
    // threads locking at once would trip the exclusivity checker.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: Deque<Work> = []
    /// How many items are queued, readable without the lock, for the spin before sleeping.
    private let queued = Atomic<Int>(0)
    /// How often an idle thread checks for work before it sleeps.
    private let spinIterations: Int

    /// One item of work: a Swift job, or a closure.
    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }
    private var stopping = false
    /// Whether the thread waits on the condition variable: only then does a new job signal it.
    private var sleeping = false
    private var thread = pthread_t()
    /// A label for debugging.
    public let name: String

    /// Starts the thread, named `name` (Linux keeps its first 15 bytes).
    ///
    /// - Parameters:
    ///   - name: the thread's name, also ``name``.
    ///   - spinIterations: how many times an idle thread checks for work before it
    ///     sleeps, yielding the CPU between checks (about a microsecond each when other threads
    ///     want it, less when none does); 0 sleeps at once.
    public init(name: String, spinIterations: Int = 50) {
        self.name = name
        self.spinIterations = max(0, spinIterations)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        let unmanaged = Unmanaged.passRetained(self)
        let created = pthread_create(&thread, nil, { context in
            let executor = Unmanaged<ThreadExecutor>.fromOpaque(context!).takeRetainedValue()
            executor.run()
            return nil
        }, unmanaged.toOpaque())
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(thread)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Queues a job to run on the thread, waking it only if it sleeps: a running thread takes the
    /// job before it would wait again, and a signal nobody waits for is a system call for nothing.
    public func enqueue(_ job: consuming ExecutorJob) {
        append(.job(UnownedJob(job)))
    }

    /// Queues `work` to run on the thread after everything queued before it.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        append(.closure(work))
    }

    private func append(_ work: Work) {
        pthread_mutex_lock(mutex)
        jobs.append(work)
        queued.add(1, ordering: .releasing)
        if sleeping { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// Lets the thread exit once its queue is empty. Jobs enqueued later still run first.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        if sleeping { pthread_cond_signal(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// Names the calling thread for `top -H`, `perf` and debuggers (Linux keeps 15 bytes of it).
    /// Through `/proc`, because Glibc's `pthread_setname_np` is not visible to Swift.
    private static func nameCurrentThread(_ name: String) {
        #if os(Linux)
        let descriptor = open("/proc/thread-self/comm", O_WRONLY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        #endif
    }

    /// This executor as a serial executor reference.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// This executor as a task executor reference.
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    private func run() {
        Self.nameCurrentThread(name)
        while true {
            spinWhileIdle()
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopping {
                sleeping = true
                pthread_cond_wait(condition, mutex)
                sleeping = false
            }
            if jobs.isEmpty && stopping {
                pthread_mutex_unlock(mutex)
                return
            }
            let work = jobs.removeFirst()
            queued.subtract(1, ordering: .relaxed)
            pthread_mutex_unlock(mutex)
            switch work {
            case .job(let job):
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            case .closure(let closure):
                closure()
            }
        }
    }

    /// Checks for work a bounded number of times without the lock, so work arriving right after
    /// the queue ran dry costs no sleep and no wake.
    private func spinWhileIdle() {
        var remaining = spinIterations
        while remaining > 0 && queued.load(ordering: .acquiring) == 0 {
            remaining -= 1
            // Yield rather than burn: on two cores the thread that will hand us work may be
            // waiting for this very CPU.
            _ = sched_yield()
        }
    }
}
