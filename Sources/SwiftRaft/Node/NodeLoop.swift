import DequeModule
import HeapModule
import Logging

/// A node's state and the loop that drives it: every input is posted to ``mailbox`` from any
/// thread, and the loop, running on the node's own serial executor, feeds everything waiting to
/// the core, takes one ``Ready``, carries it out, and repeats until the mailbox is empty.
/// Draining is the batching: a burst of proposals or answers becomes one core step, one disk
/// write, one AppendEntries per follower.
///
/// There is no task on the path of a proposal: transports, the storage thread and the FSM's
/// thread call back through the mailbox, and each wakes the loop only if it sleeps.
final class NodeLoop: @unchecked Sendable {
    // @unchecked Sendable: the `let`s are immutable or Sendable; every `var` below is read and
    // written only by `process(_:)` and what it calls, which runs only inside the mailbox's
    // drain, on one serial executor, one batch at a time. Other threads reach the node only
    // through `mailbox.post`, which touches none of them.

    // MARK: Plugins and settings

    let config: Config
    let environment: RaftEnvironment
    let logger: Logger
    let observed: NodeStatus
    let transport: any Transport
    let mailbox: Mailbox<NodeInput>
    let applyLimiter: ApplyLimiter
    let storage: StorageWorker
    /// The storage executor's mailbox, or nil when both stores are ``NonBlockingStore``s and
    /// writes happen inline on the loop.
    let storageMailbox: Mailbox<StorageWork>?
    let applier: FSMApplier
    /// The FSM executor's mailbox, or nil for a ``NonBlockingFSM``, applied inline on the loop.
    let applyMailbox: Mailbox<ApplyWork>?
    /// Writes, installs and opens snapshots in the snapshot store.
    let snapshots: SnapshotWorker
    /// The snapshot executor's mailbox: snapshot-store I/O, one job at a time.
    let snapshotMailbox: Mailbox<SnapshotJob>
    /// Where snapshot transfers' tasks run (the snapshot executor, when it can run tasks).
    let snapshotTaskExecutor: (any TaskExecutor)?
    let preVote: Bool
    let metrics: NodeMetrics
    /// Who is told of leadership changes, peers, failing followers, votes and snapshots.
    let observers = ObserverRegistry()

    // MARK: Loop-confined state

    var core: RaftInstance
    var isShutdown = false
    var nextToken: UInt64 = 0
    /// Incoming RPCs the core has not answered yet, by token.
    var responders: [UInt64: RPC] = [:]
    /// Proposals appended and not yet handed to the FSM, by log index.
    var pendingApplies: [UInt64: PendingApply] = [:]
    var pendingVerifications: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    var persistJobs: Deque<InFlightPersist> = []
    var bootstrapWaiters: [CheckedContinuation<Void, any Error>] = []
    var nextPersistID: UInt64 = 0
    /// The AppendEntries lane to each follower.
    var lanes: [ServerID: ReplicationLane] = [:]
    /// Numbers lanes and pipelines, so late answers are told apart from current ones.
    var nextSerial: UInt64 = 0
    /// Replicas this leader could not reach, with why, so each change is logged once.
    var unreachablePeers: [ServerID: String] = [:]
    /// Set when a tick is scheduled on the clock.
    var tickArmed = false
    /// Draws the randomized snapshot intervals.
    var random: SplitMix64
    /// Set while a snapshot is being taken; callers of ``Raft/snapshot()`` that arrive meanwhile
    /// wait for the next one.
    var snapshotInProgress = false
    /// Who waits for the snapshot being taken, and who for the one after it.
    var snapshotRequesters: [SnapshotRequester] = []
    var queuedSnapshotRequesters: [SnapshotRequester] = []
    /// The data of the InstallSnapshot the core is installing, until the snapshot worker takes it.
    var incomingSnapshotData: [UInt64: any SnapshotSource] = [:]
    /// Membership changes waiting for the latest configuration to commit, oldest first.
    var queuedConfigurationChanges: Deque<QueuedConfigurationChange> = []
    /// The caller of a leadership transfer under way.
    var leadershipTransferWaiter: CheckedContinuation<Void, any Error>?
    /// Callers of ``Raft/readIndex(timeout:)``, by token.
    var readWaiters: [UInt64: CheckedContinuation<UInt64, any Error>] = [:]
    /// Confirmed reads waiting for the FSM to apply through their index.
    var readsAwaitingApply: [(index: UInt64, token: UInt64)] = []
    /// When recent ticks happened, for lease reads (``Config/leaseReads``).
    var tickInstants: TickInstants
    /// The servers this node replicates to as leader, as observers were last told
    /// (``RaftEvent/peerAdded(_:)``); empty when not leading.
    var observedPeers: [ServerID: Server] = [:]
    /// The configuration index ``observedPeers`` was last compared with.
    var observedPeersConfigurationIndex: UInt64 = 0
    /// Callers of ``Raft/addVoterWhenCaughtUp(id:address:prevIndex:timeout:)`` waiting for their
    /// server to become a voter, oldest first.
    var promotionWatches: [PromotionWatch] = []
    /// Calls in progress whose callers gave a timeout, soonest deadline first; expired on ticks.
    var callDeadlines = Heap<CallDeadline>()
    /// Above this many deadlines, the ones whose callers were already answered are dropped.
    var callDeadlinesPruneThreshold = NodeLoop.minimumDeadlinePruneThreshold

