// raft-bench: swift-raft's counterpart of the hashicorp/raft anchor Benchmarks/anchor/hraft-bench.
//
// Starts an N-node swift-raft cluster inside this process (in-memory or TCP transport, in-memory
// or file stores, real time), drives the leader with K concurrent closed-loop apply() callers for
// a warm-up plus a measured window, and prints ONE JSON line with hraft-bench's field names: ops/s, apply latency
// percentiles, and this process's CPU use during the window.
//
// Counted, as in hraft-bench: apply() calls that completed (committed and applied to the
// leader's FSM) inside the measured window; latency = call to return.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchReporting
import Logging
import RaftBenchSupport
import Synchronization
import SwiftRaft

/// What the closed-loop workers share with the main task.
final class LoadState: Sendable {
    let stop = Atomic<Bool>(false)
    let errors = Atomic<Int>(0)
    let errorsInWindow = Atomic<Int>(0)
    let firstError = Mutex<(message: String, at: UInt64)?>(nil)

    func recordError(_ error: any Error, at time: UInt64, window: Range<UInt64>) {
        errors.add(1, ordering: .relaxed)
        if window.contains(time) { errorsInWindow.add(1, ordering: .relaxed) }
        firstError.withLock { first in
            if first == nil { first = ("\(error)", time) }
        }
    }
}

