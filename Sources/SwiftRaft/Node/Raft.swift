import CoreMetrics
import Logging
import Synchronization

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
/// `Raft` is the *shell* around `RaftInstance`, the protocol as a pure state machine. Each node
/// runs one loop on its own serial executor (a named thread, `raft-<id>`): API calls, incoming
/// RPCs, answers, finished writes and clock ticks are posted to its mailbox from whatever thread
/// they happen on, and the loop feeds everything waiting to the instance, takes one `Ready` and
/// carries it out — sends messages, hands the write to the storage thread (all writes queued
/// meanwhile go out as one group commit, and the storage thread answers the RPCs that waited for
/// them), and passes committed entries to the FSM's thread, which answers the callers. Disk and
/// FSM never run on Swift's cooperative pool or on the loop (unless they declare themselves
/// non-blocking: ``NonBlockingStore``, ``NonBlockingFSM``), so heartbeats and votes are never
/// stuck behind them.
///
/// ## Lifecycle
///
/// The initializer loads the stores — restoring the FSM from the newest snapshot and reading only
/// the log after it — and starts the node. Call ``shutdown()`` when done: it
/// resolves every pending call with ``RaftError/Code/shutdown``, waits for the node's threads to
/// finish their work, and closes the transport if it is a ``ClosableTransport``.
public final class Raft: Sendable {
    // MARK: Plugins and settings

    /// The settings this node runs with.
    public let config: Config
    let environment: RaftEnvironment
    let transport: any Transport
    let logger: Logger
    let observed: NodeStatus
    /// The largest command (data plus extensions) ``apply(_:timeout:)`` accepts: the transport's
    /// ``Transport/maxMessageSize`` less the framing of an AppendEntries that carries it alone, or
    /// nil when the transport sets no limit. With ``InmemTransport`` and `NetworkTransport`'s
    /// default 64 MiB limits it is 64 MiB less about 1 KiB.
    public let maxCommandSize: Int?
    /// The node's state and loop.
    let loop: NodeLoop
    let executors: NodeExecutors
    /// Whether ``shutdown()`` has run to the end (or is running), so a second call only waits.
    let shutdownState = Mutex(ShutdownState.running)

    enum ShutdownState {
        case running
        case stopping([CheckedContinuation<Void, Never>])
        case stopped
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
        let observed = NodeStatus()
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
        self.transport = transport
        self.logger = logger
        self.observed = observed
        let inlineStorage = logStore is any NonBlockingStore && stableStore is any NonBlockingStore
        let executors = NodeExecutors(
            loop: environment.makeExecutor("raft-\(config.localID)"),
            storage: inlineStorage ? nil : environment.makeExecutor("raft-storage-\(config.localID)"),
            fsm: fsm is any NonBlockingFSM ? nil : environment.makeExecutor("raft-fsm-\(config.localID)"),
            snapshot: environment.makeExecutor("raft-snapshot-\(config.localID)")
        )
        self.executors = executors

        // The factory in force now: bootstrapped, or bound to this task by `withMetricsFactory`.
        let metrics = NodeMetrics(node: config.localID, factory: MetricsSystem.factory)
        let storage = StorageWorker(
            logStore: logStore,
            stableStore: stableStore,
            logger: logger,
            clock: environment.clock,
            metrics: metrics
        )
        let loader = StartupLoader(
            storage: storage,
            snapshotStore: snapshotStore,
            fsm: fsm,
            restoreFSM: !config.noSnapshotRestoreOnStart,
            logger: logger,
            node: config.localID,
            tracer: environment.tracer
        )
        let loaded: StartupLoader.Loaded
        do {
            loaded = try await Self.load(with: loader, on: executors.storage ?? executors.loop)
        } catch {
            // Nothing was started yet but the executors' threads: stop them, or they would idle
            // for the life of the process.
            for executor in executors.all { executor.shutdown() }
            logger.error("raft node failed to start: \(error)")
            throw error
        }
        let preVote = !config.preVoteDisabled && transport is any PreVoteTransport
        var options = config.instanceOptions(localAddress: transport.localAddress, preVote: preVote)
        options.maxAppendBytes = limits.maxAppendBytes
        let core = RaftInstance(
            options: options,
            restored: loaded.restored,
            random: SplitMix64(seed: environment.randomSeed)
        )
        self.loop = NodeLoop(
            config: config,
            environment: environment,
            logger: logger,
            observed: observed,
            transport: transport,
            core: core,
            preVote: preVote,
            storage: storage,
            fsm: fsm,
            fsmPoint: loaded.fsmPoint,
            snapshotStore: snapshotStore,
            executors: executors,
            metrics: metrics
        )
        observed.update { status in
            status.appliedIndex = loaded.fsmPoint.index
            status.handedOutIndex = loaded.fsmPoint.index
        }
        logger.info(
            "raft node starting",
            metadata: [
                "raft.term": "\(core.currentTerm)", "raft.last_index": "\(core.lastIndex)",
                "raft.last_snapshot_index": "\(core.lastSnapshot.index)",
                "raft.configuration": "\(core.latestConfigurationState.configuration)",
            ]
        )
        let loop = loop
        loop.mailbox.post(.perform { loop in loop.publishStatus() })
        loop.start()
        let mailbox = loop.mailbox
        // The same handler for heartbeats: the loop answers them at once, never behind a disk
        // write, and installing it takes heartbeats off a connection's in-order answer queue.
        let handler: @Sendable (RPC) -> Void = { rpc in
            if !mailbox.post(.rpc(rpc)) { rpc.respond(error: RaftError.shutdown) }
        }
        transport.setRPCHandler(handler)
        transport.setHeartbeatHandler(handler)
    }

    /// Loads the stores (and restores the FSM) on the storage executor: it blocks on disk.
    private static func load(with loader: StartupLoader, on executor: any RaftExecutor) async throws -> StartupLoader.Loaded {
        try await withCheckedThrowingContinuation { continuation in
            executor.execute { continuation.resume(with: Result { try loader.load() }) }
        }
    }
}
