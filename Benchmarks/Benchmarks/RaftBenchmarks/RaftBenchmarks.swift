// swift-raft's ordo-one/benchmark suite.
//
//   Cluster/*  a 3-node cluster in this process: in-memory transport and stores, real time,
//              RaftEnvironment.live, a counter FSM; proposals through the leader's apply()
//   Core/*     the pure protocol (RaftCore's RaftInstance) with no I/O, clock or tasks
//
// Every benchmark but the 1-in-flight one commits 1,000 proposals of 128 bytes per iteration
// (scaling factor kilo). `swift package benchmark` shows per-proposal values (wall clock and
// mallocs per proposal, rounded to integers; throughput in proposals per second), and
// `swift package benchmark --scale` shows the unrounded values per iteration of 1,000.

import Benchmark
import RaftBenchSupport
import RaftCore
import Synchronization
import SwiftRaft

/// The payload of every proposal: 128 bytes, as in the anchor's hraft-bench.
let payload: [UInt8] = (0..<128).map { UInt8(ascii: "a") + UInt8($0 % 26) }

/// Proposals committed per iteration of the batch benchmarks.
let proposalsPerIteration = 1000

/// The cluster a benchmark runs against, created in its setup and shut down in its teardown.
final class ClusterHolder: Sendable {
    private let cluster = Mutex<BenchCluster?>(nil)

    /// Starts a 3-node cluster with the anchor's (hraft-bench's) timing and returns its leader.
    func start() async throws -> Raft {
        let cluster = try await BenchCluster(size: 3, transportTimeout: .seconds(10)) { config in
            config.heartbeatTimeout = .milliseconds(500)
            config.electionTimeout = .milliseconds(500)
            config.leaderLeaseTimeout = .milliseconds(250)
            config.commitTimeout = .milliseconds(50)
            config.maxAppendEntries = 64
            config.rpcTimeout = .seconds(10)
            config.logger.logLevel = .error
        }
        self.cluster.withLock { $0 = cluster }
        guard let leader = await cluster.waitForLeader(timeout: .seconds(10)) else {
            throw RaftError(.timeout, "no leader elected within 10s")
        }
        try await leader.raft.barrier(timeout: .seconds(5))
        return leader.raft
    }

    func stop() async {
        let cluster = self.cluster.withLock { cluster in
            defer { cluster = nil }
            return cluster
        }
        await cluster?.shutdown()
    }
}

/// Commits `count` proposals through `leader` with `inflight` closed-loop callers.
func commit(_ count: Int, inflight: Int, through leader: Raft) async throws {
    try await withThrowingDiscardingTaskGroup { group in
        for worker in 0..<inflight {
            let share = count / inflight + (worker < count % inflight ? 1 : 0)
            group.addTask {
                for _ in 0..<share { _ = try await leader.apply(payload, timeout: .seconds(10)) }
            }
        }
    }
}

/// `count` proposals split into batches of at most `batch`.
func proposalBatches(count: Int, batch: Int) -> [[Proposal]] {
    stride(from: 0, to: count, by: batch).map { start in
        Array(repeating: Proposal(data: payload), count: min(batch, count - start))
    }
}

let benchmarks: @Sendable () -> Void = {
    // CPU time is left out: the harness samples it per iteration at the scheduler tick's
    // resolution (10 ms), too coarse here; raft-bench reports it over its whole window instead.
    let clusterMetrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

    // MARK: Cluster

    let clusterK64 = ClusterHolder()
    Benchmark(
        "Cluster/commit 1000 proposals, 64 in flight",
        configuration: .init(
            metrics: clusterMetrics,
            warmupIterations: 3,
            scalingFactor: .kilo,
            maxDuration: .seconds(5),
            maxIterations: 500
        )
    ) { (benchmark: Benchmark, leader: Raft) in
        do {
            try await commit(proposalsPerIteration, inflight: 64, through: leader)
        } catch {
            benchmark.error("commit failed: \(error)")
        }
    } setup: {
        try await clusterK64.start()
    } teardown: {
        await clusterK64.stop()
    }

    let clusterK1 = ClusterHolder()
    Benchmark(
        "Cluster/commit 1 proposal, 1 in flight",
        configuration: .init(
            metrics: clusterMetrics,
            warmupIterations: 100,
            scalingFactor: .one,
            maxDuration: .seconds(3),
            maxIterations: 20_000
        )
    ) { (benchmark: Benchmark, leader: Raft) in
        do {
            _ = try await leader.apply(payload, timeout: .seconds(10))
        } catch {
            benchmark.error("apply failed: \(error)")
        }
    } setup: {
        try await clusterK1.start()
    } teardown: {
        await clusterK1.stop()
    }

    // MARK: Core

    let coreMetrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]
    let batches = proposalBatches(count: proposalsPerIteration, batch: 64)

    Benchmark(
        "Core/3-node commit of 1000 proposals in batches of 64",
        configuration: .init(metrics: coreMetrics, warmupIterations: 3, scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { (benchmark: Benchmark, box: CoreClusterBox) in
        for batch in batches { box.cluster.commit(batch) }
        blackHole(box.cluster.handedOut)
    } setup: {
        let box = CoreClusterBox()
        box.cluster.electFirstNode()
        return box
    }

    Benchmark(
        "Core/leader propose+takeReady of 1000 proposals in batches of 64",
        configuration: .init(metrics: coreMetrics, warmupIterations: 3, scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { (benchmark: Benchmark, box: CoreLeaderBox) in
        for batch in batches { box.leader.commit(batch) }
        blackHole(box.leader.handedOut)
    } setup: {
        CoreLeaderBox()
    }
}

/// Mutable state carried from one iteration to the next (the benchmark closures are called once
/// per iteration).
final class CoreClusterBox {
    var cluster = CoreCluster()
}

/// Mutable state carried from one iteration to the next.
final class CoreLeaderBox {
    var leader = CoreLeader()
}
