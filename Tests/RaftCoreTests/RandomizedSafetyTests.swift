#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftTestTraits
import Testing

import RaftCore

/// A randomized fault schedule over a ``TestNetwork``: messages are reordered, delayed and lost,
/// links are cut and healed, disks lag, servers crash (sometimes mid-write) and restart, and the
/// leader takes proposals throughout. Everything is drawn from one seed, so a failure reproduces.
struct ChaosRun {
    var net: TestNetwork
    var random: SplitMix64
    let seed: UInt64
    private(set) var proposed = 0

    init(seed: UInt64, voters: Int, recordTrace: Bool = false) {
        self.seed = seed
        random = SplitMix64(seed: seed)
        net = TestNetwork(voters: voters, seed: seed) {
            $0.heartbeatTimeoutTicks = 10
            $0.electionTimeoutTicks = 10
            $0.heartbeatIntervalTicks = 2
            $0.leaderLeaseTicks = 10
            $0.maxAppendEntries = 4
        }
        if recordTrace { net.trace = [] }
        net.dropRate = 0.05
        for id in net.ids { net.holdWrites(id) }
    }

    private mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
    private mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int(random.next() % UInt64(items.count))]
    }

    /// One tick of chaos.
    mutating func step() {
        let ids = net.ids
        let down = ids.filter { !net.node($0).isUp }
        let up = ids.filter { net.node($0).isUp }
        if chance(3) {
            if chance(50) {
                net.heal()
            } else {
                // Split off a random minority or majority.
                let side = ids.filter { _ in chance(40) }
                net.partition([side, ids.filter { !side.contains($0) }])
            }
        }
        if chance(2), down.count < (ids.count - 1) / 2 + 1, let victim = pick(up) {
            net.crash(victim, partialWrite: chance(50), keepTruncation: chance(50))
        }
        if chance(5), let revived = pick(down) { net.restart(revived) }
        for leader in net.leaders where chance(30) {
            proposed += 1
            net.propose(leader, "s\(seed)-\(proposed)")
        }
        for id in up where chance(90) { net.tick([id]) }
        let deliveries = Int(random.next() % 24)
        for _ in 0..<deliveries where !net.queue.isEmpty {
            net.deliver(at: Int(random.next() % UInt64(net.queue.count)))
        }
        for id in ids where net.node(id).isUp && !net.node(id).pendingWrites.isEmpty {
            net.completeWrites(id, count: Int(random.next() % 3))
        }
    }

    /// Ends the chaos: every server up, links healed, disks prompt, messages delivered each tick.
    mutating func settle(ticks: Int) {
        net.heal()
        net.dropRate = 0
        for id in net.ids {
            net.restart(id)
            net.releaseWrites(id)
        }
        for _ in 0..<ticks where net.violations.isEmpty {
            net.run(ticks: 1)
        }
    }
}

/// Raft's safety properties (Figure 3) under randomized faults.
///
/// 200 seeds by default; `RAFT_CORE_CHAOS_SEEDS=20000 swift test --filter RandomizedSafetyTests`
/// for a longer soak (a failure names its seed).
@Suite(.offCooperativePool) struct RandomizedSafetyTests {
    static let seedsPerShard: UInt64 = {
        let requested = getenv("RAFT_CORE_CHAOS_SEEDS").flatMap { Int(String(cString: $0)) } ?? 200
        return UInt64(max(requested, 4) / 4)
    }()

    // Raft Figure 3: Election Safety, Log Matching, Leader Completeness and State Machine Safety hold under any fault schedule,
    // and no AppendEntries lets a hashicorp/raft follower commit what the leader does not hold (TestNetwork's checks).
    // The seeds in 4 shards, each a few hundred ticks of chaos.
    @Test(arguments: 0..<4) func safetyHoldsUnderRandomFaults(shard: UInt64) {
        var runsThatCommitted = 0
        var leadersElected = 0
        let count = Self.seedsPerShard
        for seed in (shard * count + 1)...(shard * count + count) {
            var run = ChaosRun(seed: seed, voters: seed % 2 == 0 ? 3 : 5)
            for _ in 0..<300 { run.step() }
            run.settle(ticks: 60)
            let net = run.net
            #expect(net.violations.isEmpty, "seed \(seed): \(net.violations.prefix(3))")
            #expect(net.logMatchingViolations().isEmpty, "seed \(seed): \(net.logMatchingViolations().prefix(3))")
            // Once the faults stop, the cluster converges: one leader, every server applied the same entries.
            #expect(net.leaders.count == 1, "seed \(seed)")
            let applied = net.node(net.ids[0]).applied
            #expect(net.ids.allSatisfy { net.node($0).applied == applied }, "seed \(seed)")
            if net.committed.values.contains(where: { $0.type == .command }) { runsThatCommitted += 1 }
            leadersElected += net.leaderOfTerm.count
        }
        // The schedule must leave room for progress, or the properties above would hold vacuously.
        #expect(runsThatCommitted > Int(count) * 4 / 5)
        #expect(leadersElected > Int(count) * 2)
    }
}
