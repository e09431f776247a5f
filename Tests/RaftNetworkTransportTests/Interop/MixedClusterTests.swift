#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RaftNetworkTransport
import SwiftRaft
import Synchronization
import Testing

/// Clusters of swift-raft and hashicorp/raft 1.1.2 nodes (`GoPeers/node`, real processes) on
/// loopback: they elect each other, replicate, lose their leader, elect across implementations,
/// and end with identical FSMs.
///
/// Elections are steered by timeouts, not luck: the side meant to lead first gets 100 ms
/// timeouts, the other side two seconds, so the fast side's candidate always times out first.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(4)),
    .serialized
)
struct MixedClusterTests {
    @Test func aSwiftLeaderReplicatesToGoFollowersWhichCarryOnWithoutItAndCatchItUpAfterItsRestart() async throws {
        let directory = try TemporaryFolder()
        defer { directory.remove() }
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress(), timeouts: .fast)
        let goIDs = ["go-1", "go-2"]
        let goAddresses = try goIDs.map { _ in try freeLoopbackAddress() }
        let configuration = Configuration(servers: [Server(id: swift.id, address: swift.address)]
            + zip(goIDs, goAddresses).map { Server(id: ServerID($0), address: $1) })
        let go = try zip(goIDs, goAddresses).map {
            try GoMember(id: $0, address: $1, configuration: configuration, timeouts: .slow, dataDirectory: directory.path + "/" + $0)
        }
        defer { go.forEach { $0.process.kill() } }
        for member in go { try await member.waitUntilListening() }

        try await swift.start(bootstrapping: configuration)
        try await swift.waitUntilLeader()
        try await swift.applyCommands(10_000, prefix: "swift")
        let digest = swift.fsm.digest
        #expect(swift.fsm.count == 10_000)
        for member in go {
            #expect(try await member.waitForCount(10_000) == digest, "\(member.id) applied a different history")
        }

        // The Swift leader dies; the Go followers elect one of themselves and carry on.
        await swift.stop()
        let goLeader = try await GoMember.waitForLeader(among: go)
        #expect(try await goLeader.send("apply 1000 go") == "ok applied=1000 errors=0")

        // Back from its stores, the Swift node follows the Go leader and catches up.
        try await swift.start(bootstrapping: nil)
        #expect(try await goLeader.send("barrier") == "ok")
        let finalDigest = try await goLeader.waitForCount(11_000)
        for member in go { #expect(try await member.waitForCount(11_000) == finalDigest, "\(member.id)") }
        try await swift.fsm.waitForCount(11_000)
        #expect(swift.fsm.digest == finalDigest)
        await swift.stop()
    }

    @Test func aGoLeaderReplicatesToSwiftFollowersWhichCarryOnWithoutItAndCatchItUpAfterItsRestart() async throws {
        let directory = try TemporaryFolder()
        defer { directory.remove() }
        let swift = try (1...2).map { SwiftMember(id: ServerID("swift-\($0)"), address: try freeLoopbackAddress(), timeouts: .slow) }
        let goAddress = try freeLoopbackAddress()
        let configuration = Configuration(
            servers: [Server(id: "go-1", address: goAddress)] + swift.map { Server(id: $0.id, address: $0.address) }
        )
        for member in swift { try await member.start(bootstrapping: configuration) }
        var goLeader = try GoMember(
            id: "go-1", address: goAddress, configuration: configuration, timeouts: .fast, dataDirectory: directory.path + "/go-1"
        )
        defer { goLeader.process.kill() }
        try await goLeader.waitUntilListening()
        #expect(try await GoMember.waitForLeader(among: [goLeader]).id == "go-1")

        #expect(try await goLeader.send("apply 10000 go", timeout: .seconds(120)) == "ok applied=10000 errors=0")
        let digest = try await goLeader.waitForCount(10_000)
        for member in swift {
            try await member.fsm.waitForCount(10_000)
            #expect(member.fsm.digest == digest, "\(member.id) applied a different history")
        }

        // The Go leader dies; the Swift followers elect one of themselves and carry on.
        goLeader.process.kill()
        let swiftLeader = try await SwiftMember.waitForLeader(among: swift)
        try await swiftLeader.applyCommands(1_000, prefix: "swift")

        // Back from its bolt file, the Go node follows the Swift leader and catches up.
        goLeader = try GoMember(
            id: "go-1", address: goAddress, configuration: configuration, timeouts: .fast, dataDirectory: directory.path + "/go-1"
        )
        try await goLeader.waitUntilListening()
        try await swiftLeader.raft!.barrier(timeout: .seconds(30))
        let finalDigest = try await goLeader.waitForCount(11_000)
        for member in swift {
            try await member.fsm.waitForCount(11_000)
            #expect(member.fsm.digest == finalDigest, "\(member.id)")
        }
        for member in swift { await member.stop() }
    }
}

