// snapshot-bench: what snapshots buy and cost, one measurement per process (so peak memory is
// the measurement's own). Driven by Benchmarks/scripts/snapshot-bench.sh.
//
//   snapshot-bench restart-prepare --dir D --entries N --mode log|snapshot [--trailing-logs T]
//       Writes, with the file stores, what a single node holds after applying N commands of
//       16 bytes: with --mode log, the whole log and no snapshot (what a node without snapshots
//       keeps); with --mode snapshot, a snapshot at N and only the last T log entries (what a node
//       with hashicorp/raft's defaults keeps).
//   snapshot-bench restart-measure --dir D
//       Starts that node and prints one JSON line: how long `Raft(...)` took to return (the
//       snapshot restored, the log read) and the process's peak RSS.
//   snapshot-bench install-leader --dir D --fsm-bytes B --rendezvous R
//       Runs two nodes of a three-node cluster over TCP with file stores and an FSM whose
//       snapshot is B bytes, applies commands, snapshots and compacts, writes the third node's
//       address and the snapshot's index to R, and waits until R.done appears; prints its peak
//       RSS before and after.
//   snapshot-bench install-follower --dir D --rendezvous R
//       Starts the third node with empty stores: it can only catch up through InstallSnapshot.
//       Prints the time from start to applying the snapshot's index, and its peak RSS.

#if canImport(Glibc)
import Glibc
#endif
import BenchReporting
import Logging
import RaftBenchSupport
import RaftFileStores
import RaftNetworkTransport
import SwiftRaft

/// Peak resident set size of this process, in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func seconds(since start: UInt64) -> Double { Double(monotonicNanoseconds() - start) / 1e9 }

let usage = """
    usage: snapshot-bench restart-prepare --dir D --entries N --mode log|snapshot [--trailing-logs 10240]
           snapshot-bench restart-measure --dir D
           snapshot-bench install-leader --dir D --fsm-bytes B --rendezvous FILE
           snapshot-bench install-follower --dir D --rendezvous FILE
    Benchmarks/scripts/snapshot-bench.sh runs them in the right order, one process each.
    """

func fail(_ message: String) -> Never {
    let text = "snapshot-bench: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func flags(_ arguments: ArraySlice<String>) -> [String: String] {
    do {
        return Dictionary(try CommandLineFlags.split(Array(arguments)), uniquingKeysWith: { $1 })
    } catch {
        guard let message = error.message else {
            print(usage)
            exit(0)
        }
        fail("\(message)\n\(usage)")
    }
}

func required(_ flags: [String: String], _ name: String) -> String {
    guard let value = flags[name] else { fail("--\(name) is required") }
    return value
}

func quietConfig(_ id: ServerID) -> Config {
    var config = Config(localID: id)
    config.logger.logLevel = .error
    return config
}

/// The stores of node `id` under `directory`.
func openStores(_ directory: String, _ id: ServerID) throws -> (FileLogStore, FileStableStore, FileSnapshotStore) {
    var logger = Logger(label: "snapshot-store")
    logger.logLevel = .warning
    return (
        try FileLogStore(directory: "\(directory)/\(id.rawValue)/log"),
        try FileStableStore(directory: "\(directory)/\(id.rawValue)/stable"),
        try FileSnapshotStore(directory: "\(directory)/\(id.rawValue)", retain: 1, options: .init(logger: logger))
    )
}

// MARK: - Restart

let restartNode: ServerID = "n1"
let restartConfiguration = Configuration(servers: [Server(id: restartNode, address: "127.0.0.1:1")])

