#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchReporting

/// raft-bench's command line, flag for flag the in-memory subset of hraft-bench's.
struct Options {
    var nodes = 3
    var transport = "inmem"
    var store = "inmem"
    /// `thread`: the FSM applies on a thread of its own, as hashicorp/raft's FSM goroutine does;
    /// `inline`: it declares itself a `NonBlockingFSM` and applies on the node's loop.
    var fsm = "thread"
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
    /// `$BENCH_DIR` if set, as for the anchor's hraft-bench.
    var directory = "/tmp/swift-raft-bench"
    var logLevel = "error"
    var label = ""
    /// The FSM snapshot's size beyond its counters: a stand-in for a large state.
    var fsmBytes = 0
    /// hashicorp/raft's snapshot settings (its defaults).
    var snapshotThreshold: UInt64 = 8192
    var snapshotInterval: Duration = .seconds(120)
    var trailingLogs: UInt64 = 10240
    /// `write`: closed-loop `apply` calls; `read`: closed-loop `readIndex` calls on the leader
    /// (linearizable reads that write nothing to the log); `lease-read`: the same with
    /// `Config.leaseReads`; `follower-read`: `readIndex` calls on a follower, which asks the leader.
    var workload = "write"

    static let usage = """
        usage: raft-bench [--nodes 3] [--transport inmem|tcp] [--store inmem|file] [--fsm thread|inline]
                          [--dir DIR] [--payload 128]
                          [--inflight 64] [--duration 10s] [--warmup 2s] [--max-append 64]
                          [--heartbeat 500ms] [--election 500ms] [--leader-lease 250ms]
                          [--commit-timeout 50ms] [--inmem-timeout 10s] [--apply-timeout 10s]
                          [--log-level error] [--label TEXT]
                          [--fsm-bytes 0] [--snapshot-threshold 8192] [--snapshot-interval 120s]
                          [--trailing-logs 10240] [--workload write|read|lease-read|follower-read]

        Starts a cluster of --nodes swift-raft nodes in this process, drives the leader with
        --inflight concurrent closed-loop apply() calls of --payload bytes for --warmup plus
        --duration seconds, and prints one JSON line (hraft-bench's fields) for the measured window.
        Durations take Go units (ns, us, ms, s, m); --duration and --warmup also take bare seconds.
        Flags may be written --flag value or --flag=value. --transport tcp runs the nodes over
        NetworkTransport on 127.0.0.1; --store file keeps each node's log, term and snapshots in
        file stores (fsync on) under a fresh directory in --dir ($BENCH_DIR), removed at the end.
        --fsm inline lets the counting FSM declare itself non-blocking, so it applies on each node's
        loop instead of a thread of its own (the default, as hashicorp/raft's FSM goroutine).
        --fsm-bytes makes each FSM's snapshot that many bytes larger (written in 1 MiB pieces), and
        the snapshot flags set hashicorp/raft's SnapshotThreshold, SnapshotInterval and TrailingLogs:
        with --store file and a small threshold, applies are measured while snapshots are persisted.
        --workload read drives readIndex() instead of apply(): linearizable reads on the leader, which
        append nothing to the log (log_entries_in_window reports it); lease-read turns on
        Config.leaseReads (the leader answers from its lease, no heartbeat round); follower-read calls
        readIndex() on a follower, which asks the leader over the transport.
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        if let directory = getenv("BENCH_DIR") { options.directory = String(cString: directory) }
        for (name, value) in try CommandLineFlags.split(arguments) {
            switch name {
            case "nodes": options.nodes = try CommandLineFlags.integer(value, name, minimum: 1)
            case "transport": options.transport = value
            case "store": options.store = value
            case "fsm": options.fsm = value
            case "payload": options.payload = try CommandLineFlags.integer(value, name, minimum: 0)
            case "inflight": options.inflight = try CommandLineFlags.integer(value, name, minimum: 1)
            case "duration": options.duration = try CommandLineFlags.seconds(value, name)
            case "warmup": options.warmup = try CommandLineFlags.seconds(value, name, allowZero: true)
            case "max-append": options.maxAppend = try CommandLineFlags.integer(value, name, minimum: 1)
            case "heartbeat": options.heartbeat = try CommandLineFlags.duration(value, name)
            case "election": options.election = try CommandLineFlags.duration(value, name)
            case "leader-lease": options.leaderLease = try CommandLineFlags.duration(value, name)
            case "commit-timeout": options.commitTimeout = try CommandLineFlags.duration(value, name)
            case "inmem-timeout": options.inmemTimeout = try CommandLineFlags.duration(value, name)
            case "apply-timeout": options.applyTimeout = try CommandLineFlags.duration(value, name)
            case "dir": options.directory = value
            case "log-level": options.logLevel = value
            case "label": options.label = value
            case "fsm-bytes": options.fsmBytes = try CommandLineFlags.integer(value, name, minimum: 0)
            case "snapshot-threshold": options.snapshotThreshold = UInt64(try CommandLineFlags.integer(value, name, minimum: 1))
            case "snapshot-interval": options.snapshotInterval = try CommandLineFlags.duration(value, name)
            case "trailing-logs": options.trailingLogs = UInt64(try CommandLineFlags.integer(value, name, minimum: 0))
            case "workload": options.workload = value
            default: throw UsageError("unknown flag --\(name)")
            }
        }
        guard ["inmem", "tcp"].contains(options.transport) else {
            throw UsageError("--transport must be inmem or tcp")
        }
        guard ["inmem", "file"].contains(options.store) else {
            throw UsageError("--store must be inmem or file")
        }
        guard ["write", "read", "lease-read", "follower-read"].contains(options.workload) else {
            throw UsageError("--workload must be write, read, lease-read or follower-read")
        }
        guard ["thread", "inline"].contains(options.fsm) else {
            throw UsageError("--fsm must be thread or inline")
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(options.logLevel) else {
            throw UsageError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return options
    }
}