// MARK: - Members

/// Timeouts that decide which side campaigns first.
struct MemberTimeouts {
    var heartbeat: Duration
    var election: Duration
    var leaderLease: Duration

    static let fast = MemberTimeouts(heartbeat: .milliseconds(100), election: .milliseconds(100), leaderLease: .milliseconds(50))
    /// Twenty times the fast side's: a loaded machine that delays the fast candidate by a second
    /// or two still cannot let the slow side campaign first.
    static let slow = MemberTimeouts(heartbeat: .seconds(2), election: .seconds(2), leaderLease: .seconds(1))

    /// In Go's duration syntax.
    static func go(_ duration: Duration) -> String {
        "\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)ms"
    }
}

/// A swift-raft node: Raft over NetworkTransport, with in-memory stores that outlive a stop, so
/// a restart is a restart from durable state.
final class SwiftMember: @unchecked Sendable {
    // Unchecked: a member is driven from one test task at a time (start, stop and the waits are
    // awaited in sequence); the Sendable conformance only lets it be captured by that task.
    let id: ServerID
    let address: ServerAddress
    let timeouts: MemberTimeouts
    let store = InmemStore()
    let snapshots = InmemSnapshotStore()
    private(set) var fsm = DigestFSM()
    private(set) var raft: Raft?
    private var transport: NetworkTransport?

    init(id: ServerID, address: ServerAddress, timeouts: MemberTimeouts) {
        self.id = id
        self.address = address
        self.timeouts = timeouts
    }

    /// Starts the node, bootstrapping first when given a configuration.
    func start(bootstrapping configuration: Configuration?) async throws {
        var config = Config(localID: id)
        config.heartbeatTimeout = timeouts.heartbeat
        config.electionTimeout = timeouts.election
        config.leaderLeaseTimeout = timeouts.leaderLease
        config.commitTimeout = .milliseconds(5)
        config.rpcTimeout = .seconds(2)
        config.logger.logLevel = .warning
        if let configuration {
            try Raft.bootstrapCluster(
                config: config, logStore: store, stableStore: store, snapshotStore: snapshots, configuration: configuration
            )
        }
        let transport = try await NetworkTransport.bind(to: address)
        fsm = DigestFSM()
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
/// and restarted.
struct GoMember {
    let id: String
    let address: ServerAddress
    let process: GoPeerProcess

    init(id: String, address: ServerAddress, configuration: Configuration, timeouts: MemberTimeouts, dataDirectory: String) throws {
        self.id = id
        self.address = address
        let peers = configuration.servers.map { "\($0.id.rawValue)=\($0.address.rawValue)" }.joined(separator: ",")
        process = try GoPeerProcess("node", [
            "-id", id, "-bind", address.rawValue, "-bootstrap", peers, "-data-dir", dataDirectory,
            "-heartbeat", MemberTimeouts.go(timeouts.heartbeat), "-election", MemberTimeouts.go(timeouts.election),
            "-leader-lease", MemberTimeouts.go(timeouts.leaderLease), "-commit-timeout", "5ms",
        ])
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
/// equal digests at equal counts mean identical histories.
final class DigestFSM: FSM {
    private let state = Mutex((count: 0, digest: UInt64(0)))

    var count: Int { state.withLock { $0.count } }
    var digest: UInt64 { state.withLock { $0.digest } }

    func apply(_ log: Log) -> (any Sendable)? {
        guard log.type == .command else { return nil }
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

/// A loopback address with a port nobody listens on right now (the kernel picks it).
func freeLoopbackAddress() throws -> ServerAddress {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw GoPeerError("socket failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { throw GoPeerError("bind failed") }
    return ServerAddress("127.0.0.1:\(UInt16(bigEndian: address.sin_port))")
}

/// A scratch directory under the system's temporary directory.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "swift-raft-interop-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
