#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
public import RaftKVClient

/// `raftkv` processes on loopback, one per node, in a directory of their own: each node has a
/// data directory and a log file there, a Raft port and an HTTP port picked free, and the whole
/// set is bootstrapped with `--peers`. The cluster finds its leader by asking every live node's
/// `/status`, and kills every process it started in ``shutdown()`` (and, as a last resort, when
/// it is deinitialized).
///
/// ```swift
/// let cluster = try RaftKVCluster.start(executable: raftkv, nodes: 3, directory: "/tmp/kv")
/// defer { cluster.shutdown() }
/// let leader = try await cluster.waitForLeader(within: .seconds(30))
/// _ = try await cluster.client(leader).put(key: "x", value: "1")
/// ```
public final class RaftKVCluster: Sendable {
    /// The knobs every node is started with (nil: raftkv's default, which is hashicorp/raft's).
    public struct Options: Sendable {
        /// `--heartbeat-timeout`.
        public var heartbeatTimeout: Duration?
        /// `--election-timeout`.
        public var electionTimeout: Duration?
        /// `--leader-lease-timeout`.
        public var leaderLeaseTimeout: Duration?
        /// `--commit-timeout`.
        public var commitTimeout: Duration?
        /// `--snapshot-threshold`: entries between snapshots.
        public var snapshotThreshold: Int?
        /// `--snapshot-interval`, in whole seconds.
        public var snapshotIntervalSeconds: Int?
        /// `--trailing-logs`: entries kept behind a snapshot.
        public var trailingLogs: Int?
        /// `--log-level`.
        public var logLevel: String?
        /// Further flags, passed last.
        public var extraArguments: [String]
        /// Flags for one node only, by its number (1 for `n1`), passed after everything else:
        /// its own certificate for `--tls-cert`, say.
        public var nodeArguments: @Sendable (_ number: Int) -> [String] = { _ in [] }

        /// Options leaving every knob at raftkv's default.
        public init(
            heartbeatTimeout: Duration? = nil, electionTimeout: Duration? = nil, leaderLeaseTimeout: Duration? = nil,
            commitTimeout: Duration? = nil, snapshotThreshold: Int? = nil, snapshotIntervalSeconds: Int? = nil,
            trailingLogs: Int? = nil, logLevel: String? = nil, extraArguments: [String] = []
        ) {
            self.heartbeatTimeout = heartbeatTimeout
            self.electionTimeout = electionTimeout
            self.leaderLeaseTimeout = leaderLeaseTimeout
            self.commitTimeout = commitTimeout
            self.snapshotThreshold = snapshotThreshold
            self.snapshotIntervalSeconds = snapshotIntervalSeconds
            self.trailingLogs = trailingLogs
            self.logLevel = logLevel
            self.extraArguments = extraArguments
        }

        var arguments: [String] {
            func milliseconds(_ duration: Duration) -> String {
                let (seconds, attoseconds) = duration.components
                return String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            }
            var arguments: [String] = []
            if let heartbeatTimeout { arguments += ["--heartbeat-timeout", milliseconds(heartbeatTimeout)] }
            if let electionTimeout { arguments += ["--election-timeout", milliseconds(electionTimeout)] }
            if let leaderLeaseTimeout { arguments += ["--leader-lease-timeout", milliseconds(leaderLeaseTimeout)] }
            if let commitTimeout { arguments += ["--commit-timeout", milliseconds(commitTimeout)] }
            if let snapshotThreshold { arguments += ["--snapshot-threshold", String(snapshotThreshold)] }
            if let snapshotIntervalSeconds { arguments += ["--snapshot-interval", String(snapshotIntervalSeconds)] }
            if let trailingLogs { arguments += ["--trailing-logs", String(trailingLogs)] }
            if let logLevel { arguments += ["--log-level", logLevel] }
            return arguments + extraArguments
        }
    }

    /// One member: its addresses, files and process.
    public struct Node: Sendable {
        /// Its server ID (`n1`, `n2`, …).
        public let id: String
        /// Its Raft (transport) address, `127.0.0.1:port`.
        public let raftAddress: String
        /// Its HTTP address, `127.0.0.1:port`.
        public let httpAddress: String
        /// Its HTTP port.
        public let httpPort: Int
        /// Its data directory.
        public let dataDirectory: String
        /// Its process (stdout and stderr in `process.logPath`).
        public let process: RaftKVProcess
    }

    /// The members, in ID order.
    public let nodes: [Node]
    /// The directory holding every node's data directory and log.
    public let directory: String
    /// One client per node for the cluster's own questions (`/status`, stale reads); load
    /// drivers bring their own.
    private let clients: [KVClient]

