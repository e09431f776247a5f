import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// Snapshots end to end, on virtual time: taken past the threshold, compacting the log behind
/// them, restored at startup, sent to followers the log can no longer catch up, taken and restored
/// by the user.
@Suite struct SnapshotClusterTests {
    /// Snapshots every 20 applied entries (checked every 20–40 ms), keeping 10 entries behind each,
    /// and only 64 entries in memory, so a follower far behind needs what only the snapshot holds.
    static let frequentSnapshots: @Sendable (inout Config) -> Void = { config in
        config.snapshotThreshold = 20
        config.snapshotInterval = .milliseconds(20)
        config.trailingLogs = 10
        config.logCacheCapacity = 64
    }

    static func commands(_ count: Int, prefix: String = "c") -> [[UInt8]] {
        (0..<count).map { Array("\(prefix)\($0)".utf8) }
    }

    /// Cuts `follower` off while `leader` applies `commands` and compacts its log past the
    /// follower's last entry, then heals: the follower can only come back by InstallSnapshot.
    static func leaveBehindCompaction(_ follower: ServerID, of leader: Raft, in cluster: TestCluster, applying commands: [[UInt8]]) async throws {
        await cluster.isolate(follower)
        let behind = try await cluster.raft(follower).lastIndex
        for command in commands { _ = try await leader.apply(command) }
        try await cluster.waitUntil("the leader to compact past the follower") {
            try await cluster.node(leader.config.localID).stores.logStore.firstIndex() > behind + 1
        }
        await cluster.heal()
    }

    static func lastSnapshotIndex(_ raft: Raft) -> UInt64 { UInt64(raft.stats()["last_snapshot_index"] ?? "0") ?? 0 }

