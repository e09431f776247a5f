import Logging
import DequeModule

/// One Raft server: the public face of swift-raft (hashicorp/raft's `*Raft`).
///
/// Give it a ``Config``, your ``FSM`` and the plugins — a ``LogStore``, a ``StableStore``, a
/// ``SnapshotStore`` and a ``Transport`` — and it replicates your FSM's commands across the
/// cluster:
///
/// ```swift
/// let store = InmemStore()
/// let raft = try await Raft(config: config, fsm: MyFSM(), logStore: store, stableStore: store,
///                           snapshotStore: InmemSnapshotStore(), transport: transport)
/// let result = try await raft.apply(bytes, timeout: .seconds(1))   // result.index, result.response
/// ```
///
/// ## How it works
///
/// `Raft` is the *shell* around ``RaftInstance``, the protocol as a pure state machine. The shell
/// turns time into ticks, RPCs and calls into the instance's inputs, and carries out each
/// ``Ready`` it returns: it sends messages, hands writes to a storage thread (all writes queued
/// meanwhile go out as one group commit), sends acknowledgements once they are durable, and
/// passes committed entries to the FSM's own thread. Neither disk nor FSM ever runs on Swift's
/// cooperative pool, so heartbeats and votes are never stuck behind them.
///
/// ## Lifecycle
///
/// The initializer loads the stores and starts the node's tasks. Call ``shutdown()`` when done:
/// it resolves every pending call with ``RaftError/Code/shutdown``, stops every task the node
/// started and closes the transport if it is a ``ClosableTransport``.
public actor Raft {
    // MARK: Plugins and settings

    /// The settings this node runs with.
    public nonisolated let config: Config
    nonisolated let environment: RaftEnvironment
    let fsm: any FSM
    let logStore: any LogStore
    let stableStore: any StableStore
    let snapshotStore: any SnapshotStore
    nonisolated let transport: any Transport
    nonisolated let logger: Logger
    nonisolated let observed = NodeStatus()
    /// The largest command (data plus extensions) ``apply(_:timeout:)`` accepts: the transport's
    /// ``Transport/maxMessageSize`` less the framing of an AppendEntries that carries it alone, or
    /// nil when the transport sets no limit. With ``InmemTransport`` and `NetworkTransport`'s
    /// default 64 MiB limits it is 64 MiB less about 1 KiB.
    public nonisolated let maxCommandSize: Int?
    /// Replicas this leader could not reach, with why, so each change is logged once.
    var unreachablePeers: [ServerID: String] = [:]

    // MARK: Core and its work in progress

    var core: RaftInstance
    var flushScheduled = false
    var isShutdown = false
    var nextToken: UInt64 = 0
    var responders: [UInt64: RPC] = [:]
    var pendingApplies: [UInt64: PendingApply] = [:]
    var pendingVerifications: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    var persistJobs: Deque<InFlightPersist> = []
    var bootstrapWaiters: [CheckedContinuation<Void, any Error>] = []
    var nextPersistID: UInt64 = 0
    var replicators: [ServerID: PeerReplicator] = [:]
    let applyLimiter: ApplyLimiter

    // MARK: Background work

    let storageQueue = WorkQueue<StorageWork>()
    let applyQueue = WorkQueue<ApplyBatch>()
    let flushSignal = WorkQueue<Void>()
    let spawnQueue = WorkQueue<@Sendable () async -> Void>()
    /// Set when both stores are ``NonBlockingStore``s: writes then happen on the node itself.
    let inlineStorage: StorageWorker?
    let storageExecutor: any TaskExecutor
    let fsmExecutor: any TaskExecutor
    var backgroundTask: Task<Void, Never>?
    var transportClosed = false

    /// A proposal waiting to be applied.
    struct PendingApply {
        var term: UInt64
        var waiter: ApplyWaiter
    }

    /// A write on its way to disk and what waits for it.
    struct InFlightPersist {
        var id: UInt64
        /// The core's ID for the write, or nil for a job that only waits for earlier writes.
        var coreWriteID: UInt64?
        var messages: [OutboundRequest]
        var replies: [OutboundReply]
        var waiters: [CheckedContinuation<Void, any Error>]
    }

    /// Creates and starts a node: validates `config`, loads term, vote and log from the stores,
    /// and begins serving RPCs and counting time.
    ///
    /// - Parameters:
    ///   - config: the node's settings; invalid values throw ``RaftError/Code/invalidConfig``.
    ///   - fsm: the state machine commands are applied to.
    ///   - logStore: durable log storage.
    ///   - stableStore: durable term and vote.
    ///   - snapshotStore: durable snapshots.
    ///   - transport: how this node talks to its peers.
    ///   - environment: clock, threads and randomness; ``RaftEnvironment/live`` unless simulating.
    public init(
        config: Config,
        fsm: any FSM,
        logStore: any LogStore,
        stableStore: any StableStore,
        snapshotStore: any SnapshotStore,
        transport: any Transport,
        environment: RaftEnvironment = .live
    ) async throws {
        try config.validate()
        let limits = try ReplicationLimits(
            maxMessageSize: transport.maxMessageSize,
            localID: config.localID,
            localAddress: transport.localAddress,
            maxAppendEntries: config.maxAppendEntries
        )
        self.maxCommandSize = limits.maxCommandSize
        var logger = config.logger
        logger[metadataKey: "raft.node"] = "\(config.localID)"
        self.config = config
        self.environment = environment
        self.fsm = fsm
        self.logStore = logStore
        self.stableStore = stableStore
        self.snapshotStore = snapshotStore
        self.transport = transport
        self.logger = logger
        self.applyLimiter = ApplyLimiter(capacity: config.maxPendingApplies + (config.batchApplyCh ? config.maxAppendEntries : 0))
        let storageExecutor = environment.makeBlockingExecutor("raft-storage-\(config.localID)")
        let fsmExecutor = environment.makeBlockingExecutor("raft-fsm-\(config.localID)")
        self.storageExecutor = storageExecutor
        self.fsmExecutor = fsmExecutor

        let storage = StorageWorker(logStore: logStore, stableStore: stableStore)
        self.inlineStorage = logStore is any NonBlockingStore && stableStore is any NonBlockingStore ? storage : nil
        let restored: RaftInstance.RestoredState
        do {
            restored = try await Self.loadState(storage: storage, on: storageExecutor)
        } catch {
            // Nothing was started yet but the executors' threads: stop them, or they would idle
            // for the life of the process.
            for executor in [storageExecutor, fsmExecutor] { (executor as? ThreadExecutor)?.shutdown() }
            logger.error("raft node failed to start: \(error)")
            throw error
        }
        let preVote = !config.preVoteDisabled && transport is any PreVoteTransport
        var options = config.instanceOptions(localAddress: transport.localAddress, preVote: preVote)
        options.maxAppendBytes = limits.maxAppendBytes
        self.core = RaftInstance(
            options: options,
            restored: restored,
            random: SplitMix64(seed: environment.randomSeed)
        )
        publishStatus()
        logger.info(
            "raft node starting",
            metadata: [
                "raft.term": "\(core.currentTerm)", "raft.last_index": "\(core.lastIndex)",
                "raft.configuration": "\(core.latestConfigurationState.configuration)",
            ]
        )
        start(storage: storage)
    }

    /// Reads term, vote and the whole log on the storage executor.
    private static func loadState(storage: StorageWorker, on executor: any TaskExecutor) async throws
        -> RaftInstance.RestoredState
    {
        try await withTaskExecutorPreference(executor) {
            let hardState = try StoredHardState.load(from: storage.stableStore)
            let first = try storage.logStore.firstIndex()
            let last = try storage.logStore.lastIndex()
            guard last > 0 else { return RaftInstance.RestoredState(hardState: hardState) }
            let entries = try storage.logStore.getLogs(from: first, through: last)
            guard entries.count == Int(last - first + 1) else {
                throw RaftError(.corrupt, "log store is missing entries between \(first) and \(last)")
            }
            guard first == 1 else {
                // Entries before `first` were compacted into a snapshot; restoring from snapshots
                // arrives with snapshot support.
                throw RaftError(.corrupt, "log starts at \(first) but no snapshot covers the entries before it")
            }
            return RaftInstance.RestoredState(hardState: hardState, entries: entries)
        }
    }

    /// Starts the node's tasks, all children of one task that ``shutdown()`` cancels and awaits.
    private func start(storage: StorageWorker) {
        let applier = FSMApplier(
            fsm: fsm,
            batchingFSM: fsm as? any BatchingFSM,
            node: config.localID,
            status: observed,
            maxBatch: config.maxAppendEntries,
            tracer: environment.tracer
        )
        let tick = config.tickInterval
        let clock = environment.clock
        let storageQueue = storageQueue, applyQueue = applyQueue, flushSignal = flushSignal, spawnQueue = spawnQueue
        let storageExecutor = storageExecutor, fsmExecutor = fsmExecutor, transport = transport
        backgroundTask = Task(executorPreference: environment.taskExecutor) {
            await withDiscardingTaskGroup { group in
                group.addTask(executorPreference: storageExecutor) { await storage.run(queue: storageQueue, node: self) }
                group.addTask(executorPreference: fsmExecutor) { await applier.run(queue: applyQueue) }
                group.addTask { await flushSignal.consume { _ in await self.flush() } }
                group.addTask {
                    for await rpc in transport.consumer {
                        await self.handle(rpc)
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await clock.sleep(for: tick) } catch { return }
                        await self.tick()
                    }
                }
                await spawnQueue.consume { jobs in
                    for job in jobs { group.addTask { await job() } }
                }
                group.cancelAll()
            }
        }
    }

    // MARK: - Status

    /// Copies the core's observable state to ``observed`` for the lock-free getters.
    func publishStatus() {
        let latest = core.latestConfigurationState
        let lastContact: Duration? = core.ticksSinceLeaderContact.map { config.tickInterval * Int($0) }
        observed.update { snapshot in
            if snapshot.state != .shutdown { snapshot.state = RaftState(core.currentRole) }
            snapshot.term = core.currentTerm
            snapshot.leader = core.currentLeader
            snapshot.commitIndex = core.currentCommitIndex
            snapshot.lastLogIndex = core.lastIndex
            snapshot.lastLogTerm = core.lastTerm
            snapshot.latestConfiguration = latest.configuration
            snapshot.latestConfigurationIndex = latest.index
            snapshot.lastContact = core.currentRole == .leader ? .zero : lastContact
        }
    }
}
