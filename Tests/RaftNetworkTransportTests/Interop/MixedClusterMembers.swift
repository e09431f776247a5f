#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOPosix
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

// MARK: - Timing

/// The timeout every member of a mixed cluster runs with by default, as its heartbeat timeout,
/// election timeout and leader lease: hashicorp/raft's default heartbeat and election timeouts.
///
/// Which node leads first is decided by bootstrapping, not by racing timeouts: only the node meant
/// to lead is bootstrapped; the others start empty, and neither implementation campaigns without
/// a configuration (hashicorp/raft: "no known peers, aborting election"), while both grant votes.
/// So no test depends on one side's timer firing before the other's. A second of lease (twice
/// hashicorp/raft's default) keeps a leader starved of CPU on a busy 2-core machine from stepping
/// down, and hashicorp/raft 1.1 followers, which have no pre-vote, from deposing it.
enum MixedClusterTiming {
    static let timeout: Duration = .seconds(1)

    /// In Go's duration syntax.
    static func go(_ duration: Duration) -> String {
        "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)ms"
    }
}

// MARK: - Snapshot settings

/// When a member of a mixed cluster snapshots and how much log it keeps, in hashicorp/raft's
/// terms (`SnapshotThreshold`, `SnapshotInterval`, `TrailingLogs`), for either implementation.
/// Members given none keep their implementation's defaults (8192 entries, 120 s, 10240 entries),
/// so no test that does not ask sees a snapshot.
struct SnapshotSettings: Sendable {
    /// Entries applied since the last snapshot that make the next check take one.
    var threshold: UInt64
    /// How often a node checks, randomized between this and twice this.
    var interval: Duration
    /// Entries kept behind a snapshot when the log is compacted.
    var trailingLogs: UInt64
    /// swift-raft only: how many recent entries a node keeps in memory (`Config.logCacheCapacity`,
    /// at least `maxAppendEntries`, 64). A leader serves a follower from memory when it can, even
    /// entries compacted out of its log store, so forcing InstallSnapshot takes a small cache.
    /// nil keeps the default. The Go node has no cache: it reads its bolt store for every follower.
    var logCacheCapacity: Int? = nil

    /// The same settings as `GoPeers/node` flags.
    var goArguments: [String] {
        [
            "-snapshot-threshold", "\(threshold)", "-snapshot-interval", MixedClusterTiming.go(interval),
            "-trailing-logs", "\(trailingLogs)",
        ]
    }

    /// Applies the settings to a swift-raft `Config`.
    func apply(to config: inout Config) {
        config.snapshotThreshold = threshold
        config.snapshotInterval = interval
        config.trailingLogs = trailingLogs
        if let logCacheCapacity { config.logCacheCapacity = logCacheCapacity }
    }
}

// MARK: - What each node applied

/// Every command a node applied, as (index, data), across its restarts: the evidence for State
/// Machine Safety. Comparing only where nodes end hides a wrong apply that a later write (or a
/// restart, which re-applies the log) overwrites.
final class AppliedHistory: Sendable {
    private let records = Mutex<[(index: UInt64, command: String)]>([])

    func record(index: UInt64, command: String) {
        records.withLock { $0.append((index, command)) }
    }

    var all: [(index: UInt64, command: String)] { records.withLock { $0 } }

    /// Reads a Go node's `-history` file: one "INDEX DATA" line per applied command.
    static func read(goHistoryFile path: String) throws -> [(index: UInt64, command: String)] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let index = UInt64(parts[0]) else {
                throw GoPeerError("malformed history line \"\(line)\" in \(path)")
            }
            return (index, String(parts[1]))
        }
    }
}

/// Checks that every node applied, at every index, the same command (State Machine Safety), and
/// that each node's applies within one run were consecutive. Returns the breaches found and the
/// command applied at each index.
func checkHistories(_ histories: [(node: String, history: [(index: UInt64, command: String)])]) -> (
    breaches: [String], commands: [UInt64: String]
) {
    var commands: [UInt64: (command: String, node: String)] = [:]
    var breaches: [String] = []
    for (node, history) in histories {
        for (index, command) in history {
            if let known = commands[index], known.command != command {
                breaches.append("\(node) applied \"\(command)\" at \(index) where \(known.node) applied \"\(known.command)\"")
            } else if commands[index] == nil {
                commands[index] = (command, node)
            }
        }
    }
    return (breaches, commands.mapValues(\.command))
}

// MARK: - Members