    // MARK: Metrics (loop-confined)

    /// The clock's time, read at most once per round (see `roundNow`).
    var roundTime: Duration?
    /// Replication metrics by follower, made once each.
    var peerMetrics: [ServerID: PeerMetrics] = [:]
    var replicationLag = ReplicationLag()
    var ticksUntilContactSample = 0
    /// The role last counted in `raft.state.*`.
    var lastRole: RaftRole = .follower
    /// Set when this round carried a TimeoutNow: the candidacy it starts is no heartbeat timeout.
    var timeoutNowReceived = false
    /// Proposals appended since the last write was queued: the next write carries them.
    var proposalsToPersist = 0

    /// A proposal waiting to be applied.
    struct PendingApply {
        var term: UInt64
        var waiter: ApplyWaiter
        /// When the loop appended it (`raft.proposal.committed`, `raft.commitTime`).
        var appendedAt: Duration
    }

    /// A write on its way to disk and what waits for it.
    struct InFlightPersist {
        var id: UInt64
        /// The core's ID for the write, or nil for a job that only waits for earlier writes.
        var coreWriteID: UInt64?
        var messages: [OutboundRequest]
        var waiters: [CheckedContinuation<Void, any Error>]
        /// When the write was handed to storage (``RaftClock/now``), to notice a stalled disk.
        var queuedAt: Duration
        /// Proposals this write makes durable, and when they were appended
        /// (`raft.proposal.persisted`).
        var proposals = 0
        var appendedAt: Duration = .zero
    }

    init(
        config: Config,
        environment: RaftEnvironment,
        logger: Logger,
        observed: NodeStatus,
        transport: any Transport,
        core: RaftInstance,
        preVote: Bool,
        storage: StorageWorker,
        fsm: any FSM,
        fsmPoint: SnapshotPoint,
        snapshotStore: any SnapshotStore,
        executors: NodeExecutors,
        metrics: NodeMetrics
    ) {
        self.metrics = metrics
        self.config = config
        self.environment = environment
        self.logger = logger
        self.observed = observed
        self.transport = transport
        self.core = core
        self.preVote = preVote
        self.storage = storage
        self.applyLimiter = ApplyLimiter(capacity: config.maxPendingApplies + (config.batchApplyCh ? config.maxAppendEntries : 0))
        self.mailbox = Mailbox(executor: executors.loop)
        self.storageMailbox = executors.storage.map { Mailbox(executor: $0) }
        self.applier = FSMApplier(
            fsm: fsm,
            node: config.localID,
            status: observed,
            maxBatch: config.maxAppendEntries,
            tracer: environment.tracer,
            snapshotStore: snapshotStore,
            restoredPoint: fsmPoint,
            metrics: metrics,
            clock: environment.clock,
            wakeNode: { [mailbox] in mailbox.post(.perform { _ in }) }
        )
        self.applyMailbox = executors.fsm.map { Mailbox(executor: $0) }
        self.snapshots = SnapshotWorker(store: snapshotStore, logger: logger, clock: environment.clock, metrics: metrics)
        self.snapshotMailbox = Mailbox(executor: executors.snapshot)
        self.snapshotTaskExecutor = executors.snapshot as? any TaskExecutor
        self.random = SplitMix64(seed: environment.randomSeed ^ 0x5A4F_5348_4F54)
        self.tickInstants = TickInstants(capacity: config.ticks(config.heartbeatTimeout) + 2)
    }

