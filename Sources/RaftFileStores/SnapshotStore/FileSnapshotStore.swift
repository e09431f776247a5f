public import SwiftRaft
import Logging
import Synchronization

/// A `SnapshotStore` on the local disk, in hashicorp/raft's `FileSnapshotStore` layout, so
/// either implementation can open the other's snapshots.
///
/// Each snapshot is a directory `<directory>/snapshots/<term>-<index>-<unix ms>/` holding
/// `meta.json` (the metadata and a CRC-64 of the state, see ``CRC64``) and `state.bin` (the FSM's
/// bytes). A snapshot is written under `<ID>.tmp` and renamed into place only once its state and
/// metadata are durable, so a crash at any point leaves either the complete snapshot or a `.tmp`
/// directory that ``list()`` ignores. After each snapshot is closed, all but the newest `retain`
/// are deleted.
///
/// Snapshots are streamed both ways — written through a buffer, verified and read back in chunks —
/// so no snapshot is ever held in memory whole. All methods are safe to call from any thread;
/// they block on disk I/O.
///
/// Errors from the disk are ``FileStoreError``s; a snapshot whose state does not match its CRC
/// fails to open with ``FileStoreError/Code/corrupt``. Misuse — an unsupported version, writing
/// to a closed sink — throws `RaftError` with `RaftError.Code.invalidArgument`, as the
/// in-memory stores do.
///
/// Where this differs from hashicorp/raft, it is in durability and tidiness only, never in what is
/// on disk: the snapshot directory itself is fsynced before the rename (so the entries of its two
/// files are durable too), a failed or cancelled snapshot's directory is always removed, a
/// failure to reap old snapshots after a successful close is logged rather than reported (the new
/// snapshot is already durable), and two snapshots created in the same millisecond get distinct
/// IDs.
public final class FileSnapshotStore: SnapshotStore {
    /// The base directory the store was opened on.
    public let directory: String
    /// Where the snapshots are: `<directory>/snapshots`.
    public let snapshotsDirectory: String
    /// How many snapshots are kept and listed.
    public let retain: Int

    let fileSystem: any FileSystem
    let logger: Logger
    private let clock: @Sendable () -> UInt64

    private struct State {
        // The millisecond part of the last ID handed out, kept so IDs never repeat.
        var lastMilliseconds: UInt64 = 0
    }

    // Serializes ID allocation and reaping, so two closes cannot reap the same directory at once.
    private let state = Mutex(State())

    static let snapshotsDirectoryName = "snapshots"
    static let metaFileName = "meta.json"
    static let stateFileName = "state.bin"
    static let temporarySuffix = ".tmp"
    private static let permissionProbeName = "permTest"
    // Far beyond any real configuration; stops a garbage file from being read into memory whole.
    private static let maximumMetaSize: Int64 = 16 << 20
    private static let verifyChunkSize = 256 << 10

    /// Opens the store in `directory`, creating it (and any missing parents) and its `snapshots`
    /// subdirectory as needed, as hashicorp/raft's `os.MkdirAll` does.
    ///
    /// Throws ``FileStoreError/Code/invalidOptions`` if `retain` is below 1, and another
    /// ``FileStoreError`` if the directories cannot be created or written to (checked up front,
    /// as hashicorp/raft does, by creating and deleting a file named `permTest`).
    public init(directory: String, retain: Int, options: Options = Options()) throws {
        guard retain >= 1 else {
            throw FileStoreError(.invalidOptions, "a snapshot store must retain at least one snapshot, not \(retain)", path: directory)
        }
        let base = trimmingTrailingSlashes(directory)
        self.directory = base
        self.snapshotsDirectory = base + "/" + Self.snapshotsDirectoryName
        self.retain = retain
        self.fileSystem = options.fileSystem
        self.logger = options.logger
        self.clock = options.clock

        try fileSystem.makeDirectoriesDurably(snapshotsDirectory)
        let probe = snapshotsDirectory + "/" + Self.permissionProbeName
        try fileSystem.close(try fileSystem.open(probe, mode: .readWriteCreate))
        try fileSystem.removeFile(probe)
    }

    // MARK: SnapshotStore

