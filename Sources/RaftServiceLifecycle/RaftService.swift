public import ServiceLifecycle
public import SwiftRaft

/// A `Raft` node as a swift-service-lifecycle `Service`, to run in an application's
/// `ServiceGroup` beside its transport and its client-facing server.
///
/// ```swift
/// let group = ServiceGroup(
///     services: [RaftService(raft: raft), httpServer],
///     gracefulShutdownSignals: [.sigterm],
///     logger: logger
/// )
/// try await group.run()
/// ```
///
/// `run()` returns when the group shuts down gracefully (SIGTERM, say), when its task is
/// cancelled, or when the node stops by itself (removed from the configuration with
/// `shutdownOnRemove`, or stopped by a failed disk write). On a graceful shutdown a leader first
/// hands leadership to the most up-to-date voter, so the cluster does not wait out an election
/// timeout; then the node shuts down, failing its pending calls with `shutdown` and closing its
/// transport.
public struct RaftService: Service {
    /// The node this service runs.
    public let raft: Raft
    /// Whether a leader hands leadership over before it shuts down gracefully.
    public var transfersLeadershipOnShutdown: Bool

    /// Wraps `raft`, which is already running (its initializer started it).
    ///
    /// - Parameters:
    ///   - raft: the node.
    ///   - transfersLeadershipOnShutdown: whether a leader hands leadership over before a
    ///     graceful shutdown (an election timeout at most; on failure it shuts down anyway).
    public init(raft: Raft, transfersLeadershipOnShutdown: Bool = true) {
        self.raft = raft
        self.transfersLeadershipOnShutdown = transfersLeadershipOnShutdown
    }

    /// Runs until a graceful shutdown, a cancellation or the node's own stop; then shuts the
    /// node down (after a leadership transfer, on a graceful shutdown of a leader).
    public func run() async throws {
        let raft = raft
        let gracefully = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                // The stream ends when the node shuts down, whatever stopped it.
                for await _ in raft.leadershipChanges() {}
                return false
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                    return true
                } catch {
                    return false   // cancelled
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if gracefully && transfersLeadershipOnShutdown && raft.state == .leader {
            // Fails when no other voter can take over in time (a single-node cluster, say):
            // the node shuts down as it leads, as it would without the transfer.
            try? await raft.leadershipTransfer()
        }
        await raft.shutdown()
    }
}
