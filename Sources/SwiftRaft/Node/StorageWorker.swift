/// One write the core asked for in a ``Ready``.
struct PersistJob: Sendable {
    var id: UInt64
    var hardState: HardState?
    var truncateFrom: UInt64?
    var entries: [Log]
}

/// Work for the storage loop, done in order.
enum StorageWork: Sendable {
    case persist(PersistJob)
    case load(EntryLoad)
}

/// Runs the node's log and stable store I/O on a blocking executor, one batch at a time: every
/// write queued while the previous batch was on disk goes out together (group commit), then the
/// node hears back once for the lot.
struct StorageWorker: Sendable {
    let logStore: any LogStore
    let stableStore: any StableStore

    func run(queue: WorkQueue<StorageWork>, node: Raft) async {
        await queue.consume { batch in
            var jobs: [PersistJob] = []
            var loads: [EntryLoad] = []
            for work in batch {
                switch work {
                case .persist(let job): jobs.append(job)
                case .load(let load): loads.append(load)
                }
            }
            if let lastJob = jobs.last {
                do {
                    try write(jobs)
                } catch {
                    await node.storageFailed(error)
                    return
                }
                await node.persistCompleted(through: lastJob.id)
            }
            for load in loads {
                await node.entriesLoaded(self.load(load), for: load)
            }
        }
    }

    /// The entries `load` asks for; empty if the store cannot provide them (the core then backs
    /// off and retries).
    func load(_ load: EntryLoad) -> [Log] {
        (try? logStore.getLogs(from: load.firstIndex, through: load.lastIndex)) ?? []
    }

    /// Writes the jobs in order with as few store calls as possible: the newest hard state once,
    /// and each run of appends between truncations as one `storeLogs` (one sync).
    func write(_ jobs: [PersistJob]) throws {
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
