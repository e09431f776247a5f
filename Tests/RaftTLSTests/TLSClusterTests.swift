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
    // and every node applies every command a leader acknowledged, in the same order.
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
                // hashicorp/raft's defaults: shorter timeouts made a loaded CI machine elect anew
                // mid-test.
                config.heartbeatTimeout = .seconds(1)
                config.electionTimeout = .seconds(1)
                config.leaderLeaseTimeout = .milliseconds(500)
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

            // Each command goes to whoever leads when it is sent. A new election in between (a
            // loaded machine) makes a command fail with notLeader (not applied) or
            // leadershipLost (outcome unknown), as it would for any client; what must hold is
            // that every acknowledged command is applied, in order, and identically everywhere.
            var acknowledged: [[UInt8]] = []
            for command in (0..<20).map({ Array("over-tls-\($0)".utf8) }) {
                let leader = try await waitForLeader(among: nodes.map(\.raft))
                do {
                    _ = try await leader.apply(command, timeout: .seconds(10))
                    acknowledged.append(command)
                } catch let error as RaftError where error.code == .notLeader || error.code == .leadershipLost {
                    continue
                }
            }
            #expect(!acknowledged.isEmpty)
            try await waitUntil("every node to apply every acknowledged command") {
                let applied = nodes[0].fsm.commands
                return nodes.allSatisfy { $0.fsm.commands == applied } && acknowledged.isSubsequence(of: applied)
            }
        } catch {
            await shutDown(nodes.map(\.raft), transports)
            throw error
        }
        await shutDown(nodes.map(\.raft), transports)
    }

    private func waitForLeader(among rafts: [Raft]) async throws -> Raft {
        // Polls the nodes' states, so a leader that just stepped down is not picked.
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

extension Array where Element: Equatable {
    /// Whether every element of `self` appears in `other`, in the same order.
    fileprivate func isSubsequence(of other: [Element]) -> Bool {
        var remaining = self[...]
        for element in other where element == remaining.first { remaining = remaining.dropFirst() }
        return remaining.isEmpty
    }
}
