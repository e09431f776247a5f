#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// raft-bench's command line, flag for flag the in-memory subset of hraft-bench's.
struct Options {
    var nodes = 3
    var transport = "inmem"
    var store = "inmem"
    var payload = 128
    var inflight = 64
    /// Measured seconds.
    var duration = 10.0
    /// Warm-up seconds: load on, not measured.
    var warmup = 2.0
    var maxAppend = 64
    var heartbeat: Duration = .milliseconds(500)
    var election: Duration = .milliseconds(500)
    var leaderLease: Duration = .milliseconds(250)
    var commitTimeout: Duration = .milliseconds(50)
    /// The in-memory transport's RPC timeout, also used as the node's RPC timeout (hraft-bench's
    /// `--inmem-timeout`, 10 s).
    var inmemTimeout: Duration = .seconds(10)
    /// How long one `apply` may wait for room to enqueue (hraft-bench passes 10 s to `Apply`).
    var applyTimeout: Duration = .seconds(10)
    /// Where `--store file` keeps each run's stores (a fresh subdirectory, removed afterwards);
    /// `$BENCH_DIR` as in shared/anchors/hashicorp-bench.
    var directory = "/tmp/swift-raft-bench"
    var logLevel = "error"
    var label = ""

    static let usage = """
        usage: raft-bench [--nodes 3] [--transport inmem|tcp] [--store inmem|file] [--dir DIR] [--payload 128]
                          [--inflight 64] [--duration 10s] [--warmup 2s] [--max-append 64]
                          [--heartbeat 500ms] [--election 500ms] [--leader-lease 250ms]
                          [--commit-timeout 50ms] [--inmem-timeout 10s] [--apply-timeout 10s]
                          [--log-level error] [--label TEXT]

        Starts a cluster of --nodes swift-raft nodes in this process, drives the leader with
        --inflight concurrent closed-loop apply() calls of --payload bytes for --warmup plus
        --duration seconds, and prints one JSON line (hraft-bench's fields) for the measured window.
        Durations take Go units (ns, us, ms, s, m); --duration and --warmup also take bare seconds.
        Flags may be written --flag value or --flag=value. --transport tcp runs the nodes over
        NetworkTransport on 127.0.0.1; --store file keeps each node's log, term and snapshots in
        file stores (fsync on) under a fresh directory in --dir ($BENCH_DIR), removed at the end.
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        if let directory = getenv("BENCH_DIR") { options.directory = String(cString: directory) }
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "-h" || argument == "--help" || argument == "-help" { throw UsageError(nil) }
            guard argument.hasPrefix("-") else { throw UsageError("unexpected argument \(argument)") }
            var name = String(argument.drop(while: { $0 == "-" }))
            var value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard let next = remaining.popFirst() else { throw UsageError("flag --\(name) needs a value") }
                value = next
            }
            switch name {
            case "nodes": options.nodes = try integer(value, name, minimum: 1)
            case "transport": options.transport = value
            case "store": options.store = value
            case "payload": options.payload = try integer(value, name, minimum: 0)
            case "inflight": options.inflight = try integer(value, name, minimum: 1)
            case "duration": options.duration = try seconds(value, name)
            case "warmup": options.warmup = try seconds(value, name, allowZero: true)
            case "max-append": options.maxAppend = try integer(value, name, minimum: 1)
            case "heartbeat": options.heartbeat = try duration(value, name)
            case "election": options.election = try duration(value, name)
            case "leader-lease": options.leaderLease = try duration(value, name)
            case "commit-timeout": options.commitTimeout = try duration(value, name)
            case "inmem-timeout": options.inmemTimeout = try duration(value, name)
            case "apply-timeout": options.applyTimeout = try duration(value, name)
            case "dir": options.directory = value
            case "log-level": options.logLevel = value
            case "label": options.label = value
            default: throw UsageError("unknown flag --\(name)")
            }
        }
        guard ["inmem", "tcp"].contains(options.transport) else {
            throw UsageError("--transport must be inmem or tcp")
        }
        guard ["inmem", "file"].contains(options.store) else {
            throw UsageError("--store must be inmem or file")
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(options.logLevel) else {
            throw UsageError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return options
    }

    private static func integer(_ text: String, _ name: String, minimum: Int) throws(UsageError) -> Int {
        guard let value = Int(text), value >= minimum else {
            throw UsageError("--\(name) needs an integer of at least \(minimum), got \(text)")
        }
        return value
    }

    /// Bare seconds ("10", "2.5") or a Go duration ("10s", "1500ms").
    private static func seconds(_ text: String, _ name: String, allowZero: Bool = false) throws(UsageError) -> Double {
        let value: Double
        if let bare = Double(text) {
            value = bare
        } else {
            value = try duration(text, name).seconds
        }
        guard value > 0 || (allowZero && value == 0), value.isFinite else {
            throw UsageError("--\(name) must be \(allowZero ? "zero or more" : "positive"), got \(text)")
        }
        return value
    }

    /// A Go-style duration: one or more number+unit pairs ("500ms", "1m30s", "1.5s").
    private static func duration(_ text: String, _ name: String) throws(UsageError) -> Duration {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(text)
        var nanoseconds = 0.0
        guard !rest.isEmpty else { throw UsageError("--\(name) needs a duration such as 500ms, got an empty value") }
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isNumber || $0 == "." })
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix(while: { !($0.isNumber || $0 == ".") })
            rest = rest.dropFirst(unitText.count)
            guard let amount = Double(number),
                let unit = units.first(where: { $0.0 == unitText })
            else {
                throw UsageError("--\(name) needs a duration such as 500ms or 1.5s, got \(text)")
            }
            nanoseconds += amount * unit.1
        }
        guard nanoseconds > 0, nanoseconds.isFinite else { throw UsageError("--\(name) must be positive, got \(text)") }
        return .nanoseconds(Int64(nanoseconds.rounded()))
    }
}

/// A command-line mistake; a nil message asks for the usage text alone.
struct UsageError: Error {
    var message: String?
    init(_ message: String?) { self.message = message }
}

extension Duration {
    /// This duration in seconds.
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }

    /// This duration in milliseconds.
    var milliseconds: Double { seconds * 1e3 }
}