/// A swift-raft node: Raft over NetworkTransport, with in-memory stores that outlive a stop, so
/// a restart is a restart from durable state.
final class SwiftMember: @unchecked Sendable {
    // Unchecked: a member is driven from one test task at a time (start, stop and the waits are
    // awaited in sequence); the Sendable conformance only lets it be captured by that task.
    let id: ServerID
    let address: ServerAddress
    let store = InmemStore()
    let snapshots = InmemSnapshotStore()
    let history = AppliedHistory()
    let transportOptions: NetworkTransport.Options
    /// Its heartbeat and election timeouts and its leader lease, all one value.
    let timeout: Duration
    /// When it snapshots; nil: swift-raft's defaults.
    let snapshotSettings: SnapshotSettings?
    /// Collects what the node logs at `info` and above, over all its runs, when given; the
    /// console still gets what `RAFT_INTEROP_LOG_LEVEL` asks for.
    let logCollector: LogCollector?
    private(set) var fsm = DigestFSM()
    private(set) var raft: Raft?
    private var transport: NetworkTransport?

    init(
        id: ServerID,
        address: ServerAddress,
        transportOptions: NetworkTransport.Options = NetworkTransport.Options(),
        timeout: Duration = MixedClusterTiming.timeout,
        snapshots snapshotSettings: SnapshotSettings? = nil,
        logCollector: LogCollector? = nil
    ) {
        self.id = id
        self.address = address
        self.transportOptions = transportOptions
        self.timeout = timeout
        self.snapshotSettings = snapshotSettings
        self.logCollector = logCollector
    }

    var server: Server { Server(id: id, address: address) }

    /// Starts the node, bootstrapping first when given a configuration.
    func start(bootstrapping configuration: Configuration?) async throws {
        var config = Config(localID: id)
        config.heartbeatTimeout = timeout
        config.electionTimeout = timeout
        config.leaderLeaseTimeout = timeout
        config.commitTimeout = .milliseconds(5)
        config.rpcTimeout = .seconds(2)
        snapshotSettings?.apply(to: &config)
        // RAFT_INTEROP_LOG_LEVEL=info shows every state change when a mixed cluster misbehaves.
        config.logger.logLevel = ProcessInfo.processInfo.environment["RAFT_INTEROP_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        if let logCollector {
            // Each handler keeps its own level: the multiplexer passes a message to those whose
            // level admits it (setting the multiplexer's level would set them all).
            var collecting = logCollector.logger.handler
            collecting.logLevel = .info
            let console = config.logger.handler
            config.logger = Logger(label: config.logger.label) { _ in MultiplexLogHandler([console, collecting]) }
        }
        config.logger[metadataKey: "addr"] = "\(address)"
        if let configuration {
            try Raft.bootstrapCluster(
                config: config, logStore: store, stableStore: store, snapshotStore: snapshots, configuration: configuration
            )
        }
        let transport = try await NetworkTransport.bind(to: address, options: transportOptions)
        fsm = DigestFSM(history: history)
        raft = try await Raft(
            config: config, fsm: fsm, logStore: store, stableStore: store, snapshotStore: snapshots, transport: transport
        )
        self.transport = transport
    }

    /// Stops the node as a crash would, keeping its stores.
    func stop() async {
        await raft?.shutdown()
        await transport?.close()
        raft = nil
        transport = nil
    }

    var isRunning: Bool { raft != nil }

    /// Waits until this node leads.
    func waitUntilLeader(timeout: Duration = .seconds(30)) async throws {
        let raft = try #require(raft)
        try await withDeadline(timeout, "\(id) to become leader") {
            // Subscribe first, then look: a change that happened before the subscription is
            // not replayed, but it shows in the state.
            let changes = raft.leadershipChanges()
            if raft.state == .leader { return }
            for await change in changes where change.isLeader { return }
        }
    }

