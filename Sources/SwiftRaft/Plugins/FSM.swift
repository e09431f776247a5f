/// The application's replicated state machine (hashicorp/raft's `FSM`).
///
/// Raft calls ``apply(_:)`` for every committed `LogType.command` entry, in log order, exactly
/// once per entry per process lifetime, on a serial executor of its own (the node's loop for a
/// ``NonBlockingFSM``): never concurrently with itself, ``snapshot()`` or ``restore(from:)``, and
/// never on Swift's cooperative thread pool, so a slow FSM delays no heartbeat or vote. An FSM is shared between that executor and the code
/// that created it, hence `Sendable`: keep its state behind a `Mutex` or make it immutable.
public protocol FSM: Sendable {
    /// Applies one committed entry and returns the response that ``Raft/apply(_:timeout:)``
    /// hands back to the caller on the leader.
    func apply(_ log: Log) -> (any Sendable)?

    /// Captures the current state for a snapshot, between two applies (so it holds every entry
    /// through the last one applied and none after). Must be quick: the returned snapshot's
    /// ``FSMSnapshot/persist(to:)`` does the slow work on another thread, concurrently with later
    /// ``apply(_:)`` calls, so it must not read state that `apply` changes.
    func snapshot() throws -> any FSMSnapshot

    /// Replaces the whole state with the snapshot read from `source`: at startup (the newest
    /// snapshot), when a leader sends one, and after ``Raft/restore(meta:source:timeout:)``.
    ///
    /// Raft owns `source` and closes it after this returns (or throws); the FSM only reads it,
    /// and must not keep it. Read it in pieces (``SnapshotSource/read(maxLength:)``): a snapshot
    /// need not fit in memory. A restore that throws stops the node, whose FSM then no longer
    /// matches its log.
    func restore(from source: any SnapshotSource) throws
}

/// An FSM that applies committed entries in batches (hashicorp/raft's `BatchingFSM`).
///
/// Raft passes up to `MaxAppendEntries` `LogType.command` and `LogType.configuration`
/// entries per call; the result must hold one response per entry, in order.
public protocol BatchingFSM: FSM {
    /// Applies `logs` in order, returning one response per entry.
    func applyBatch(_ logs: [Log]) -> [(any Sendable)?]
}

/// A point-in-time image of an FSM, written out by ``persist(to:)`` (hashicorp/raft's
/// `FSMSnapshot`).
public protocol FSMSnapshot: Sendable {
    /// Writes the snapshot to `sink`, then closes it; on failure, cancels the sink and throws.
    func persist(to sink: any SnapshotSink) throws

    /// Called when Raft is done with the snapshot, whether or not ``persist(to:)`` succeeded.
    func release()
}

/// An FSM whose ``FSM/apply(_:)`` (and ``BatchingFSM/applyBatch(_:)``) never blocks and returns
/// in microseconds: no I/O, no locks held by slow code, no waiting.
///
/// Raft then applies committed entries inline on the node's loop instead of handing them to a
/// thread of the FSM's own, which saves a thread wake per commit. An FSM that might block must
/// not conform: while it runs, the node answers no RPC and sends no heartbeat.
public protocol NonBlockingFSM: FSM {}