    static func recording(_ fsm: any FSM) throws -> RecordingFSM { try #require(fsm as? RecordingFSM) }

    // hashicorp/raft: a snapshot once SnapshotThreshold entries were applied, then the log through min(snapshot, last - TrailingLogs) is deleted.
    @Test func aSnapshotIsTakenPastTheThresholdAndTheLogIsCompactedBehindIt() async throws {
        try await TestCluster.run(nodes: 3, seed: 301, configure: Self.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(100) { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            try await cluster.waitUntil("every node to snapshot past 80") {
                await cluster.running.allSatisfy { Self.lastSnapshotIndex($0) >= 80 }
            }
            try await cluster.sleep(.milliseconds(10))
            for id in cluster.ids {
                let raft = try await cluster.raft(id)
                let stores = await cluster.node(id).stores
                let snapshot = try #require(try stores.snapshotStore.list().first)
                #expect(snapshot.index == Self.lastSnapshotIndex(raft))
                #expect(UInt64(raft.stats()["last_snapshot_term"] ?? "") == snapshot.term)
                #expect(snapshot.configuration == cluster.fullConfiguration)
                let first = try stores.logStore.firstIndex()
                let last = try stores.logStore.lastIndex()
                #expect(first == min(snapshot.index, last - 10) + 1, "\(id): log \(first)...\(last), snapshot \(snapshot.index)")
                #expect(try Self.recording(await cluster.fsm(id)).commands == Self.commands(100))
            }
        }
    }

    // A restart restores the newest snapshot and re-applies only the entries after it.
    @Test func aRestartedNodeRestoresItsSnapshotAndReplaysOnlyTheLogAfterIt() async throws {
        try await TestCluster.run(nodes: 3, seed: 302, configure: Self.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(100) { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await cluster.waitUntil("the follower to snapshot") { Self.lastSnapshotIndex(try await cluster.raft(follower)) >= 80 }
            let snapshotIndex = try #require(try await cluster.node(follower).stores.snapshotStore.list().first).index
            await cluster.crash(follower)
            try await cluster.restart(follower)
            try await cluster.waitForApplied(leader.commitIndex, on: [follower])
            #expect(cluster.trace.restores(of: follower).last == snapshotIndex)
            let replayed = cluster.trace.applied(by: follower)
            #expect(replayed.first.map { $0.index > snapshotIndex } ?? true, "replayed from \(replayed.first?.index ?? 0)")
            #expect(try Self.recording(await cluster.fsm(follower)).commands == Self.commands(100))
        }
    }

    // Raft §7: a follower cut off while the leader compacted past its log is brought back by InstallSnapshot.
    @Test func aFollowerPartitionedPastCompactionCatchesUpThroughInstallSnapshot() async throws {
        try await TestCluster.run(nodes: 3, seed: 303, configure: Self.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await Self.leaveBehindCompaction(follower, of: leader, in: cluster, applying: Self.commands(100))
            try await cluster.waitForConvergence()
            #expect(!cluster.trace.restores(of: follower).isEmpty)
            #expect(try Self.recording(await cluster.fsm(follower)).commands == Self.commands(100))
            _ = try await leader.apply(Array("after".utf8))
            try await cluster.waitForConvergence()
            #expect(try Self.recording(await cluster.fsm(follower)).commands.last == Array("after".utf8))
        }
    }

    // A follower that lost all its state is rebuilt from the leader's snapshot and log.
    @Test func aWipedFollowerCatchesUpThroughInstallSnapshot() async throws {
        try await TestCluster.run(nodes: 3, seed: 304, configure: Self.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(100) { _ = try await leader.apply(command) }
            try await cluster.waitUntil("the leader to compact") {
                try await cluster.node(leader.config.localID).stores.logStore.firstIndex() > 1
            }
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(follower)
            try await cluster.restart(follower, with: .inMemory())
            try await cluster.waitForConvergence()
            #expect(!cluster.trace.restores(of: follower).isEmpty)
            #expect(try Self.recording(await cluster.fsm(follower)).commands == Self.commands(100))
            #expect(try await cluster.raft(follower).getConfiguration().configuration == cluster.fullConfiguration)
        }
    }

    // A follower whose store keeps no snapshot (DiscardSnapshotStore) refuses the leader's snapshot and keeps running (it used to write it nowhere, fail to restore its FSM from it, and stop).
    @Test func aFollowerThatCannotKeepASnapshotRefusesItAndKeepsRunning() async throws {
        let stores: @Sendable (ServerID) -> TestCluster.Stores = { id in
            let store = InmemStore()
            let snapshots: any SnapshotStore = id == "node-3" ? DiscardSnapshotStore() : InmemSnapshotStore()
            return TestCluster.Stores(logStore: store, stableStore: store, snapshotStore: snapshots)
        }
        try await TestCluster.run(nodes: 3, seed: 309, configure: Self.frequentSnapshots, makeStores: stores) { cluster in
            await cluster.isolate("node-3")
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(100) { _ = try await leader.apply(command) }
            try await cluster.waitUntil("the leader to compact") {
                try await cluster.node(leader.config.localID).stores.logStore.firstIndex() > 2
            }
            await cluster.heal()
            try await cluster.sleep(.seconds(1))
            let follower = try await cluster.raft("node-3")
            #expect(follower.state == .follower)
            #expect(follower.appliedIndex < leader.commitIndex)
            #expect(cluster.trace.restores(of: "node-3").isEmpty)
        }
    }

    // hashicorp/raft's Snapshot: the metadata and a way to open it; ErrNothingNewToSnapshot when the FSM applied nothing since.
    @Test func aUserSnapshotOpensAndASecondWithNothingNewIsRefused() async throws {
        try await TestCluster.run(nodes: 3, seed: 305) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(10) { _ = try await leader.apply(command) }
            let taken = try await leader.snapshot()
            #expect(taken.meta.index == leader.appliedIndex)
            #expect(taken.meta.configuration == cluster.fullConfiguration)
            let (meta, source) = try taken.open()
            #expect(meta.size > 0)
            let reader = RecordingFSM()
            try reader.restore(from: source)
            #expect(reader.commands == Self.commands(10))
            #expect(Self.lastSnapshotIndex(leader) == taken.meta.index)
            await #expect(throws: RaftError(.nothingNewToSnapshot, "")) { _ = try await leader.snapshot() }
            // A follower takes its own.
            let follower = try #require(await cluster.followers.first)
            try await cluster.waitForApplied(leader.appliedIndex)
            #expect(try await follower.snapshot().meta.index == leader.appliedIndex)
        }
    }

    // hashicorp/raft's Restore: the leader replaces the cluster's state with an external snapshot; followers follow through InstallSnapshot.
    @Test func aUserRestoreReplacesEveryNodesState() async throws {
        try await TestCluster.run(nodes: 3, seed: 306) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(10) { _ = try await leader.apply(command) }
            // The state to restore: what an FSM that applied "x" and "y" would snapshot.
            let source = RecordingFSM()
            for (offset, data) in [Array("x".utf8), Array("y".utf8)].enumerated() {
                _ = source.apply(Log(index: UInt64(offset + 1), term: 1, data: data))
            }
            let scratch = InmemSnapshotStore()
            try source.snapshot().persist(
                to: try scratch.create(version: 1, index: 2, term: 1, configuration: Configuration(), configurationIndex: 0)
            )
            let (meta, bytes) = try scratch.open(id: try #require(scratch.list().first).id)
            try await leader.restore(meta: meta, source: bytes)
            bytes.close()
            _ = try await leader.apply(Array("z".utf8))
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                #expect(try Self.recording(await cluster.fsm(id)).commands == ["x", "y", "z"].map { Array($0.utf8) }, "\(id)")
            }
        }
    }

    // A leader that crashes while its snapshot is on its way leaves the follower whole; the next leader brings it up to date.
    @Test func anInstallInterruptedByALeaderCrashIsFinishedByTheNextLeader() async throws {
        let logs = LogCollector()
        try await TestCluster.run(nodes: 3, seed: 307, configure: { config in
            Self.frequentSnapshots(&config)
            config.logger = logs.logger
        }) { cluster in
            let leader = try await cluster.waitForLeader()
            let leaderID = leader.config.localID
            let follower = try #require(cluster.ids.first { $0 != leaderID })
            await cluster.isolate(follower)
            for command in Self.commands(100) { _ = try await leader.apply(command) }
            try await cluster.waitUntil("every connected node to compact") {
                for id in cluster.ids where id != follower {
                    guard try await cluster.node(id).stores.logStore.firstIndex() > 2 else { return false }
                }
                return true
            }
            // Slow messages, so the snapshot is still in flight when its sender dies.
            cluster.faults.delay = .milliseconds(20) ... .milliseconds(30)
            await cluster.heal()
            func sent(_ text: String, by node: ServerID) -> Bool {
                logs.messages.contains { $0.text == text && $0.metadata["raft.node"] == "\(node)" }
            }
            try await cluster.waitUntil("the leader to start sending its snapshot") { sent("sending snapshot", by: leaderID) }
            await cluster.crash(leaderID)
            #expect(!sent("snapshot sent", by: leaderID))
            cluster.faults.delay = .microseconds(100) ... .milliseconds(1)
            let survivors = cluster.ids.filter { $0 != leaderID }
            let next = try await cluster.waitForLeader(among: survivors)
            _ = try await next.apply(Array("after".utf8))
            try await cluster.waitForApplied(next.commitIndex, on: survivors)
            #expect(try Self.recording(await cluster.fsm(follower)).commands == Self.commands(100) + [Array("after".utf8)])
            try await cluster.restart(leaderID)
            try await cluster.waitForConvergence()
        }
    }

    // Snapshots are taken and persisted while applies go on: after every node restarts from its snapshot and log, each has every acknowledged write exactly once.
    @Test func snapshotsTakenUnderLoadLoseNoApply() async throws {
        try await TestCluster.run(nodes: 3, seed: 308, configure: { config in
            config.snapshotThreshold = 7
            config.snapshotInterval = .milliseconds(5)
            config.trailingLogs = 3
            config.logCacheCapacity = 64
        }) { cluster in
            let written = Mutex<[[UInt8]]>([])
            let writers = (0..<4).map { writer in
                cluster.spawn {
                    for i in 0..<60 {
                        let command = Array("w\(writer)-\(i)".utf8)
                        while true {
                            guard let leader = await cluster.leaders.first else {
                                try await cluster.sleep(.milliseconds(5))
                                continue
                            }
                            _ = try await leader.apply(command)
                            written.withLock { $0.append(command) }
                            // Spread the load over several snapshot intervals.
                            try await cluster.sleep(.milliseconds(1))
                            break
                        }
                    }
                }
            }
            for writer in writers { try await writer.value }
            try await cluster.waitForConvergence()
            #expect(await cluster.running.allSatisfy { Self.lastSnapshotIndex($0) > 0 }, "no snapshot was taken under load")
            for id in cluster.ids { await cluster.crash(id) }
            for id in cluster.ids { try await cluster.restart(id) }
            let leader = try await cluster.waitForLeader()
            try await leader.barrier()
            try await cluster.waitForConvergence()
            let expected = Set(written.withLock { $0 })
            for id in cluster.ids {
                #expect(!cluster.trace.restores(of: id).isEmpty, "\(id) restored no snapshot")
                let applied = try Self.recording(await cluster.fsm(id)).commands
                #expect(applied.count == expected.count && Set(applied) == expected, "\(id)")
            }
        }
    }
}
