import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// Measures leader failover — kill -9 of the leader to a new leader known — in clusters of
/// hashicorp/raft 1.1.2 processes, swift-raft nodes, and mixes of both, with the same timeouts
/// (500 ms heartbeat and election timeouts and lease), and how many terms each failover took (1
/// is the least possible).
///
/// A measurement, not a check: it asserts nothing about time and runs only when asked,
/// `RAFT_FAILOVER_SAMPLES=20 swift test --filter MixedClusterFailoverMeasurements`, printing the
/// median and maximum per kind of survivors (Docs/interoperability.md quotes a run).
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .enabled(if: failoverSamples > 0, "set RAFT_FAILOVER_SAMPLES to measure failovers"),
    .timeLimit(.minutes(60)),
    .serialized
)
struct MixedClusterFailoverMeasurements {
    @Test(arguments: [(3, 0), (0, 3), (1, 2), (2, 1)])
    func failoverTimesByWhoSurvives(goNodes: Int, swiftNodes: Int) async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        // 500 ms timeouts and lease on every node, as Docs/interoperability.md's table was measured.
        let cluster = try await MixedCluster.start(
            goNodes: goNodes, swiftNodes: swiftNodes, timeout: .milliseconds(500), directory: directory.path
        )
        defer { cluster.killAll() }
        var results: [String: [(seconds: Double, terms: UInt64)]] = [:]
        for sample in 0..<failoverSamples {
            let leader = try await cluster.waitForLeader()
            _ = try await cluster.write(10, prefix: "s\(sample)", via: leader)
            try await cluster.waitForEqualCounts()
            let term = try await cluster.term(of: leader)
            let survivors = cluster.indices.filter { $0 != leader }.map(cluster.kind(of:)).sorted().joined(separator: "+")
            let killed = ContinuousClock.now
            try await cluster.kill(leader)
            let next = try await cluster.waitForLeader()
            let seconds = (ContinuousClock.now - killed).seconds
            let terms = try await cluster.term(of: next) - term
            results["\(survivors) survive", default: []].append((seconds, terms))
            try await cluster.restart(leader)
            try await cluster.waitForEqualCounts()
        }
        for (survivors, samples) in results.sorted(by: { $0.key < $1.key }) {
            let times = samples.map(\.seconds).sorted()
            let terms = samples.map(\.terms)
            print(
                "failover \(cluster.description), \(survivors): n=\(times.count) median \(String(format: "%.2f", times[times.count / 2])) s, "
                    + "max \(String(format: "%.2f", times.last!)) s, terms median \(terms.sorted()[terms.count / 2]) max \(terms.max()!)"
            )
        }
        await cluster.stopAll()
    }
}

/// How many failovers to measure per cluster (0: the suite does not run).
private let failoverSamples = Int(environmentNumber("RAFT_FAILOVER_SAMPLES") ?? 0)

extension MixedCluster {
    /// Waits until every running node applied as many commands as the most advanced one.
    func waitForEqualCounts(timeout: Duration = .seconds(60)) async throws {
        try await withDeadline(timeout, "equal applied counts") {
            while true {
                var counts: [Int] = []
                for index in self.indices where self.isRunning(index) { counts.append(try await self.appliedCount(of: index)) }
                if Set(counts).count == 1 { return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}
