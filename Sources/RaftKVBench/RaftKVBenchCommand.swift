import ArgumentParser
import Foundation
import RaftKVClient
import RaftKVHarness

/// `raftkv-bench`: closed-loop HTTP load on a 3-process raftkv cluster on loopback (file stores,
/// fsync on), one JSON line per workload and client count.
@main
struct RaftKVBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftkv-bench",
        abstract: "Measures raftkv over HTTP: 3 processes on loopback, file stores, closed-loop clients.",
        discussion: """
            Workloads: write (PUT on the leader), read (linearizable GET on the leader: ReadIndex),
            lease-read (the same on a cluster started with --lease-reads), follower-read (linearizable
            GET on a follower, which asks the leader), stale-read (GET ?stale on a follower). Each client
            has its own keep-alive connection and waits for each answer before sending the next. Prints
            one JSON line per workload and client count; with --strace, the leader's fsync and fdatasync
            calls during each measured window (strace -f -c) are counted too.
            """
    )

    @Option(help: "The raftkv executable.")
    var raftkv: String

    @Option(help: "Comma-separated client counts.")
    var clients: String = "1,16,64"

    @Option(help: "Comma-separated workloads: write, read, lease-read, follower-read, stale-read.")
    var workloads: String = "write,read,lease-read,follower-read,stale-read"

    @Option(help: "Measured seconds per run.")
    var duration: Double = 5

    @Option(help: "Seconds of load before each measured window.")
    var warmup: Double = 1

    @Option(help: "Value bytes per write.")
    var payload: Int = 128

    @Option(help: "Where the clusters' directories go.")
    var directory: String = NSTemporaryDirectory()

    @Option(help: "Copied to every JSON line.")
    var label: String = ""

    @Flag(help: "Count the leader's fsync/fdatasync calls in each window with strace.")
    var strace = false

    func validate() throws {
        guard FileManager.default.isExecutableFile(atPath: raftkv) else { throw ValidationError("--raftkv \(raftkv) is not an executable") }
        guard duration > 0, warmup >= 0 else { throw ValidationError("--duration must be positive and --warmup not negative") }
        guard !clientCounts.isEmpty, clientCounts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--clients must list positive counts") }
        let unknown = workloadList.filter { !Workload.allCases.map(\.rawValue).contains($0) }
        guard unknown.isEmpty else { throw ValidationError("unknown workloads: \(unknown.joined(separator: ", "))") }
    }

    var clientCounts: [Int] { clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    var workloadList: [String] { workloads.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() async throws {
        let chosen = Workload.allCases.filter { workloadList.contains($0.rawValue) }
        // Lease reads need a cluster started with --lease-reads; the others share one without.
        for leases in [false, true] {
            let group = chosen.filter { ($0 == .leaseRead) == leases }
            guard !group.isEmpty else { continue }
            let bench = try await BenchCluster(raftkv: raftkv, leaseReads: leases, in: directory)
            defer { bench.shutdown() }
            try await bench.preload(keys: 100, payload: payload)
            for workload in group {
                for count in clientCounts {
                    let run = ClosedLoopRun(workload: workload, clients: count, payload: payload, warmup: warmup, duration: duration)
                    let result = try await run.measure(on: bench, strace: strace)
                    print(result.jsonLine(label: label))
                }
            }
        }
    }
}
