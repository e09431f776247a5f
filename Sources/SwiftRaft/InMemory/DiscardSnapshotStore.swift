/// A ``SnapshotStore`` that throws every snapshot away (hashicorp/raft's `DiscardSnapshotStore`).
///
/// For servers that never need to restore from a snapshot of their own, such as benchmarks and
/// tests of log handling: snapshotting still runs and log compaction still happens, but nothing
/// is kept, so ``open(id:)`` always fails. Such a server cannot restart once its log was
/// compacted (nothing covers the entries before the log's start), and it refuses a leader's
/// snapshot, so it cannot catch up once it falls behind the leader's log.
public struct DiscardSnapshotStore: SnapshotStore {
    /// Creates the store.
    public init() {}

    /// A sink with the ID `discard` that accepts and drops any bytes, whatever the version.
    public func create(
        version: SnapshotVersion,
        index: UInt64,
        term: UInt64,
        configuration: Configuration,
        configurationIndex: UInt64
    ) -> any SnapshotSink {
        DiscardSnapshotSink()
    }

    /// Always empty.
    public func list() -> [SnapshotMeta] {
        []
    }

    /// Always throws ``RaftError/Code/invalidArgument``: there is nothing to open.
    public func open(id: String) throws -> (SnapshotMeta, any SnapshotSource) {
        throw RaftError(.invalidArgument, "discard snapshot store has no snapshots")
    }
}

/// The sink of a ``DiscardSnapshotStore``; every operation succeeds and does nothing.
private struct DiscardSnapshotSink: SnapshotSink {
    var id: String { "discard" }

    func write(_ bytes: [UInt8]) {}

    func close() {}

    func cancel() {}
}
