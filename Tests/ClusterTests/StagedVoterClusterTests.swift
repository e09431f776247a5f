import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// Staged voters through the public API, on virtual time: `addVoterWhenCaughtUp` stages a server,
/// the leader promotes it once caught up, and membership changes that would leave no reachable
/// quorum are refused.
@Suite struct StagedVoterClusterTests {
    static func address(_ id: ServerID) -> ServerAddress { ServerAddress(id.rawValue) }

    static func suffrage(of id: ServerID, on raft: Raft) -> ServerSuffrage? {
        raft.getConfiguration().configuration.server(withID: id)?.suffrage
    }

    // A server joining a three-voter cluster with a long log becomes a voter only once it holds the log, and writes never stop meanwhile.
    @Test func addVoterWhenCaughtUpReturnsOnceTheServerHoldsTheLogAndWritesGoOn() async throws {
        try await TestCluster.run(nodes: 4, seed: 601, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            for i in 0..<2000 { _ = try await leader.apply(Array("c\(i)".utf8)) }
            let failures = Mutex<[String]>([])
            let written = Mutex(0)
            let stop = Mutex(false)
            let client = cluster.spawn {
                var attempt = 0
                while !stop.withLock({ $0 }) {
                    attempt += 1
                    do {
                        _ = try await leader.apply(Array("w\(attempt)".utf8), timeout: .milliseconds(100))
                        written.withLock { $0 += 1 }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                    try await cluster.sleep(.milliseconds(1))
                }
            }
            let promotion = cluster.spawn { try await leader.addVoterWhenCaughtUp(id: "node-4", address: Self.address("node-4")) }
            try await cluster.waitUntil("node-4 to be staged") { Self.suffrage(of: "node-4", on: leader) == .staging }
            let index = try await promotion.value
            let newcomer = try await cluster.raft("node-4")
            // Caught up when promoted: within the default stagingCatchUpEntries (250) of the leader.
            #expect(newcomer.lastIndex + 250 >= index)
            #expect(newcomer.lastIndex > 2000)
            #expect(leader.getConfiguration().index == index)
            #expect(Self.suffrage(of: "node-4", on: leader) == .voter)
            try await cluster.sleep(.milliseconds(50))
            stop.withLock { $0 = true }
            try await client.value
            #expect(failures.withLock { $0 } == [])
            #expect(written.withLock { $0 } > 10)
            try await cluster.waitForConvergence()
            #expect(try await cluster.raft("node-4").getConfiguration().configuration == cluster.fullConfiguration)
        }
    }

    // The leader is cut off while the server is staged: the caller hears that leadership was lost, and the next leader promotes the server.
    @Test func aNewLeaderPromotesAServerStagedBeforeAFailover() async throws {
        try await TestCluster.run(nodes: 4, seed: 602, initialMembers: 3, configure: { $0.stagingStabilityWindow = .milliseconds(500) }) { cluster in
            let leader = try await cluster.waitForLeader()
            let oldID = leader.config.localID
            for i in 0..<20 { _ = try await leader.apply(Array("c\(i)".utf8)) }
            let promotion = cluster.spawn { try await leader.addVoterWhenCaughtUp(id: "node-4", address: Self.address("node-4")) }
            try await cluster.waitUntil("the staging entry to commit") {
                Self.suffrage(of: "node-4", on: leader) == .staging && leader.commitIndex >= leader.getConfiguration().index
            }
            await cluster.isolate(oldID)
            await #expect(throws: RaftError(.leadershipLost, "")) { try await promotion.value }
            let others = cluster.ids.prefix(3).filter { $0 != oldID }
            let next = try await cluster.waitForLeader(among: others)
            try await cluster.waitUntil("the new leader to promote node-4") {
                Self.suffrage(of: "node-4", on: next) == .voter && next.commitIndex >= next.getConfiguration().index
            }
            await cluster.heal()
            _ = try await next.apply(Array("after".utf8))
            try await cluster.waitForConvergence()
        }
    }

    // A server that cannot catch up within the timeout: the call times out, the server stays staged, and it is promoted once it can catch up.
    @Test func theTimeoutLeavesTheServerStagedAndItIsPromotedLater() async throws {
        try await TestCluster.run(nodes: 4, seed: 603, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            await cluster.isolate("node-4")
            await #expect(throws: RaftError(.timeout, "")) {
                try await leader.addVoterWhenCaughtUp(id: "node-4", address: Self.address("node-4"), timeout: .milliseconds(500))
            }
            #expect(Self.suffrage(of: "node-4", on: leader) == .staging)
            await cluster.heal()
            try await cluster.waitUntil("node-4 to be promoted") { Self.suffrage(of: "node-4", on: leader) == .voter }
            _ = try await leader.apply(Array("after".utf8))
        }
    }

    // A staging that only snapshots still hold survives a restart of every voter: the leader elected afterwards promotes the server, which catches up from a snapshot.
    @Test func aStagingCarriedBySnapshotsIsPromotedAfterEveryVoterRestarts() async throws {
        let frequentSnapshots: @Sendable (inout Config) -> Void = { config in
            config.snapshotThreshold = 20
            config.snapshotInterval = .milliseconds(20)
            config.trailingLogs = 10
            config.logCacheCapacity = 64
        }
        try await TestCluster.run(nodes: 4, seed: 605, initialMembers: 3, configure: frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            await cluster.isolate("node-4")
            await #expect(throws: RaftError(.timeout, "")) {
                try await leader.addVoterWhenCaughtUp(id: "node-4", address: Self.address("node-4"), timeout: .milliseconds(300))
            }
            let staging = leader.getConfiguration().index
            for i in 0..<100 { _ = try await leader.apply(Array("c\(i)".utf8)) }
            let voters = Array(cluster.ids.prefix(3))
            for id in voters {
                let raft = try await cluster.raft(id)
                try await cluster.waitUntil("\(id) to compact the staging entry away") {
                    UInt64(raft.stats()["last_snapshot_index"] ?? "0") ?? 0 > staging + 20
                }
            }
            for id in voters { await cluster.crash(id) }
            for id in voters { try await cluster.restart(id) }
            await cluster.heal()
            let next = try await cluster.waitForLeader(among: voters)
            try await cluster.waitUntil("node-4 to be promoted") {
                Self.suffrage(of: "node-4", on: next) == .voter && next.commitIndex >= next.getConfiguration().index
            }
            _ = try await next.apply(Array("after".utf8))
            try await cluster.waitForConvergence()
        }
    }

    // With one voter of three down, removing a healthy one is refused with quorumWouldBeLost: the configuration stays and the cluster still commits.
    @Test func removingAHealthyVoterWhileAnotherIsDownIsRefused() async throws {
        try await TestCluster.run(nodes: 3, seed: 604) { cluster in
            let leader = try await cluster.waitForLeader()
            let followers = cluster.ids.filter { $0 != leader.config.localID }
            await cluster.crash(followers[0])
            // Longer than the leader lease: the crashed voter no longer counts as reachable.
            try await cluster.sleep(.milliseconds(200))
            let before = leader.getConfiguration()
            await #expect(throws: RaftError(.quorumWouldBeLost, "")) { try await leader.removeServer(id: followers[1]) }
            #expect(leader.getConfiguration() == before)
            _ = try await leader.apply(Array("still committing".utf8))
            // Removing the crashed voter itself leaves two reachable voters of two: allowed.
            try await leader.removeServer(id: followers[0])
            _ = try await leader.apply(Array("two voters".utf8))
        }
    }
}