/// One closed-loop caller: apply, wait, repeat until told to stop. Returns the latencies (ns) of
/// the calls that completed inside `window`.
func closedLoop(
    leader: Raft,
    payload: [UInt8],
    timeout: Duration,
    reads: Bool,
    window: Range<UInt64>,
    state: LoadState
) async -> [UInt64] {
    var latencies: [UInt64] = []
    latencies.reserveCapacity(4096)
    while !state.stop.load(ordering: .relaxed) {
        let start = monotonicNanoseconds()
        do {
            if reads {
                _ = try await leader.readIndex(timeout: timeout)
            } else {
                _ = try await leader.apply(payload, timeout: timeout)
            }
            let end = monotonicNanoseconds()
            if window.contains(end) { latencies.append(end - start) }
        } catch {
            state.recordError(error, at: monotonicNanoseconds(), window: window)
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
    return latencies
}

/// Exits the process after `seconds` unless `done` is set by then: a wedged drain or shutdown
/// must not hang a benchmark script.
func watchdog(seconds: Double, done: Flag, message: String, exitCode: Int32) -> Task<Void, Never> {
    Task.detached {
        try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        if !done.isSet {
            writeStandardError("raft-bench: \(message)\n")
            exit(exitCode)
        }
    }
}

/// A one-shot flag a watchdog can read.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .relaxed) }

    func set() { value.store(true, ordering: .relaxed) }
}

/// Writes `text` to standard error, unbuffered.
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func run(_ options: Options) async -> Int32 {
    var json = JSONLine()
    json.add("impl", "swift-raft")
    if !options.label.isEmpty { json.add("label", options.label) }
    json.add("transport", options.transport)
    json.add("store", options.store)
    json.add("fsm", options.fsm)
    json.add("nodes", options.nodes)
    json.add("payload", options.payload)
    json.add("inflight", options.inflight)

    func fail(_ message: String) -> Int32 {
        json.add("duration_s", options.duration)
        json.add("warmup_s", options.warmup)
        json.add("swift_version", swiftVersion)
        json.add("ts", utcTimestamp())
        json.add("error", message)
        print(json.text)
        return 1
    }

    let level = Logger.Level(rawValue: options.logLevel) ?? .error
    let built = monotonicNanoseconds()
    let cluster: BenchCluster
    do {
        let store: BenchCluster.StoreKind
        if options.store == "file" {
            store = .file(directory: "\(options.directory)/raft-bench-\(getpid())")
        } else {
            store = .inmem
        }
        cluster = try await BenchCluster(
            size: options.nodes,
            transport: options.transport == "tcp" ? .tcp : .inmem,
            store: store,
            inlineFSM: options.fsm == "inline",
            fsmStateBytes: options.fsmBytes,
            transportTimeout: options.inmemTimeout
        ) { config in
            config.snapshotThreshold = options.snapshotThreshold
            config.snapshotInterval = options.snapshotInterval
            config.trailingLogs = options.trailingLogs
            config.heartbeatTimeout = options.heartbeat
            config.electionTimeout = options.election
            config.leaderLeaseTimeout = options.leaderLease
            config.commitTimeout = options.commitTimeout
            config.maxAppendEntries = options.maxAppend
            config.rpcTimeout = options.inmemTimeout
            config.logger.logLevel = level
            config.leaseReads = options.workload == "lease-read"
        }
    } catch {
        return fail("building the cluster: \(error)")
    }
    guard let leader = await cluster.waitForLeader(timeout: .seconds(10)) else {
        await cluster.shutdown()
        return fail("no leader within 10s")
    }
    let firstElectionMs = Double(monotonicNanoseconds() - built) / 1e6
    do {
        // The leader's no-op and the configuration are committed before the load starts.
        try await leader.raft.barrier(timeout: .seconds(5))
    } catch {
        await cluster.shutdown()
        return fail("barrier: \(error)")
    }

    let payload = (0..<options.payload).map { UInt8(ascii: "a") + UInt8($0 % 26) }
    let start = monotonicNanoseconds()
    let windowStart = start + UInt64(options.warmup * 1e9)
    let windowEnd = windowStart + UInt64(options.duration * 1e9)
    let window = windowStart..<windowEnd
    let state = LoadState()
    let raft = leader.raft
    let timeout = options.applyTimeout
    let inflight = options.inflight
    let reads = options.workload != "write"
    // Follower reads go to a follower, which asks the leader for each batch's read index.
    let target = options.workload == "follower-read" ? cluster.nodes.first { $0.id != leader.id }?.raft ?? raft : raft

    async let perWorker: [[UInt64]] = withTaskGroup(of: [UInt64].self) { group in
        for _ in 0..<inflight {
            group.addTask { await closedLoop(leader: target, payload: payload, timeout: timeout, reads: reads, window: window, state: state) }
        }
        var all: [[UInt64]] = []
        for await latencies in group { all.append(latencies) }
        return all
    }

    await sleep(until: windowStart)
    let cpuBefore = CPUSample.take()
    let lastIndexBefore = raft.lastIndex
    await sleep(until: windowEnd)
    let cpuAfter = CPUSample.take()
    let lastIndexAfter = raft.lastIndex
    let leaderAtWindowEnd = raft.state == .leader
    state.stop.store(true, ordering: .relaxed)

    let drained = Flag()
    let drainWatch = watchdog(
        seconds: 20,
        done: drained,
        message: "the load did not drain within 20s after the window; exiting",
        exitCode: 1
    )
    var latencies = await perWorker.flatMap { $0 }
    drained.set()
    drainWatch.cancel()
    latencies.sort()

    let usage = CPUUsage(from: cpuBefore, to: cpuAfter)
    let ops = latencies.count
    let opsPerSecond = Double(ops) / options.duration
    let sum = latencies.reduce(0.0) { $0 + Double($1) }
    let cpuSeconds = usage.userSeconds + usage.systemSeconds
    let leaderApplied = leader.fsm.applied
    let lag = cluster.nodes.map { leaderApplied > $0.fsm.applied ? leaderApplied - $0.fsm.applied : 0 }.max() ?? 0

    json.add("ops_per_s", round1(opsPerSecond))
    json.add("mb_per_s", round3(opsPerSecond * Double(options.payload) / 1e6))
    json.add("p50_us", round1(percentile(latencies, 0.50)))
    json.add("p99_us", round1(percentile(latencies, 0.99)))
    json.add("p999_us", round1(percentile(latencies, 0.999)))
    json.add("mean_us", round1(ops > 0 ? sum / Double(ops) / 1e3 : 0))
    json.add("max_us", round1(Double(latencies.last ?? 0) / 1e3))
    json.add("ops", ops)
    json.add("workload", options.workload)
    json.add("log_entries_in_window", Int(lastIndexAfter - lastIndexBefore))
    json.add("errors", state.errors.load(ordering: .relaxed))
    json.add("duration_s", options.duration)
    json.add("warmup_s", options.warmup)
    json.add("max_append_entries", options.maxAppend)
    json.add("heartbeat_timeout_ms", options.heartbeat.milliseconds)
    json.add("election_timeout_ms", options.election.milliseconds)
    json.add("leader_lease_timeout_ms", options.leaderLease.milliseconds)
    json.add("commit_timeout_ms", options.commitTimeout.milliseconds)
    json.add("transport_timeout_ms", options.inmemTimeout.milliseconds)
    json.add("errors_in_window", state.errorsInWindow.load(ordering: .relaxed))
    if let first = state.firstError.withLock({ $0 }) {
        json.add("first_error", first.message)
        json.add("first_error_s_after_window_start", round3((Double(first.at) - Double(windowStart)) / 1e9))
    }
    json.add("fsm_bytes", options.fsmBytes)
    json.add("snapshot_threshold", options.snapshotThreshold)
    json.add("leader_last_snapshot_index", UInt64(raft.stats()["last_snapshot_index"] ?? "") ?? 0)
    json.add("leader_at_window_end", leaderAtWindowEnd)
    json.add("leader_changed", raft.state != .leader)
    json.add("follower_applied_lag_at_end", lag)
    json.add("first_election_ms", round1(firstElectionMs))
    json.add("swift_version", swiftVersion)
    json.add("host_cpu_pct", round1(usage.hostPercent))
    json.add("self_cpu_pct", round1(usage.selfPercent))
    json.add("other_cpu_pct", round1(usage.otherPercent))
    json.add("cpu_user_s", round3(usage.userSeconds))
    json.add("cpu_sys_s", round3(usage.systemSeconds))
    json.add("cpu_s", round3(cpuSeconds))
    json.add("cpu_us_per_op", round1(ops > 0 ? cpuSeconds * 1e6 / Double(ops) : 0))
    let switches = usage.voluntarySwitches + usage.involuntarySwitches
    json.add("ctx_switches", switches)
    json.add("ctx_switches_involuntary", usage.involuntarySwitches)
    json.add("ctx_switches_per_op", round3(ops > 0 ? Double(switches) / Double(ops) : 0))
    json.add("minor_faults_per_op", round3(ops > 0 ? Double(usage.minorFaults) / Double(ops) : 0))
    json.add("ts", utcTimestamp())
    print(json.text)
    fflush(nil)

    // The results are out; a slow teardown of a backlogged cluster must not stretch the run.
    let stopped = Flag()
    let shutdownWatch = watchdog(
        seconds: 5,
        done: stopped,
        message: "warning: shutdown did not finish in 5s; exiting anyway",
        exitCode: 0
    )
    await cluster.shutdown()
    stopped.set()
    shutdownWatch.cancel()
    return 0
}

let options: Options
do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    if let message = error.message {
        writeStandardError("raft-bench: \(message)\n(raft-bench --help lists the flags)\n")
        exit(2)
    }
    print(Options.usage)
    exit(0)
}
exit(await run(options))
