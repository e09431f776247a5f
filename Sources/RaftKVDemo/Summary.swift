import Foundation
import RaftKVHarness

/// The closing table.
struct Summary {
    let load: LoadDriver
    let clients: Int
    let election: Duration
    let failover: Duration?
    let catchUp: Duration
    let installedSnapshot: Bool
    let restartedID: String

    func print(checks: [(String, Bool)], to output: ProgressLine) {
        let counts = load.counts
        let seconds = load.elapsed.seconds
        let throughput = seconds > 0 ? Int(Double(counts.writesOK + counts.readsOK) / seconds) : 0
        func latency(_ summary: LatencySummary) -> String {
            guard let p50 = summary.p50, let p99 = summary.p99 else { return "–" }
            return "p50 \(Self.ms(p50)), p99 \(Self.ms(p99))"
        }
        let rows: [(String, String)] = [
            ("writes", "\(counts.writesOK) acknowledged (\(counts.writesFailed) refused, \(counts.writesUnknown) outcome unknown)"),
            ("reads", "\(counts.readsOK) linearizable (\(counts.readsFailed) failed)"),
            ("throughput", "\(throughput) ops/s over \(String(format: "%.1f", seconds)) s with \(clients) clients"),
            ("write latency", latency(load.writeLatencies)),
            ("read latency", latency(load.readLatencies)),
            ("election", "\(Self.ms(election)) (SIGKILL of the leader → a new leader agreed on)"),
            ("failover", failover.map { "\(Self.ms($0)) (last acknowledged write before the kill → first after)" } ?? "–"),
            ("catch-up", "\(Self.ms(catchUp)) (\(restartedID) restarted → applied the leader's index), "
                + (installedSnapshot ? "through InstallSnapshot" : "from the log")),
        ] + checks.map { ("check", ($0.1 ? "✔ " : "✘ ") + $0.0) }
        let width = rows.map(\.0.count).max() ?? 0
        output.event("")
        for (name, value) in rows {
            output.event("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        output.event(checks.allSatisfy(\.1) ? "\nAll checks passed." : "\nFAILED: a check did not pass.")
    }

    static func ms(_ duration: Duration) -> String {
        let milliseconds = duration.seconds * 1000
        return milliseconds < 10 ? String(format: "%.1f ms", milliseconds) : "\(Int(milliseconds.rounded())) ms"
    }
}
