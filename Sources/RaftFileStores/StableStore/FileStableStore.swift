public import SwiftRaft
import Logging
import Synchronization

/// A `StableStore` in a directory on the local disk: Raft's current term and vote, and any keys
/// of the application's own.
///
/// Every set appends one checksummed record to a data file and waits for `fdatasync` before
/// returning, so a value is durable once set, and a crash mid-set leaves the previous value (the
/// torn record is dropped when the store is next opened). When the file has grown past
/// ``Options-swift.struct/compactionThreshold`` it is rewritten with only the current values,
/// beside the old one and renamed over it. All values are also kept in memory, so gets never touch
/// the disk.
///
/// `set` and `setUInt64` keep separate key spaces, as `InmemStore` and hashicorp/raft's stores
/// do. A key never set reads as nil; failures throw ``FileStoreError``: `.corrupt` (naming the
/// file and offset) if the file was damaged, `.noSpace` for a full disk, `.locked` if another
/// store has the directory open, `.closed` after ``close()`` or after a failed `fdatasync`, from
/// which a store cannot know what is on disk and stops accepting writes until reopened.
///
/// The directory holds `stable.dat` and a `LOCK` file, locked while the store is open so two
/// stores (in one process or two) can never write the same directory. All methods are safe to
/// call from any thread; sets block on the disk.
public final class FileStableStore: StableStore {
    /// The directory the store keeps its files in.
    public let directory: String

    private let options: Options

    private struct State {
        var data: StableDataFile?
        var lock: FileHandle?
        // Why writes are refused after a failed fdatasync or compaction.
        var failure: (any Error)?
    }

    private let state: Mutex<State>

    private static let lockFileName = "LOCK"

    /// Opens the store in `directory`, creating the directory (and any missing parents) and its
    /// files as needed, and replays its data file.
    ///
    /// Throws ``FileStoreError`` with ``FileStoreError/Code/locked`` if another store holds the
    /// directory, ``FileStoreError/Code/corrupt`` if the data file is damaged anywhere but its
    /// final record, and ``FileStoreError/Code/invalidOptions`` for a compaction threshold that
    /// is not positive.
    public init(directory: String, options: Options = Options()) throws {
        guard options.compactionThreshold > 0 else {
            throw FileStoreError(
                .invalidOptions, "the compaction threshold must be positive, not \(options.compactionThreshold)", path: directory)
        }
        let fileSystem = options.fileSystem
        self.directory = directory
        self.options = options

        try fileSystem.makeDirectoriesDurably(directory)
        let lockPath = directory + "/" + Self.lockFileName
        let lock = try fileSystem.open(lockPath, mode: .readWriteCreate)
        do {
            guard try fileSystem.tryLock(lock) else {
                throw FileStoreError(.locked, "another stable store has this directory open", path: lockPath)
            }
            let data = try StableDataFile.open(directory: directory, fileSystem: fileSystem, logger: options.logger)
            self.state = Mutex(State(data: data, lock: lock))
        } catch {
            try? fileSystem.close(lock)
            throw error
        }
    }

    deinit {
        close()
    }

    // MARK: StableStore

    /// Stores `value` under `key`, durably (unless ``Options-swift.struct/sync`` is off) before
    /// returning.
    public func set(_ key: [UInt8], _ value: [UInt8]) throws {
        try put([StableRecord(namespace: .bytes, key: key, value: value)])
    }

    /// The value under `key`, or nil if none was ever set with ``set(_:_:)``.
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try read { $0.bytes[key] }
    }

    /// Stores an integer under `key`, durably (unless ``Options-swift.struct/sync`` is off)
    /// before returning.
    public func setUInt64(_ key: [UInt8], _ value: UInt64) throws {
        try put([StableRecord(namespace: .integer, key: key, value: StableRecord.bytes(of: value))])
    }

    /// Stores every value with one write and one `fdatasync` (unless ``Options-swift.struct/sync``
    /// is off) before returning. A crash during the call may leave a prefix of them stored.
    public func setMany(_ values: [(key: [UInt8], value: StableStoreValue)]) throws {
        try put(values.map { key, value in
            switch value {
            case .bytes(let bytes): return StableRecord(namespace: .bytes, key: key, value: bytes)
            case .uint64(let integer): return StableRecord(namespace: .integer, key: key, value: StableRecord.bytes(of: integer))
            }
        })
    }

    /// The integer under `key`, or nil if none was ever set with ``setUInt64(_:_:)``.
    public func getUInt64(_ key: [UInt8]) throws -> UInt64? {
        try read { $0.integers[key] }
    }

    // MARK: Closing

    /// Closes the files and releases the directory's lock; later calls throw
    /// ``FileStoreError/Code/closed``. Closing twice is harmless.
    ///
    /// With ``Options-swift.struct/sync`` on, every acknowledged set is already durable, so
    /// closing cannot fail in a way that matters. With it off, closing syncs once, so a clean
    /// shutdown keeps every value; a failure of that sync is logged.
    public func close() {
        state.withLock { state in
            if !options.sync, state.failure == nil {
                state.data?.syncQuietly()
            }
            state.data?.close()
            state.data = nil
            if let lock = state.lock {
                try? options.fileSystem.close(lock)
                state.lock = nil
            }
        }
    }

    // MARK: Implementation

    private func put(_ records: [StableRecord]) throws {
        for record in records where 5 + record.key.count + record.value.count > StableRecord.maximumBodySize {
            throw RaftError(
                .invalidArgument,
                "a stable store key and value may hold at most \(StableRecord.maximumBodySize) bytes together")
        }
        try state.withLock { state in
            guard var data = state.data else { throw Self.closedError(directory) }
            if let failure = state.failure {
                throw FileStoreError(
                    .closed, "the stable store refuses writes after an earlier failure: \(failure)", path: data.path)
            }
            // Moved out rather than copied, so the value maps stay uniquely referenced and a set
            // does not copy them.
            state.data = nil
            defer { state.data = data }
            do throws(StableDataFile.Failure) {
                try data.compactIfNeeded(threshold: options.compactionThreshold)
                try data.append(records, sync: options.sync)
            } catch {
                if case .poisoned(let cause) = error {
                    options.logger.error(
                        "the stable store stops accepting writes", metadata: ["path": "\(data.path)", "error": "\(cause)"])
                    state.failure = cause
                }
                throw error.underlying
            }
        }
    }

    private func read<T>(_ body: (StableDataFile) -> T?) throws -> T? {
        try state.withLock { state in
            guard let data = state.data else { throw Self.closedError(directory) }
            return body(data)
        }
    }

    private static func closedError(_ directory: String) -> FileStoreError {
        FileStoreError(.closed, "the stable store is closed", path: directory)
    }

}
