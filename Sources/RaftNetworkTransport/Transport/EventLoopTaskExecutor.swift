public import NIOCore

/// A Swift task executor that runs jobs on one SwiftNIO event loop.
///
/// A task that prefers it (`Task(executorPreference:)`, `withTaskExecutorPreference`) runs on the
/// loop's thread, and so does its continuation when the loop resumes it: a call's answer, decoded
/// on the loop, goes on in the same thread at once instead of waking a thread of Swift's global
/// pool. On small machines such a wake-up costs about as much as the whole round trip on
/// loopback (25–40 µs on a two-core virtual machine), so an `async` caller that makes one RPC at
/// a time gets several times the rate on this executor. (Raft needs none of this: it sends
/// through callbacks, which the transport calls on the loop, and its RPC handler is called there
/// too.)
///
/// Everything that runs here delays the connections of its loop: use it only for work that is
/// short and never blocks (no file I/O, no locks held across waits, no `sleep`). NIO's event
/// loops are serial executors in newer releases of SwiftNIO; this is the task executor that
/// the release we build against lacks.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    /// Creates an executor running jobs on `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the loop, after what the loop has already queued.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// This executor as a task executor reference.
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }
}
