import Logging
import Synchronization

/// The node's snapshot-store I/O, on an executor of its own (`raft-snapshot-<id>`), so that
/// writing a large snapshot delays neither the FSM (whose next batches apply meanwhile, as
/// hashicorp/raft's `Persist` runs concurrently with `Apply`), nor the log's writes, nor the
/// node's heartbeats.
final class SnapshotWorker: Sendable {
    let store: any SnapshotStore
    let logger: Logger
    let clock: any RaftClock
    let metrics: NodeMetrics
    /// The piece of snapshot data read or written at a time, so no snapshot is held whole.
    static let chunkSize = 256 << 10

    init(store: any SnapshotStore, logger: Logger, clock: any RaftClock, metrics: NodeMetrics) {
        self.metrics = metrics
        self.store = store
        self.logger = logger
        self.clock = clock
    }

    /// Writes an FSM snapshot to the store (hashicorp/raft's `Persist` into a new sink), and
    /// releases it, whatever happens.
    ///
    /// - Parameter evenIfNotNewer: write it even when the store holds a snapshot at or past its
    ///   point (a recovery's snapshot, which replaces the configuration at the same point).
    func persist(_ captured: CapturedSnapshot, evenIfNotNewer: Bool = false) throws -> SnapshotMeta {
        defer { captured.snapshot.release() }
        let point = captured.point
        if !evenIfNotNewer, let newest = try store.list().first, (newest.term, newest.index) >= (point.term, point.index) {
            // A leader's snapshot was installed while this one was being captured: writing an
            // older one would cost a full persist for nothing.
            throw RaftError(.nothingNewToSnapshot, "the store already holds a snapshot at \(newest.index), at or past \(point.index)")
        }
        let started = clock.now
        let sink = try store.create(
            version: 1,
            index: point.index,
            term: point.term,
            configuration: point.configuration,
            configurationIndex: point.configurationIndex
        )
        let created = clock.now
        metrics.snapshotCreate.record(created - started)
        let counting = CountingSink(sink)
        do {
            try captured.snapshot.persist(to: counting)
        } catch {
            // `persist` should have cancelled the sink; make sure nothing of it stays.
            try? sink.cancel()
            throw error
        }
        guard counting.isClosed else {
            try? sink.cancel()
            throw RaftError(.storage, "the FSM snapshot's persist(to:) returned without closing its sink")
        }
        metrics.snapshotPersist.record(clock.now - created)
        logger.info(
            "snapshot persisted",
            metadata: [
                "raft.snapshot.id": "\(sink.id)", "raft.snapshot.index": "\(point.index)",
                "raft.snapshot.bytes": "\(counting.bytes)", "raft.snapshot.duration": "\(clock.now - started)",
            ]
        )
        return SnapshotMeta(
            id: sink.id,
            index: point.index,
            term: point.term,
            configuration: point.configuration,
            configurationIndex: point.configurationIndex,
            size: Int64(counting.bytes)
        )
    }

    /// Writes the snapshot an InstallSnapshot carries to the store, reading exactly
    /// `request.size` bytes from `data` in pieces. Nothing of it stays in the store if it fails.
    func install(_ request: InstallSnapshotRequest, data: any SnapshotSource) throws -> (meta: SnapshotMeta, point: SnapshotPoint) {
        defer { data.close() }
        let started = clock.now
        let configuration = try ConfigurationCodec.decode(request.configuration)
        let point = SnapshotPoint(
            index: request.lastLogIndex,
            term: request.lastLogTerm,
            configuration: configuration,
            configurationIndex: request.configurationIndex
        )
        let meta = try write(point, size: request.size, from: data) { copied in
            RaftError(.corrupt, "short read: the snapshot ended after \(copied) of \(request.size) bytes")
        }
        // The FSM is restored from the store next: a store that kept nothing (a
        // DiscardSnapshotStore) must fail the install, not the restore, which would stop the node.
        guard try store.list().contains(where: { $0.id == meta.id }) else {
            throw RaftError(.storage, "the snapshot store did not keep the installed snapshot \(meta.id) (a DiscardSnapshotStore keeps none)")
        }
        metrics.snapshotInstall.record(clock.now - started)
        logger.info(
            "installed snapshot written",
            metadata: [
                "raft.snapshot.id": "\(meta.id)", "raft.snapshot.index": "\(point.index)",
                "raft.snapshot.bytes": "\(request.size)", "raft.snapshot.duration": "\(clock.now - started)",
            ]
        )
        return (meta, point)
    }

    /// Stores a snapshot of `point` made of exactly `size` bytes read from `source` (left open),
    /// in pieces. A source that ends early fails with `tooShort(bytes read)`; whatever fails, the
    /// sink is cancelled, so nothing of it stays in the store.
    func write(
        _ point: SnapshotPoint,
        size: Int64,
        from source: any SnapshotSource,
        tooShort: (Int64) -> RaftError
    ) throws -> SnapshotMeta {
        let sink = try store.create(
            version: 1,
            index: point.index,
            term: point.term,
            configuration: point.configuration,
            configurationIndex: point.configurationIndex
        )
        do {
            let copied = try Self.copy(size, from: source, to: sink)
            guard copied == size else { throw tooShort(copied) }
            try sink.close()
        } catch {
            try? sink.cancel()
            throw error
        }
        return SnapshotMeta(
            id: sink.id,
            index: point.index,
            term: point.term,
            configuration: point.configuration,
            configurationIndex: point.configurationIndex,
            size: size
        )
    }

    /// Copies up to `size` bytes from `source` into `sink`, a piece at a time; returns how many
    /// there were (fewer when the source ends early).
    private static func copy(_ size: Int64, from source: any SnapshotSource, to sink: any SnapshotSink) throws -> Int64 {
        var copied: Int64 = 0
        while copied < size {
            let piece = try source.read(maxLength: Int(min(Int64(chunkSize), size - copied)))
            if piece.isEmpty { break }
            guard copied + Int64(piece.count) <= size else {
                throw RaftError(.corrupt, "the snapshot source returned more than the \(size) bytes announced")
            }
            try sink.write(piece)
            copied += Int64(piece.count)
        }
        return copied
    }

    /// The newest snapshot in the store, opened for sending to a follower; nil if there is none.
    /// Skips (and logs) snapshots that fail to open.
    func openNewest() throws -> (meta: SnapshotMeta, source: any SnapshotSource)? {
        for meta in try store.list() {
            do {
                let (opened, source) = try store.open(id: meta.id)
                return (opened, source)
            } catch {
                logger.warning("cannot open snapshot \(meta.id) to send it: \(error)")
            }
        }
        return nil
    }
}

/// Counts what an FSM writes to a sink and whether it closed it.
private final class CountingSink: SnapshotSink {
    private let inner: any SnapshotSink
    private let written = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    init(_ inner: any SnapshotSink) { self.inner = inner }

    var id: String { inner.id }
    var bytes: Int { written.load(ordering: .relaxed) }
    var isClosed: Bool { closed.load(ordering: .relaxed) }

    func write(_ bytes: [UInt8]) throws {
        try inner.write(bytes)
        written.add(bytes.count, ordering: .relaxed)
    }

    func close() throws {
        try inner.close()
        closed.store(true, ordering: .relaxed)
    }

    func cancel() throws { try inner.cancel() }
}