    private init(nodes: [Node], directory: String) {
        self.nodes = nodes
        self.directory = directory
        clients = nodes.map { KVClient(host: "127.0.0.1", port: $0.httpPort) }
    }

    /// Picks ports, and starts `count` nodes `n1` … `n<count>` of `executable` in `directory`,
    /// bootstrapped together with `--peers`. It does not wait for them: see ``waitForLeader(within:)``.
    public static func start(executable: String, nodes count: Int, directory: String, options: Options = Options()) throws -> RaftKVCluster {
        var addresses: [(id: String, raft: String, httpPort: Int)] = []
        for number in 1...count {
            addresses.append(("n\(number)", "127.0.0.1:\(try LoopbackPorts.next())", try LoopbackPorts.next()))
        }
        let numbers = Dictionary(uniqueKeysWithValues: addresses.enumerated().map { ($0.element.id, $0.offset + 1) })
        let peers = addresses.map { "\($0.id)=\($0.raft)" }.joined(separator: ",")
        let nodes = addresses.map { id, raftAddress, httpPort in
            let httpAddress = "127.0.0.1:\(httpPort)"
            let dataDirectory = directory + "/" + id
            let arguments = [
                "--id", id, "--raft", raftAddress, "--http", httpAddress, "--data", dataDirectory, "--peers", peers,
            ] + options.arguments + options.nodeArguments(numbers[id]!)
            return Node(
                id: id, raftAddress: raftAddress, httpAddress: httpAddress, httpPort: httpPort, dataDirectory: dataDirectory,
                process: RaftKVProcess(name: id, executable: executable, arguments: arguments, logPath: directory + "/\(id).log")
            )
        }
        let cluster = RaftKVCluster(nodes: nodes, directory: directory)
        do {
            for node in nodes { try node.process.start() }
        } catch {
            cluster.shutdown()
            throw error
        }
        return cluster
    }

    deinit { shutdown() }

    /// The node indexes, `0..<nodes.count`.
    public var indices: Range<Int> { nodes.indices }

    /// A client of node `index`'s HTTP API, shared by the cluster's own calls (one request at a
    /// time): for a few requests, not for load.
    public func client(_ index: Int) -> KVClient { clients[index] }

    /// The index of the node whose HTTP address is `address` (`host:port`, or a URL such as a
    /// `307`'s `Location`), if any.
    public func index(ofHTTPAddress address: String) -> Int? {
        nodes.firstIndex { address == $0.httpAddress || address.hasPrefix("http://\($0.httpAddress)/") || address == "http://\($0.httpAddress)" }
    }

    /// Whether node `index` runs and is not paused: the nodes a cluster question waits for.
    public func isLive(_ index: Int) -> Bool {
        let process = nodes[index].process
        return process.isRunning && !process.isPaused
    }

    /// Node `index`'s `/status`.
    public func status(of index: Int, timeout: Duration = .seconds(2)) async throws -> KVStatus {
        try await client(index).status(timeout: timeout)
    }

    /// Sends one request to node `index` with the cluster's client for it.
    public func request(_ index: Int, _ method: String, _ path: String, body: [UInt8] = [], timeout: Duration) async throws -> KVResponse {
        try await client(index).request(method, path, body: body, timeout: timeout)
    }

    /// The live node that says it leads, asked now; nil when none does (or more than one does,
    /// for a moment, in different terms).
    public func leader(timeout: Duration = .seconds(2)) async -> Int? {
        let statuses = await liveStatuses(timeout: timeout)
        let leaders = statuses.filter { $0.value.role == "Leader" }
        return leaders.count == 1 ? leaders.first?.key : nil
    }

