import Synchronization

/// A ``SnapshotStore`` kept in memory that holds only the newest snapshot (hashicorp/raft's
/// `InmemSnapshotStore`).
///
/// Meant for tests and for servers that rebuild from peers after a restart. A snapshot becomes
/// visible to ``list()`` and ``open(id:)`` when its sink is closed, and then replaces the one
/// before unless that one is newer (by term, then index; hashicorp/raft's keeps the last one
/// closed, whatever it covers); a cancelled sink leaves the store as it was. All methods are safe to call from any
/// thread.
public final class InmemSnapshotStore: SnapshotStore {
    fileprivate struct Snapshot {
        var meta: SnapshotMeta
        var bytes: [UInt8]
    }

    private struct State {
        var latest: Snapshot?
        // Makes IDs unique even for two snapshots of the same term and index, which a follower
        // produces when it installs the leader's snapshot of a point it has snapshotted itself.
        var nextSerial: UInt64 = 1
    }

    private let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    /// Begins a snapshot with the ID `<term>-<index>-<serial>`; only version 1 is supported, as
    /// in hashicorp/raft, and any other throws ``RaftError/Code/invalidArgument``.
    public func create(
        version: SnapshotVersion,
        index: UInt64,
        term: UInt64,
        configuration: Configuration,
        configurationIndex: UInt64
    ) throws -> any SnapshotSink {
        guard version == 1 else {
            throw RaftError(.invalidArgument, "unsupported snapshot version \(version)")
        }
        let serial = state.withLock { state in
            defer { state.nextSerial += 1 }
            return state.nextSerial
        }
        let meta = SnapshotMeta(
            version: version,
            id: "\(term)-\(index)-\(serial)",
            index: index,
            term: term,
            configuration: configuration,
            configurationIndex: configurationIndex
        )
        return InmemSnapshotSink(meta: meta, store: self)
    }

    /// The latest closed snapshot, if any: never more than one.
    public func list() -> [SnapshotMeta] {
        state.withLock { $0.latest.map { [$0.meta] } ?? [] }
    }

    /// Opens the latest snapshot for reading, if its ID is `id`; the source reads a copy, so
    /// a newer snapshot may replace this one while it is being read. Any other ID throws
    /// ``RaftError/Code/invalidArgument``.
    public func open(id: String) throws -> (SnapshotMeta, any SnapshotSource) {
        guard let snapshot = state.withLock({ $0.latest }), snapshot.meta.id == id else {
            throw RaftError(.invalidArgument, "no snapshot with ID \(id)")
        }
        return (snapshot.meta, MemorySnapshotSource(snapshot.bytes))
    }

    // The newest by term, then index, wins, as in FileSnapshotStore's listing; of two at the same
    // point, the one closed last. A sink closed after a newer one — the FSM's own snapshot
    // finishing after a leader's newer one was installed — must not replace it: the log was
    // already cut to follow the newer one, and a restart from the older would find a gap.
    fileprivate func publish(_ snapshot: Snapshot) {
        state.withLock { state in
            if let latest = state.latest,
                (latest.meta.term, latest.meta.index) > (snapshot.meta.term, snapshot.meta.index)
            {
                return
            }
            state.latest = snapshot
        }
    }
}

/// Collects one snapshot's bytes for an ``InmemSnapshotStore``.
private final class InmemSnapshotSink: SnapshotSink {
    private enum Phase {
        case writing, closed, cancelled
    }

    private struct State {
        var snapshot: InmemSnapshotStore.Snapshot
        var phase = Phase.writing
    }

    let id: String
    private let store: InmemSnapshotStore
    private let state: Mutex<State>

    init(meta: SnapshotMeta, store: InmemSnapshotStore) {
        self.id = meta.id
        self.store = store
        self.state = Mutex(State(snapshot: InmemSnapshotStore.Snapshot(meta: meta, bytes: [])))
    }

    func write(_ bytes: [UInt8]) throws {
        try state.withLock { state in
            try Self.requireWriting(state.phase, id: id)
            state.snapshot.bytes.append(contentsOf: bytes)
            state.snapshot.meta.size += Int64(bytes.count)
        }
    }

    // Closing twice is harmless, as with hashicorp/raft's file sink; closing after a cancel
    // throws, because the caller would otherwise believe a discarded snapshot was kept.
    func close() throws {
        let snapshot: InmemSnapshotStore.Snapshot? = try state.withLock { state in
            switch state.phase {
            case .closed:
                return nil
            case .cancelled:
                throw RaftError(.invalidArgument, "snapshot \(id) was cancelled and cannot be closed")
            case .writing:
                state.phase = .closed
                return state.snapshot
            }
        }
        if let snapshot {
            store.publish(snapshot)
        }
    }

    // Cancelling a closed sink keeps the snapshot: `FSMSnapshot.persist(to:)` cancels on any
    // failure, including one after a successful close.
    func cancel() {
        state.withLock { state in
            guard state.phase == .writing else { return }
            state.phase = .cancelled
            state.snapshot.bytes = []
        }
    }

    private static func requireWriting(_ phase: Phase, id: String) throws {
        switch phase {
        case .writing:
            return
        case .closed:
            throw RaftError(.invalidArgument, "cannot write to snapshot \(id): it is closed")
        case .cancelled:
            throw RaftError(.invalidArgument, "cannot write to snapshot \(id): it was cancelled")
        }
    }
}

/// A ``SnapshotSource`` that reads bytes held in memory.
///
/// Useful wherever snapshot bytes are already at hand: in-memory stores, transports that receive
/// a whole snapshot at once, and tests of ``FSM/restore(from:)``. Safe to call from any thread;
/// concurrent readers share one read position.
public final class MemorySnapshotSource: SnapshotSource {
    private struct State {
        var bytes: [UInt8]
        var offset = 0
        var isClosed = false
    }

    private let state: Mutex<State>

    /// Creates a source that reads `bytes` from the start.
    public init(_ bytes: [UInt8]) {
        self.state = Mutex(State(bytes: bytes))
    }

    /// Up to `maxLength` next bytes; empty once all have been read.
    ///
    /// Throws ``RaftError/Code/invalidArgument`` if `maxLength` is not positive, since an empty
    /// result would wrongly announce the end, or if the source is closed.
    public func read(maxLength: Int) throws -> [UInt8] {
        guard maxLength > 0 else {
            throw RaftError(.invalidArgument, "snapshot read length must be positive, got \(maxLength)")
        }
        return try state.withLock { state in
            guard !state.isClosed else {
                throw RaftError(.invalidArgument, "cannot read from a closed snapshot source")
            }
            let end = state.offset + min(maxLength, state.bytes.count - state.offset)
            defer { state.offset = end }
            return Array(state.bytes[state.offset..<end])
        }
    }

    /// The number of bytes not yet read.
    public var remaining: Int {
        state.withLock { $0.bytes.count - $0.offset }
    }

    /// Releases the bytes; later reads throw.
    public func close() {
        state.withLock { state in
            state.isClosed = true
            state.bytes = []
            state.offset = 0
        }
    }
}