    /// Connects the mailboxes to their consumers and starts the clock. Separate from `init`,
    /// which cannot hand out `self`.
    func start() {
        let mailbox = mailbox, storage = storage, applier = applier
        mailbox.attach { [weak self] inputs in self?.process(inputs) }
        storageMailbox?.attach { work in storage.process(work, node: mailbox) }
        applyMailbox?.attach { work in applier.process(work) }
        snapshotMailbox.attach { jobs in
            for job in jobs { job.run() }
        }
        mailbox.post(
            .perform { loop in
                loop.armTick()
                loop.armSnapshotTimer()
            }
        )
    }

    // MARK: - The loop

    /// One round: every input waiting, then one ``Ready`` carried out.
    func process(_ inputs: [NodeInput]) {
        roundTime = nil
        for input in inputs { feed(input) }
        while !isShutdown && carryOutReady() {}
        if !queuedConfigurationChanges.isEmpty {
            startQueuedConfigurationChanges()
            while !isShutdown && carryOutReady() {}
        }
        timeoutNowReceived = false
    }

    private func feed(_ input: NodeInput) {
        switch input {
        case .tick:
            tickArmed = false
            guard !isShutdown else { return }
            // Before the core's tick: a stalled node must not start a campaign on this one.
            checkStorageStall()
            core.tick()
            if config.leaseReads { tickInstants.record(tick: core.currentTick, at: environment.clock.now) }
            expireCallDeadlines()
            armTick()
            if core.currentRole == .leader { sampleLeaderMetrics() }
        case .rpc(let rpc): handle(rpc)
        case .response(let response, let context): responseArrived(response, context: context)
        case .failed(let context, let error): requestFailed(context: context, error: error)
        case .appendAnswer(let result, let context, let path):
            guard !isShutdown else { return }
            appendAnswered(result, context: context, via: path)
            switch result {
            case .success(let response): responseArrived(.appendEntries(response), context: context)
            case .failure(let error): requestFailed(context: context, error: error)
            }
        case .persisted(let id): persistCompleted(through: id)
        case .loaded(let entries, let load):
            guard !isShutdown else { return }
            core.entriesLoaded(entries, for: load)
        case .propose(let proposal, let waiter): propose(proposal, waiter: waiter)
        case .storageFailed(let error):
            logger.critical("storage write failed, node stopped: \(error)")
            beginShutdown(reason: "storage write failed: \(error)")
        case .perform(let work): work(self)
        }
    }

    func armTick() {
        guard !tickArmed, !isShutdown else { return }
        tickArmed = true
        let mailbox = mailbox
        environment.clock.schedule(after: config.tickInterval) { mailbox.post(.tick) }
    }

    // MARK: - Inputs

    private func handle(_ rpc: RPC) {
        guard !isShutdown else {
            rpc.snapshotData?.close()
            rpc.respond(error: RaftError.shutdown)
            return
        }
        if let problem = protocolVersionProblem(of: rpc.request) {
            rpc.snapshotData?.close()
            rpc.respond(error: RaftError(.unsupportedProtocol, problem))
            return
        }
        switch rpc.request {
        case .requestVote(let request): observers.notify(.voteRequested(request), node: config.localID)
        case .requestPreVote(let request): observers.notify(.preVoteRequested(request), node: config.localID)
        default: break
        }
        if case .timeoutNow = rpc.request { timeoutNowReceived = true }
        nextToken += 1
        responders[nextToken] = rpc
        if case .readIndex(let request) = rpc.request {
            core.receiveReadIndex(request, token: RequestToken(nextToken), leaseHolds: leaseHolds)
        } else {
            core.receive(rpc.request, token: RequestToken(nextToken))
        }
        if let data = rpc.snapshotData {
            // The core either installs this snapshot, and the snapshot worker reads the data, or
            // answered without needing it.
            if core.snapshotBeingInstalled == RequestToken(nextToken) {
                incomingSnapshotData[nextToken] = data
            } else {
                data.close()
            }
        }
    }

    /// hashicorp/raft's `checkRPCHeader`: peers must speak protocol version 2 or 3.
    private func protocolVersionProblem(of request: RaftRequest) -> String? {
        let version: Int
        switch request {
        case .appendEntries(let message): version = message.header.protocolVersion
        case .requestVote(let message): version = message.header.protocolVersion
        case .requestPreVote(let message): version = message.header.protocolVersion
        case .timeoutNow(let message): version = message.header.protocolVersion
        case .installSnapshot(let message): version = message.header.protocolVersion
        case .readIndex(let message): version = message.header.protocolVersion
        }
        guard version < config.protocolVersion - 1 || version > 3 else { return nil }
        return "operation not supported with current protocol version (peer sent \(version))"
    }

