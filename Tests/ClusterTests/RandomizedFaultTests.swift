import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Many seeds of random faults under constant load — partitions, crashes, drops, delays,
/// stalled disks, leadership transfers and (with five nodes) voters leaving and rejoining the
/// configuration — with frequent snapshots, each checked for every safety invariant, for every
/// acknowledged write applied exactly once on every node across restarts and snapshot installs,
/// and for linearizable reads (`readIndex` never answers without the writes acknowledged before it).
///
/// The default seed count suits CI; set `RAFT_SIM_SEEDS` (and optionally `RAFT_SIM_FIRST_SEED`)
/// for longer soaks, e.g. `RAFT_SIM_SEEDS=2000 swift test --filter RandomizedFaultTests`.
/// A failure names its seed; rerun that one seed to replay the identical run.
///
/// Serialized: each seed's simulation keeps a thread of its own busy, and two dozen of them at
/// once would leave the rest of the test run (the TCP tests with their 200 ms deadlines among
/// it) a sliver of the machine's two cores.
@Suite(.serialized) struct RandomizedFaultTests {
    static var seeds: [UInt64] {
        let environment = { (name: String) -> UInt64? in getenv(name).flatMap { UInt64(String(cString: $0)) } }
        let count = environment("RAFT_SIM_SEEDS") ?? 24
        let first = environment("RAFT_SIM_FIRST_SEED") ?? 1000
        return Array(first..<(first + count))
    }

