/// Where a ``Raft`` node gets its time, threads and randomness.
///
/// Production code uses ``live``. The test kit's simulator supplies a virtual clock and one
/// single-threaded executor for every node, so a whole cluster — shell, plugins and the user's FSM
/// included — replays exactly from a seed.
public struct RaftEnvironment: Sendable {
    /// The clock for timers, timeouts and timestamps.
    public var clock: any RaftClock
    /// The executor the node's own actor runs on; nil means Swift's default.
    public var nodeExecutor: (any SerialExecutor)?
    /// The executor preferred by the node's background tasks; nil means Swift's default.
    public var taskExecutor: (any TaskExecutor)?
    /// Makes a serial executor for blocking work (storage I/O, the FSM), labelled for debugging.
    /// It must not run on Swift's cooperative pool, whose few threads a blocking call would stall.
    public var makeBlockingExecutor: @Sendable (_ label: String) -> any SerialExecutor
    /// Seeds the node's randomized election timeouts.
    public var randomSeed: UInt64

    /// Creates an environment.
    public init(
        clock: any RaftClock,
        nodeExecutor: (any SerialExecutor)? = nil,
        taskExecutor: (any TaskExecutor)? = nil,
        makeBlockingExecutor: @escaping @Sendable (_ label: String) -> any SerialExecutor,
        randomSeed: UInt64
    ) {
        self.clock = clock
        self.nodeExecutor = nodeExecutor
        self.taskExecutor = taskExecutor
        self.makeBlockingExecutor = makeBlockingExecutor
        self.randomSeed = randomSeed
    }

    /// Real time, a dedicated thread per blocking executor, and a random seed.
    public static var live: RaftEnvironment {
        RaftEnvironment(
            clock: SystemClock(),
            makeBlockingExecutor: { label in ThreadExecutor(name: label) },
            randomSeed: UInt64.random(in: .min ... .max)
        )
    }
}
