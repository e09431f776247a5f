import CoreMetrics
import MetricsTestKit
import RaftTestKit
import SwiftRaft
import Testing

/// The metrics a cluster emits through swift-metrics, under hashicorp/raft's names, on virtual
/// time. Each test binds its own `TestMetrics` to its task with `withMetricsFactory`: every node
/// the cluster starts captures that factory, so tests running in parallel never share a backend
/// and the process-wide `MetricsSystem` stays untouched.
@Suite struct MetricsTests {
    static func commands(_ count: Int) -> [[UInt8]] { (0..<count).map { Array("m\($0)".utf8) } }

    static func node(_ id: ServerID) -> [(String, String)] { [("node", id.rawValue)] }

    static func link(_ leader: ServerID, _ peer: ServerID) -> [(String, String)] {
        [("node", leader.rawValue), ("peer", peer.rawValue)]
    }

    /// Every message takes 2 ms of virtual time to arrive: a round trip, 4 ms.
    static let oneWay = Duration.milliseconds(2)
    static let roundTrip = (oneWay * 2).nanoseconds

    // The leader counts each apply and barrier, and times each proposal's stages: queued, persisted, committed, applied.
    @Test func theLeaderCountsProposalsAndTimesEveryStageOfEach() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1301) { cluster in
                let leader = try await cluster.waitForLeader()
                cluster.faults.delay = Self.oneWay...Self.oneWay
                let id = leader.config.localID
                for command in Self.commands(20) { _ = try await leader.apply(command) }
                try await leader.barrier()

                #expect(try metrics.expectCounter("raft.apply", Self.node(id)).totalValue == 20)
                #expect(try metrics.expectCounter("raft.barrier", Self.node(id)).totalValue == 1)
                // One at a time, each proposal is a batch of its own: one sample per proposal.
                for stage in ["queued", "persisted", "committed", "applied"] {
                    let timer = try metrics.expectTimer("raft.proposal.\(stage)", Self.node(id))
                    #expect(timer.values.count == 21, "raft.proposal.\(stage)")
                    #expect(timer.values.allSatisfy { $0 >= 0 }, "raft.proposal.\(stage)")
                }
                let commitTime = try metrics.expectTimer("raft.commitTime", Self.node(id)).values
                #expect(commitTime.count == 21)
                // Committing takes at least a round trip to a follower.
                #expect(commitTime.allSatisfy { $0 >= Self.roundTrip }, "\(commitTime)")
                #expect(try metrics.expectTimer("raft.leader.dispatchLog", Self.node(id)).values.count >= 21)
                for follower in cluster.ids where follower != id {
                    #expect(metrics.counters(label: "raft.apply", dimensions: Self.node(follower)).allSatisfy { $0.totalValue == 0 })
                    #expect(metrics.timers(label: "raft.proposal.queued", dimensions: Self.node(follower)).allSatisfy { $0.values.isEmpty })
                    #expect(try !metrics.expectTimer("raft.rpc.appendEntries.storeLogs", Self.node(follower)).values.isEmpty)
                }
            }
        }
    }

    // Every FSM times its applies; the election counts state transitions as hashicorp/raft does.
    @Test func fsmAppliesAndStateTransitionsAreRecordedOnEveryNode() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1302) { cluster in
                let leader = try await cluster.waitForLeader()
                let id = leader.config.localID
                for command in Self.commands(10) { _ = try await leader.apply(command) }
                try await cluster.waitForConvergence()

                for node in cluster.ids {
                    #expect(try metrics.expectTimer("raft.fsm.apply", Self.node(node)).values.count == 10, "\(node)")
                }
                #expect(try metrics.expectCounter("raft.state.leader", Self.node(id)).totalValue == 1)
                #expect(try metrics.expectCounter("raft.state.candidate", Self.node(id)).totalValue >= 1)
                // The bootstrapped cluster has no leader: whoever leads first saw its election timer fire.
                #expect(try metrics.expectCounter("raft.transition.heartbeat_timeout", Self.node(id)).totalValue >= 1)
            }
        }
    }

    // A candidacy started by TimeoutNow (a leadership transfer) counts as a role change but not as a heartbeat timeout; the old leader counts its step down.
    @Test func aLeadershipTransferIsNoHeartbeatTimeout() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1307) { cluster in
                let leader = try await cluster.waitForLeader()
                let old = leader.config.localID
                let target = try #require(cluster.ids.first { $0 != old })
                func count(_ label: String, _ id: ServerID) throws -> Int64 {
                    try metrics.expectCounter(label, Self.node(id)).totalValue
                }
                let timeouts = try count("raft.transition.heartbeat_timeout", target)
                let candidacies = try count("raft.state.candidate", target)
                let stepDowns = try count("raft.state.follower", old)

                try await leader.leadershipTransfer(to: target)
                _ = try await cluster.waitForLeader()

                #expect(try count("raft.transition.heartbeat_timeout", target) == timeouts)
                #expect(try count("raft.state.candidate", target) == candidacies + 1)
                #expect(try count("raft.state.leader", target) == 1)
                #expect(try count("raft.state.follower", old) == stepDowns + 1)
            }
        }
    }

    // While leading, each follower's AppendEntries and heartbeats are timed and its lag gauged, per peer.
    @Test func replicationToEachFollowerIsTimedAndItsLagGaugedPerPeer() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1303) { cluster in
                let leader = try await cluster.waitForLeader()
                cluster.faults.delay = Self.oneWay...Self.oneWay
                let id = leader.config.localID
                for command in Self.commands(20) { _ = try await leader.apply(command) }
                try await cluster.waitForConvergence()
                try await cluster.sleep(.milliseconds(200))

                for follower in cluster.ids where follower != id {
                    let link = Self.link(id, follower)
                    let rpc = try metrics.expectTimer("raft.replication.appendEntries.rpc", link).values
                    #expect(!rpc.isEmpty, "\(follower)")
                    // Sent after the delay was set: every one took at least a round trip.
                    #expect(rpc.suffix(20).allSatisfy { $0 >= Self.roundTrip }, "\(follower): \(rpc)")
                    #expect(try metrics.expectCounter("raft.replication.appendEntries.logs", link).totalValue >= 20)
                    let heartbeats = try metrics.expectTimer("raft.replication.heartbeat", link).values
                    #expect(heartbeats.last.map { $0 >= Self.roundTrip } == true, "\(follower): \(heartbeats)")
                    #expect(try metrics.expectGauge("raft.replication.lag.entries", link).lastValue == 0)
                    #expect(try metrics.expectGauge("raft.replication.lag.time", link).lastValue == 0)
                }
                let lastContact = try metrics.expectTimer("raft.leader.lastContact", Self.node(id)).values
                #expect(!lastContact.isEmpty)
                // A healthy quorum answered within the lease.
                #expect(lastContact.allSatisfy { $0 <= Duration.milliseconds(50).nanoseconds })
            }
        }
    }

    // A follower cut off shows the entries it lacks and how long it has lacked them, and both return to zero once it catches up.
    @Test func aCutOffFollowersLagGrowsWhileItIsAwayAndClearsWhenItCatchesUp() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1304) { cluster in
                let leader = try await cluster.waitForLeader()
                let id = leader.config.localID
                let follower = try #require(cluster.ids.first { $0 != id })
                let link = Self.link(id, follower)
                await cluster.isolate(follower)
                for command in Self.commands(10) { _ = try await leader.apply(command) }
                try await cluster.sleep(.milliseconds(300))

                #expect(try metrics.expectGauge("raft.replication.lag.entries", link).lastValue == 10)
                let lagged = try #require(try metrics.expectGauge("raft.replication.lag.time", link).lastValue)
                #expect(lagged >= 0.25 && lagged <= 0.35, "lag.time \(lagged) s")

                await cluster.heal()
                try await cluster.waitForConvergence()
                try await cluster.sleep(.milliseconds(200))
                #expect(try metrics.expectGauge("raft.replication.lag.entries", link).lastValue == 0)
                #expect(try metrics.expectGauge("raft.replication.lag.time", link).lastValue == 0)
            }
        }
    }

    // A snapshot is timed whole and in hashicorp/raft's parts: capturing the FSM, creating the store's sink, persisting into it.
    @Test func takingASnapshotTimesTheCaptureTheSinkAndThePersist() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1305) { cluster in
                let leader = try await cluster.waitForLeader()
                let id = leader.config.localID
                for command in Self.commands(5) { _ = try await leader.apply(command) }
                _ = try await leader.snapshot()

                for label in ["raft.fsm.snapshot", "raft.snapshot.create", "raft.snapshot.persist", "raft.snapshot.takeSnapshot"] {
                    #expect(try metrics.expectTimer(label, Self.node(id)).values.count == 1, "\(label)")
                }
            }
        }
    }

    // A follower brought back by InstallSnapshot times writing the snapshot and restoring its FSM from it.
    @Test func aFollowerInstallingASnapshotTimesTheInstallAndTheRestore() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await TestCluster.run(nodes: 3, seed: 1306, configure: SnapshotClusterTests.frequentSnapshots) { cluster in
                let leader = try await cluster.waitForLeader()
                let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
                try await SnapshotClusterTests.leaveBehindCompaction(follower, of: leader, in: cluster, applying: Self.commands(100))
                try await cluster.waitForConvergence()

                #expect(try metrics.expectTimer("raft.snapshot.install", Self.node(follower)).values.count >= 1)
                #expect(try metrics.expectTimer("raft.fsm.restore", Self.node(follower)).values.count >= 1)
            }
        }
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
