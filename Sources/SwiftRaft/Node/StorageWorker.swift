import Logging
import Synchronization

/// One write the core asked for in a ``Ready``, with the answers that wait for it.
struct PersistJob: Sendable {
    var id: UInt64
    var hardState: HardState?
    var truncateFrom: UInt64?
    var entries: [Log]
    /// Answers to incoming RPCs (a follower's accepted entries, a granted vote) that may go only
    /// once the write is durable. The storage thread sends them itself, the moment it is.
    var replies: [(rpc: RPC, response: RaftResponse)] = []
    /// Written by a leader to its own log (`raft.leader.dispatchLog`), else by a follower
    /// (`raft.rpc.appendEntries.storeLogs`).
    var asLeader = false
}

/// Work for the storage executor, done in order.
enum StorageWork: Sendable {
    case persist(PersistJob)
    case load(EntryLoad)
    /// Deletes the log's entries through this index: a snapshot covers them.
    case compact(through: UInt64)
    /// Runs once everything queued before it is done (used to wait for the storage thread).
    case marker(@Sendable () -> Void)
}

/// Runs the node's log and stable store I/O, one batch at a time: every write queued while the
/// previous batch was on disk goes out together (group commit), the answers waiting for it go
/// straight to the transport from here, and the node hears back once for the lot.
final class StorageWorker: Sendable {
    let logStore: any LogStore
    let stableStore: any StableStore
    let logger: Logger
    let clock: any RaftClock
    let metrics: NodeMetrics
    /// Set after a failed write: the node stops, and nothing more is written.
    private let failed = Atomic<Bool>(false)

    init(logStore: any LogStore, stableStore: any StableStore, logger: Logger, clock: any RaftClock, metrics: NodeMetrics) {
        self.logStore = logStore
        self.stableStore = stableStore
        self.logger = logger
        self.clock = clock
        self.metrics = metrics
    }

    /// Carries out one batch on the storage executor and reports to `node`.
    func process(_ batch: [StorageWork], node: Mailbox<NodeInput>) {
        var jobs: [PersistJob] = []
        for work in batch {
            switch work {
            case .persist(let job): jobs.append(job)
            case .load(let load):
                finish(jobs, node: node)
                jobs.removeAll()
                node.post(.loaded(self.load(load), load))
            case .compact(let through):
                finish(jobs, node: node)
                jobs.removeAll()
                compact(through: through)
            case .marker(let done):
                finish(jobs, node: node)
                jobs.removeAll()
                done()
            }
        }
        finish(jobs, node: node)
    }

    /// Writes `jobs`, answers what waited for them, and tells the node.
    private func finish(_ jobs: [PersistJob], node: Mailbox<NodeInput>) {
        guard let lastJob = jobs.last else { return }
        guard !failed.load(ordering: .relaxed) else {
            Self.refuse(jobs, RaftError.shutdown)
            return
        }
        do {
            try write(jobs)
        } catch {
            failed.store(true, ordering: .relaxed)
            Self.refuse(jobs, RaftError(.shutdown, "storage write failed: \(error)"))
            node.post(.storageFailed(error))
            return
        }
        for job in jobs {
            for (rpc, response) in job.replies { rpc.respond(response) }
        }
        node.post(.persisted(lastJob.id))
    }

    private static func refuse(_ jobs: [PersistJob], _ error: RaftError) {
        for job in jobs {
            for (rpc, _) in job.replies { rpc.respond(error: error) }
        }
    }

    /// The entries `load` asks for; empty if the store cannot provide them (the core then backs
    /// off and retries).
    func load(_ load: EntryLoad) -> [Log] {
        (try? logStore.getLogs(from: load.firstIndex, through: load.lastIndex)) ?? []
    }

    /// Deletes the log's head through `through` (hashicorp/raft's `compactLogs`). A failure is
    /// logged, not fatal: the entries stay, and the next compaction takes them too.
    func compact(through: UInt64) {
        guard !failed.load(ordering: .relaxed) else { return }
        let started = clock.now
        do {
            let first = try logStore.firstIndex()
            guard first > 0, first <= through else { return }
            try logStore.deleteRange(min: first, max: through)
            logger.info(
                "compacted logs",
                metadata: [
                    "raft.compaction.from": "\(first)", "raft.compaction.through": "\(through)",
                    "raft.compaction.duration": "\(clock.now - started)",
                ]
            )
        } catch {
            logger.error("log compaction through \(through) failed: \(error)")
        }
    }

    /// Writes the jobs in order with as few store calls as possible: the newest hard state once
    /// (one durable write for term and vote), and each run of appends between truncations as one
    /// `storeLogs` (one sync).
    func write(_ jobs: [PersistJob]) throws {
        let started = metrics.timing ? clock.now : .zero
        defer { if metrics.timing { recordWrite(jobs, started: started) } }
        if let hardState = jobs.last(where: { $0.hardState != nil })?.hardState {
            try StoredHardState.save(hardState, to: stableStore)
        }
        var pending: [Log] = []
        for job in jobs {
            if let from = job.truncateFrom {
                if !pending.isEmpty {
                    try logStore.storeLogs(pending)
                    pending.removeAll()
                }
                let last = try logStore.lastIndex()
                if last >= from { try logStore.deleteRange(min: from, max: last) }
            }
            pending.append(contentsOf: job.entries)
        }
        if !pending.isEmpty { try logStore.storeLogs(pending) }
    }
}

extension StorageWorker {
    /// Times a write that stored entries: a leader's as `raft.leader.dispatchLog`, a follower's
    /// as `raft.rpc.appendEntries.storeLogs`.
    private func recordWrite(_ jobs: [PersistJob], started: Duration) {
        guard jobs.contains(where: { !$0.entries.isEmpty }) else { return }
        let took = clock.now - started
        if jobs.contains(where: \.asLeader) {
            metrics.leaderDispatchLog.record(took)
        } else {
            metrics.followerStoreLogs.record(took)
        }
    }
}

/// Reads and writes the term and vote under hashicorp/raft's stable-store keys.
enum StoredHardState {
    /// One durable write for all three keys (one sync, with a store that batches them).
    static func save(_ state: HardState, to store: any StableStore) throws {
        try store.setMany([
            (StableStoreKeys.currentTerm, .uint64(state.currentTerm)),
            (StableStoreKeys.lastVoteCandidate, .bytes(Array((state.lastVoteCandidate?.rawValue ?? "").utf8))),
            (StableStoreKeys.lastVoteTerm, .uint64(state.lastVoteTerm)),
        ])
    }

    static func load(from store: any StableStore) throws -> HardState {
        let term = try store.getUInt64(StableStoreKeys.currentTerm) ?? 0
        let voteTerm = try store.getUInt64(StableStoreKeys.lastVoteTerm) ?? 0
        let candidate = try store.get(StableStoreKeys.lastVoteCandidate).flatMap { bytes in
            bytes.isEmpty ? nil : ServerID(String(decoding: bytes, as: UTF8.self))
        }
        return HardState(currentTerm: term, lastVoteTerm: voteTerm, lastVoteCandidate: candidate)
    }
}
