import Logging
import ServiceLifecycle
import SwiftRaft

/// Publishes this node's HTTP address through the log whenever it becomes leader, so followers
/// can redirect clients to it (`307`) and report it in `/status`.
///
/// The address goes through the FSM (a ``KVCommand/setHTTPAddress(id:address:)`` entry) rather
/// than a side channel because only the log reaches every node, survives restarts and snapshots,
/// and orders the change with everything else. A new leader skips the entry when the store
/// already holds its address.
struct LeaderAnnouncer: Service {
    let raft: Raft
    let store: KeyValueStore
    let id: String
    let httpAddress: String
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        let changes = raft.leadershipChanges()
        await cancelWhenGracefulShutdown {
            // A node that led before this subscription began gets no change to react to.
            if raft.state == .leader { await announce() }
            for await change in changes where change.isLeader {
                await announce()
            }
        }
    }

    private func announce() async {
        guard store.httpAddress(of: id) != httpAddress else { return }
        do {
            let result = try await raft.apply(KVCommand.setHTTPAddress(id: id, address: httpAddress).encoded(), timeout: timeout)
            logger.info("leader: published the HTTP address", metadata: ["http": "\(httpAddress)", "index": "\(result.index)"])
        } catch {
            // Leadership moved on (the next leader publishes its own), or the node is stopping.
            logger.warning("leader: could not publish the HTTP address", metadata: ["error": "\(error)"])
        }
    }
}
