import Logging
import RaftFileStores
import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

/// A crash or power cut while a node persists a snapshot, compacts its log behind one, or
/// installs a leader's snapshot leaves a node that starts from what its disk kept and holds every
/// acknowledged write, exactly once.
///
/// Every node keeps its log, stable store and snapshots on a ``PowerLossFileSystem`` of its own.
/// A scenario runs once uncut, on virtual time, to find the file-system calls of the step under
/// test; then once more per call position and loss mode (a strict cut, a seeded one, a process
/// crash), with the node's power cut before that call. The simulation replays the same run up to
/// the cut (each run checks that it did), so every position cuts the step where the uncut run had
/// it. After the cut the node's process dies, the machine comes back, and the node restarts on
/// stores reopened from what the cut left.
@Suite("File stores: power cuts around snapshots")
struct FileStoresSnapshotCrashTests {
    // MARK: - A snapshot's persist and the compaction behind it (one node)

    /// Where a node restarted after a cut in ``snapshotRounds(cut:)``.
    struct SingleNodeRestart: Sendable {
        /// The snapshot before the one under way when the cut came (0 for none), and that one.
        var previousSnapshot: UInt64, newSnapshot: UInt64
        /// The log's first index before the compaction behind the new snapshot, and after it.
        var firstBeforeCompaction: UInt64, firstAfterCompaction: UInt64
        /// The snapshot the node restored when it started again (0 for none), and its log's
        /// first index then.
        var restored: UInt64, first: UInt64
    }

    /// One node alone: every write it acknowledged is on its own disk and nowhere else, so
    /// whatever a cut leaves must hold all of them.
    ///
    /// Three rounds of 20 writes, each followed by a user snapshot: the first compaction only
    /// writes the log's `first-index` file, the later ones also unlink whole segments, and the
    /// third snapshot's close reaps the first snapshot (the store retains two). After a cut the
    /// node restarts on its reopened stores and must have applied every acknowledged write
    /// exactly once, from the snapshot before the one under way or from that one (always that
    /// one if it was reported taken), with its log starting where it did before the compaction
    /// or where the compaction moved it.
    private static func snapshotRounds(cut: Cut?) async throws -> (run: ProbedRun, restart: SingleNodeRestart?) {
        let disk = NodeDisk()
        if let cut { disk.files.cutPower(beforeCall: cut.position, mode: cut.mode) }
        return try await TestCluster.run(
            nodes: 1, seed: 71, configure: Self.userSnapshotsOnly, makeStores: { _ in try disk.openStores() }
        ) { cluster in
            let id = cluster.ids[0]
            var acknowledged: [[UInt8]] = []
            var windows: [Range<Int>] = []
            var underWay: SingleNodeRestart?
            var reportedTaken = false
            rounds: for round in 1...3 {
                let leader = try await cluster.waitForLeader()
                for i in 0..<20 {
                    let command = Self.command("round \(round) write \(i)")
                    do {
                        _ = try await leader.apply(command)
                    } catch {
                        // Cuts are scheduled only inside a snapshot's or a compaction's calls, when no write
                        // is under way.
                        Issue.record("\(cut?.label ?? "uncut"): write \(i) of round \(round) failed: \(error)")
                        break rounds
                    }
                    acknowledged.append(command)
                }
                let logStore = await cluster.node(id).stores.logStore
                // The writes are applied one at a time, so the snapshot covers the whole log, and
                // the compaction keeps `trailingLogs` entries of it.
                let firstBefore = try logStore.firstIndex()
                underWay = SingleNodeRestart(
                    previousSnapshot: underWay?.newSnapshot ?? 0, newSnapshot: leader.appliedIndex,
                    firstBeforeCompaction: firstBefore, firstAfterCompaction: leader.lastIndex - Self.trailingLogs + 1,
                    restored: 0, first: 0)
                let start = disk.files.callCount
                reportedTaken = false
                do {
                    let taken = try await leader.snapshot().meta
                    #expect(taken.index == underWay!.newSnapshot)
                    reportedTaken = true
                } catch {
                    windows.append(start..<disk.files.callCount)
                    break rounds
                }
                // Compaction runs on the storage executor after the snapshot is reported taken.
                try await cluster.waitUntil("the log to be compacted behind snapshot \(round)") {
                    if disk.files.isDown { return true }
                    return try logStore.firstIndex() > firstBefore
                }
                windows.append(start..<disk.files.callCount)
                if disk.files.isDown { break rounds }
                #expect(try logStore.firstIndex() == underWay!.firstAfterCompaction)
            }

            guard let cut, var restart = underWay else {
                #expect(reportedTaken && acknowledged.count == 60)
                #expect(try Self.recording(await cluster.fsm(id)).commands == acknowledged)
                return (ProbedRun(calls: disk.files.calls, windows: windows), nil)
            }
            Self.confirmCut(cut, on: disk)
            try await Self.reboot(id, on: disk, in: cluster)
            restart.restored = cluster.trace.restores(of: id).last ?? 0
            restart.first = try await cluster.node(id).stores.logStore.firstIndex()
            #expect(
                restart.restored == restart.newSnapshot || (restart.restored == restart.previousSnapshot && !reportedTaken),
                "\(cut.label): restored snapshot \(restart.restored); \(restart.newSnapshot) was under way (taken: \(reportedTaken))")
            #expect(
                [restart.firstBeforeCompaction, restart.firstAfterCompaction].contains(restart.first),
                "\(cut.label): the log starts at \(restart.first); compaction moved it from \(restart.firstBeforeCompaction) to \(restart.firstAfterCompaction)")

