import Foundation
import RaftKVClient
import RaftKVHarness

/// One measured run: `clients` closed loops for a warm-up, then a measured window.
struct ClosedLoopRun: Sendable {
    let workload: Workload
    let clients: Int
    let payload: Int
    let warmup: Double
    let duration: Double

    struct Result: Sendable {
        let run: ClosedLoopRun
        let operations: Int
        let errors: Int
        let latencies: [Duration]
        let leaderSyncs: Int?

        func jsonLine(label: String) -> String {
            func microseconds(_ fraction: Double) -> Double {
                guard !latencies.isEmpty else { return 0 }
                let sample = latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))]
                let (seconds, attoseconds) = sample.components
                return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
            }
            var fields: [(String, String)] = [
                ("impl", "\"raftkv\""),
                ("label", "\"\(label)\""),
                ("workload", "\"\(run.workload.rawValue)\""),
                ("clients", "\(run.clients)"),
                ("payload", "\(run.payload)"),
                ("ops_per_s", String(format: "%.1f", Double(operations) / run.duration)),
                ("p50_us", String(format: "%.1f", microseconds(0.5))),
                ("p99_us", String(format: "%.1f", microseconds(0.99))),
                ("ops", "\(operations)"),
                ("errors", "\(errors)"),
                ("duration_s", "\(run.duration)"),
                ("warmup_s", "\(run.warmup)"),
                ("ts", "\"\(ISO8601DateFormatter().string(from: Date()))\""),
            ]
            if let leaderSyncs {
                fields.append(("leader_syncs_in_window", "\(leaderSyncs)"))
                fields.append(("leader_syncs_per_op", String(format: "%.4f", operations > 0 ? Double(leaderSyncs) / Double(operations) : 0)))
            }
            return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
    }

    func measure(on bench: BenchCluster, strace: Bool) async throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let windowStart = start + .milliseconds(Int(warmup * 1000))
        let windowEnd = windowStart + .milliseconds(Int(duration * 1000))
        let port = bench.port(for: workload)
        let workload = workload, payload = payload
        let perClient = try await withThrowingTaskGroup(of: (Int, Int, [Duration]).self) { group in
            for client in 0..<clients {
                group.addTask {
                    let connection = KVClient(host: "127.0.0.1", port: port)
                    let value = Array(repeating: UInt8(ascii: "w"), count: payload)
                    var operations = 0, errors = 0, latencies: [Duration] = []
                    var step = 0
                    while clock.now < windowEnd {
                        step += 1
                        let key = "key\((client * 7 + step) % 100)"
                        let sent = clock.now
                        let ok: Bool
                        do {
                            let answer: KVResponse
                            switch workload {
                            case .write: answer = try await connection.request("PUT", "/kv/\(key)", body: value, timeout: .seconds(5))
                            case .staleRead: answer = try await connection.request("GET", "/kv/\(key)?stale", timeout: .seconds(5))
                            case .read, .leaseRead, .followerRead: answer = try await connection.request("GET", "/kv/\(key)", timeout: .seconds(5))
                            }
                            ok = answer.status == 200
                        } catch {
                            ok = false
                        }
                        let done = clock.now
                        guard sent >= windowStart, done <= windowEnd else { continue }
                        if ok {
                            operations += 1
                            latencies.append(done - sent)
                        } else {
                            errors += 1
                        }
                    }
                    await connection.close()
                    return (operations, errors, latencies)
                }
            }
            // strace attaches during the warm-up and detaches at the window's end.
            var syncs: Int?
            if strace, let pid = bench.leaderPID {
                try await Task.sleep(until: windowStart, clock: clock)
                let tracer = try SyscallCounter(tracing: pid)
                try await Task.sleep(until: windowEnd, clock: clock)
                syncs = try await tracer.finish()
            }
            var all: [(Int, Int, [Duration])] = []
            for try await result in group { all.append(result) }
            return (all, syncs)
        }
        let (results, syncs) = perClient
        return Result(
            run: self,
            operations: results.map(\.0).reduce(0, +),
            errors: results.map(\.1).reduce(0, +),
            latencies: results.flatMap(\.2).sorted(),
            leaderSyncs: syncs
        )
    }
}
