/// Where a node runs its loop, its blocking storage calls and its FSM: one thread (or one
/// serial queue) per executor, work run one item at a time in the order given.
///
/// Production uses ``ThreadExecutor``; the test kit's simulator runs every executor of every node
/// on its one deterministic thread.
public protocol RaftExecutor: Sendable {
    /// Runs `work` after everything given before it. Never runs it inline: a caller may hold
    /// state that `work` also touches.
    func execute(_ work: @escaping @Sendable () -> Void)

    /// Lets the executor release its thread once the work already given has run.
    func shutdown()
}
