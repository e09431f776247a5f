import RaftTestKit
import SwiftRaft
import Testing

/// What cancelling the task of a waiting `apply` does: the call returns at once, and its error
/// says whether the command may still be applied.
@Suite struct ApplyCancellationTests {
    // Cut off from its followers, the leader appends the command but cannot commit it; the
    // cancelled caller is told the command may still commit, and once the partition heals, it does.
    @Test func aCancelledApplyWhoseCommandWasAppendedReturnsAtOnceAndSaysItMayStillCommit() async throws {
        // Timeouts long enough that the cut-off leader neither steps down nor is replaced meanwhile.
        let patient: @Sendable (inout Config) -> Void = {
            $0.heartbeatTimeout = .seconds(1)
            $0.electionTimeout = .seconds(1)
            $0.leaderLeaseTimeout = .seconds(1)
        }
        try await TestCluster.run(nodes: 3, seed: 95, configure: patient) { cluster in
            let leader = try await cluster.waitForLeader()
            let leaderID = leader.config.localID
            let lastIndex = leader.lastIndex
            await cluster.isolate(leaderID)
            let call = cluster.spawn { try await leader.apply(Array("cancelled".utf8), timeout: .seconds(1)) }
            try await cluster.waitUntil("the command appended") { leader.lastIndex == lastIndex + 1 }
            call.cancel()
            let error = await #expect(throws: RaftError.self) { _ = try await call.value }
            #expect(error?.code == .cancelled)
            #expect(error?.message.contains("may still commit") == true, "\(String(describing: error))")
            #expect(leader.state == .leader, "the call returned while the leader still waited for a quorum")

            await cluster.heal()
            try await cluster.waitForConvergence()
            let fsm = try #require(await cluster.fsm(leaderID) as? RecordingFSM)
            #expect(fsm.commands.contains(Array("cancelled".utf8)), "the command did commit after all")
        }
    }

    // Waiting for room (MaxPendingApplies) the command is not in the log yet: cancelling throws
    // CancellationError, and the command is never appended.
    @Test func aCancelledApplyStillWaitingForRoomThrowsCancellationErrorAndIsNeverAppended() async throws {
        try await TestCluster.run(nodes: 3, seed: 96, configure: { $0.maxPendingApplies = 1 }) { cluster in
            let leader = try await cluster.waitForLeader()
            let leaderID = leader.config.localID
            await cluster.isolate(leaderID)
            let first = cluster.spawn { try await leader.apply(Array("holds-the-slot".utf8)) }
            let lastIndex = leader.lastIndex
            try await cluster.waitUntil("the first command appended") { leader.lastIndex > lastIndex }
            let appended = leader.lastIndex
            let second = cluster.spawn { try await leader.apply(Array("never-appended".utf8)) }
            try await cluster.sleep(.milliseconds(20))
            second.cancel()
            await #expect(throws: CancellationError.self) { _ = try await second.value }
            #expect(leader.lastIndex == appended)
            first.cancel()
            _ = try? await first.value
        }
    }
}
