// raft-demo: a three-node cluster in one process, on real time. By default the nodes talk over
// TCP on loopback (NetworkTransport, hashicorp/raft's wire protocol) and keep their log, term
// and snapshots in files; `--transport inmem --store inmem` runs the in-memory plugins instead.
// It elects a leader, replicates commands, loses its leader, elects another, keeps going, brings
// the old leader back from its stores to catch up, and checks that every node ended with the
// same state. Snapshots are taken every 2048 entries and the log compacted behind them, so by the
// time the old leader returns the entries it missed are gone from the others' logs: it catches up
// through InstallSnapshot.

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import RaftFileStores
import Synchronization
import RaftNetworkTransport
import SwiftRaft

/// raft-demo's command line. Parsed with swift-argument-parser, so `--help` describes it and a
/// mistyped flag is refused with a pointer to `--help`.
struct DemoOptions: ParsableCommand {
    /// Which transport the nodes talk over.
    enum TransportKind: String, ExpressibleByArgument, CaseIterable {
        case tcp, inmem
    }

    /// Where the nodes keep their log, term and snapshots.
    enum StoreKind: String, ExpressibleByArgument, CaseIterable {
        case file, inmem
    }

    static let configuration = CommandConfiguration(
        commandName: "raft-demo",
        abstract: "Runs a 3-node swift-raft cluster in this process: elects, replicates, loses its leader, re-elects, restarts it.",
        discussion: """
            The nodes run on real time. By default they talk over TCP on 127.0.0.1 \
            (NetworkTransport, hashicorp/raft's wire protocol) and keep their stores in files; the \
            restarted leader catches up through InstallSnapshot. Exits 1 if the state machines \
            differ at the end.
            """
    )

    @Option(help: "The transport between the nodes.")
    var transport: TransportKind = .tcp

    @Option(help: "The nodes' log, stable and snapshot stores.")
    var store: StoreKind = .file

    @Option(name: .customLong("dir"), help: "Where the file stores live (default: a new directory under /tmp, removed at the end).")
    var directory: String?
}

/// The snapshot indexes a node's FSM was restored from, as its tracer reports them (at startup,
/// and when a leader sends one).
final class RestoreLog: Sendable {
    private let indexes = Mutex<[UInt64]>([])
    var all: [UInt64] { indexes.withLock { $0 } }
    func record(_ event: RaftTraceEvent) {
        if case .snapshotRestored(_, let index, _) = event { indexes.withLock { $0.append(index) } }
    }
}

/// One member: its stores outlive its `Raft`, so it can be stopped and started again. Everything
/// here runs on the main actor, as the demo's top-level code does.
@MainActor
final class DemoNode {
    let id: ServerID
    let address: ServerAddress
    private(set) var fsm = KeyValueFSM()
    private(set) var raft: Raft?
    let restores = RestoreLog()
    private var stores: (log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore)?
    private var transport: (any Transport)?
    private let makeStores: () throws -> (log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore)
    private let makeTransport: () async throws -> any Transport

    init(
        id: ServerID,
        address: ServerAddress,
        makeStores: @escaping () throws -> (log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore),
        makeTransport: @escaping () async throws -> any Transport
    ) {
        self.id = id
        self.address = address
        self.makeStores = makeStores
        self.makeTransport = makeTransport
    }

    var config: Config {
        var config = Config(localID: id)
        config.heartbeatTimeout = .milliseconds(300)
        config.electionTimeout = .milliseconds(300)
        config.leaderLeaseTimeout = .milliseconds(150)
        // Small snapshot settings, so a node that misses 10,000 commands can only catch up
        // through a snapshot: one every 2048 entries (checked every 0.2–0.4 s), 1024 kept behind
        // it, and 1024 entries in memory.
        config.snapshotThreshold = 2048
        config.snapshotInterval = .milliseconds(200)
        config.trailingLogs = 1024
        config.logCacheCapacity = 1024
        config.logger.logLevel = .warning
        return config
    }

    /// The first index the node's log store still holds (1 until it compacted).
    var logFirstIndex: UInt64 { (try? stores?.log.firstIndex()) ?? 0 }

    /// The index of the newest snapshot in the node's store, 0 if none.
    var newestSnapshotIndex: UInt64 { (try? stores?.snapshots.list().first?.index) ?? 0 }

