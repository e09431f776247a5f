import Foundation
import RaftCore
import RaftKVHarness
import RaftTestKit
import Testing

/// Three raftkv processes, black-box: concurrent HTTP clients write and read while a schedule
/// drawn from a seed kills (SIGKILL) and pauses (SIGSTOP, later SIGCONT) random nodes and
/// leaders, restarting each killed one and letting the cluster heal before the next fault. Then
/// every node runs again, the nodes converge, and the history must be linearizable (reads
/// included), lose no acknowledged write, and end with the same data on every node.
///
/// CI-sized by default (about 35 s of faults, 45 s in all); `RAFT_KV_FAULT_SECONDS` sets the length of the
/// fault phase and `RAFT_KV_FAULT_SEED` the schedule's seed, for long runs:
/// `RAFT_KV_FAULT_SECONDS=600 RAFT_KV_FAULT_SEED=7 swift test --filter RaftKVFaultTests`.
/// Failover times (last acknowledged write before a fault of the leader to the first after) are
/// printed, never asserted.
@Suite(.timeLimit(.minutes(30)), .serialized)
struct RaftKVFaultTests {
    static let seconds = Int(ProcessInfo.processInfo.environment["RAFT_KV_FAULT_SECONDS"] ?? "") ?? 35
    static let seed = UInt64(ProcessInfo.processInfo.environment["RAFT_KV_FAULT_SEED"] ?? "") ?? 1

