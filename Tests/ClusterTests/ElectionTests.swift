import RaftTestKit
import SwiftRaft
import Testing

/// Leader election on whole clusters of real nodes, in the deterministic simulator.
@Suite struct ElectionTests {
    @Test(arguments: [1, 3, 5])
    func aClusterElectsExactlyOneLeader(nodes: Int) async throws {
        try await TestCluster.run(nodes: nodes, seed: 11) { cluster in
            let leader = try await cluster.waitForLeader()
            // Stay a while: the leader must hold, and nobody else may claim leadership.
            try await cluster.sleep(.seconds(2))
            let leaders = await cluster.leaders
            #expect(leaders.count == 1)
            #expect(leaders.first === leader)
            for follower in await cluster.followers {
                #expect(follower.state == .follower)
                #expect(follower.leader?.id == leader.config.localID)
                #expect(follower.currentTerm == leader.currentTerm)
            }
        }
    }

    @Test func aCrashedLeaderIsReplacedAndNoCommittedEntryIsLost() async throws {
        try await TestCluster.run(nodes: 3, seed: 12) { cluster in
            let first = try await cluster.waitForLeader()
            for i in 0..<20 { _ = try await first.apply(Array("before-\(i)".utf8)) }
            let committedBefore = first.commitIndex
            let oldID = first.config.localID
            await cluster.crash(oldID)

            let survivors = cluster.ids.filter { $0 != oldID }
            let second = try await cluster.waitForLeader(among: survivors)
            #expect(second.config.localID != oldID)
            #expect(second.currentTerm > first.currentTerm)
            for i in 0..<20 { _ = try await second.apply(Array("after-\(i)".utf8)) }

            try await cluster.restart(oldID)
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                let log = try await cluster.readLog(of: id)
                #expect(log.count >= Int(committedBefore))
            }
            let applied = try #require(await cluster.fsm(oldID) as? RecordingFSM).commands
            #expect(applied.count == 40)
            #expect(applied.first == Array("before-0".utf8))
            #expect(applied.last == Array("after-19".utf8))
        }
    }

    @Test func aRejoiningPartitionedNodeDoesNotDisruptTheLeader() async throws {
        // Pre-vote: the isolated node's elections never start (no quorum would vote), so its
        // term does not rise and, when it returns, the leader keeps its term and its lead.
        try await TestCluster.run(nodes: 3, seed: 13) { cluster in
            let leader = try await cluster.waitForLeader()
            let term = leader.currentTerm
            let outsider = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.isolate(outsider)
            try await cluster.sleep(.seconds(3))
            #expect(try await cluster.raft(outsider).currentTerm == term)
            _ = try await leader.apply(Array("while-isolated".utf8))

            await cluster.heal()
            try await cluster.waitForConvergence()
            #expect(leader.state == .leader)
            #expect(leader.currentTerm == term)
        }
    }

    @Test func withoutPreVoteARejoiningNodeForcesANewTerm() async throws {
        // The counterpart of the test above, showing what pre-vote prevents.
        try await TestCluster.run(nodes: 3, seed: 14, configure: { $0.preVoteDisabled = true }) { cluster in
            let leader = try await cluster.waitForLeader()
            let term = leader.currentTerm
            let outsider = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.isolate(outsider)
            try await cluster.sleep(.seconds(3))
            #expect(try await cluster.raft(outsider).currentTerm > term)
            await cluster.heal()
            // The returning node's higher term deposes the leader; some leader of a later term
            // takes over.
            try await cluster.waitUntil("a leader of a later term") {
                let leaders = await cluster.leaders
                return leaders.count == 1 && leaders[0].currentTerm > term
            }
        }
    }

    @Test func aLeaderCutOffFromTheQuorumStepsDown() async throws {
        // Check-quorum: within the lease the isolated leader notices and stops leading.
        try await TestCluster.run(nodes: 3, seed: 15) { cluster in
            let leader = try await cluster.waitForLeader()
            let term = leader.currentTerm
            await cluster.isolate(leader.config.localID)
            try await cluster.waitUntil("the isolated leader to step down", timeout: .seconds(1)) {
                leader.state != .leader
            }
            let others = cluster.ids.filter { $0 != leader.config.localID }
            let replacement = try await cluster.waitForLeader(among: others)
            #expect(replacement.currentTerm > term, "the others elect a new leader in a later term")
            #expect(leader.currentTerm == term, "pre-vote keeps the cut-off leader from raising its term")
        }
    }

    @Test func sameSeedGivesTheIdenticalTrace() async throws {
        @Sendable func scenario() async throws -> [String] {
            try await TestCluster.run(nodes: 5, seed: 99) { cluster in
                cluster.faults.dropProbability = 0.05
                let leader = try await cluster.waitForLeader()
                for i in 0..<50 { _ = try? await leader.apply(Array("c\(i)".utf8)) }
                await cluster.crash(leader.config.localID)
                _ = try await cluster.waitForLeader(among: cluster.ids.filter { $0 != leader.config.localID })
                try await cluster.sleep(.seconds(1))
                return cluster.trace.lines
            }
        }
        let first = try await scenario()
        let second = try await scenario()
        #expect(first.count > 20)
        #expect(first == second)
    }
}
