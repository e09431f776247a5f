public import SwiftRaft

/// A cluster of real `Raft` nodes in one process, on the in-memory transport and in-memory
/// stores by default, running inside a ``Simulation``: deterministic by seed, and fast, because
/// time is virtual.
///
/// ```swift
/// try await TestCluster.run(nodes: 3, seed: 1) { cluster in
///     let leader = try await cluster.waitForLeader()
///     _ = try await leader.apply(Array("hello".utf8))
///     try await cluster.waitForConvergence()
///     try await cluster.checkInvariants()
/// }
/// ```
///
/// Users test their own FSMs by passing `makeFSM`, and their own stores with `makeStores`.
public actor TestCluster {
    /// The stores one node keeps across crashes and restarts.
    public struct Stores: Sendable {
        /// The node's log.
        public var logStore: any LogStore
        /// The node's term and vote.
        public var stableStore: any StableStore
        /// The node's snapshots.
        public var snapshotStore: any SnapshotStore

        /// Groups a node's stores.
        public init(logStore: any LogStore, stableStore: any StableStore, snapshotStore: any SnapshotStore) {
            self.logStore = logStore
            self.stableStore = stableStore
            self.snapshotStore = snapshotStore
        }

        /// Fresh in-memory stores.
        public static func inMemory() -> Stores {
            let store = InmemStore()
            return Stores(logStore: store, stableStore: store, snapshotStore: InmemSnapshotStore())
        }
    }

    /// One member of the cluster.
    public struct Node: Sendable {
        /// Its ID (`node-1`, `node-2`, …).
        public let id: ServerID
        /// Its in-memory transport address (the same as its ID).
        public let address: ServerAddress
        /// Its stores, kept across restarts unless a restart brings reopened ones.
        public fileprivate(set) var stores: Stores
        /// Its FSM since it last started.
        public fileprivate(set) var fsm: any FSM
        /// The running node, or nil while crashed.
        public fileprivate(set) var raft: Raft?
        fileprivate var transport: InmemTransport?
    }

    /// The simulation the cluster lives in.
    public nonisolated let simulation: Simulation
    /// The fault plan shared by every transport: partitions, drops, delays.
    public nonisolated let faults: InmemFaults
    /// What every node reported, and the safety checks over it.
    public nonisolated let trace: TraceRecorder
    private let configure: @Sendable (inout Config) -> Void
    private let maxMessageSize: Int
    private let makeFSM: @Sendable (ServerID) -> any FSM
    private var members: [ServerID: Node] = [:]
    /// The IDs of every node, in order.
    public nonisolated let ids: [ServerID]
    /// The gate in front of each node's storage executor (see ``stallStorage(of:)``).
    private nonisolated let storageGates: [ServerID: GatedExecutor]
    /// The gate in front of each node's FSM executor (see ``stallFSM(of:)``).
    private nonisolated let fsmGates: [ServerID: GatedExecutor]
    /// The gate in front of each node's loop executor (see ``pause(_:)``).
    private nonisolated let loopGates: [ServerID: GatedExecutor]

    /// Runs `body` against a new cluster of `nodes` servers inside a new simulation, then shuts
    /// the cluster down and checks its invariants.
    ///
    /// The checks compare every node's log with every entry any node committed, so a body that
    /// partitions the cluster should heal it and ``waitForConvergence(timeout:)`` before it
    /// returns: a leader deposed by the last partition may still hold entries it appended and
    /// never committed where the new leader committed others, which is legal until the new leader
    /// repairs its log, and is reported as a lost committed entry.
    ///
    /// - Parameters:
    ///   - nodes: how many servers.
    ///   - seed: the seed of the whole run.
    ///   - bootstrap: whether to bootstrap servers first.
    ///   - initialMembers: how many of the servers (the first ones) the bootstrapped configuration
    ///     holds; the others start with empty stores and wait to be added (`Raft.addVoter(id:address:prevIndex:timeout:)`).
    ///     Nil: all of them.
    ///   - timeLimit: the most virtual time the run may take.
    ///   - configure: adjusts each node's `Config` (defaults: hashicorp/raft's test timing,
    ///     50 ms heartbeat, election and lease timeouts, 5 ms commit timeout).
    ///   - makeFSM: builds a node's FSM, on start and on every restart.
    ///   - makeStores: builds a node's stores, once; an error it throws ends the run.
    ///   - maxMessageSize: the largest AppendEntries each node's `InmemTransport` carries.
    ///   - body: the test.
    public static func run<Result: Sendable>(
        nodes: Int,
        seed: UInt64,
        bootstrap: Bool = true,
        initialMembers: Int? = nil,
        timeLimit: Duration = .seconds(3600),
        maxMessageSize: Int = InmemTransport.defaultMaxMessageSize,
        configure: @escaping @Sendable (inout Config) -> Void = { _ in },
        makeFSM: @escaping @Sendable (ServerID) -> any FSM = { _ in RecordingFSM() },
        makeStores: @escaping @Sendable (ServerID) throws -> Stores = { _ in .inMemory() },
        _ body: @escaping @Sendable (TestCluster) async throws -> Result
    ) async throws -> Result {
        try await Simulation.run(seed: seed, timeLimit: timeLimit) { simulation in
            let cluster = try TestCluster(
                simulation: simulation,
                nodes: nodes,
                maxMessageSize: maxMessageSize,
                configure: configure,
                makeFSM: makeFSM,
                makeStores: makeStores
            )
            try await cluster.start(bootstrap: bootstrap, initialMembers: initialMembers)
            do {
                let result = try await body(cluster)
                await cluster.shutdown()
                try await cluster.checkInvariants()
                return result
            } catch {
                await cluster.shutdown()
                throw error
            }
        }
    }

    /// Creates a cluster's nodes (not yet started) inside `simulation`; each node's transport
    /// carries AppendEntries of up to `maxMessageSize` bytes. Throws what `makeStores` throws.
    public init(
        simulation: Simulation,
        nodes: Int,
        maxMessageSize: Int = InmemTransport.defaultMaxMessageSize,
        configure: @escaping @Sendable (inout Config) -> Void = { _ in },
        makeFSM: @escaping @Sendable (ServerID) -> any FSM = { _ in RecordingFSM() },
        makeStores: @escaping @Sendable (ServerID) throws -> Stores = { _ in .inMemory() }
    ) throws {
        self.simulation = simulation
        self.maxMessageSize = maxMessageSize
        self.faults = InmemFaults(seed: simulation.nextSeed())
        self.trace = TraceRecorder(clock: simulation.clock)
        self.configure = configure
        self.makeFSM = makeFSM
        self.ids = (1...max(nodes, 1)).map { ServerID("node-\($0)") }
        self.storageGates = Dictionary(uniqueKeysWithValues: ids.map { ($0, GatedExecutor(wrapping: simulation.executor)) })
        self.fsmGates = Dictionary(uniqueKeysWithValues: ids.map { ($0, GatedExecutor(wrapping: simulation.executor)) })
        self.loopGates = Dictionary(uniqueKeysWithValues: ids.map { ($0, GatedExecutor(wrapping: simulation.executor)) })
        for id in ids {
            members[id] = Node(
                id: id,
                address: ServerAddress(id.rawValue),
                stores: try makeStores(id),
                fsm: makeFSM(id),
                raft: nil,
                transport: nil
            )
        }
    }

    /// The configuration listing every node as a voter.
    public nonisolated var fullConfiguration: Configuration {
        Configuration(servers: ids.map { Server(suffrage: .voter, id: $0, address: ServerAddress($0.rawValue)) })
    }

    /// The configuration of the first `count` nodes, as voters.
    public nonisolated func configuration(ofFirst count: Int) -> Configuration {
        Configuration(servers: fullConfiguration.servers.prefix(count).map { $0 })
    }

    /// Bootstraps the first `initialMembers` nodes (all when nil) with their configuration (when
    /// `bootstrap`) and starts every node; the others start empty, waiting to be added.
    public func start(bootstrap: Bool = true, initialMembers: Int? = nil) async throws {
        let members = initialMembers ?? ids.count
        let initial = configuration(ofFirst: members)
        for (position, id) in ids.enumerated() {
            let node = self.members[id]!
            if bootstrap && position < members {
                try Raft.bootstrapCluster(
                    config: config(for: id),
                    logStore: node.stores.logStore,
                    stableStore: node.stores.stableStore,
                    snapshotStore: node.stores.snapshotStore,
                    configuration: initial
                )
            }
            try await startNode(id)
        }
    }

    /// The config a node runs with.
    public func config(for id: ServerID) -> Config {
        var config = Config(localID: id)
        config.heartbeatTimeout = .milliseconds(50)
        config.electionTimeout = .milliseconds(50)
        config.leaderLeaseTimeout = .milliseconds(50)
        config.commitTimeout = .milliseconds(5)
        config.rpcTimeout = .milliseconds(100)
        config.logger.logLevel = .critical
        configure(&config)
        return config
    }

    private func startNode(_ id: ServerID) async throws {
        var node = members[id]!
        let transport = InmemTransport(
            address: node.address,
            clock: simulation.clock,
            timeout: .milliseconds(50),
            faults: faults,
            maxMessageSize: maxMessageSize
        )
        // In `ids` order, not Dictionary order: a run must replay the same in every process.
        for other in ids.compactMap({ members[$0] }) where other.id != id {
            if let peer = other.transport {
                transport.connect(peer)
                peer.connect(transport)
            }
        }
        let trace = trace
        node.transport = transport
        var environment = simulation.environment(tracer: { trace.record($0) })
        let makeExecutor = environment.makeExecutor
        let gate = storageGates[id]!, fsmGate = fsmGates[id]!, loopGate = loopGates[id]!
        environment.makeExecutor = { label in
            if label.hasPrefix("raft-storage-") { return gate }
            if label.hasPrefix("raft-fsm-") { return fsmGate }
            if label == "raft-\(id)" { return loopGate }
            // The snapshot worker keeps the simulation's own executor: it runs its tasks there as
            // a TaskExecutor, which a gate is not (they would leave virtual time otherwise).
            return makeExecutor(label)
        }
        node.raft = try await Raft(
            config: config(for: id),
            fsm: node.fsm,
            logStore: node.stores.logStore,
            stableStore: node.stores.stableStore,
            snapshotStore: node.stores.snapshotStore,
            transport: transport,
            environment: environment
        )
        members[id] = node
    }

    // MARK: - Looking at nodes

    /// The node `id`.
    public func node(_ id: ServerID) -> Node { members[id]! }

    /// The running `Raft` of node `id`; fails if it is crashed.
    public func raft(_ id: ServerID) throws -> Raft {
        guard let raft = members[id]?.raft else { throw Simulation.Failure(description: "\(id) is not running") }
        return raft
    }

    /// The FSM of node `id` since it last started.
    public func fsm(_ id: ServerID) -> any FSM { members[id]!.fsm }

    /// The running nodes.
    public var running: [Raft] { ids.compactMap { members[$0]?.raft } }

    /// The running nodes that believe they lead.
    public var leaders: [Raft] { running.filter { $0.state == .leader } }

    /// The running nodes that do not lead.
    public var followers: [Raft] { running.filter { $0.state != .leader } }

    // MARK: - Concurrency inside the simulation

    /// Starts `operation` as a task inside the simulation. Use this instead of `Task { }`, which
    /// would run on Swift's global executor, outside the simulation's single executor, and make
    /// the run depend on thread timing.
    @discardableResult
    public nonisolated func spawn<Success: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Success
    ) -> Task<Success, any Error> {
        Task(executorPreference: simulation.executor) { try await operation() }
    }

    // MARK: - Waiting

    /// Sleeps for `duration` of virtual time.
    public func sleep(_ duration: Duration) async throws { try await simulation.clock.sleep(for: duration) }

    /// Waits until `condition` holds, checking every 5 ms of virtual time; fails after `timeout`.
    public func waitUntil(
        _ what: @autoclosure () -> String,
        timeout: Duration = .seconds(30),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = simulation.clock.now + timeout
        while try await !condition() {
            guard simulation.clock.now < deadline else {
                throw Simulation.Failure(description: "timed out after \(timeout) waiting for \(what()) (seed \(simulation.seed))")
            }
            try await sleep(.milliseconds(5))
        }
    }

    /// Waits until exactly one running node leads and every other running node in its partition
    /// follows it, then returns the leader.
    public func waitForLeader(among candidates: [ServerID]? = nil, timeout: Duration = .seconds(30)) async throws -> Raft {
        let pool = candidates ?? ids
        var found: Raft?
        try await waitUntil("a leader among \(pool)", timeout: timeout) {
            let leaders = pool.compactMap { members[$0]?.raft }.filter { $0.state == .leader }
            guard leaders.count == 1 else { return false }
            found = leaders[0]
            return true
        }
        return found!
    }

    /// Waits until every running node (or those in `nodes`) has applied through `index`.
    public func waitForApplied(_ index: UInt64, on nodes: [ServerID]? = nil, timeout: Duration = .seconds(30)) async throws {
        let pool = nodes ?? ids
        try await waitUntil("every node to apply \(index)", timeout: timeout) {
            pool.compactMap { members[$0]?.raft }.allSatisfy { $0.appliedIndex >= index }
        }
    }

    /// Waits until every running node has the same last log index, commit index and applied
    /// index as the leader.
    public func waitForConvergence(timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("every node to converge", timeout: timeout) {
            let nodes = running
            guard let leader = nodes.first(where: { $0.state == .leader }) else { return false }
            return nodes.allSatisfy {
                $0.lastIndex == leader.lastIndex && $0.commitIndex == leader.commitIndex
                    && $0.appliedIndex == leader.commitIndex
            }
        }
    }

    // MARK: - Faults

    /// Splits the cluster: nodes in different groups cannot exchange messages.
    public func partition(_ groups: [[ServerID]]) {
        trace.note("partition \(groups)")
        faults.partition(groups.map { $0.map { ServerAddress($0.rawValue) } })
    }

    /// Cuts `id` off from every other node.
    public func isolate(_ id: ServerID) {
        trace.note("isolate \(id)")
        faults.isolate(ServerAddress(id.rawValue))
    }

    /// Restores full connectivity.
    public func heal() {
        trace.note("heal")
        faults.heal()
    }

    /// Makes node `id`'s disk hang: from now on its storage thread starts no work, so its writes
    /// (and log reads) stay unfinished, as behind an fsync that never returns, until
    /// ``resumeStorage(of:)``. Only a node whose log or stable store is not a
    /// `NonBlockingStore` has a storage thread; the in-memory stores write inline and never
    /// stall. Crashing the node or shutting the cluster down resumes it first.
    public nonisolated func stallStorage(of id: ServerID) {
        trace.note("stall storage of \(id)")
        storageGates[id]!.close()
    }

    /// Lets node `id`'s storage thread do, in order, everything it was given while stalled.
    public nonisolated func resumeStorage(of id: ServerID) {
        trace.note("resume storage of \(id)")
        storageGates[id]!.open()
    }

    /// Makes node `id`'s FSM stop applying, as a slow FSM would: committed entries wait for it
    /// until ``resumeFSM(of:)``. Only an FSM that is not a `NonBlockingFSM` has a thread of its
    /// own to hold. Crashing the node or shutting the cluster down resumes it first.
    public nonisolated func stallFSM(of id: ServerID) {
        trace.note("stall FSM of \(id)")
        fsmGates[id]!.close()
    }

    /// Lets node `id`'s FSM apply, in order, everything it was given while stalled.
    public nonisolated func resumeFSM(of id: ServerID) {
        trace.note("resume FSM of \(id)")
        fsmGates[id]!.open()
    }

    /// Freezes node `id` as SIGSTOP would: its loop, disk and FSM work all wait, in order, while
    /// the rest of the cluster and virtual time go on; messages to it queue up and its timers'
    /// work waits too. (A snapshot being written or read in the background goes on; the loop
    /// hears of it only once resumed.) ``resume(_:)`` lets it run again, in the state it was in: the
    /// way to test what a node that was paused believes when it wakes (that it still leads, say).
    /// Crashing it or shutting the cluster down resumes it first.
    public nonisolated func pause(_ id: ServerID) {
        trace.note("pause \(id)")
        for gate in [loopGates[id]!, storageGates[id]!, fsmGates[id]!] { gate.close() }
    }

    /// Lets node `id`, paused by ``pause(_:)``, run again: everything it was given meanwhile runs,
    /// in order.
    public nonisolated func resume(_ id: ServerID) {
        trace.note("resume \(id)")
        for gate in [storageGates[id]!, fsmGates[id]!, loopGates[id]!] { gate.open() }
    }

    /// Stops node `id` as if it crashed, keeping its stores.
    public func crash(_ id: ServerID) async {
        trace.note("crash \(id)")
        // A node waits for its storage and FSM threads to finish as it stops.
        loopGates[id]!.open()
        storageGates[id]!.open()
        fsmGates[id]!.open()
        guard let raft = members[id]?.raft else { return }
        members[id]?.raft = nil
        for other in ids.compactMap({ members[$0] }) where other.id != id {
            other.transport?.disconnect(ServerAddress(id.rawValue))
        }
        members[id]?.transport = nil
        await raft.shutdown()
    }

    /// Starts node `id` again from its stores, with a fresh FSM (which re-applies the log).
    ///
    /// Durable stores can be closed after ``crash(_:)`` and reopened from disk: pass the reopened
    /// ones as `stores`, and the node starts from what its files hold, as after a power cut.
    public func restart(_ id: ServerID, with stores: Stores? = nil) async throws {
        guard members[id]?.raft == nil else { return }
        if let stores { members[id]?.stores = stores }
        members[id]?.fsm = makeFSM(id)
        trace.nodeRestarted(id)
        try await startNode(id)
    }

    /// Shuts every node down.
    public func shutdown() async {
        // A node waits for its storage thread to finish as it stops.
        for id in ids {
            loopGates[id]!.open()
            storageGates[id]!.open()
            fsmGates[id]!.open()
        }
        for id in ids {
            if let raft = members[id]?.raft { await raft.shutdown() }
        }
    }

    // MARK: - Checking

    /// Checks Raft's safety properties over the whole run and the nodes' logs:
    /// - no safety violation was traced (election safety, state machine safety, apply order);
    /// - **log matching**: wherever two logs hold an entry with the same index and term, they
    ///   hold identical entries up to it (as far back as both still hold entries: compaction
    ///   removes a log's head);
    /// - **committed entries are never lost**: every committed entry a log still holds is
    ///   unchanged;
    /// - every FSM applied the same entry at each index as every other FSM did.
    public func checkInvariants() async throws {
        var problems = trace.violations
        let logs = try ids.map { try readLog(of: $0) }
        let committed = trace.committedEntries
        for (position, log) in logs.enumerated() {
            guard let first = log.first?.index else { continue }
            for (index, term) in committed where index >= first && index < first + UInt64(log.count) {
                if log[Int(index - first)].term != term {
                    problems.append("\(ids[position]) lost committed entry \(index)/\(term)")
                }
            }
        }
        for first in logs.indices {
            for second in logs.indices where second > first {
                let a = logs[first], b = logs[second]
                guard let aStart = a.first?.index, let bStart = b.first?.index else { continue }
                let start = max(aStart, bStart)
                let end = min(aStart + UInt64(a.count), bStart + UInt64(b.count))
                guard start < end else { continue }
                let shared = (start..<end).map { (a[Int($0 - aStart)], b[Int($0 - bStart)]) }
                guard let lastMatch = shared.lastIndex(where: { $0.0.term == $0.1.term }) else { continue }
                if let differing = shared[...lastMatch].first(where: { $0.0 != $0.1 }) {
                    problems.append(
                        "log matching: \(ids[first]) and \(ids[second]) agree on \(shared[lastMatch].0.index) but differ at \(differing.0.index)"
                    )
                }
            }
        }
        var appliedTerm: [UInt64: (term: UInt64, node: ServerID)] = [:]
        for id in ids {
            for entry in trace.applied(by: id) {
                if let known = appliedTerm[entry.index], known.term != entry.term {
                    problems.append("\(id) applied \(entry.index)/\(entry.term) where \(known.node) applied \(entry.index)/\(known.term)")
                } else {
                    appliedTerm[entry.index] = (entry.term, id)
                }
            }
        }
        if !problems.isEmpty {
            throw Simulation.Failure(description: "invariants violated (seed \(simulation.seed)):\n" + problems.joined(separator: "\n"))
        }
    }

    /// Every entry in node `id`'s log store, from its first (index 1 unless compacted).
    public func readLog(of id: ServerID) throws -> [Log] {
        let store = members[id]!.stores.logStore
        let last = try store.lastIndex()
        guard last > 0 else { return [] }
        return try store.getLogs(from: max(try store.firstIndex(), 1), through: last)
    }
}