func restartPrepare(_ flags: [String: String]) throws {
    let directory = required(flags, "dir")
    guard let entries = UInt64(required(flags, "entries")), entries > 0 else { fail("--entries must be positive") }
    let mode = required(flags, "mode")
    guard mode == "log" || mode == "snapshot" else { fail("--mode must be log or snapshot") }
    let trailing = UInt64(flags["trailing-logs"] ?? "10240") ?? 10240
    let (log, stable, snapshots) = try openStores(directory, restartNode)
    try stable.setUInt64(StableStoreKeys.currentTerm, 1)
    let configurationEntry = Log(index: 1, term: 1, type: .configuration, data: ConfigurationCodec.encode(restartConfiguration))
    try log.storeLogs([configurationEntry])
    let last = entries + 1
    var next: UInt64 = 2
    let started = monotonicNanoseconds()
    while next <= last {
        let batch = (next...min(next + 8191, last)).map { index -> Log in
            var data = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: index.bigEndian) { data.replaceSubrange(0..<8, with: $0) }
            return Log(index: index, term: 1, data: data)
        }
        try log.storeLogs(batch)
        next += UInt64(batch.count)
    }
    if mode == "snapshot" {
        // What CounterFSM would have written after applying every command.
        let fsm = CounterFSM()
        for index in 2...last { _ = fsm.apply(Log(index: index, term: 1, data: [UInt8](repeating: 0, count: 16))) }
        let sink = try snapshots.create(
            version: 1, index: last, term: 1, configuration: restartConfiguration, configurationIndex: 1
        )
        try fsm.snapshot().persist(to: sink)
        if last > trailing { try log.deleteRange(min: 1, max: last - trailing) }
    }
    print("prepared \(mode): \(entries) commands, log \(try log.firstIndex())...\(try log.lastIndex()) in \(seconds(since: started)) s")
    try log.close()
    stable.close()
}

func restartMeasure(_ flags: [String: String]) async throws {
    let directory = required(flags, "dir")
    let (log, stable, snapshots) = try openStores(directory, restartNode)
    let transport = InmemTransport(address: "127.0.0.1:1")
    let fsm = CounterFSM()
    let rssBefore = peakRSSMiB()
    let started = monotonicNanoseconds()
    let raft = try await Raft(
        config: quietConfig(restartNode), fsm: fsm, logStore: log, stableStore: stable,
        snapshotStore: snapshots, transport: transport
    )
    let restart = seconds(since: started)
    // The status is published by the node's loop just after it starts.
    while raft.lastIndex == 0 { try await Task.sleep(for: .milliseconds(1)) }
    let lastIndex = raft.lastIndex
    let snapshotIndex = raft.stats()["last_snapshot_index"] ?? "0"
    await raft.shutdown()
    var json = JSONLine()
    json.add("bench", "restart")
    json.add("log_entries_held", (try log.lastIndex()) - (try log.firstIndex()) + 1)
    json.add("last_index", lastIndex)
    json.add("snapshot_index", UInt64(snapshotIndex) ?? 0)
    json.add("fsm_applied_from_snapshot", fsm.applied)
    json.add("restart_s", round3(restart))
    json.add("peak_rss_mib_before_start", round1(rssBefore))
    json.add("peak_rss_mib", round1(peakRSSMiB()))
    json.add("ts", utcTimestamp())
    print(json.text)
    try log.close()
    stable.close()
}

// MARK: - InstallSnapshot over TCP

func writeFile(_ path: String, _ text: String) {
    let temporary = path + ".tmp"
    guard let file = fopen(temporary, "w") else { fail("cannot write \(path)") }
    fputs(text, file)
    fclose(file)
    rename(temporary, path)
}

func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var text = ""
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, Int32(buffer.count), file) != nil {
        text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return text
}