    // Kills and pauses of random nodes and of leaders, under concurrent clients, leave a
    // linearizable history, every acknowledged write in place, and the same data on every node.
    @Test func historyStaysLinearizableAndDurableThroughKillsAndPausesOfNodesAndLeaders() async throws {
        let seed = Self.seed
        let raftkv = try RaftKVBinary.besideTestBundle()
        let directory = try TemporaryDirectory(prefix: "raftkv-fault")
        let cluster = try RaftKVCluster.start(
            executable: raftkv, nodes: 3, directory: directory.path,
            options: RaftKVCluster.Options(heartbeatTimeout: .milliseconds(500), electionTimeout: .milliseconds(500), logLevel: "info")
        )
        var passed = false
        defer {
            cluster.shutdown()
            if passed { directory.remove() } else { print("raftkv fault test seed \(seed): node logs kept in \(directory.path)") }
        }
        var leader = try await cluster.waitForLeader(within: .seconds(60))

        // A request that times out (a paused node, or a CPU hogged by another job) only makes its
        // outcome unknown; 1 s keeps clients of a paused leader from waiting much longer than an
        // election.
        let load = LoadDriver(
            endpoints: cluster.nodes.map(\.httpAddress),
            options: LoadDriver.Options(clients: 6, keys: 6, readFraction: 0.5, requestTimeout: .seconds(1))
        )
        let loadStarted = ContinuousClock.now
        load.start()
        // The schedule starts once writes flow, so that every failover has a write before it.
        try await waitForAcknowledgedWrite(after: loadStarted, faulted: -1, healed: loadStarted, load: load, seed: seed)
        var random = SplitMix64(seed: seed)
        var failovers: [String: [Duration]] = [:]
        var schedule: [String] = []
        let end = ContinuousClock.now + .seconds(Self.seconds)
        while ContinuousClock.now < end {
            // The schedule's own pacing: quiet time, then a fault that lasts a while.
            try await Task.sleep(for: .milliseconds(500 + Int(random.next() % 1500)))
            let fault = FaultKind.allCases[Int(random.next() % UInt64(FaultKind.allCases.count))]
            let victim = fault.hitsLeader ? leader : Int(random.next() % UInt64(cluster.nodes.count))
            let wasLeader = victim == leader
            let lasting = Duration.milliseconds(500 + Int(random.next() % 2500))
            schedule.append("\(fault) \(cluster.nodes[victim].id)\(wasLeader ? " (leader)" : "") for \(lasting)")
            let struck = ContinuousClock.now
            switch fault {
            case .killNode, .killLeader:
                await cluster.kill(victim)
                try await Task.sleep(for: lasting)
                try cluster.restart(victim)
            case .pauseNode, .pauseLeader:
                cluster.pause(victim)
                try await Task.sleep(for: lasting)
                cluster.resume(victim)
            }
            let healed = ContinuousClock.now
            // Healed: every node runs and agrees on a leader again, and writes go through.
            leader = try await cluster.waitForLeader(within: .seconds(60))
            if wasLeader {
                try await waitForAcknowledgedWrite(after: struck, faulted: victim, healed: healed, load: load, seed: seed)
                if let failover = load.acknowledgedWrites.failover(around: struck, faulted: victim, healed: healed) {
                    failovers[fault.description, default: []].append(failover)
                    schedule[schedule.count - 1] += ", failover \(failover.millisecondsText)"
                }
            }
        }
        await load.stop()

        // (c) Every node runs again; they must converge on the same data (this throws if not).
        let data = try await cluster.waitForConvergence(within: .seconds(120))
        let counts = load.counts
        print(
            "raftkv fault test seed \(seed): \(schedule.count) faults [\(schedule.joined(separator: "; "))]; "
                + "\(counts.writesOK) writes acknowledged, \(counts.writesUnknown) unknown, \(counts.writesFailed) refused; "
                + "\(counts.readsOK) reads; \(load.unexpectedAnswers.count) unexpected answers \(load.unexpectedAnswers)"
        )
        // Clients of a paused leader wait out their 1 s request timeout before trying another
        // node: that is the floor of a SIGSTOP's failover.
        for (kind, durations) in failovers.sorted(by: { $0.key < $1.key }) {
            let sorted = durations.sorted()
            print(
                "raftkv fault test seed \(seed): failover after \(kind) of the leader (\(sorted.count)): "
                    + "median \(sorted[sorted.count / 2].millisecondsText), max \(sorted.last!.millisecondsText)"
            )
        }
        #expect(counts.writesOK > 0, "seed \(seed): no write was acknowledged")

        // (b) Every acknowledged write is still there.
        let lost = DurabilityCheck.lostWrites(in: load.recorder.history, final: data)
        #expect(lost.isEmpty, "seed \(seed): acknowledged writes lost: \(lost)")

        // (a) The history, closed by a read of each key's converged value, is linearizable.
        DurabilityCheck.recordFinalReads(data, keys: (0..<load.options.keys).map { "k\($0)" }, into: load.recorder, client: load.options.clients)
        let verdict = LinearizabilityChecker.check(load.recorder.history)
        if case .undecided = verdict {
            Issue.record("seed \(seed): the linearizability checker gave up, so nothing is known: \(verdict)")
        } else {
            #expect(verdict.isLinearizable, "seed \(seed): \(verdict)")
        }

        passed = lost.isEmpty && verdict.isLinearizable && counts.writesOK > 0
    }

    /// Polls until a write acknowledged after `instant` exists, not counting answers `faulted` gave
    /// before `healed` (the cluster serves writes again). Only a write after the fault is needed:
    /// asking for a failover (a write before it too) made a fault that struck before the first
    /// write wait forever, even with writes flowing.
    private func waitForAcknowledgedWrite(
        after instant: ContinuousClock.Instant, faulted: Int, healed: ContinuousClock.Instant, load: LoadDriver, seed: UInt64
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while load.acknowledgedWrites.firstAfter(instant, faulted: faulted, healed: healed) == nil {
            guard ContinuousClock.now < deadline else {
                throw RaftKVHarnessError(
                    "seed \(seed): no write acknowledged within 60 s; load: \(load.progressLine); "
                        + "requests running over 5 s: \(load.requests(runningLongerThan: .seconds(5)))"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// The faults the schedule draws from.
enum FaultKind: CaseIterable, CustomStringConvertible {
    case killNode, killLeader, pauseNode, pauseLeader

    var hitsLeader: Bool { self == .killLeader || self == .pauseLeader }

    var description: String {
        switch self {
        case .killNode, .killLeader: return "SIGKILL"
        case .pauseNode, .pauseLeader: return "SIGSTOP"
        }
    }
}