    /// Waits until every live node answers `/status` naming the same leader in the same term, and
    /// that leader, live, says it leads; returns its index. Polls every 20 ms; throws after
    /// `limit` with what each node said last.
    public func waitForLeader(within limit: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + limit
        var last: [Int: KVStatus] = [:]
        while ContinuousClock.now < deadline {
            let live = indices.filter(isLive)
            last = await liveStatuses(timeout: .milliseconds(500))
            if last.count == live.count, let leaderID = last.values.first?.leaderID, !leaderID.isEmpty,
                let leader = nodes.firstIndex(where: { $0.id == leaderID }), let leaderStatus = last[leader],
                leaderStatus.role == "Leader",
                last.values.allSatisfy({ $0.leaderID == leaderID && $0.term == leaderStatus.term })
            {
                return leader
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let said = indices.map { index in
            "\(nodes[index].id): " + (last[index].map { "\($0.role) term \($0.term) leader \"\($0.leaderID)\"" } ?? (isLive(index) ? "no answer" : "down"))
        }
        throw RaftKVHarnessError("no leader agreed on within \(limit): \(said.joined(separator: "; ")); logs in \(directory)")
    }

    /// Waits until every node answers with the same commit index, has applied it, and holds the
    /// same data (`GET /kv?stale`), and nothing moved while it read; returns that data. Polls
    /// every 50 ms; throws after `limit`. Call when no client writes any more and every node runs.
    public func waitForConvergence(within limit: Duration) async throws -> [String: String] {
        let deadline = ContinuousClock.now + limit
        var problem = "not asked yet"
        while ContinuousClock.now < deadline {
            problem = await convergenceProblem()
            if problem.isEmpty, let data = try? await data(of: 0, stale: true) { return data }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RaftKVHarnessError("the nodes did not converge within \(limit): \(problem); logs in \(directory)")
    }

    /// Why the nodes have not converged, or "" when they have.
    private func convergenceProblem() async -> String {
        var before: [KVStatus] = []
        for index in indices {
            guard let status = try? await status(of: index, timeout: .seconds(1)) else { return "\(nodes[index].id) does not answer /status" }
            before.append(status)
        }
        let commits = Set(before.map(\.commit))
        guard commits.count == 1, before.allSatisfy({ $0.applied == $0.commit }) else {
            return "commit/applied: " + before.map { "\($0.id) \($0.commit)/\($0.applied)" }.joined(separator: ", ")
        }
        var contents: [[String: String]] = []
        for index in indices {
            guard let data = try? await data(of: index, stale: true) else { return "\(nodes[index].id) does not answer GET /kv?stale" }
            contents.append(data)
        }
        for index in indices {
            guard let status = try? await status(of: index, timeout: .seconds(1)), status.applied == before[index].applied else {
                return "\(nodes[index].id) applied more while its data was read"
            }
        }
        if let differing = contents.indices.first(where: { contents[$0] != contents[0] }) {
            let keys = Set(contents[0].keys).union(contents[differing].keys).filter { contents[0][$0] != contents[differing][$0] }
            return "\(nodes[0].id) and \(nodes[differing].id) differ on \(keys.count) keys, e.g. \(keys.sorted().prefix(3))"
        }
        return ""
    }

    /// Every key and value node `index` holds (`GET /kv`, `?stale` for its local copy).
    public func data(of index: Int, stale: Bool, timeout: Duration = .seconds(5)) async throws -> [String: String] {
        let response = try await client(index).request("GET", stale ? "/kv?stale" : "/kv", timeout: timeout)
        guard response.status == 200 else {
            throw RaftKVHarnessError("GET /kv on \(nodes[index].id) answered \(response.status): \(response.text)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String] else {
            throw RaftKVHarnessError("GET /kv on \(nodes[index].id) did not answer a JSON object of strings")
        }
        return object
    }

    /// Kills node `index` (SIGKILL) and waits until it is gone.
    public func kill(_ index: Int) async { await nodes[index].process.kill() }

    /// Pauses node `index` (SIGSTOP).
    public func pause(_ index: Int) { nodes[index].process.pause() }

    /// Lets paused node `index` go on (SIGCONT).
    public func resume(_ index: Int) { nodes[index].process.resume() }

    /// Starts node `index` again from its data directory.
    public func restart(_ index: Int) throws { try nodes[index].process.start() }

    /// Stops every node gracefully (SIGTERM) and returns how each ended; a node still running
    /// after `limit` is killed and reported as such.
    public func terminateAll(within limit: Duration = .seconds(30)) async -> [RaftKVProcess.Exit?] {
        for node in nodes { node.process.signal(SIGCONT); node.process.signal(SIGTERM) }
        var exits: [RaftKVProcess.Exit?] = []
        for node in nodes {
            exits.append(try? await node.process.waitForExit(within: limit))
        }
        shutdown()
        return exits
    }

    /// Kills every process the cluster started (SIGKILL) and closes its clients' connections.
    /// Returns at once; safe to call more than once, and from `defer`.
    public func shutdown() {
        for node in nodes { node.process.signal(SIGKILL) }
        for client in clients {
            // Closing only releases a socket; nothing waits for it.
            Task { await client.close() }
        }
    }

    /// Node `index`'s log from the harness's start markers on (see ``RaftKVProcess/log(from:)``).
    public func log(of index: Int) -> String { nodes[index].process.log(from: 0) }

    private func liveStatuses(timeout: Duration) async -> [Int: KVStatus] {
        await withTaskGroup(of: (Int, KVStatus?).self) { group in
            for index in indices where isLive(index) {
                group.addTask { (index, try? await self.status(of: index, timeout: timeout)) }
            }
            var statuses: [Int: KVStatus] = [:]
            for await (index, status) in group {
                if let status { statuses[index] = status }
            }
            return statuses
        }
    }
}