    /// Applies `count` commands `prefix-i`, 64 at a time, as the Go node's `apply` does.
    func applyCommands(_ count: Int, prefix: String) async throws {
        let raft = try #require(raft)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                if i >= 64 { try await group.next() }
                group.addTask { _ = try await raft.apply(Array("\(prefix)-\(i)".utf8), timeout: .seconds(30)) }
            }
            try await group.waitForAll()
        }
    }

    /// Runs `body` with three Swift nodes over TCP with `options` (the first alone is
    /// bootstrapped, so it leads), and stops them whatever `body` does.
    ///
    /// The cluster's transports get an event loop of their own, shut down afterwards: a cluster
    /// test carrying tens of megabytes must not hold up the loop every other test in the process
    /// shares (`NetworkTransport.sharedEventLoopGroup`), whose calls would then time out.
    static func withCluster(
        options: NetworkTransport.Options,
        _ body: ([SwiftMember]) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var options = options
        options.eventLoopGroup = group
        do {
            try await withCluster(ownLoop: options, body)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private static func withCluster(
        ownLoop options: NetworkTransport.Options,
        _ body: ([SwiftMember]) async throws -> Void
    ) async throws {
        let members = try (1...3).map {
            SwiftMember(id: ServerID("node-\($0)"), address: try freeLoopbackAddress(), transportOptions: options)
        }
        let configuration = Configuration(servers: members.map(\.server))
        do {
            for (offset, member) in members.enumerated() {
                try await member.start(bootstrapping: offset == 0 ? configuration : nil)
            }
            try await body(members)
        } catch {
            for member in members { await member.stop() }
            throw error
        }
        for member in members { await member.stop() }
    }

    /// The first of `members` to lead.
    static func waitForLeader(among members: [SwiftMember], timeout: Duration = .seconds(30)) async throws -> SwiftMember {
        try await withDeadline(timeout, "a Swift leader") {
            while true {
                if let leader = members.first(where: { $0.raft?.state == .leader }) { return leader }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }
}

/// A hashicorp/raft node in its own process (`GoPeers/node`), bolt-backed so it can be killed
/// and restarted, recording what it applies in `history.log` in its data directory.
struct GoMember {
    let id: String
    let address: ServerAddress
    let dataDirectory: String
    /// Its heartbeat and election timeouts and its leader lease, all one value.
    let timeout: Duration
    /// When it snapshots; nil: hashicorp/raft's defaults.
    let snapshotSettings: SnapshotSettings?
    let process: GoPeerProcess

    /// Starts the node; it bootstraps with `configuration` when given one and it has no state yet,
    /// else it waits to be contacted by a leader. `timeout` is its heartbeat and election timeouts
    /// and its leader lease (``MixedClusterTiming``'s by default). Its snapshots go to a
    /// FileSnapshotStore in `dataDirectory`, next to its bolt log.
    init(
        id: String,
        address: ServerAddress,
        bootstrapping configuration: Configuration?,
        dataDirectory: String,
        timeout: Duration = MixedClusterTiming.timeout,
        snapshots snapshotSettings: SnapshotSettings? = nil
    ) throws {
        self.id = id
        self.address = address
        self.dataDirectory = dataDirectory
        self.timeout = timeout
        self.snapshotSettings = snapshotSettings
        var arguments = [
            "-id", id, "-bind", address.rawValue, "-data-dir", dataDirectory, "-history", dataDirectory + "/history.log",
            "-heartbeat", MixedClusterTiming.go(timeout), "-election", MixedClusterTiming.go(timeout),
            "-leader-lease", MixedClusterTiming.go(timeout), "-commit-timeout", "5ms",
        ] + (snapshotSettings?.goArguments ?? [])
        if let configuration {
            let peers = configuration.servers.map { "\($0.id.rawValue)=\($0.address.rawValue)" }.joined(separator: ",")
            arguments += ["-bootstrap", peers]
        }
        process = try GoPeerProcess("node", arguments)
    }

    /// `go-1` … `go-<count>` on free loopback ports, as configuration members.
    static func servers(_ count: Int) throws -> [Server] {
        try (1...count).map { Server(id: ServerID("go-\($0)"), address: try freeLoopbackAddress()) }
    }

    /// Starts a Go node for each of `servers` (data in `directory`/<id>), the first bootstrapping
    /// `configuration` when given one, and waits until every one listens. Kills them all if one
    /// fails to come up; the caller kills them when done.
    static func start(
        _ servers: [Server],
        bootstrappingFirstWith configuration: Configuration?,
        in directory: String,
        snapshots: SnapshotSettings? = nil
    ) async throws -> [GoMember] {
        var started: [GoMember] = []
        do {
            for (offset, server) in servers.enumerated() {
                started.append(
                    try GoMember(
                        id: server.id.rawValue,
                        address: server.address,
                        bootstrapping: offset == 0 ? configuration : nil,
                        dataDirectory: directory + "/" + server.id.rawValue,
                        snapshots: snapshots
                    )
                )
            }
            for member in started { try await member.waitUntilListening() }
            return started
        } catch {
            started.forEach { $0.process.kill() }
            throw error
        }
    }

    /// The same node started again from its data directory.
    func restarted() throws -> GoMember {
        try GoMember(
            id: id, address: address, bootstrapping: nil, dataDirectory: dataDirectory, timeout: timeout, snapshots: snapshotSettings
        )
    }

    var server: Server { Server(id: ServerID(id), address: address) }

    /// Every command the node applied, over all its runs.
    func history() throws -> [(index: UInt64, command: String)] {
        try AppliedHistory.read(goHistoryFile: dataDirectory + "/history.log")
    }

    /// Waits for the node's first line, which it prints once its transport listens.
    func waitUntilListening() async throws {
        let line = try await process.nextLine()
        guard line.hasPrefix("listening ") else { throw GoPeerError("\(id) said \"\(line)\"; log: \(process.logPath)") }
    }

    /// Sends one command line and returns the node's answer.
    func send(_ command: String, timeout: Duration = .seconds(60)) async throws -> String {
        try await process.send(command, timeout: timeout)
    }

    /// The node's `state` answer as fields (state, term, leader, last, applied, count, digest,
    /// snap: its newest snapshot's index, first: its log store's first index).
    func state() async throws -> [String: String] {
        TransportInteropTests.fields(try await send("state"))
    }

    /// Waits until the node applied `count` commands; returns its FSM digest.
    func waitForCount(_ count: Int) async throws -> UInt64 {
        let answer = try await send("wait-count \(count) 60000", timeout: .seconds(90))
        let fields = TransportInteropTests.fields(answer)
        guard answer.hasPrefix("ok"), let digest = fields["digest"].flatMap(UInt64.init) else {
            throw GoPeerError("\(id): \(answer); log: \(process.logPath)")
        }
        return digest
    }

    /// The first of `members` that reports itself leader.
    static func waitForLeader(among members: [GoMember], timeout: Duration = .seconds(30)) async throws -> GoMember {
        try await withDeadline(timeout, "a Go leader") {
            while true {
                for member in members {
                    if try await member.send("state").hasPrefix("state=Leader ") { return member }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}

/// An FSM that keeps what the Go node keeps: how many commands it applied, and a running FNV-1a
/// 64 digest over each command's bytes (seeded with the previous digest, ended by a 0 byte), so
/// equal digests at equal counts mean identical histories. With a history, it also records every
/// command it applies.
final class DigestFSM: FSM {
    private let state = Mutex((count: 0, digest: UInt64(0)))
    private let history: AppliedHistory?

    init(history: AppliedHistory? = nil) {
        self.history = history
    }

    var count: Int { state.withLock { $0.count } }
    var digest: UInt64 { state.withLock { $0.digest } }

    func apply(_ log: Log) -> (any Sendable)? {
        guard log.type == .command else { return nil }
        history?.record(index: log.index, command: String(decoding: log.data, as: UTF8.self))
        state.withLock { state in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            func mix(_ byte: UInt8) {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            for shift in stride(from: 56, through: 0, by: -8) { mix(UInt8(truncatingIfNeeded: state.digest >> UInt64(shift))) }
            for byte in log.data { mix(byte) }
            mix(0)
            state.digest = hash
            state.count += 1
        }
        return nil
    }

    func snapshot() throws -> any FSMSnapshot {
        let (count, digest) = state.withLock { ($0.count, $0.digest) }
        return DigestSnapshot(text: "\(count) \(digest)")
    }

    func restore(from source: any SnapshotSource) throws {
        let parts = String(decoding: try source.readAll(), as: UTF8.self).split(separator: " ")
        guard parts.count == 2, let count = Int(parts[0]), let digest = UInt64(parts[1]) else {
            throw GoPeerError("malformed DigestFSM snapshot")
        }
        state.withLock { $0 = (count, digest) }
    }

    /// Waits until `count` commands were applied.
    func waitForCount(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        try await withDeadline(timeout, "\(count) applied commands (have \(self.count))") {
            while self.count < count { try await Task.sleep(for: .milliseconds(10)) }
        }
    }
}

private struct DigestSnapshot: FSMSnapshot {
    let text: String
    func persist(to sink: any SnapshotSink) throws {
        try sink.write(Array(text.utf8))
        try sink.close()
    }
    func release() {}
}

// MARK: - Helpers

/// Runs `body`, failing with a message naming `what` if it takes longer than `timeout`, so a
/// broken cluster fails the test instead of hanging it.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ what: @autoclosure () -> String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let description = what()
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw GoPeerError("gave up after \(timeout) waiting for \(description)")
        }
        return value
    }
}

/// A loopback address with a port nobody listens on right now, for a node that must listen at the
/// same address again after a restart.
///
/// The port is drawn below Linux's ephemeral range (32768 and up): a port from that range, free
/// when chosen, can be taken as the source port of any outgoing connection a concurrently running
/// test makes, and then the restarted node finds its address in use.
/// Ports this process has handed out: never handed out twice, since the node given one keeps it
/// across restarts while other tests draw theirs concurrently (two draws of the same free port,
/// before either was bound, once gave one cluster the same address twice).
private let handedOutPorts = Mutex<Set<UInt16>>([])

func freeLoopbackAddress() throws -> ServerAddress {
    for _ in 0..<200 {
        let port = UInt16.random(in: 20_000..<32_000)
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw GoPeerError("socket failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 }
        }
        if bound { return ServerAddress("127.0.0.1:\(port)") }
    }
    throw GoPeerError("no free loopback port below the ephemeral range")
}