func installLeader(_ flags: [String: String]) async throws {
    let directory = required(flags, "dir")
    let rendezvous = required(flags, "rendezvous")
    let fsmBytes = Int(required(flags, "fsm-bytes")) ?? 0
    let ids: [ServerID] = ["n1", "n2", "n3"]
    var transports: [NetworkTransport] = []
    for _ in 0..<2 { transports.append(try await NetworkTransport.bind(to: "127.0.0.1:0")) }
    // The third node's port: bound once here, freed, and bound again by the follower process.
    let probe = try await NetworkTransport.bind(to: "127.0.0.1:0")
    let thirdAddress = probe.localAddress
    await probe.close()
    let configuration = Configuration(
        servers: zip(ids, transports.map(\.localAddress) + [thirdAddress]).map { Server(id: $0, address: $1) }
    )
    var nodes: [Raft] = []
    for (id, transport) in zip(ids, transports) {
        let (log, stable, snapshots) = try openStores(directory, id)
        var config = quietConfig(id)
        config.trailingLogs = 10
        config.logCacheCapacity = 64
        try Raft.bootstrapCluster(
            config: config, logStore: log, stableStore: stable, snapshotStore: snapshots, configuration: configuration
        )
        nodes.append(
            try await Raft(
                config: config, fsm: CounterFSM(stateBytes: fsmBytes), logStore: log, stableStore: stable,
                snapshotStore: snapshots, transport: transport
            )
        )
    }
    var leader: Raft?
    for _ in 0..<1000 where leader == nil {
        leader = nodes.first { $0.state == .leader }
        if leader == nil { try await Task.sleep(for: .milliseconds(10)) }
    }
    guard let leader else { fail("no leader") }
    for i in 0..<1000 { _ = try await leader.apply(Array("command-\(i)".utf8)) }
    let persistStarted = monotonicNanoseconds()
    let snapshot = try await leader.snapshot()
    let persist = seconds(since: persistStarted)
    let rssBefore = peakRSSMiB()
    writeFile(rendezvous, "\(thirdAddress.rawValue) \(snapshot.meta.index)\n")
    while readFile(rendezvous + ".done") == nil { try await Task.sleep(for: .milliseconds(20)) }
    var json = JSONLine()
    json.add("bench", "install-leader")
    json.add("fsm_bytes", fsmBytes)
    json.add("snapshot_bytes", Int(snapshot.meta.size))
    json.add("snapshot_persist_s", round3(persist))
    json.add("peak_rss_mib_before_send", round1(rssBefore))
    json.add("peak_rss_mib", round1(peakRSSMiB()))
    json.add("ts", utcTimestamp())
    print(json.text)
    for node in nodes { await node.shutdown() }
}

func installFollower(_ flags: [String: String]) async throws {
    let directory = required(flags, "dir")
    let rendezvous = required(flags, "rendezvous")
    var plan: [Substring] = []
    while plan.count != 2 {
        plan = (readFile(rendezvous) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
        if plan.count != 2 { try await Task.sleep(for: .milliseconds(20)) }
    }
    let address = ServerAddress(String(plan[0]))
    guard let target = UInt64(plan[1]) else { fail("bad rendezvous file") }
    let (log, stable, snapshots) = try openStores(directory, "n3")
    let transport = try await NetworkTransport.bind(to: address)
    let fsm = CounterFSM()
    let rssBefore = peakRSSMiB()
    let started = monotonicNanoseconds()
    let raft = try await Raft(
        config: quietConfig("n3"), fsm: fsm, logStore: log, stableStore: stable, snapshotStore: snapshots, transport: transport
    )
    while raft.appliedIndex < target { try await Task.sleep(for: .milliseconds(5)) }
    let caughtUp = seconds(since: started)
    let size = try snapshots.list().first?.size ?? 0
    writeFile(rendezvous + ".done", "done\n")
    var json = JSONLine()
    json.add("bench", "install-follower")
    json.add("snapshot_bytes", Int(size))
    json.add("caught_up_s", round3(caughtUp))
    json.add("mb_per_s", round1(Double(size) / 1e6 / caughtUp))
    json.add("fsm_applied_from_snapshot", fsm.applied)
    json.add("peak_rss_mib_before_start", round1(rssBefore))
    json.add("peak_rss_mib", round1(peakRSSMiB()))
    json.add("ts", utcTimestamp())
    print(json.text)
    await raft.shutdown()
}

// MARK: - Main

let arguments = CommandLine.arguments.dropFirst()
guard let command = arguments.first, !["-h", "--help", "help"].contains(command) else {
    print(usage)
    exit(0)
}
let options = flags(arguments.dropFirst())
// The flags each command reads: any other is a mistake the command would silently ignore.
let knownFlags: [String: Set<String>] = [
    "restart-prepare": ["dir", "entries", "mode", "trailing-logs"],
    "restart-measure": ["dir"],
    "install-leader": ["dir", "fsm-bytes", "rendezvous"],
    "install-follower": ["dir", "rendezvous"],
]
guard let known = knownFlags[command] else { fail("unknown command \(command)\n\(usage)") }
if let unknown = options.keys.sorted().first(where: { !known.contains($0) }) {
    fail("unknown flag --\(unknown) for \(command)\n(snapshot-bench --help lists the flags)")
}
do {
    switch command {
    case "restart-prepare": try restartPrepare(options)
    case "restart-measure": try await restartMeasure(options)
    case "install-leader": try await installLeader(options)
    case "install-follower": try await installFollower(options)
    default: fail("unknown command \(command)\n\(usage)")
    }
} catch {
    fail("\(error)")
}
