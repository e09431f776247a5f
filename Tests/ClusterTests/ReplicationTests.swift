import RaftTestKit
import SwiftRaft
import Testing

/// Log replication and the apply path, end to end through the public API.
@Suite struct ReplicationTests {
    @Test func aThousandConcurrentAppliesAreAppliedOnceInTheSameOrderEverywhere() async throws {
        try await TestCluster.run(nodes: 3, seed: 21) { cluster in
            let leader = try await cluster.waitForLeader()
            let indexes = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for i in 0..<1000 {
                    group.addTask { try await leader.apply(Array("cmd-\(i)".utf8), timeout: .seconds(5)).index }
                }
                return try await group.reduce(into: [UInt64]()) { $0.append($1) }
            }
            #expect(Set(indexes).count == 1000)
            try await cluster.waitForConvergence()

            let reference = try #require(await cluster.fsm(cluster.ids[0]) as? RecordingFSM).commands
            #expect(reference.count == 1000)
            #expect(Set(reference).count == 1000)
            for id in cluster.ids {
                let fsm = try #require(await cluster.fsm(id) as? RecordingFSM)
                #expect(fsm.commands == reference)
            }
        }
    }

    @Test func applyReturnsTheIndexAndTheLeadersFSMResponse() async throws {
        try await TestCluster.run(nodes: 3, seed: 22) { cluster in
            let leader = try await cluster.waitForLeader()
            let result = try await leader.apply(Array("x".utf8))
            #expect(result.index == leader.lastIndex)
            #expect(result.response as? UInt64 == result.index)
            #expect(leader.appliedIndex >= result.index)
        }
    }

    @Test func applyOnAFollowerFailsWithNotLeaderNamingTheLeader() async throws {
        try await TestCluster.run(nodes: 3, seed: 23) { cluster in
            let leader = try await cluster.waitForLeader()
            try await cluster.waitForConvergence()
            let follower = try #require(await cluster.followers.first)
            let error = await #expect(throws: RaftError.self) { try await follower.apply([1]) }
            #expect(error?.code == .notLeader)
            #expect(error?.leader?.id == leader.config.localID)
        }
    }

    @Test func aMinorityPartitionCannotCommitWhileTheMajorityKeepsCommitting() async throws {
        try await TestCluster.run(nodes: 5, seed: 24) { cluster in
            let oldLeader = try await cluster.waitForLeader()
            _ = try await oldLeader.apply(Array("before".utf8))
            try await cluster.waitForConvergence()

            // The old leader and one follower on one side, three servers on the other.
            let oldID = oldLeader.config.localID
            let minority = [oldID, cluster.ids.first { $0 != oldID }!]
            let majority = cluster.ids.filter { !minority.contains($0) }
            await cluster.partition([minority, majority])

            let stuckCommit = oldLeader.commitIndex
            let stuck = cluster.spawn { try await oldLeader.apply(Array("minority".utf8)) }
            let newLeader = try await cluster.waitForLeader(among: majority)
            for i in 0..<10 { _ = try await newLeader.apply(Array("majority-\(i)".utf8)) }
            #expect(oldLeader.commitIndex == stuckCommit)
            for id in minority {
                #expect(try await cluster.raft(id).commitIndex == stuckCommit)
            }

            await cluster.heal()
            try await cluster.waitForConvergence()
            // The minority's write was never committed: it failed, and no FSM applied it.
            await #expect(throws: RaftError.self) { try await stuck.value }
            for id in cluster.ids {
                let fsm = try #require(await cluster.fsm(id) as? RecordingFSM)
                #expect(!fsm.commands.contains(Array("minority".utf8)))
                #expect(fsm.commands.count == 11)
            }
            let logs = try await cluster.ids.asyncMap { try await cluster.readLog(of: $0) }
            #expect(logs.allSatisfy { $0 == logs[0] })
        }
    }

    @Test func aDeposedLeadersPendingAppliesFailWithLeadershipLost() async throws {
        try await TestCluster.run(nodes: 3, seed: 25) { cluster in
            let leader = try await cluster.waitForLeader()
            try await cluster.waitForConvergence()
            await cluster.isolate(leader.config.localID)
            // Cut off, the leader can append but never commit these.
            let pending = (0..<5).map { i in cluster.spawn { try await leader.apply(Array("lost-\(i)".utf8)) } }
            for task in pending {
                let error = await #expect(throws: RaftError.self) { try await task.value }
                #expect(error?.code == .leadershipLost)
            }
            await cluster.heal()
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                let fsm = try #require(await cluster.fsm(id) as? RecordingFSM)
                #expect(fsm.commands.allSatisfy { !String(decoding: $0, as: UTF8.self).hasPrefix("lost-") })
            }
        }
    }

    @Test func barrierReturnsAfterEverythingBeforeItIsApplied() async throws {
        try await TestCluster.run(nodes: 3, seed: 26) { cluster in
            let leader = try await cluster.waitForLeader()
            // A millisecond per hop, so a commit takes virtual time the test can observe.
            cluster.faults.delay = .milliseconds(1) ... .milliseconds(1)
            let writes = (0..<20).map { i in cluster.spawn { try await leader.apply(Array("w\(i)".utf8)) } }
            // Let the writes be proposed; none can have committed yet (that takes a round trip).
            try await cluster.sleep(.zero)
            #expect(leader.appliedIndex < leader.lastIndex)
            try await leader.barrier()
            let fsm = try #require(await cluster.fsm(leader.config.localID) as? RecordingFSM)
            #expect(fsm.commands.count == 20)
            for write in writes { _ = try await write.value }
        }
    }

    @Test func verifyLeaderSucceedsWithAQuorumAndFailsWithout() async throws {
        try await TestCluster.run(nodes: 3, seed: 27) { cluster in
            let leader = try await cluster.waitForLeader()
            try await leader.verifyLeader()
            await cluster.isolate(leader.config.localID)
            let error = await #expect(throws: RaftError.self) { try await leader.verifyLeader() }
            #expect(error?.code == .notLeader)
        }
    }

    @Test func aFollowerFarBehindCatchesUpFromTheLeadersLogStore() async throws {
        // With a small in-memory window the leader must load old entries from its log store.
        try await TestCluster.run(nodes: 3, seed: 28, configure: { $0.logCacheCapacity = 64 }) { cluster in
            let leader = try await cluster.waitForLeader()
            let laggard = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(laggard)
            for i in 0..<500 { _ = try await leader.apply(Array("entry-\(i)".utf8)) }
            try await cluster.restart(laggard)
            try await cluster.waitForConvergence()
            let fsm = try #require(await cluster.fsm(laggard) as? RecordingFSM)
            #expect(fsm.commands.count == 500)
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
