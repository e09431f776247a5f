import RaftTestKit
import SwiftRaft
import Testing

/// A cluster on real threads and the real clock, as a service runs it, not on the simulator's
/// single executor, where every hand-off happens in one fixed order: thousands of concurrent
/// applies, completed on the FSM's own thread, all return. (`ApplyWaiterTests` pins down the
/// orders in which an outcome, its caller and a cancellation can meet.)
@Suite(.timeLimit(.minutes(2)))
struct RealTimeClusterTests {
    @Test func thousandsOfConcurrentAppliesAllReturnOnRealThreads() async throws {
        let ids = (1...3).map { ServerID("rt-\($0)") }
        let transports = ids.map { InmemTransport(address: ServerAddress($0.rawValue), timeout: .seconds(10)) }
        for from in transports {
            for to in transports where to !== from { from.connect(to) }
        }
        let configuration = Configuration(servers: ids.map { Server(id: $0, address: ServerAddress($0.rawValue)) })
        var nodes: [Raft] = []
        for (id, transport) in zip(ids, transports) {
            var config = Config(localID: id)
            config.heartbeatTimeout = .milliseconds(500)
            config.electionTimeout = .milliseconds(500)
            config.leaderLeaseTimeout = .milliseconds(500)
            config.logger.logLevel = .critical
            let store = InmemStore()
            if id == ids[0] {
                try Raft.bootstrapCluster(
                    config: config, logStore: store, stableStore: store, snapshotStore: InmemSnapshotStore(),
                    configuration: configuration
                )
            }
            nodes.append(try await Raft(
                config: config, fsm: RecordingFSM(), logStore: store, stableStore: store,
                snapshotStore: InmemSnapshotStore(), transport: transport
            ))
        }
        let leader = nodes[0]
        let changes = leader.leadershipChanges()
        if leader.state != .leader {
            for await change in changes where change.isLeader { break }
        }
        let applied = try await withThrowingTaskGroup(of: Int.self) { group in
            var returned = 0
            for i in 0..<5_000 {
                if i >= 64 { returned += try await group.next() ?? 0 }
                group.addTask {
                    _ = try await leader.apply(Array("cmd-\(i)".utf8), timeout: .seconds(10))
                    return 1
                }
            }
            for try await one in group { returned += one }
            return returned
        }
        #expect(applied == 5_000)
        for node in nodes { await node.shutdown() }
    }
}