    func responseArrived(_ response: RaftResponse, context: RequestContext) {
        guard !isShutdown else { return }
        if context.kind == .appendEntries || context.kind == .heartbeat || context.kind == .installSnapshot,
            unreachablePeers.removeValue(forKey: context.peer) != nil
        {
            logger.info("replication to \(context.peer) resumed")
            observers.notify(.heartbeatResumed(peer: context.peer), node: config.localID)
        }
        if context.kind == .heartbeat { closeStalledPipeline(to: context.peer) }
        core.receive(response: response, context: context)
    }

    func requestFailed(context: RequestContext, error: any Error) {
        guard !isShutdown else { return }
        let code = (error as? RaftError)?.code
        let unsupported = code == .preVoteUnsupported || (context.kind == .readIndex && code == .unsupportedProtocol)
        if context.kind == .appendEntries || context.kind == .heartbeat || context.kind == .installSnapshot {
            // A follower that keeps failing is retried (with back-off) forever; say so once, with
            // the reason, when it starts, and once when it recovers, not on every retry.
            if unreachablePeers[context.peer] == nil {
                unreachablePeers[context.peer] = "\(error)"
                logger.error("replication to \(context.peer) failing, will keep retrying: \(error)")
                let lastContact = core.ticksSinceContact(with: context.peer).map { config.tickInterval * Int($0) }
                observers.notify(.heartbeatFailed(peer: context.peer, lastContact: lastContact), node: config.localID)
            } else {
                logger.debug("\(context.kind) to \(context.peer) failed: \(error)")
            }
        } else if !unsupported {
            logger.debug("\(context.kind) to \(context.peer) failed: \(error)")
        }
        let reason: RequestFailure =
            !unsupported ? .unreachable : context.kind == .readIndex ? .unsupportedByPeer : .preVoteUnsupported
        core.requestFailed(context: context, reason: reason)
    }

    func persistCompleted(through id: UInt64) {
        guard !isShutdown else { return }
        while let job = persistJobs.first, job.id <= id {
            persistJobs.removeFirst()
            if job.proposals > 0 && metrics.timing { metrics.proposalPersisted.record(environment.clock.now - job.appendedAt) }
            send(job.messages)
            if let writeID = job.coreWriteID { core.persisted(writeID: writeID) }
            for waiter in job.waiters { waiter.resume() }
        }
    }

    private func propose(_ proposal: Proposal, waiter: ApplyWaiter) {
        guard !isShutdown else {
            applyLimiter.release()
            waiter.resume(with: .failure(RaftError.shutdown))
            return
        }
        // A caller cancelled while its proposal waited here: it was told so, and it is dropped.
        guard waiter.beginAppend() else {
            applyLimiter.release()
            return
        }
        switch core.propose([proposal]) {
        case .success(let indexes):
            let now = metrics.timing ? roundNow : .zero
            metrics.proposalQueued.record(now - waiter.queuedAt)
            if proposal.type == .barrier { metrics.barrier.increment() } else { metrics.apply.increment() }
            proposalsToPersist += 1
            waiter.appended(at: indexes.lowerBound)
            pendingApplies[indexes.lowerBound] = PendingApply(term: core.currentTerm, waiter: waiter, appendedAt: now)
            trackDeadline(of: waiter, index: indexes.lowerBound)
        case .failure(.notLeader(let leader)):
            applyLimiter.release()
            waiter.resume(with: .failure(RaftError.notLeader(leader)))
        case .failure(.leadershipTransferInProgress):
            applyLimiter.release()
            waiter.resume(with: .failure(RaftError(.leadershipTransferInProgress, "leadership transfer in progress")))
        }
    }
}

/// The executors a node runs on: its loop's and its snapshot store's always; storage and FSM
/// only when they may block.
struct NodeExecutors: Sendable {
    var loop: any RaftExecutor
    var storage: (any RaftExecutor)?
    var fsm: (any RaftExecutor)?
    var snapshot: any RaftExecutor

    /// Every distinct executor, for shutting them down.
    var all: [any RaftExecutor] { [loop, snapshot] + [storage, fsm].compactMap { $0 } }
}

/// One job for the snapshot executor.
struct SnapshotJob: Sendable {
    let run: @Sendable () -> Void
}