            let leader = try await cluster.waitForLeader()
            try await leader.barrier()
            let applied = try Self.recording(await cluster.fsm(id)).commands
            #expect(applied == acknowledged, "\(cut.label): applied \(applied.count) writes, \(acknowledged.count) acknowledged")
            // And the node goes on: it takes writes, snapshots and compacts again.
            let after = Self.command("after the cut")
            _ = try await leader.apply(after)
            _ = try await leader.snapshot()
            #expect(try Self.recording(await cluster.fsm(id)).commands == acknowledged + [after], "\(cut.label)")
            return (ProbedRun(calls: disk.files.calls, windows: windows), restart)
        }
    }

    @Test func aPowerCutOrCrashAtAnyCallOfASnapshotPersistLosesNoAcknowledgedWrite() async throws {
        let probe = try await Self.snapshotRounds(cut: nil).run
        // The persist creates a `.tmp` directory, writes and syncs the state and its metadata,
        // renames the directory into place and syncs the parent; the third reaps the first.
        #expect(probe.windowCalls.contains { $0.operation == .rename && $0.path.hasSuffix(".tmp") })
        #expect(probe.windowCalls.contains { $0.operation == .removeDirectory && $0.path.hasPrefix(NodeDisk.snapshotsDirectory) })
        var restarts: [SingleNodeRestart] = []
        for position in probe.positions(where: { $0.path.hasPrefix(NodeDisk.snapshotsDirectory) }) {
            for mode in Self.modes(at: position) {
                if let restart = try await Self.snapshotRounds(cut: probe.cut(at: position, mode)).restart { restarts.append(restart) }
            }
        }
        // Cuts before the new snapshot's name is durable restart from the one before it; later
        // ones from the new one, whose compaction never began.
        #expect(restarts.contains { $0.restored == $0.previousSnapshot } && restarts.contains { $0.restored == $0.newSnapshot })
        #expect(restarts.allSatisfy { $0.first == $0.firstBeforeCompaction })
    }

    @Test func aPowerCutOrCrashAtAnyCallOfACompactionLosesNoAcknowledgedWrite() async throws {
        let probe = try await Self.snapshotRounds(cut: nil).run
        // Compaction replaces the `first-index` file and, from the second one on, unlinks the
        // segments wholly below it.
        #expect(probe.windowCalls.contains { $0.operation == .rename && $0.path.hasSuffix("first-index.tmp") })
        #expect(probe.windowCalls.contains { $0.operation == .removeFile && $0.path.hasSuffix(".wal") })
        var restarts: [SingleNodeRestart] = []
        for position in probe.positions(where: { $0.path.hasPrefix(NodeDisk.logDirectory) }) {
            for mode in Self.modes(at: position) {
                if let restart = try await Self.snapshotRounds(cut: probe.cut(at: position, mode)).restart { restarts.append(restart) }
            }
        }
        // Every one restarts from the snapshot just taken; the log where it was or where the
        // compaction moved it, and both happen.
        #expect(restarts.allSatisfy { $0.restored == $0.newSnapshot })
        #expect(restarts.contains { $0.first == $0.firstBeforeCompaction } && restarts.contains { $0.first == $0.firstAfterCompaction })
    }

    // MARK: - Installing a leader's snapshot (three nodes)

    /// What a follower cut while installing a snapshot found when it started again.
    enum FollowerRestart: Hashable, Sendable {
        /// The snapshot had not reached the disk: the old log, as it was.
        case withoutTheSnapshot
        /// The snapshot, and the old log that contradicts it, which startup discards.
        case fromTheSnapshotDiscardingTheOldLog
        /// The snapshot, and a log already reset to follow it.
        case fromTheSnapshot
    }

    /// The first leader is cut off while it takes writes no one else sees, so its log runs past
    /// the snapshot the new leader takes meanwhile, with entries of an older term there. When
    /// the partition heals it must install the new leader's snapshot and throw its whole log
    /// away: the snapshot store's write, the log's reset (the `first-index` file moves past the
    /// old log's end, every segment goes) and the first entries after the snapshot (which bring
    /// the `first-index` file back down) are the calls under test, with the term it learns on
    /// the way. After a cut it restarts on its reopened stores (from the snapshot, if it told the
    /// leader it had installed it), catches up, and holds every acknowledged write exactly once
    /// and none of the writes it took alone.
    private static func installAfterPartition(cut: Cut?) async throws -> (run: ProbedRun, restart: FollowerRestart?) {
        let disks = Dictionary(uniqueKeysWithValues: (1...3).map { (ServerID("node-\($0)"), NodeDisk()) })
        let logs = LogCollector()
        return try await TestCluster.run(nodes: 3, seed: 72, configure: { config in
            Self.userSnapshotsOnly(&config)
            // A small memory, so a few dozen writes put the follower out of its reach.
            config.maxAppendEntries = 16
            config.logCacheCapacity = 16
            config.logger = logs.logger
            config.logger.logLevel = .info
        }, makeStores: { id in try disks[id]!.openStores() }) { cluster in
            let stale = try await cluster.waitForLeader()
            let follower = stale.config.localID
            let disk = disks[follower]!
            var acknowledged: [[UInt8]] = []
            for i in 0..<5 {
                let command = Self.command("before the partition \(i)")
                _ = try await stale.apply(command)
                acknowledged.append(command)
            }
            try await cluster.waitForConvergence()

            await cluster.isolate(follower)
            // Until its lease runs out it still leads, and appends what it is given: entries no
            // other node will ever hold.
            let unacknowledged = (0..<45).map { i in
                cluster.spawn { _ = try await stale.apply(Self.command("never committed \(i)")) }
            }
            let leader = try await cluster.waitForLeader(among: cluster.ids.filter { $0 != follower })
            // More than the 16 entries a node keeps in memory: once the log is compacted, what
            // the follower needs next is only in the snapshot.
            for i in 0..<30 {
                let command = Self.command("while partitioned \(i)")
                _ = try await leader.apply(command)
                acknowledged.append(command)
            }
            let taken = try await leader.snapshot().meta
            let leaderLog = await cluster.node(leader.config.localID).stores.logStore
            try await cluster.waitUntil("the leader to compact behind its snapshot") { try leaderLog.firstIndex() > 6 }
            // Entries after the snapshot, for the follower to append once it has installed it.
            for i in 0..<5 {
                let command = Self.command("after the snapshot \(i)")
                _ = try await leader.apply(command)
                acknowledged.append(command)
            }
            for proposal in unacknowledged {
                if case .success = await proposal.result { Issue.record("a write the partitioned leader took committed") }
            }
            // The follower's log runs past the snapshot with an older term at its index, so it
            // cannot stay. (Checked in every run, cut or not: the read is a call on the
            // follower's disk, and every run must make the same calls.)
            let followerLog = await cluster.node(follower).stores.logStore
            #expect(try followerLog.lastIndex() > taken.index)
            #expect(try followerLog.getLog(index: taken.index).term < taken.term)

            let start = disk.files.callCount
            if let cut { disk.files.cutPower(beforeCall: cut.position, mode: cut.mode) }
            await cluster.heal()
            try await cluster.waitUntil("the follower to catch up, or its power to go") {
                if disk.files.isDown { return true }
                return await Self.isConverged(cluster)
            }
            let run = ProbedRun(calls: disk.files.calls, windows: [start..<disk.files.callCount])

            var restart: FollowerRestart?
            if let cut {
                Self.confirmCut(cut, on: disk)
                // The follower answers the leader only once the snapshot and the log's reset
                // are durable: if the leader heard "installed", the follower must start from it.
                let confirmed = logs.messages.contains {
                    $0.text == "snapshot sent" && $0.metadata["raft.node"] == "\(leader.config.localID)"
                        && $0.metadata["raft.snapshot.installed"] == "true"
                }
                let restoresBefore = cluster.trace.restores(of: follower).count
                let logged = logs.messages.count
                try await Self.reboot(follower, on: disk, in: cluster)
                let restored = cluster.trace.restores(of: follower).dropFirst(restoresBefore)
                let discarded = logs.messages[logged...].contains {
                    $0.metadata["raft.node"] == "\(follower)" && $0.text.hasPrefix("discarding the log")
                }
                #expect(restored.allSatisfy { $0 == taken.index }, "\(cut.label): restored \(Array(restored))")
                restart = restored.isEmpty ? .withoutTheSnapshot : discarded ? .fromTheSnapshotDiscardingTheOldLog : .fromTheSnapshot
                #expect(!confirmed || restart != .withoutTheSnapshot, "\(cut.label): the follower confirmed the snapshot but lost it")
                try await cluster.waitForConvergence()
            } else {
                #expect(cluster.trace.restores(of: follower) == [taken.index])
            }
            #expect(try Self.recording(await cluster.fsm(follower)).commands == acknowledged, "\(cut?.label ?? "uncut")")
            // And the cluster goes on, the follower with it.
            let after = Self.command("after the install")
            _ = try await cluster.waitForLeader().apply(after)
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                #expect(try Self.recording(await cluster.fsm(id)).commands == acknowledged + [after], "\(cut?.label ?? "uncut"): \(id)")
            }
            return (run, restart)
        }
    }

    @Test func aPowerCutOrCrashAtAnyCallOfAnInstallLeavesAFollowerThatStartsAndCatchesUp() async throws {
        let probe = try await Self.installAfterPartition(cut: nil).run
        #expect(probe.windowCalls.contains { $0.operation == .rename && $0.path.hasPrefix(NodeDisk.snapshotsDirectory) })
        #expect(probe.windowCalls.contains { $0.operation == .removeFile && $0.path.hasSuffix(".wal") })
        #expect(probe.windowCalls.contains { $0.operation == .open && $0.path.hasSuffix("first-index.tmp") })
        var restarts: Set<FollowerRestart> = []
        for position in probe.positions(where: { _ in true }) {
            for mode in Self.modes(at: position) {
                let cut = probe.cut(at: position, mode)
                if let restart = try await Self.installAfterPartition(cut: cut).restart { restarts.insert(restart) }
            }
        }
        // The cuts reach every state an install passes through on disk.
        #expect(restarts == [.withoutTheSnapshot, .fromTheSnapshotDiscardingTheOldLog, .fromTheSnapshot])
    }

    // MARK: - Snapshots on real files (three nodes)

    /// A node's three file stores under `<directory>/<id>`; 4 KiB segments, so the log rolls
    /// every 17 or so entries and compaction has whole segments to drop.
    private static func openStores(of id: ServerID, in directory: TemporaryDirectory) throws -> TestCluster.Stores {
        let base = directory.appending(id.rawValue)
        return TestCluster.Stores(
            logStore: try FileLogStore(directory: base + "/log", options: .init(segmentSize: 4096, logger: LogFixtures.quietLogger)),
            stableStore: try FileStableStore(directory: base + "/stable", options: .init(logger: LogFixtures.quietLogger)),
            snapshotStore: try FileSnapshotStore(directory: base, retain: 2, options: .init(logger: LogFixtures.quietLogger))
        )
    }

    /// The first index of each segment file in a log directory, in order.
    private static func segments(in directory: String) throws -> [UInt64] {
        try PosixFileSystem().contentsOfDirectory(directory).compactMap { entry -> UInt64? in
            guard entry.name.hasSuffix(".wal") else { return nil }
            return UInt64(entry.name.dropLast(4))
        }.sorted()
    }

    /// On real files, with snapshots on: every node snapshots past the threshold and compacts
    /// its log behind the snapshot (the log's first index moves, the segments below it are gone,
    /// snapshots beyond the two retained are reaped), and every node restarted on reopened stores
    /// starts from its newest snapshot and the log after it, with its FSM whole.
    @Test func aClusterOnFileStoresSnapshotsCompactsAndRestartsFromItsSnapshots() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-snapshots")
        defer { directory.remove() }
        try await TestCluster.run(nodes: 3, seed: 73, configure: { config in
            config.snapshotThreshold = 20
            config.snapshotInterval = .milliseconds(20)
            config.trailingLogs = Self.trailingLogs
            config.logCacheCapacity = 64
        }, makeStores: { try Self.openStores(of: $0, in: directory) }) { cluster in
            let leader = try await cluster.waitForLeader()
            // Rounds of 25 writes, more than the threshold: after each, every node takes a new
            // snapshot of its own on a later check.
            var written: [[UInt8]] = []
            var snapshotted: [ServerID: UInt64] = [:]
            for round in 0..<4 {
                for i in 0..<25 {
                    let command = Self.command("round \(round) write \(i)")
                    _ = try await leader.apply(command)
                    written.append(command)
                }
                try await cluster.waitForConvergence()
                for id in cluster.ids {
                    let raft = try await cluster.raft(id)
                    try await cluster.waitUntil("\(id) to take a snapshot in round \(round)") {
                        Self.lastSnapshotIndex(raft) > snapshotted[id, default: 0]
                    }
                    snapshotted[id] = Self.lastSnapshotIndex(raft)
                }
            }

            // Every node compacted behind its newest snapshot, keeping the two newest.
            var snapshotIndex: [ServerID: UInt64] = [:]
            var firstIndex: [ServerID: UInt64] = [:]
            for id in cluster.ids {
                let stores = await cluster.node(id).stores
                try await cluster.waitUntil("\(id) to compact behind its snapshot") {
                    guard let newest = try stores.snapshotStore.list().first else { return false }
                    let last = try stores.logStore.lastIndex()
                    return try stores.logStore.firstIndex() == min(newest.index, last - Self.trailingLogs) + 1
                }
                let snapshots = try stores.snapshotStore.list()
                snapshotIndex[id] = snapshots[0].index
                firstIndex[id] = try stores.logStore.firstIndex()
                #expect(snapshots.count == 2, "\(id): the store retains two")
                #expect(
                    try PosixFileSystem().contentsOfDirectory(directory.appending(id.rawValue + "/snapshots")).count == 2,
                    "\(id): older snapshots are reaped from the disk")
                // Only the segment holding the first index and those after it are left.
                let segments = try Self.segments(in: directory.appending(id.rawValue + "/log"))
                let first = firstIndex[id]!
                #expect(segments.first.map { $0 > 1 && $0 <= first } == true, "\(id): segments \(segments), first index \(first)")
                #expect(segments.dropFirst().allSatisfy { $0 > first }, "\(id): segments \(segments)")
            }

            // Every process dies; the files are all that is left. Closing releases the
            // directory locks, as the end of a process would, and reopening recovers from disk.
            for id in cluster.ids { await cluster.crash(id) }
            for id in cluster.ids {
                let stores = await cluster.node(id).stores
                try stores.logStore.close()
                try stores.stableStore.close()
                try stores.snapshotStore.close()
            }
            for id in cluster.ids { try await cluster.restart(id, with: try Self.openStores(of: id, in: directory)) }

            // Each node starts from its newest snapshot and the log after it.
            for id in cluster.ids {
                #expect(cluster.trace.restores(of: id).last == snapshotIndex[id], "\(id)")
                #expect(try await cluster.node(id).stores.logStore.firstIndex() == firstIndex[id], "\(id)")
            }
            let newLeader = try await cluster.waitForLeader()
            let more = (0..<10).map { Self.command("after the restart \($0)") }
            for command in more { _ = try await newLeader.apply(command) }
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                #expect(try Self.recording(await cluster.fsm(id)).commands == written + more, "\(id)")
            }
        }
    }

    // MARK: - Helpers

    /// Where and how to cut the power of the node under test.
    struct Cut: Sendable {
        var position: Int
        var mode: PowerLossFileSystem.LossMode
        /// The uncut run's calls through `position`, which this run must make too.
        var replaying: [FaultInjectingFileSystem.Call]
        var label: String {
            let call = replaying.last.map { "\($0)" } ?? "none"
            let what = mode == .processCrash ? "a process crash" : "a \(mode) power cut"
            return "\(what) before call \(position) (\(call))"
        }
    }

    /// An uncut run's calls on the disk under test, and the ranges of them that belong to the
    /// step under test.
    struct ProbedRun: Sendable {
        var calls: [FaultInjectingFileSystem.Call]
        var windows: [Range<Int>]

        /// A cut before call `position`, replaying this run up to it.
        func cut(at position: Int, _ mode: PowerLossFileSystem.LossMode) -> Cut {
            Cut(position: position, mode: mode, replaying: Array(calls[...position]))
        }

        var windowCalls: [FaultInjectingFileSystem.Call] { windows.flatMap { calls[$0] } }

        /// The positions in the windows whose call `include` picks.
        func positions(where include: (FaultInjectingFileSystem.Call) -> Bool) -> [Int] {
            windows.flatMap { $0 }.filter { include(calls[$0]) }
        }
    }

    /// One node's disk: its log, stable store and snapshots on one ``PowerLossFileSystem``.
    final class NodeDisk: Sendable {
        static let logDirectory = "/raft/log"
        static let stableDirectory = "/raft/stable"
        static let snapshotsDirectory = "/raft/snapshots"

        let files = PowerLossFileSystem()
        private let opens = Mutex<UInt64>(0)

        /// Opens the node's stores on what the disk holds. Segments of 4 KiB, so a few dozen
        /// writes fill several and compaction has whole ones to drop.
        func openStores() throws -> TestCluster.Stores {
            // Snapshot IDs carry a millisecond clock: a stepping one, so every run names its
            // snapshots alike, moved on at each reopen.
            let generation = opens.withLock { opens in
                opens += 1
                return opens
            }
            let quiet = LogFixtures.quietLogger
            return TestCluster.Stores(
                logStore: try FileLogStore(
                    directory: Self.logDirectory, options: .init(segmentSize: 4096, fileSystem: files, logger: quiet)),
                stableStore: try FileStableStore(directory: Self.stableDirectory, options: .init(fileSystem: files, logger: quiet)),
                snapshotStore: try FileSnapshotStore(
                    directory: "/raft", retain: 2,
                    options: .init(fileSystem: files, logger: quiet, clock: steppingClock(from: generation * 1_000_000)))
            )
        }
    }

    /// How many entries compaction leaves behind a snapshot.
    static let trailingLogs: UInt64 = 10

    /// Snapshots only when the test asks (``Raft/snapshot()``), so every run takes them at the
    /// same points; ``trailingLogs`` behind each, and only 64 entries in memory, so a follower
    /// far behind needs the snapshot.
    static let userSnapshotsOnly: @Sendable (inout Config) -> Void = { config in
        config.snapshotThreshold = 1 << 40
        config.snapshotInterval = .seconds(3000)
        config.trailingLogs = trailingLogs
        config.logCacheCapacity = 64
    }

    /// A strict cut, a process crash, and a seeded cut whose seed varies with the position.
    static func modes(at position: Int) -> [PowerLossFileSystem.LossMode] {
        [.strict, .processCrash, .seeded(UInt64(position) &* 7_919 &+ 1)]
    }

    /// A 200-byte command, so a 4 KiB segment holds about 17.
    static func command(_ name: String) -> [UInt8] {
        let text = Array(name.utf8)
        return text + [UInt8](repeating: UInt8(ascii: "."), count: max(0, 200 - text.count))
    }

    static func recording(_ fsm: any FSM) throws -> RecordingFSM { try #require(fsm as? RecordingFSM) }

    static func lastSnapshotIndex(_ raft: Raft) -> UInt64 { UInt64(raft.stats()["last_snapshot_index"] ?? "") ?? 0 }

    /// Whether every running node has the leader's last index, commit index and applied index.
    static func isConverged(_ cluster: TestCluster) async -> Bool {
        let nodes = await cluster.running
        guard let leader = nodes.first(where: { $0.state == .leader }) else { return false }
        return nodes.allSatisfy {
            $0.lastIndex == leader.lastIndex && $0.commitIndex == leader.commitIndex && $0.appliedIndex == leader.commitIndex
        }
    }

    /// Checks that the power went where it was meant to: the run replayed the uncut one call for
    /// call up to the cut, so the cut hit the call its position was chosen for.
    static func confirmCut(_ cut: Cut, on disk: NodeDisk) {
        #expect(disk.files.isDown, "\(cut.label) never came")
        let made = Array(disk.files.calls.prefix(cut.replaying.count))
        if let differing = made.indices.first(where: { made[$0] != cut.replaying[$0] }) {
            Issue.record("\(cut.label): call \(differing) was \(made[differing]), the uncut run made \(cut.replaying[differing])")
        }
    }

    /// The node's process dies with its power (its handles went with it), the machine comes
    /// back, and the node starts again on stores reopened from what the cut left.
    static func reboot(_ id: ServerID, on disk: NodeDisk, in cluster: TestCluster) async throws {
        await cluster.crash(id)
        disk.files.restart()
        try await cluster.restart(id, with: try disk.openStores())
    }
}
