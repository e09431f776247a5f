import RaftTestKit
import SwiftRaft
import Testing

/// An in-memory log store that says it may block, so its node writes on a storage thread of its
/// own: the thread ``TestCluster/stallStorage(of:)`` holds still, like a disk whose fsync hangs.
final class DiskLikeLogStore: LogStore {
    let wrapped = InmemStore()

    func firstIndex() throws -> UInt64 { wrapped.firstIndex() }
    func lastIndex() throws -> UInt64 { wrapped.lastIndex() }
    func getLog(index: UInt64) throws -> Log { try wrapped.getLog(index: index) }
    func storeLogs(_ logs: [Log]) throws { try wrapped.storeLogs(logs) }
    func deleteRange(min: UInt64, max: UInt64) throws { wrapped.deleteRange(min: min, max: max) }
}

/// A stalled disk (hashicorp/raft#503): a leader whose writes never finish steps down after
/// ``Config/maxStorageStall``, the others elect a leader that can commit, and the stalled server
/// catches up once its disk does; `apply`'s timeout bounds the whole call.
@Suite struct StalledDiskTests {
    static func diskLikeStores(_ id: ServerID) -> TestCluster.Stores {
        let log = DiskLikeLogStore()
        return TestCluster.Stores(logStore: log, stableStore: log.wrapped, snapshotStore: InmemSnapshotStore())
    }

    static let maxStall: Duration = .milliseconds(500)

    // The stalled leader steps down one bound after its write stuck, a new leader takes writes,
    // the old leader's waiting apply fails, and after its disk recovers every FSM agrees.
    @Test func aLeaderWhoseDiskStallsStepsDownAndTheOthersElectANewLeader() async throws {
        try await TestCluster.run(
            nodes: 3,
            seed: 131, timeLimit: .seconds(60),
            configure: { $0.maxStorageStall = Self.maxStall },
            makeStores: Self.diskLikeStores
        ) { cluster in
            let leader = try await cluster.waitForLeader()
            let leaderID = leader.config.localID
            _ = try await leader.apply(Array("before".utf8))

            cluster.stallStorage(of: leaderID)
            let stalledAt = cluster.simulation.clock.now
            let stuck = cluster.spawn { try await leader.apply(Array("stuck".utf8), timeout: .seconds(2)) }
            try await cluster.waitUntil("the stalled leader to step down") { leader.state != .leader }
            let steppedDownAfter = cluster.simulation.clock.now - stalledAt
            #expect(steppedDownAfter >= Self.maxStall)
            #expect(steppedDownAfter <= Self.maxStall + .milliseconds(20), "noticed within a tick or two: \(steppedDownAfter)")

            let others = cluster.ids.filter { $0 != leaderID }
            let next = try await cluster.waitForLeader(among: others)
            _ = try await next.apply(Array("after".utf8))
            try await cluster.sleep(.seconds(1))
            #expect(next.state == .leader, "twenty election timeouts later, the new leader still leads")
            #expect(leader.state != .leader, "the stalled server did not take leadership back")
            #expect(leader.leader?.id == next.config.localID, "it follows the new leader")

            let error = await #expect(throws: RaftError.self) { _ = try await stuck.value }
            #expect(error?.code == .timeout || error?.code == .leadershipLost, "\(String(describing: error))")

            cluster.resumeStorage(of: leaderID)
            try await cluster.waitForConvergence()
            let histories = try await cluster.ids.asyncMap { id in try #require(await cluster.fsm(id) as? RecordingFSM).commands }
            #expect(histories.allSatisfy { $0 == histories[0] })
            #expect(histories[0].contains(Array("after".utf8)))
        }
    }

    // With maxStorageStall nil, a stalled leader leads on, as a hashicorp/raft leader would.
    @Test func withTheCheckOffAStalledLeaderLeadsOn() async throws {
        try await TestCluster.run(
            nodes: 3,
            seed: 132, timeLimit: .seconds(60),
            configure: { $0.maxStorageStall = nil },
            makeStores: Self.diskLikeStores
        ) { cluster in
            let leader = try await cluster.waitForLeader()
            cluster.stallStorage(of: leader.config.localID)
            let stuck = cluster.spawn { try await leader.apply(Array("stuck".utf8), timeout: .seconds(2)) }
            try await cluster.sleep(.seconds(3))
            #expect(leader.state == .leader)
            await #expect(throws: RaftError.self) { _ = try await stuck.value }
            cluster.resumeStorage(of: leader.config.localID)
        }
    }

    // A lone leader cannot commit what it cannot make durable: the apply throws .timeout at its
    // timeout, saying the outcome is unknown; the command does commit once the disk recovers.
    @Test func anApplyOnAStalledLeaderTimesOutAtItsTimeoutWithAnUnknownOutcome() async throws {
        try await TestCluster.run(nodes: 1, seed: 133, timeLimit: .seconds(60), makeStores: Self.diskLikeStores) { cluster in
            let leader = try await cluster.waitForLeader()
            cluster.stallStorage(of: leader.config.localID)
            let started = cluster.simulation.clock.now
            let error = await #expect(throws: RaftError.self) {
                _ = try await leader.apply(Array("unknown".utf8), timeout: .milliseconds(300))
            }
            let waited = cluster.simulation.clock.now - started
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("outcome is unknown") == true, "\(String(describing: error))")
            #expect(error?.message.contains("index \(leader.lastIndex)") == true, "\(String(describing: error))")
            #expect(waited >= .milliseconds(300) && waited <= .milliseconds(310), "answered within a tick: \(waited)")
            #expect(leader.state == .leader, "300 ms is well within maxStorageStall")

            cluster.resumeStorage(of: leader.config.localID)
            try await cluster.waitForApplied(leader.lastIndex)
            let fsm = try #require(await cluster.fsm(leader.config.localID) as? RecordingFSM)
            #expect(fsm.commands.contains(Array("unknown".utf8)), "it committed after all")
        }
    }

    // A command whose commit is slow but comes within the timeout is applied as usual.
    @Test func anApplyWhoseCommitIsSlowButWithinItsTimeoutSucceeds() async throws {
        try await TestCluster.run(nodes: 1, seed: 134, timeLimit: .seconds(60), makeStores: Self.diskLikeStores) { cluster in
            let leader = try await cluster.waitForLeader()
            cluster.stallStorage(of: leader.config.localID)
            let call = cluster.spawn { try await leader.apply(Array("slow".utf8), timeout: .milliseconds(300)) }
            try await cluster.sleep(.milliseconds(250))
            cluster.resumeStorage(of: leader.config.localID)
            let result = try await call.value
            #expect(result.index == leader.lastIndex)
        }
    }

    // In a cluster the stalled leader's entry commits on its followers' disks: its timed-out
    // caller is told the command will be applied.
    @Test func aTimedOutApplyWhoseCommandCommittedSaysItWillBeApplied() async throws {
        try await TestCluster.run(nodes: 3, seed: 135, timeLimit: .seconds(60), makeStores: Self.diskLikeStores) { cluster in
            let leader = try await cluster.waitForLeader()
            cluster.stallStorage(of: leader.config.localID)
            let error = await #expect(throws: RaftError.self) {
                _ = try await leader.apply(Array("committed".utf8), timeout: .milliseconds(300))
            }
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("committed") == true && error?.message.contains("will be applied") == true, "\(String(describing: error))")
            cluster.resumeStorage(of: leader.config.localID)
            try await cluster.waitForApplied(leader.lastIndex)
        }
    }
}