    /// Opens the stores (bootstrapping them the first time) and starts the node.
    func start(bootstrapping configuration: Configuration?) async throws {
        let stores = try makeStores()
        if let configuration {
            try Raft.bootstrapCluster(
                config: config, logStore: stores.log, stableStore: stores.stable,
                snapshotStore: stores.snapshots, configuration: configuration
            )
        }
        let transport = try await makeTransport()
        fsm = KeyValueFSM()
        var environment = RaftEnvironment.live
        environment.tracer = { [restores] event in restores.record(event) }
        raft = try await Raft(
            config: config, fsm: fsm, logStore: stores.log, stableStore: stores.stable,
            snapshotStore: stores.snapshots, transport: transport, environment: environment
        )
        self.stores = stores
        self.transport = transport
    }

    /// Stops the node as a crash would: Raft, transport and open files go; the files stay.
    func stop() async throws {
        await raft?.shutdown()
        await (transport as? any ClosableTransport)?.close()
        try (stores?.log as? FileLogStore)?.close()
        (stores?.stable as? FileStableStore)?.close()
        raft = nil
        transport = nil
        stores = nil
    }
}

@MainActor
func waitForLeader(_ nodes: [DemoNode]) async throws -> DemoNode {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < .seconds(30) {
        let leaders = nodes.filter { $0.raft?.state == .leader }
        if leaders.count == 1, let raft = leaders[0].raft {
            print("  leader: \(leaders[0].id) in term \(raft.currentTerm) (after \(clock.now - start))")
            return leaders[0]
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw RaftError(.timeout, "no leader elected within 30s")
}

@MainActor
func replicate(_ count: Int, from leader: DemoNode, prefix: String) async throws {
    guard let raft = leader.raft else { return }
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for i in 0..<count {
            // 256 in flight: enough to fill the pipelines, few enough to keep memory flat.
            if i >= 256 { try await group.next() }
            group.addTask { _ = try await raft.apply(Array("set \(prefix)-\(i % 100) value-\(i)".utf8), timeout: .seconds(5)) }
        }
        try await group.waitForAll()
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("  \(count) commands committed and applied in \(elapsed) (\(Int(Double(count) / seconds)) ops/s), commit index \(raft.commitIndex)")
}

@MainActor
func waitUntilApplied(_ nodes: [DemoNode], through index: UInt64) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(30)
    while nodes.contains(where: { ($0.raft?.appliedIndex ?? 0) < index }) && clock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
}

let options = DemoOptions.parseOrExit()
let ids: [ServerID] = ["node-1", "node-2", "node-3"]

// Where the file stores live.
var temporaryDirectory: String?
var baseDirectory = options.directory ?? ""
if options.store == .file && options.directory == nil {
    var template = Array("/tmp/raft-demo-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        print("raft-demo: cannot create a directory under /tmp; pass --dir PATH")
        exit(1)
    }
    baseDirectory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    temporaryDirectory = baseDirectory
}

// Addresses: TCP ports are picked by binding port 0 once; the node's transport binds the same
// address again each time it starts.
var addresses: [ServerAddress] = []
var inmemTransports: [ServerID: InmemTransport] = [:]
for id in ids {
    if options.transport == .tcp {
        let probe = try await NetworkTransport.bind(to: "127.0.0.1:0")
        addresses.append(probe.localAddress)
        await probe.close()
    } else {
        addresses.append(ServerAddress(id.rawValue))
    }
}

/// In-memory stores survive a node's restart, as a disk would: the same objects are reopened.
@MainActor
final class MemoryDisk {
    var stores: [ServerID: InmemStore] = [:]
    var snapshots: [ServerID: InmemSnapshotStore] = [:]
}
let memoryDisk = MemoryDisk()

/// The snapshot store logs each snapshot it creates and reaps at `info`; the demo shows warnings.
let quietLogger: Logger = {
    var logger = Logger(label: "swift-raft.snapshot-store")
    logger.logLevel = .warning
    return logger
}()

@MainActor
func makeNode(_ id: ServerID, _ address: ServerAddress) -> DemoNode {
    let makeStores: () throws -> (log: any LogStore, stable: any StableStore, snapshots: any SnapshotStore) = {
        if options.store == .file {
            let directory = "\(baseDirectory)/\(id.rawValue)"
            return (
                try FileLogStore(directory: directory + "/log"),
                try FileStableStore(directory: directory + "/stable"),
                try FileSnapshotStore(directory: directory, retain: 2, options: .init(logger: quietLogger))
            )
        }
        // In memory, a restart keeps what the "disk" held: the same store objects.
        let store = memoryDisk.stores[id] ?? InmemStore()
        let snapshots = memoryDisk.snapshots[id] ?? InmemSnapshotStore()
        memoryDisk.stores[id] = store
        memoryDisk.snapshots[id] = snapshots
        return (store, store, snapshots)
    }
    let makeTransport: () async throws -> any Transport = {
        if options.transport == .tcp { return try await NetworkTransport.bind(to: address) }
        let transport = InmemTransport(address: address)
        for other in inmemTransports.values where other.localAddress != address {
            transport.connect(other)
            other.connect(transport)
        }
        inmemTransports[id] = transport
        return transport
    }
    return DemoNode(id: id, address: address, makeStores: makeStores, makeTransport: makeTransport)
}

let transportName = options.transport == .tcp ? "TCP on loopback (NetworkTransport)" : "in-memory transport"
let storeName = options.store == .file ? "file stores in \(baseDirectory)" : "in-memory stores"
print("Starting a 3-node cluster: \(transportName), \(storeName), real time")
let configuration = Configuration(servers: zip(ids, addresses).map { Server(id: $0, address: $1) })
let nodes = zip(ids, addresses).map { makeNode($0, $1) }
for node in nodes { try await node.start(bootstrapping: configuration) }
for node in nodes { print("  \(node.id) at \(node.address)") }

print("Electing a leader…")
let first = try await waitForLeader(nodes)

print("Replicating through \(first.id)…")
try await replicate(10_000, from: first, prefix: "a")

print("Stopping the leader \(first.id) (as if it crashed)…")
let missedFrom = (first.raft?.lastIndex ?? 0) + 1
try await first.stop()
let survivors = nodes.filter { $0.id != first.id }

print("Electing a new leader among \(survivors.map(\.id.rawValue).joined(separator: ", "))…")
let second = try await waitForLeader(survivors)

print("Replicating through \(second.id)…")
try await replicate(10_000, from: second, prefix: "b")

// Let the survivors' snapshot timers see the last writes, so their logs no longer hold what the
// old leader missed.
try await Task.sleep(for: .milliseconds(500))
for node in survivors {
    print("  \(node.id): newest snapshot at \(node.newestSnapshotIndex), log compacted to start at \(node.logFirstIndex)")
}

print("Restarting \(first.id) from its stores…")
let restoresBefore = first.restores.all.count
try await first.start(bootstrapping: nil)
if let own = first.restores.all.dropFirst(restoresBefore).first {
    print("  \(first.id) restored its own snapshot at \(own) and read only the log after it")
}
let restoredAtStart = first.restores.all.count
let commitIndex = second.raft?.commitIndex ?? 0
try await waitUntilApplied(nodes, through: commitIndex)
print("  \(first.id) caught up to index \(first.raft?.appliedIndex ?? 0)")
if let installed = first.restores.all.dropFirst(restoredAtStart).last {
    print(
        "  it missed everything from \(missedFrom) on, and \(second.id)'s log starts at \(second.logFirstIndex): "
            + "it caught up through InstallSnapshot (\(second.id)'s snapshot at \(installed))"
    )
} else {
    print("  it caught up from \(second.id)'s log")
}

let reference = second.fsm.contents
let consistent = nodes.allSatisfy { $0.fsm.contents == reference }
print("State machines: \(reference.count) keys each, identical on all three: \(consistent)")
for node in nodes {
    guard let stats = node.raft?.stats() else { continue }
    print(
        "  \(node.id): state=\(stats["state"]!) term=\(stats["term"]!) commit=\(stats["commit_index"]!) "
            + "applied=\(stats["applied_index"]!) last_snapshot=\(stats["last_snapshot_index"]!)"
    )
}
for node in nodes { try await node.stop() }
if let temporaryDirectory { try? PosixFileSystem().removeTree(temporaryDirectory) }
if !consistent {
    print("FAILED: the state machines differ")
    exit(1)
}
print("Done.")
