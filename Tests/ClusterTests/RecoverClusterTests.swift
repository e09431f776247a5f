import RaftTestKit
import SwiftRaft
import Testing

/// hashicorp/raft's `RecoverCluster`: a cluster that lost a quorum of its voters for good runs
/// again once an operator forces a new configuration onto the survivors' stores.
@Suite struct RecoverClusterTests {
    static func commands(_ count: Int, prefix: String) -> [[UInt8]] { (0..<count).map { Array("\(prefix)\($0)".utf8) } }

    static func recorded(_ fsm: any FSM) throws -> [[UInt8]] { try #require(fsm as? RecordingFSM).commands }

    /// Stops `id`, forces a one-server configuration of itself onto its stores, and starts it again.
    static func recoverAlone(_ id: ServerID, in cluster: TestCluster) async throws -> SnapshotMeta {
        await cluster.crash(id)
        let stores = await cluster.node(id).stores
        let meta = try Raft.recoverCluster(
            config: await cluster.config(for: id),
            fsm: RecordingFSM(),
            logStore: stores.logStore,
            stableStore: stores.stableStore,
            snapshotStore: stores.snapshotStore,
            configuration: Configuration(servers: [Server(id: id, address: ServerAddress(id.rawValue))])
        )
        try await cluster.restart(id)
        return meta
    }

    // Two of three voters are lost for good: the survivor, recovered alone, leads with every write it held, takes new ones, and grows the cluster back.
    @Test func aSurvivorOfALostMajorityIsRecoveredAndGrowsTheClusterBack() async throws {
        try await TestCluster.run(nodes: 3, seed: 901) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(30, prefix: "before") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            let survivor = try #require(cluster.ids.first { $0 != leader.config.localID })
            for id in cluster.ids where id != survivor { await cluster.crash(id) }
            // Alone, the survivor cannot elect itself: the cluster is down.
            try await cluster.sleep(.seconds(1))
            #expect(try await cluster.raft(survivor).state != .leader)

            let meta = try await Self.recoverAlone(survivor, in: cluster)
            #expect(meta.configuration.servers.map(\.id) == [survivor])
            #expect(meta.index == leader.lastIndex)
            #expect(try await cluster.node(survivor).stores.logStore.lastIndex() == 0)

            let recovered = try await cluster.waitForLeader(among: [survivor])
            #expect(try Self.recorded(await cluster.fsm(survivor)) == Self.commands(30, prefix: "before"))
            _ = try await recovered.apply(Array("after recovery".utf8))
            // The lost servers come back as new, empty ones and are added again.
            let rejoining = cluster.ids.filter { $0 != survivor }
            for id in rejoining {
                try await cluster.restart(id, with: .inMemory())
                try await recovered.addVoter(id: id, address: ServerAddress(id.rawValue))
            }
            _ = try await recovered.apply(Array("grown back".utf8))
            try await cluster.waitForConvergence()
            for id in rejoining {
                #expect(
                    try Self.recorded(await cluster.fsm(id))
                        == Self.commands(30, prefix: "before") + [Array("after recovery".utf8), Array("grown back".utf8)]
                )
            }
        }
    }

    // Why recovery is unsafe: entries the survivor appended but never committed are applied as if they had been.
    @Test func entriesTheSurvivorNeverCommittedAreAppliedByTheRecovery() async throws {
        try await TestCluster.run(nodes: 3, seed: 902) { cluster in
            let leader = try await cluster.waitForLeader()
            let survivor = leader.config.localID
            for command in Self.commands(10, prefix: "committed") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            // The others are gone before they could elect anyone: the leader appends a write no
            // one else holds, and steps down once its lease runs out.
            for id in cluster.ids where id != survivor { await cluster.crash(id) }
            await #expect(throws: RaftError.leadershipLost) { _ = try await leader.apply(Array("never committed".utf8)) }

            _ = try await Self.recoverAlone(survivor, in: cluster)
            _ = try await cluster.waitForLeader(among: [survivor])
            #expect(
                try Self.recorded(await cluster.fsm(survivor)) == Self.commands(10, prefix: "committed") + [Array("never committed".utf8)]
            )
        }
    }

    // Recovering stores that never held a cluster is an operator error, and so is a configuration without a voter; neither changes anything.
    @Test func emptyStoresAndConfigurationsWithoutAVoterAreRefused() throws {
        let store = InmemStore()
        let snapshots = InmemSnapshotStore()
        let voter = Configuration(servers: [Server(id: "n1", address: "a")])
        #expect {
            try Raft.recoverCluster(
                config: Config(localID: "n1"), fsm: RecordingFSM(), logStore: store, stableStore: store,
                snapshotStore: snapshots, configuration: voter
            )
        } throws: { ($0 as? RaftError)?.message.contains("hold no state") == true }

        try Raft.bootstrapCluster(config: Config(localID: "n1"), logStore: store, stableStore: store, snapshotStore: snapshots, configuration: voter)
        #expect {
            try Raft.recoverCluster(
                config: Config(localID: "n1"), fsm: RecordingFSM(), logStore: store, stableStore: store,
                snapshotStore: snapshots, configuration: Configuration(servers: [Server(suffrage: .nonvoter, id: "n1", address: "a")])
            )
        } throws: { ($0 as? RaftError)?.code == .invalidArgument }
        #expect(store.lastIndex() == 1)
        #expect(snapshots.list().isEmpty)
    }

    // A recovery after snapshots: the FSM is restored from the newest snapshot, the log after it replayed, and the configuration entries in the log do not come back.
    @Test func aRecoveryStartsFromTheNewestSnapshotAndDropsConfigurationEntriesOfTheLog() async throws {
        try await TestCluster.run(nodes: 3, seed: 903, configure: SnapshotClusterTests.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(100, prefix: "c") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            let survivor = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await cluster.waitUntil("the survivor to snapshot") {
                try await cluster.node(survivor).stores.snapshotStore.list().first.map { $0.index >= 60 } ?? false
            }
            for id in cluster.ids where id != survivor { await cluster.crash(id) }
            _ = try await Self.recoverAlone(survivor, in: cluster)
            let recovered = try await cluster.waitForLeader(among: [survivor])
            #expect(recovered.getConfiguration().configuration.servers.map(\.id) == [survivor])
            #expect(try Self.recorded(await cluster.fsm(survivor)) == Self.commands(100, prefix: "c"))
            _ = try await recovered.apply([1])
        }
    }
}
