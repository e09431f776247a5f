import Logging
import RaftNetworkTransport
import RaftTLS
import RaftTestKit
import SwiftRaft
import Testing

/// Three Raft nodes, each presenting its own certificate over mutual TLS, elect a leader and
/// replicate: the whole node runs over the layer, not only single calls.
@Suite("TLS: a cluster over mutual TLS", .timeLimit(.minutes(2)))
struct TLSClusterTests {
    // A 3-node cluster whose every connection is mutually authenticated TLS elects a leader,
    // and every node applies the commands the leader accepted, in the same order.
    @Test func threeNodesOverMutualTLSElectAndReplicate() async throws {
        var transports: [NetworkTransport] = []
        for node in 1...3 {
            let layer = try await tlsLayer(Certificates.configuration("node-\(node)") {
                $0.allowedPeerNames = ["node-1", "node-2", "node-3"]
            })
            transports.append(try await bindTransport(layer))
        }
        let servers = transports.enumerated().map { Server(id: ServerID("node-\($0.offset + 1)"), address: $0.element.localAddress) }
        var nodes: [(raft: Raft, fsm: RecordingFSM)] = []
        do {
            for (index, transport) in transports.enumerated() {
                var config = Config(localID: servers[index].id)
                config.heartbeatTimeout = .milliseconds(300)
                config.electionTimeout = .milliseconds(300)
                config.leaderLeaseTimeout = .milliseconds(300)
                config.logger = silentLogger
                let store = InmemStore()
                let snapshots = InmemSnapshotStore()
                if index == 0 {
                    try Raft.bootstrapCluster(
                        config: config, logStore: store, stableStore: store, snapshotStore: snapshots,
                        configuration: Configuration(servers: servers)
                    )
                }
                let fsm = RecordingFSM()
                let raft = try await Raft(
                    config: config, fsm: fsm, logStore: store, stableStore: store, snapshotStore: snapshots, transport: transport
                )
                nodes.append((raft, fsm))
            }

            let leader = try await waitForLeader(among: nodes.map(\.raft))
            let commands = (0..<20).map { Array("over-tls-\($0)".utf8) }
            for command in commands { _ = try await leader.apply(command, timeout: .seconds(10)) }
            try await waitUntil("every node applied 20 commands") { nodes.allSatisfy { $0.fsm.commands.count == commands.count } }
            for node in nodes { #expect(node.fsm.commands == commands) }
        } catch {
            await shutDown(nodes.map(\.raft), transports)
            throw error
        }
        await shutDown(nodes.map(\.raft), transports)
    }

    private func waitForLeader(among rafts: [Raft]) async throws -> Raft {
        var leader: Raft?
        try await waitUntil("a leader") {
            leader = rafts.first { $0.state == .leader }
            return leader != nil
        }
        return leader!
    }

    /// Polls `condition` until it holds, failing after 30 s (a broken cluster fails the test
    /// instead of hanging it; a healthy one passes in well under a second).
    private func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("gave up after 30 s waiting for \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func shutDown(_ rafts: [Raft], _ transports: [NetworkTransport]) async {
        for raft in rafts { await raft.shutdown() }
        for transport in transports { await transport.close() }
    }
}