    /// Begins a snapshot under the ID `<term>-<index>-<unix ms>`, in a `.tmp` directory until its
    /// sink is closed.
    ///
    /// Only version 1 is supported, as in hashicorp/raft; any other throws `RaftError` with
    /// `RaftError.Code.invalidArgument`. The metadata's legacy `Peers` field is filled in from
    /// `configuration`'s voters, as hashicorp/raft fills it.
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
        let id = try allocateDirectory(term: term, index: index)
        let temporary = path(of: id) + Self.temporarySuffix
        logger.info("creating new snapshot", metadata: ["path": "\(temporary)"])

        let meta = SnapshotMeta(
            version: version,
            id: id,
            index: index,
            term: term,
            peers: LegacyPeers.encode(configuration),
            configuration: configuration,
            configurationIndex: configurationIndex
        )
        do {
            // The first meta.json only mirrors hashicorp/raft's layout; it is not synced because
            // nothing in a `.tmp` directory is ever read back.
            try writeMeta(SnapshotMetaFile(meta: meta, crc: nil), in: temporary, sync: false)
            let stateFile = try fileSystem.open(temporary + "/" + Self.stateFileName, mode: .createNew)
            return FileSnapshotSink(store: self, meta: meta, directory: temporary, stateFile: stateFile)
        } catch {
            removeQuietly(temporary, reason: "snapshot could not be started")
            throw error
        }
    }

    /// The snapshots held, newest first by term, then index, then ID; at most ``retain`` of them.
    ///
    /// Skips, as hashicorp/raft does, plain files, `.tmp` directories (snapshots being written,
    /// or left by a crash), directories whose `meta.json` cannot be read (logged as a warning) and
    /// versions other than 0 and 1.
    public func list() throws -> [SnapshotMeta] {
        try snapshots().prefix(retain).map(\.file.meta)
    }

    /// Opens snapshot `id` after verifying its state against the CRC in its metadata, which reads
    /// the whole state once, in chunks.
    ///
    /// Throws ``FileStoreError/Code/notFound`` if there is no such snapshot and
    /// ``FileStoreError/Code/corrupt`` if the metadata cannot be read or the CRC does not match.
    /// The source streams the state from the file; close it to release the file.
    public func open(id: String) throws -> (SnapshotMeta, any SnapshotSource) {
        guard Self.isPlausibleID(id), try fileSystem.isDirectory(path(of: id)) == true else {
            throw FileStoreError(.notFound, "no snapshot with ID \(id)", path: snapshotsDirectory)
        }
        let file = try readMeta(directoryName: id)
        let statePath = path(of: id) + "/" + Self.stateFileName
        let stateFile = try fileSystem.open(statePath, mode: .readOnly)
        do {
            let computed = try checksum(of: stateFile)
            guard file.crc == computed.bigEndianBytes else {
                let stored = file.crc.map { Self.hex($0) } ?? "none"
                let actual = Self.hex(computed.bigEndianBytes)
                logger.error("CRC checksum failed", metadata: ["path": "\(statePath)", "stored": "\(stored)", "computed": "\(actual)"])
                throw FileStoreError(
                    .corrupt, "CRC mismatch: meta.json records \(stored), the state checksums to \(actual)", path: statePath)
            }
        } catch {
            try? fileSystem.close(stateFile)
            throw error
        }
        return (file.meta, FileSnapshotSource(fileSystem: fileSystem, file: stateFile, logger: logger))
    }

    // MARK: Snapshot directories

    /// Every readable snapshot, newest first, with the name of its directory.
    private func snapshots() throws -> [(name: String, file: SnapshotMetaFile)] {
        var found: [(name: String, file: SnapshotMetaFile)] = []
        for entry in try fileSystem.contentsOfDirectory(snapshotsDirectory) where entry.isDirectory {
            if entry.name.hasSuffix(Self.temporarySuffix) {
                logger.info("found temporary snapshot", metadata: ["name": "\(entry.name)"])
                continue
            }
            let file: SnapshotMetaFile
            do {
                file = try readMeta(directoryName: entry.name)
            } catch {
                logger.warning("failed to read snapshot metadata", metadata: ["name": "\(entry.name)", "error": "\(error)"])
                continue
            }
            guard (0...1).contains(file.meta.version) else {
                logger.warning("snapshot version not supported", metadata: ["name": "\(entry.name)", "version": "\(file.meta.version)"])
                continue
            }
            found.append((entry.name, file))
        }
        return found.sorted { Self.isNewer($0.file.meta, than: $1.file.meta) }
    }

    private static func isNewer(_ a: SnapshotMeta, than b: SnapshotMeta) -> Bool {
        if a.term != b.term { return a.term > b.term }
        if a.index != b.index { return a.index > b.index }
        // Go compares strings bytewise.
        return b.id.utf8.lexicographicallyPrecedes(a.id.utf8)
    }

    private func readMeta(directoryName: String) throws -> SnapshotMetaFile {
        let metaPath = path(of: directoryName) + "/" + Self.metaFileName
        let handle = try fileSystem.open(metaPath, mode: .readOnly)
        defer { try? fileSystem.close(handle) }
        let size = try fileSystem.size(of: handle)
        guard size <= Self.maximumMetaSize else {
            throw FileStoreError(.corrupt, "snapshot metadata is implausibly large (\(size) bytes)", path: metaPath)
        }
        let bytes = try fileSystem.read(handle, count: Int(size), at: 0)
        do {
            return try SnapshotMetaFile.decode(bytes)
        } catch {
            throw FileStoreError(.corrupt, "unreadable snapshot metadata: \(error)", path: metaPath)
        }
    }

    /// Writes `file` as the `meta.json` of the snapshot directory `directory`, replacing any.
    func writeMeta(_ file: SnapshotMetaFile, in directory: String, sync: Bool) throws {
        let handle = try fileSystem.open(directory + "/" + Self.metaFileName, mode: .readWriteCreate)
        defer { try? fileSystem.close(handle) }
        try fileSystem.truncate(handle, to: 0)
        try fileSystem.write(handle, file.encoded(), at: 0)
        if sync { try fileSystem.sync(handle) }
    }

    private func checksum(of file: FileHandle) throws -> CRC64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.verifyChunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var crc = CRC64()
        var offset: Int64 = 0
        while true {
            let count = try fileSystem.read(file, into: buffer, at: offset)
            if count == 0 { return crc }
            crc.update(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            offset += Int64(count)
        }
    }

    /// Picks the ID for a new snapshot and creates its `.tmp` directory. The millisecond part
    /// moves past any ID already handed out or already on disk, so a fast clock or a restart
    /// after the clock stepped back cannot make two snapshots share a directory.
    private func allocateDirectory(term: UInt64, index: UInt64) throws -> String {
        try state.withLock { state in
            var milliseconds = max(clock(), state.lastMilliseconds &+ 1)
            while true {
                let id = "\(term)-\(index)-\(milliseconds)"
                let final = path(of: id)
                if try !fileSystem.exists(final), try !fileSystem.exists(final + Self.temporarySuffix) {
                    try fileSystem.makeDirectory(final + Self.temporarySuffix)
                    state.lastMilliseconds = milliseconds
                    return id
                }
                milliseconds &+= 1
            }
        }
    }

    /// Deletes all but the newest ``retain`` snapshots, after a sink closes.
    ///
    /// A failure is logged, not thrown: the snapshot just closed is already durable and listed,
    /// and the next close tries again.
    func reapQuietly() {
        state.withLock { _ in
            do {
                let all = try snapshots()
                guard all.count > retain else { return }
                for snapshot in all.dropFirst(retain) {
                    let victim = path(of: snapshot.name)
                    logger.info("reaping snapshot", metadata: ["path": "\(victim)"])
                    try fileSystem.removeTree(victim)
                }
                try fileSystem.syncDirectory(snapshotsDirectory)
            } catch {
                logger.error("failed to reap snapshots", metadata: ["path": "\(snapshotsDirectory)", "error": "\(error)"])
            }
        }
    }

    /// Deletes a snapshot directory that is being abandoned, logging rather than throwing
    /// because the caller is already reporting a more useful error.
    func removeQuietly(_ directory: String, reason: String) {
        do {
            try fileSystem.removeTree(directory)
        } catch {
            logger.error(
                "failed to delete temporary snapshot directory",
                metadata: ["path": "\(directory)", "reason": "\(reason)", "error": "\(error)"])
        }
    }

    func path(of name: String) -> String { snapshotsDirectory + "/" + name }

    // MARK: Paths

    /// Whether `id` could name a snapshot directory: no path separators or dot-names, so an ID
    /// from elsewhere (a peer, a user) cannot reach outside the store.
    private static func isPlausibleID(_ id: String) -> Bool {
        !id.isEmpty && id != "." && id != ".." && !id.utf8.contains(UInt8(ascii: "/"))
            && !id.utf8.contains(0) && !id.hasSuffix(temporarySuffix)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] }, as: UTF8.self)
    }
}
