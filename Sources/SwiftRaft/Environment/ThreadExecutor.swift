#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule

/// A serial executor backed by one dedicated OS thread.
///
/// Storage I/O and the FSM run here: they may block (fsync, a slow `apply`), and blocking one of
/// the cooperative pool's threads — two on a two-core machine — would stall every task, heartbeats
/// included. The thread exits once ``shutdown()`` has been called and its queue is empty.
public final class ThreadExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `stopping` and `sleeping` are only touched with `mutex` held, and the
    // condition variable is only waited on with it held; `thread` is written once in init.
    // Heap-allocated: passing `&storedProperty` to C would be a Swift "modify" access, and two
    // threads locking at once would trip the exclusivity checker.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: Deque<UnownedJob> = []
    private var stopping = false
    /// Whether the thread waits on the condition variable: only then does a new job signal it.
    private var sleeping = false
    private var thread = pthread_t()
    /// A label for debugging.
    public let name: String

    /// Starts the thread.
    public init(name: String) {
        self.name = name
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
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
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
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
    }
}
