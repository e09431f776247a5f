/// A snapshot ``Raft/snapshot()`` took: its metadata, and a way to read it back from the store
/// (hashicorp/raft's `SnapshotFuture.Open`).
public struct TakenSnapshot: Sendable {
    /// The snapshot's metadata as the store recorded it.
    public let meta: SnapshotMeta
    let store: any SnapshotStore

    /// Opens the snapshot for reading; close the source when done. Fails if the store no longer
    /// holds it (a store that keeps only the newest may have replaced it).
    public func open() throws -> (SnapshotMeta, any SnapshotSource) {
        try store.open(id: meta.id)
    }
}

/// Snapshots an application asks for: hashicorp/raft's `Snapshot` and `Restore`.
extension Raft {
    /// Takes a snapshot now, whatever ``Config/snapshotThreshold`` says, and compacts the log
    /// behind it (hashicorp/raft's `Snapshot`). Runs on any server, leader or not. If a snapshot
    /// is being taken already, this waits for it and takes the next.
    ///
    /// - Throws: ``RaftError/Code/nothingNewToSnapshot`` when the FSM has applied nothing since
    ///   the last snapshot; ``RaftError/Code/shutdown``; or what the FSM's `snapshot()`, its
    ///   `persist(to:)` or the snapshot store threw.
    public func snapshot() async throws -> TakenSnapshot {
        let store = loop.snapshots.store
        let meta: SnapshotMeta = try await withCheckedThrowingContinuation { continuation in
            let requester: SnapshotRequester = { result in continuation.resume(with: result) }
            if !loop.mailbox.post(.perform { loop in loop.takeSnapshot(requester: requester) }) {
                continuation.resume(throwing: RaftError.shutdown)
            }
        }
        return TakenSnapshot(meta: meta, store: store)
    }

    /// Replaces the whole cluster's state with an external snapshot — disaster recovery
    /// (hashicorp/raft's `Restore`). Call it on the leader.
    ///
    /// The leader writes `meta.size` bytes read from `source` as a new snapshot placed after
    /// everything in its log, in its current term and configuration, replaces its log with it,
    /// restores its FSM from it, and returns once a barrier after it has been applied; followers
    /// catch up through InstallSnapshot. Proposals still in flight fail with
    /// ``RaftError/Code/abortedByRestore``. The node answers nothing while it copies the
    /// snapshot, as hashicorp/raft's leader does not: a restore of a large snapshot can cost the
    /// leadership, and if it does after the FSM was restored, this server's FSM holds state the
    /// cluster never committed. It is an operator's last resort, not an everyday write.
    ///
    /// - Parameters:
    ///   - meta: the snapshot's metadata; only ``SnapshotMeta/index`` and ``SnapshotMeta/size``
    ///     are used.
    ///   - source: the snapshot's bytes; read to exactly `meta.size` bytes, left open.
    ///   - timeout: how long to wait for room to queue the closing barrier.
    /// - Throws: ``RaftError/Code/notLeader``; ``RaftError/Code/invalidArgument`` when a
    ///   configuration change is uncommitted or the source holds fewer bytes than `meta.size`;
    ///   the snapshot store's or the FSM's errors (an FSM that fails to restore stops the node).
    public func restore(meta: SnapshotMeta, source: any SnapshotSource, timeout: Duration? = nil) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let posted = loop.mailbox.post(
                .perform { loop in
                    loop.restoreUserSnapshot(meta: meta, source: source) { continuation.resume(with: $0) }
                }
            )
            if !posted { continuation.resume(throwing: RaftError.shutdown) }
        }
        try await barrier(timeout: timeout)
    }
}
