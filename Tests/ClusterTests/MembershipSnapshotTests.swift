import RaftTestKit
import SwiftRaft
import Testing

/// Membership and log compaction: a configuration entry compacted away lives on in the snapshots
/// that cover it, so restarted servers and servers caught up by InstallSnapshot know it.
@Suite struct MembershipSnapshotTests {
    // A server added, then the log compacted far past that change: every restarted server, and one rebuilt from nothing by InstallSnapshot, has the configuration with it.
    @Test func aConfigurationChangeCompactedAwaySurvivesInSnapshots() async throws {
        try await TestCluster.run(nodes: 4, seed: 811, initialMembers: 3, configure: SnapshotClusterTests.frequentSnapshots) { cluster in
            var leader = try await cluster.waitForLeader()
            for command in SnapshotClusterTests.commands(60, prefix: "a") { _ = try await leader.apply(command) }
            let changeIndex = try await leader.addNonvoter(id: "node-4", address: ServerAddress("node-4"))
            for command in SnapshotClusterTests.commands(100, prefix: "b") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            let expected = leader.getConfiguration()
            #expect(expected.index == changeIndex)
            try await cluster.waitUntil("every log to be compacted past the change") {
                for id in cluster.ids where try await cluster.node(id).stores.logStore.firstIndex() <= changeIndex { return false }
                return true
            }

            for id in cluster.ids {
                await cluster.crash(id)
                try await cluster.restart(id)
            }
            leader = try await cluster.waitForLeader()
            for id in cluster.ids {
                let configuration = try await cluster.raft(id).getConfiguration()
                #expect(configuration.configuration == expected.configuration, "\(id)")
                #expect(configuration.index == changeIndex, "\(id)")
            }

            // node-4 loses everything and comes back empty: only a snapshot can tell it who it is.
            await cluster.crash("node-4")
            try await cluster.restart("node-4", with: .inMemory())
            _ = try await leader.apply(Array("after".utf8))
            try await cluster.waitForConvergence()
            let rebuilt = try await cluster.raft("node-4")
            #expect(rebuilt.getConfiguration().configuration == expected.configuration)
            #expect(rebuilt.state == .follower)
        }
    }
}
