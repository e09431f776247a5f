// wire-decode-bench: the CPU cost of decoding one NetworkTransport value, without sockets or
// event loops: an AppendEntries request of --entries entries of --payload bytes (64 x 128 B by
// default, transport-bench's batch), a RequestVote request and an AppendEntries response, each
// encoded once as the transport sends it and decoded many times over through the transport's
// decoding path (reached through its `WireDecodingBenchmark` SPI, as the decoders are internal).
// It chose that path: in one binary holding both (commit e80aa69), the msgpack-c object tree
// that the other values used to go through took 1.5x (AppendEntries) to 2x (responses) the time
// of the one-pass reader (results/wire-decode-2026-12-06-both-paths.jsonl and
// -before-after.jsonl, which also has the decoding before and after the switch).
//
// Each run times every message in turn, interleaved, so drift on a shared machine hits them
// alike; the median of --runs runs is reported, with the fastest and slowest. One JSON line
// per message, then a table.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchReporting
@_spi(WireDecodingBenchmark) import RaftNetworkTransport
import SwiftRaft

/// wire-decode-bench's command line.
struct WireDecodeBenchOptions {
    var entries = 64
    var payload = 128
    var runs = 7
    /// Wall-clock seconds each run spends on one message.
    var seconds = 0.3
    var label = ""

    static let usage = """
        usage: wire-decode-bench [--entries 64] [--payload 128] [--runs 7] [--seconds 0.3] [--label TEXT]

        Times the decoding of an AppendEntries request (--entries x --payload bytes), a
        RequestVote request and an AppendEntries response through the transport's decoder,
        --runs times for about --seconds each, interleaved; prints ns per decode (median, min,
        max of the runs) as JSON lines and a table.
        """

    static func parse(_ arguments: [String]) throws(UsageError) -> WireDecodeBenchOptions {
        var options = WireDecodeBenchOptions()
        for (name, value) in try CommandLineFlags.split(arguments) {
            switch name {
            case "entries": options.entries = try CommandLineFlags.integer(value, name, minimum: 1)
            case "payload": options.payload = try CommandLineFlags.integer(value, name, minimum: 0)
            case "runs": options.runs = try CommandLineFlags.integer(value, name, minimum: 1)
            case "seconds": options.seconds = try CommandLineFlags.seconds(value, name)
            case "label": options.label = value
            default: throw UsageError("unknown flag --\(name)")
            }
        }
        return options
    }
}

/// The values timed, built as a hashicorp/raft 1.7 leader and follower send them.
enum SampleMessages {
    static let header = RPCHeader(protocolVersion: 3, id: "node-1", address: "127.0.0.1:7001")
    static let stamp = LogTimestamp(nanosecondsSinceEpoch: 1_765_000_000_123_456_789)

    static func messages(entries: Int, payload: Int) -> [(name: String, message: WireDecodingProbe.Message)] {
        let data = (0..<payload).map { UInt8(truncatingIfNeeded: $0) }
        let batch = (0..<entries).map { Log(index: 1_000_000 + UInt64($0), term: 7, type: .command, data: data, appendedAt: stamp) }
        let append = AppendEntriesRequest(
            header: header, term: 7, leader: "127.0.0.1:7001", prevLogEntry: 999_999, prevLogTerm: 7,
            entries: batch, leaderCommitIndex: 999_990
        )
        let vote = RequestVoteRequest(header: header, term: 8, candidate: "127.0.0.1:7001", lastLogIndex: 1_000_063, lastLogTerm: 7)
        let answer = AppendEntriesResponse(header: header, term: 7, lastLog: 1_000_063, success: true)
        return [
            ("AppendEntries \(entries)x\(payload)B", .appendEntriesRequest(append)),
            ("RequestVote", .requestVoteRequest(vote)),
            ("AppendEntriesResponse", .appendEntriesResponse(answer)),
        ]
    }
}

/// Nanoseconds per decode over `iterations` decodes.
@inline(never)
func time(_ probe: WireDecodingProbe, iterations: Int) throws -> Double {
    var sink = 0
    let start = monotonicNanoseconds()
    for _ in 0..<iterations { sink &+= try probe.decode() }
    let elapsed = monotonicNanoseconds() - start
    if sink == Int.min { print("") }  // keeps `sink` alive
    return Double(elapsed) / Double(iterations)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func run() throws {
    let options: WireDecodeBenchOptions
    do {
        options = try WireDecodeBenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        guard let message = error.message else {
            print(WireDecodeBenchOptions.usage)
            exit(0)
        }
        let text = "wire-decode-bench: \(message)\n(wire-decode-bench --help lists the flags)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    let cases = SampleMessages.messages(entries: options.entries, payload: options.payload).map { (name: $0.name, probe: WireDecodingProbe($0.message)) }

    // Every value must decode back into what was encoded, or its time means nothing; then
    // calibrate the iterations for about --seconds per run.
    var iterations: [Int] = []
    for (name, probe) in cases {
        guard try probe.roundTrips() else {
            print("wire-decode-bench: \(name) does not decode back into itself")
            exit(1)
        }
        var n = 16
        while true {
            let ns = try time(probe, iterations: n)
            if ns * Double(n) > 0.05e9 || n > 1 << 26 {
                iterations.append(max(1, Int(options.seconds * 1e9 / ns)))
                break
            }
            n *= 4
        }
    }

    var samples = [[Double]](repeating: [], count: cases.count)
    for _ in 0..<options.runs {
        for (c, item) in cases.enumerated() {
            samples[c].append(try time(item.probe, iterations: iterations[c]))
        }
    }

    var table: [String] = []
    for (c, item) in cases.enumerated() {
        let values = samples[c]
        let mid = median(values)
        var line = JSONLine()
        line.add("bench", "wire-decode")
        if !options.label.isEmpty { line.add("label", options.label) }
        line.add("message", item.name)
        line.add("value_bytes", item.probe.valueSize)
        line.add("runs", options.runs)
        line.add("iterations_per_run", iterations[c])
        line.add("ns_per_decode_median", (mid * 10).rounded() / 10)
        line.add("ns_per_decode_min", ((values.min() ?? 0) * 10).rounded() / 10)
        line.add("ns_per_decode_max", ((values.max() ?? 0) * 10).rounded() / 10)
        print(line.text)
        table.append("\(item.name) (\(item.probe.valueSize) B): median \(Int(mid.rounded())) ns"
            + " (min \(Int((values.min() ?? 0).rounded())), max \(Int((values.max() ?? 0).rounded())))")
    }
    print(table.joined(separator: "\n"))
}

try run()
