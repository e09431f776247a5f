import Logging

/// Noticing a stalled disk (``Config/maxStorageStall``): on every tick the loop looks at how long
/// its oldest unfinished write has been with the storage thread, and tells the core when that
/// passes the bound (a leader steps down, nobody here campaigns) and when the writes finish.
extension NodeLoop {
    func checkStorageStall() {
        guard let bound = config.maxStorageStall, storageMailbox != nil else { return }
        let stalledFor = persistJobs.first.map { environment.clock.now - $0.queuedAt } ?? .zero
        if stalledFor > bound {
            guard !core.isStorageStalled else { return }
            let metadata: Logger.Metadata = [
                "raft.storage.stalled_for": "\(stalledFor)",
                "raft.storage.max_stall": "\(bound)",
                "raft.storage.writes_pending": "\(persistJobs.count)",
                "raft.last_persisted_index": "\(core.lastPersistedIndex)",
                "raft.term": "\(core.currentTerm)",
            ]
            if core.currentRole == .leader {
                let why =
                    "stepping down: the log store has not finished a write for \(stalledFor), more than maxStorageStall \(bound);"
                    + " a leader that cannot make entries durable cannot apply them, and its heartbeats would keep"
                    + " the others from electing one that can"
                logger.critical("\(why)", metadata: metadata)
            } else {
                logger.error(
                    "not campaigning: the log store has not finished a write for \(stalledFor), more than maxStorageStall \(bound)",
                    metadata: metadata
                )
            }
            core.storageStalled()
        } else if core.isStorageStalled {
            logger.warning(
                "the log store finished its stalled writes; campaigning again when due",
                metadata: ["raft.last_persisted_index": "\(core.lastPersistedIndex)"]
            )
            core.storageRecovered()
        }
    }
}
