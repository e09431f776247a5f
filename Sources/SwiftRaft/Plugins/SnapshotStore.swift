/// The snapshot format version. Raft creates only version 1 (hashicorp/raft's `SnapshotVersion`).
public typealias SnapshotVersion = Int

/// Describes one stored snapshot (hashicorp/raft's `SnapshotMeta`).
public struct SnapshotMeta: Hashable, Sendable {
    /// The format version (1).
    public var version: SnapshotVersion
    /// The store's name for it, e.g. `term-index-unixMillis`.
    public var id: String
    /// The last log index it covers.
    public var index: UInt64
    /// The term of ``index``.
    public var term: UInt64
    /// Legacy peer list for protocol versions below 3.
    public var peers: [UInt8]
    /// The configuration in force at ``index``.
    public var configuration: Configuration
    /// The log index of ``configuration``.
    public var configurationIndex: UInt64
    /// The size of the state, in bytes.
    public var size: Int64

    /// Creates snapshot metadata.
    public init(
        version: SnapshotVersion = 1,
        id: String,
        index: UInt64,
        term: UInt64,
        peers: [UInt8] = [],
        configuration: Configuration,
        configurationIndex: UInt64,
        size: Int64 = 0
    ) {
        self.version = version
        self.id = id
        self.index = index
        self.term = term
        self.peers = peers
        self.configuration = configuration
        self.configurationIndex = configurationIndex
        self.size = size
    }
}

/// Where an FSM snapshot's bytes are written (hashicorp/raft's `SnapshotSink`). Either
/// ``close()`` (keep it) or ``cancel()`` (discard it) ends the write.
public protocol SnapshotSink: Sendable {
    /// The ID the snapshot will be listed under.
    var id: String { get }
    /// Appends bytes to the snapshot.
    func write(_ bytes: [UInt8]) throws
    /// Finishes the snapshot and makes it durable and listed.
    func close() throws
    /// Abandons the snapshot; nothing of it remains.
    func cancel() throws
}

/// A stream of snapshot bytes being read.
public protocol SnapshotSource: Sendable {
    /// Up to `maxLength` next bytes; an empty result means the end.
    func read(maxLength: Int) throws -> [UInt8]
    /// Releases the underlying resources.
    func close()
}

extension SnapshotSource {
    /// Reads everything that remains. Meant for small snapshots and tests; large ones should be
    /// streamed with ``read(maxLength:)``.
    public func readAll(chunkSize: Int = 64 << 10) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk = try read(maxLength: chunkSize)
            if chunk.isEmpty { return bytes }
            bytes.append(contentsOf: chunk)
        }
    }
}

/// Durable storage for snapshots (hashicorp/raft's `SnapshotStore`). Methods may block; Raft calls
/// them off Swift's cooperative pool.
public protocol SnapshotStore: Sendable {
    /// Begins a new snapshot; its bytes go to the returned sink.
    func create(
        version: SnapshotVersion,
        index: UInt64,
        term: UInt64,
        configuration: Configuration,
        configurationIndex: UInt64
    ) throws -> any SnapshotSink

    /// The stored snapshots, newest first.
    func list() throws -> [SnapshotMeta]

    /// Opens the snapshot `id` for reading.
    func open(id: String) throws -> (SnapshotMeta, any SnapshotSource)
    /// Releases what the store holds (open files, a directory lock), so the same storage can be
    /// opened again, as a test that restarts a node on reopened stores does. Raft never calls it:
    /// the store's owner does, after ``Raft/shutdown()``. Calls after it may fail. The default
    /// does nothing.
    func close() throws
}

extension SnapshotStore {
    /// Nothing to release.
    public func close() throws {}
}
