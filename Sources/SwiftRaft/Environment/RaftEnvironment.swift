/// Where a ``Raft`` node gets its time, threads and randomness.
///
/// Production code uses ``live``. The test kit's simulator supplies a virtual clock and one
/// single-threaded executor for every node, so a whole cluster — shell, plugins and the user's FSM
/// included — replays exactly from a seed.
public struct RaftEnvironment: Sendable {
    /// The clock for timers, timeouts and timestamps.
    public var clock: any RaftClock
    /// Makes the executors a node runs on, labelled for debugging: its loop (`raft-<id>`), and
    /// unless the plugins are non-blocking, its storage (`raft-storage-<id>`) and FSM
    /// (`raft-fsm-<id>`). They must not run on Swift's cooperative pool, whose few threads a
    /// blocking call would stall. A node starts no tasks of its own: everything it does runs on
    /// these executors or in the clock's scheduled work.
    public var makeExecutor: @Sendable (_ label: String) -> any RaftExecutor
    /// Called synchronously with every state change, commit and application; the test kit records
    /// these to check safety invariants and to compare traces between runs.
    public var tracer: (@Sendable (RaftTraceEvent) -> Void)?
    /// Seeds the node's randomized election timeouts.
    public var randomSeed: UInt64

    /// Creates an environment.
    public init(
        clock: any RaftClock,
        makeExecutor: @escaping @Sendable (_ label: String) -> any RaftExecutor,
        randomSeed: UInt64,
        tracer: (@Sendable (RaftTraceEvent) -> Void)? = nil
    ) {
        self.clock = clock
        self.makeExecutor = makeExecutor
        self.randomSeed = randomSeed
        self.tracer = tracer
    }

    /// Real time, a dedicated named thread per executor, and a random seed.
    public static var live: RaftEnvironment {
        RaftEnvironment(
            clock: SystemClock(),
            makeExecutor: { label in ThreadExecutor(name: label) },
            randomSeed: UInt64.random(in: .min ... .max)
        )
    }
}

/// What a node reports to ``RaftEnvironment/tracer``.
public enum RaftTraceEvent: Hashable, Sendable, CustomStringConvertible {
    /// The node's role, term or known leader changed.
    case stateChanged(node: ServerID, role: RaftRole, term: UInt64, leader: ServerID?)
    /// The node learned that entries up to `index` are committed.
    case committed(node: ServerID, index: UInt64, term: UInt64)
    /// The node's FSM applied the entry `index` of `term`.
    case applied(node: ServerID, index: UInt64, term: UInt64, type: LogType)
    /// The node's FSM was restored from the snapshot through `index` (at startup, from a
    /// leader's InstallSnapshot, or by a user's restore): it now holds every entry through it.
    case snapshotRestored(node: ServerID, index: UInt64, term: UInt64)
    /// The node shut down.
    case shutdown(node: ServerID)

    /// One line describing the event.
    public var description: String {
        switch self {
        case .stateChanged(let node, let role, let term, let leader):
            return "\(node) \(role) term=\(term) leader=\(leader?.rawValue ?? "none")"
        case .committed(let node, let index, let term): return "\(node) committed \(index)/\(term)"
        case .applied(let node, let index, let term, let type): return "\(node) applied \(index)/\(term) \(type)"
        case .snapshotRestored(let node, let index, let term): return "\(node) restored snapshot \(index)/\(term)"
        case .shutdown(let node): return "\(node) shutdown"
        }
    }
}
