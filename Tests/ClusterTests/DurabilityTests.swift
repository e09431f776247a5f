import RaftTestKit
import SwiftRaft
import Testing

/// What survives restarts and shutdowns.
@Suite struct DurabilityTests {
    @Test func restartingEveryNodeRecoversTermVoteAndLog() async throws {
        try await TestCluster.run(nodes: 3, seed: 31) { cluster in
            let leader = try await cluster.waitForLeader()
            for i in 0..<30 { _ = try await leader.apply(Array("v\(i)".utf8)) }
            try await cluster.waitForConvergence()
            var before: [ServerID: (term: UInt64, last: UInt64, log: [Log])] = [:]
            for id in cluster.ids {
                let raft = try await cluster.raft(id)
                before[id] = (raft.currentTerm, raft.lastIndex, try await cluster.readLog(of: id))
            }
            for id in cluster.ids { await cluster.crash(id) }
            for id in cluster.ids { try await cluster.restart(id) }
            for id in cluster.ids {
                let raft = try await cluster.raft(id)
                #expect(raft.currentTerm >= before[id]!.term)
                #expect(raft.lastIndex >= before[id]!.last)
                let stable = await cluster.node(id).stores.stableStore
                #expect(try stable.getUInt64(StableStoreKeys.currentTerm) ?? 0 >= before[id]!.term)
            }
            let newLeader = try await cluster.waitForLeader()
            _ = try await newLeader.apply(Array("after-restart".utf8))
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                let log = try await cluster.readLog(of: id)
                #expect(Array(log.prefix(before[id]!.log.count)) == before[id]!.log)
                let fsm = try #require(await cluster.fsm(id) as? RecordingFSM)
                #expect(fsm.commands.count == 31)
            }
        }
    }

    @Test func aFollowerRestartedWhileTheClusterIsIdleCatchesUp() async throws {
        // Its commit index is volatile and heartbeats do not carry one: the leader must tell it
        // again even though nothing new is written.
        try await TestCluster.run(nodes: 3, seed: 34) { cluster in
            let leader = try await cluster.waitForLeader()
            for i in 0..<5 { _ = try await leader.apply(Array("idle-\(i)".utf8)) }
            try await cluster.waitForConvergence()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(follower)
            try await cluster.restart(follower)
            try await cluster.waitForApplied(leader.commitIndex, on: [follower], timeout: .seconds(2))
            let fsm = try #require(await cluster.fsm(follower) as? RecordingFSM)
            #expect(fsm.commands.count == 5)
        }
    }

    @Test func shutdownResolvesEveryPendingApply() async throws {
        try await TestCluster.run(nodes: 3, seed: 32) { cluster in
            let leader = try await cluster.waitForLeader()
            // Cut the leader off so nothing can commit, then shut it down under load.
            await cluster.isolate(leader.config.localID)
            let pending = (0..<50).map { i in cluster.spawn { try await leader.apply(Array("p\(i)".utf8)) } }
            try await cluster.sleep(.milliseconds(1))
            await leader.shutdown()
            for task in pending {
                let error = await #expect(throws: RaftError.self) { try await task.value }
                #expect(error?.code == .shutdown || error?.code == .leadershipLost || error?.code == .notLeader)
            }
            #expect(leader.state == .shutdown)
            await #expect(throws: RaftError.shutdown) { try await leader.apply([1]) }
            await leader.shutdown()  // idempotent
        }
    }

    @Test func aNodeWithoutBootstrapWaitsAndALiveBootstrapStartsTheCluster() async throws {
        try await TestCluster.run(nodes: 3, seed: 33, bootstrap: false) { cluster in
            try await cluster.sleep(.seconds(1))
            #expect(await cluster.leaders.isEmpty)
            let first = try await cluster.raft(cluster.ids[0])
            try await first.bootstrapCluster(cluster.fullConfiguration)
            let leader = try await cluster.waitForLeader()
            _ = try await leader.apply(Array("hello".utf8))
            try await cluster.waitForConvergence()
            await #expect(throws: RaftError.self) { try await first.bootstrapCluster(cluster.fullConfiguration) }
        }
    }
}