    @Test(arguments: seeds)
    func safetyHoldsUnderRandomFaults(seed: UInt64) async throws {
        let nodes = seed % 2 == 0 ? 3 : 5
        // Odd seeds put a LogCache in front of the log: it is not a NonBlockingStore, so writes
        // take the storage thread's path (queued, merged into group commits) instead of being
        // made inline on the node.
        let stores: @Sendable (ServerID) -> TestCluster.Stores = { _ in
            let store = InmemStore()
            let log: any LogStore = seed % 2 == 0 ? store : try! LogCache(capacity: 128, store: store)
            return TestCluster.Stores(logStore: log, stableStore: store, snapshotStore: InmemSnapshotStore())
        }
        // Small snapshot settings, so snapshots, compaction and InstallSnapshot all happen under
        // the faults: a snapshot every 30 applied entries, 10 entries kept behind it, and only 64
        // in memory, so a follower that falls behind often needs what only a snapshot holds.
        let snapshotOften: @Sendable (inout Config) -> Void = { config in
            config.snapshotThreshold = 30
            config.snapshotInterval = .milliseconds(10)
            config.trailingLogs = 10
            config.logCacheCapacity = 64
            // Stalled disks (odd seeds, whose writes take the storage thread) depose a leader.
            config.maxStorageStall = .milliseconds(200)
        }
        try await TestCluster.run(nodes: nodes, seed: seed, timeLimit: .seconds(600), configure: snapshotOften, makeStores: stores) { cluster in
            let acknowledged = Mutex<[[UInt8]]>([])
            let stop = Mutex(false)
            var random = SplitMix64(seed: seed)

            // Messages always take some virtual time: with a free network and free disks, an
            // eager client would keep the executor busy forever and virtual time would never
            // move on to the next fault.
            cluster.faults.delay = .microseconds(100) ... .milliseconds(1)

            // A client that keeps writing to whoever leads, with a unique command per attempt.
            let client = cluster.spawn {
                var attempt = 0
                while !stop.withLock({ $0 }) {
                    attempt += 1
                    let command = Array("s\(seed)-c\(attempt)".utf8)
                    if let leader = await cluster.leaders.first,
                        (try? await leader.apply(command, timeout: .milliseconds(100))) != nil
                    {
                        acknowledged.withLock { $0.append(command) }
                        try await cluster.sleep(.milliseconds(1))
                    } else {
                        try await cluster.sleep(.milliseconds(10))
                    }
                }
            }

            // A reader that asks whoever leads for a linearizable read: once `readIndex` returns,
            // that node's FSM must hold every write acknowledged before the read began. The one
            // client writes in order, so holding the newest of them is holding them all.
            let staleReads = Mutex<[String]>([])
            let confirmedReads = Mutex(0)
            let reader = cluster.spawn {
                while !stop.withLock({ $0 }) {
                    let newest = acknowledged.withLock { $0.last }
                    if let leader = await cluster.leaders.first,
                        (try? await leader.readIndex(timeout: .milliseconds(100))) != nil,
                        // A node restarted since has a new FSM, which proves nothing.
                        (try? await cluster.raft(leader.config.localID)) === leader
                    {
                        confirmedReads.withLock { $0 += 1 }
                        let fsm = try #require(await cluster.fsm(leader.config.localID) as? RecordingFSM)
                        if let newest, !fsm.commands.reversed().contains(newest) {
                            let command = String(decoding: newest, as: UTF8.self)
                            staleReads.withLock { $0.append("\(leader.config.localID) read without \(command)") }
                        }
                    }
                    try await cluster.sleep(.milliseconds(7))
                }
            }

            var crashed: Set<ServerID> = []
            // A voter taken out of the configuration (five-node clusters only), to be added back.
            var removed: ServerID?
            for _ in 0..<40 {
                try await cluster.sleep(.milliseconds(Int64.random(in: 50...400, using: &random)))
                switch Int.random(in: 0..<10, using: &random) {
                case 0:
                    let shuffled = cluster.ids.shuffled(using: &random)
                    let cut = Int.random(in: 1..<nodes, using: &random)
                    await cluster.partition([Array(shuffled[..<cut]), Array(shuffled[cut...])])
                case 1:
                    await cluster.isolate(cluster.ids.randomElement(using: &random)!)
                case 2, 3:
                    await cluster.heal()
                case 4:
                    // Keep a majority running so the cluster can make progress.
                    if crashed.count < (nodes - 1) / 2, let victim = cluster.ids.filter({ !crashed.contains($0) }).randomElement(using: &random) {
                        crashed.insert(victim)
                        await cluster.crash(victim)
                    }
                case 5:
                    if let revived = crashed.randomElement(using: &random) {
                        crashed.remove(revived)
                        try await cluster.restart(revived)
                    }
                case 7:
                    // A leadership transfer, to whoever is most up to date; it may well fail.
                    if let leader = await cluster.leaders.first {
                        cluster.spawn { try? await leader.leadershipTransfer() }
                    }
                case 8:
                    // A membership change: a follower leaves the configuration, or comes back.
                    guard nodes == 5, let leader = await cluster.leaders.first else { break }
                    if let back = removed {
                        // Straight back as a voter, or staged until it has caught up.
                        if Bool.random(using: &random) {
                            cluster.spawn { _ = try? await leader.addVoter(id: back, address: ServerAddress(back.rawValue), timeout: .milliseconds(100)) }
                        } else {
                            cluster.spawn {
                                _ = try? await leader.addVoterWhenCaughtUp(id: back, address: ServerAddress(back.rawValue), timeout: .milliseconds(300))
                            }
                        }
                        removed = nil
                    } else if let victim = cluster.ids.filter({ $0 != leader.config.localID && !crashed.contains($0) }).randomElement(using: &random) {
                        cluster.spawn { _ = try? await leader.removeServer(id: victim, timeout: .milliseconds(100)) }
                        removed = victim
                    }
                case 9:
                    // A disk that stops finishing writes for a while (a leader's steps it down).
                    guard let victim = cluster.ids.filter({ !crashed.contains($0) }).randomElement(using: &random) else { break }
                    let stall = Duration.milliseconds(Int64.random(in: 50...600, using: &random))
                    cluster.stallStorage(of: victim)
                    cluster.spawn {
                        try await cluster.sleep(stall)
                        cluster.resumeStorage(of: victim)
                    }
                default:
                    cluster.faults.dropProbability = Double.random(in: 0...0.2, using: &random)
                    let maxDelay = Int64.random(in: 1...5, using: &random)
                    cluster.faults.delay = .microseconds(100) ... .milliseconds(maxDelay)
                }
            }

            // Repair everything, let the cluster settle, and check.
            stop.withLock { $0 = true }
            _ = try? await client.value
            try await reader.value
            #expect(staleReads.withLock { $0 }.isEmpty, "stale reads (seed \(seed)): \(staleReads.withLock { $0 })")
            #expect(confirmedReads.withLock { $0 } > 0, "no read was ever confirmed (seed \(seed))")
            await cluster.heal()
            cluster.faults.dropProbability = 0
            for id in cluster.ids { cluster.resumeStorage(of: id) }
            for id in crashed { try await cluster.restart(id) }
            // After the repair leadership may still change once (a node left at a higher term by
            // an interrupted election deposes the leader it rejoins), so retry on the new leader.
            var settled = false
            for _ in 0..<5 where !settled {
                let leader = try await cluster.waitForLeader(timeout: .seconds(60))
                do {
                    try await leader.barrier(timeout: .seconds(10))
                    settled = true
                } catch let error as RaftError
                    where error.code == .leadershipLost || error.code == .notLeader || error.code == .leadershipTransferInProgress
                {
                    cluster.trace.note("barrier on \(leader.config.localID) failed (\(error.code)); retrying")
                    // A transfer under way ends within an election timeout either way.
                    try await cluster.sleep(.milliseconds(100))
                }
            }
            #expect(settled, "no leader held on long enough for a barrier (seed \(seed))")
            // Every server a voter again (a removal or re-adding may have failed or be pending).
            for _ in 0..<10 {
                let leader = try await cluster.waitForLeader(timeout: .seconds(60))
                let voters = Set(leader.getConfiguration().configuration.voters.map(\.id))
                guard let missing = cluster.ids.first(where: { !voters.contains($0) }) else { break }
                do {
                    try await leader.addVoter(id: missing, address: ServerAddress(missing.rawValue), timeout: .seconds(5))
                } catch {
                    cluster.trace.note("re-adding \(missing) on \(leader.config.localID) failed: \(error)")
                    try await cluster.sleep(.milliseconds(100))
                }
            }
            // A barrier on the leader the repair ended with (a transfer may still move it once).
            for attempt in 1...5 {
                do {
                    try await cluster.waitForLeader(timeout: .seconds(60)).barrier(timeout: .seconds(10))
                    break
                } catch let error as RaftError where attempt < 5 {
                    cluster.trace.note("final barrier failed (\(error.code)); retrying")
                    try await cluster.sleep(.milliseconds(100))
                }
            }
            try await cluster.waitForConvergence(timeout: .seconds(60))
            try await cluster.checkInvariants()

            let snapshots = await cluster.running.map { UInt64($0.stats()["last_snapshot_index"] ?? "") ?? 0 }
            #expect(snapshots.allSatisfy { $0 > 0 }, "a node took no snapshot (seed \(seed))")
            let written = acknowledged.withLock { $0 }
            #expect(!written.isEmpty, "the cluster never committed anything (seed \(seed))")
            for id in cluster.ids {
                let applied = try #require(await cluster.fsm(id) as? RecordingFSM).commands
                #expect(Set(applied).count == applied.count, "\(id) applied a command twice (seed \(seed))")
                let appliedSet = Set(applied)
                let missing = written.filter { !appliedSet.contains($0) }
                #expect(missing.isEmpty, "\(id) lacks \(missing.count) acknowledged writes (seed \(seed))")
            }
        }
    }
}
