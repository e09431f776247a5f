import RaftTestKit
import SwiftRaft
import Testing

/// Leadership transfer through the public API, on virtual time.
@Suite struct LeadershipTransferClusterTests {
    // hashicorp/raft's LeadershipTransferToServer: the named server leads afterwards, and the cluster goes on.
    @Test func leadershipMovesToTheNamedServer() async throws {
        try await TestCluster.run(nodes: 3, seed: 501) { cluster in
            let leader = try await cluster.waitForLeader()
            for i in 0..<10 { _ = try await leader.apply(Array("c\(i)".utf8)) }
            let target = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await leader.leadershipTransfer(to: target)
            let next = try await cluster.waitForLeader()
            #expect(next.config.localID == target)
            _ = try await next.apply(Array("after".utf8))
            try await cluster.waitForConvergence()
        }
    }

    // hashicorp/raft's LeadershipTransfer: some other server leads afterwards.
    @Test func leadershipMovesToTheMostUpToDateServer() async throws {
        try await TestCluster.run(nodes: 3, seed: 502) { cluster in
            let leader = try await cluster.waitForLeader()
            let old = leader.config.localID
            try await leader.leadershipTransfer()
            let next = try await cluster.waitForLeader()
            #expect(next.config.localID != old)
        }
    }

    // A target that cannot be reached: the transfer fails after an election timeout and the old leader takes applies again.
    @Test func aTransferToAnUnreachableServerTimesOutAndTheLeaderGoesOn() async throws {
        try await TestCluster.run(nodes: 3, seed: 503) { cluster in
            let leader = try await cluster.waitForLeader()
            let target = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.isolate(target)
            let transfer = cluster.spawn { try await leader.leadershipTransfer(to: target) }
            try await cluster.sleep(.milliseconds(5))
            await #expect(throws: RaftError(.leadershipTransferInProgress, "")) { _ = try await leader.apply([1]) }
            await #expect(throws: RaftError(.timeout, "")) { try await transfer.value }
            #expect(leader.state == .leader)
            _ = try await leader.apply(Array("after".utf8))
        }
    }
}
