import Logging

/// The open data file of a ``FileStableStore`` and everything replayed from it: the current value
/// of every key, where the next record goes, and how many of the file's bytes are still live.
///
/// Not thread-safe: the store keeps it inside its lock.
struct StableDataFile {
    private let fileSystem: any FileSystem
    private let logger: Logger
    let path: String
    private let directory: String

    private var file: FileHandle
    private var end: Int64
    // The size a compacted file would have, so compaction runs only when it pays.
    private var liveSize: Int64
    // After a failed compaction, the size at which to try again, so a persistent failure does not
    // add a doomed rewrite to every set.
    private var nextCompactionAttempt: Int64 = 0
    private(set) var bytes: [[UInt8]: [UInt8]] = [:]
    private(set) var integers: [[UInt8]: UInt64] = [:]

    static let fileName = "stable.dat"

    // MARK: Opening

    /// Opens the data file in `directory`, creating it if missing, and replays it.
    ///
    /// A final record that is torn or fails its checksum was never acknowledged (every set waits
    /// for its record to be durable, so only the last one can be incomplete): it is cut off with a
    /// warning. Damage anywhere else throws ``FileStoreError/Code/corrupt`` naming the offset.
    static func open(directory: String, fileSystem: any FileSystem, logger: Logger) throws -> StableDataFile {
        let path = directory + "/" + fileName
        let temporary = path + ".tmp"
        // A compaction that crashed before its rename leaves this behind; the data file is whole.
        if try fileSystem.exists(temporary) {
            logger.info("removing an unfinished compaction", metadata: ["path": "\(temporary)"])
            try fileSystem.removeFile(temporary)
        }
        let file: FileHandle
        if try fileSystem.exists(path) {
            file = try fileSystem.open(path, mode: .readWrite)
        } else {
            // Created under a temporary name and renamed, so a data file that exists always has
            // its whole header, and a short or empty one is damage rather than an unfinished start.
            file = try writeAndRename(StableRecord.fileHeader(), to: path, in: directory, fileSystem: fileSystem)
        }
        var data = StableDataFile(fileSystem: fileSystem, logger: logger, path: path, directory: directory, file: file)
        do {
            try data.replay()
        } catch {
            try? fileSystem.close(file)
            throw error
        }
        return data
    }

    private init(fileSystem: any FileSystem, logger: Logger, path: String, directory: String, file: FileHandle) {
        self.fileSystem = fileSystem
        self.logger = logger
        self.path = path
        self.directory = directory
        self.file = file
        self.end = Int64(StableRecord.headerSize)
        self.liveSize = Int64(StableRecord.headerSize)
    }

    private mutating func replay() throws {
        let size = try fileSystem.size(of: file)
        guard size <= Int64(Int.max) else {
            throw FileStoreError(.corrupt, "the stable store's data file is impossibly large", path: path)
        }
        let contents = try fileSystem.read(file, count: Int(size), at: 0)
        if let problem = StableRecord.headerProblem(contents[...]) {
            throw FileStoreError(.corrupt, problem, path: path, offset: 0)
        }
        var offset = StableRecord.headerSize
        while offset < contents.count {
            switch StableRecord.decode(contents, at: offset) {
            case .record(let record, let next):
                apply(record)
                offset = next
            case .malformed(let why):
                throw FileStoreError(.corrupt, "malformed record: \(why)", path: path, offset: Int64(offset))
            case .invalid(let why):
                // A torn write leaves at most the one record being written, at the very end.
                // Any valid record further on means this one was acknowledged and then damaged.
                if Self.containsRecord(contents, after: offset) {
                    throw FileStoreError(.corrupt, "damaged record: \(why)", path: path, offset: Int64(offset))
                }
                logger.warning(
                    "dropping a torn final record that was never acknowledged",
                    metadata: ["path": "\(path)", "offset": "\(offset)", "bytes": "\(contents.count - offset)", "reason": "\(why)"])
                try fileSystem.truncate(file, to: Int64(offset))
                try fileSystem.sync(file)
                end = Int64(offset)
                return
            }
        }
        end = Int64(offset)
    }

    /// Whether a valid record starts anywhere after `offset`. Only consulted when a record fails
    /// to decode, and the file is kept small by compaction, so trying every offset is affordable.
    private static func containsRecord(_ contents: [UInt8], after offset: Int) -> Bool {
        var candidate = offset + 1
        while contents.count - candidate >= StableRecord.recordHeaderSize {
            if case .record = StableRecord.decode(contents, at: candidate) { return true }
            candidate += 1
        }
        return false
    }

    // MARK: Writing

    /// Appends `record` and, if `sync`, waits until it is durable, then makes it visible.
    ///
    /// On a failed write the partial record is cut off again and the file stays usable: nothing
    /// was acknowledged. A failed `fdatasync` throws ``Failure/poisoned(_:)``: Linux may already
    /// have dropped the unwritten pages and reported them only this once, so the file's content on
    /// disk is unknown and no further write may be acknowledged.
    mutating func append(_ record: StableRecord, sync: Bool) throws(Failure) {
        try append([record], sync: sync)
    }

    /// Appends `records` with one write and, if `sync`, one `fdatasync`, then makes them all
    /// visible; a failure leaves none of them visible, as for one record. A crash during the call
    /// may leave a prefix of them on disk, each whole (every record carries its own checksum).
    mutating func append(_ records: [StableRecord], sync: Bool) throws(Failure) {
        var encoded: [UInt8] = []
        for record in records { encoded += record.encoded() }
        do {
            try fileSystem.write(file, encoded, at: end)
        } catch {
            do {
                try fileSystem.truncate(file, to: end)
            } catch let truncation {
                logger.error("cannot remove a partly written record", metadata: ["path": "\(path)", "error": "\(truncation)"])
                throw .poisoned(error)
            }
            throw .clean(error)
        }
        if sync {
            // fdatasync, not fsync: for an append it flushes the new size too, because the size
            // is metadata "needed for a subsequent data retrieval" (fdatasync(2), POSIX
            // `_POSIX_SYNCHRONIZED_IO`); only timestamps are left behind, which nothing reads.
            do {
                try fileSystem.syncData(file)
            } catch {
                throw .poisoned(error)
            }
        }
        end += Int64(encoded.count)
        for record in records { apply(record) }
    }

    /// How a write failed.
    enum Failure: Error {
        /// Nothing changed; the next write may proceed.
        case clean(any Error)
        /// The file's durable state is unknown; the store must stop writing.
        case poisoned(any Error)

        var underlying: any Error {
            switch self {
            case .clean(let error), .poisoned(let error): return error
            }
        }
    }

    private mutating func apply(_ record: StableRecord) {
        switch record.namespace {
        case .bytes:
            let old = bytes.updateValue(record.value, forKey: record.key)
            liveSize -= old.map { Int64(StableRecord(namespace: .bytes, key: record.key, value: $0).encodedSize) } ?? 0
        case .integer:
            let old = integers.updateValue(StableRecord.integer(from: record.value), forKey: record.key)
            liveSize -= old.map { _ in Int64(record.encodedSize) } ?? 0
        }
        liveSize += Int64(record.encodedSize)
    }

    // MARK: Compaction

    /// Rewrites the file with only the current values once it is past `threshold` bytes and at
    /// least half of it is overwritten values.
    ///
    /// The new file is written beside the old one, fsynced, renamed over it and the directory
    /// fsynced, so a crash at any point leaves one complete file holding every value. A failure
    /// before the rename is logged and the old file kept; one after it throws
    /// ``Failure/poisoned(_:)``, because until the rename is known durable, further appends could
    /// land in a file a crash would forget.
    mutating func compactIfNeeded(threshold: Int64) throws(Failure) {
        guard end >= threshold, end >= 2 * liveSize, end >= nextCompactionAttempt else { return }
        let temporary = path + ".tmp"
        let compacted: FileHandle
        do {
            compacted = try Self.writeFile(liveContents(), at: temporary, fileSystem: fileSystem)
        } catch {
            logger.warning("stable store compaction failed; keeping the uncompacted file", metadata: ["path": "\(path)", "error": "\(error)"])
            try? fileSystem.removeFile(temporary)
            nextCompactionAttempt = end + threshold
            return
        }
        do {
            try fileSystem.rename(temporary, to: path)
        } catch {
            logger.warning("stable store compaction failed; keeping the uncompacted file", metadata: ["path": "\(path)", "error": "\(error)"])
            try? fileSystem.close(compacted)
            try? fileSystem.removeFile(temporary)
            nextCompactionAttempt = end + threshold
            return
        }
        // The handle opened on the temporary name now names the data file.
        let old = file
        file = compacted
        end = liveSize
        nextCompactionAttempt = 0
        try? fileSystem.close(old)
        do {
            try fileSystem.syncDirectory(directory)
        } catch {
            throw .poisoned(error)
        }
        logger.debug("compacted the stable store", metadata: ["path": "\(path)", "size": "\(liveSize)"])
    }

    private func liveContents() -> [UInt8] {
        var contents = StableRecord.fileHeader()
        contents.reserveCapacity(Int(liveSize))
        for (key, value) in bytes {
            contents.append(contentsOf: StableRecord(namespace: .bytes, key: key, value: value).encoded())
        }
        for (key, value) in integers {
            contents.append(contentsOf: StableRecord(namespace: .integer, key: key, value: StableRecord.bytes(of: value)).encoded())
        }
        return contents
    }

    // MARK: Closing

    /// Makes every append durable, for a store that does not sync each one; a failure is logged,
    /// because the caller is closing and has nothing to retry.
    func syncQuietly() {
        do {
            try fileSystem.syncData(file)
        } catch {
            logger.error("failed to sync the stable store's data file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// Closes the file. Every acknowledged write is already durable, so a failure to close loses
    /// nothing and is only logged.
    func close() {
        do {
            try fileSystem.close(file)
        } catch {
            logger.warning("failed to close the stable store's data file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    // MARK: Helpers

    /// Writes `contents` to a new file at `path` and fsyncs it, returning the open handle.
    private static func writeFile(_ contents: [UInt8], at path: String, fileSystem: any FileSystem) throws -> FileHandle {
        if try fileSystem.exists(path) { try fileSystem.removeFile(path) }
        let handle = try fileSystem.open(path, mode: .createNew)
        do {
            try fileSystem.write(handle, contents, at: 0)
            try fileSystem.sync(handle)
            return handle
        } catch {
            try? fileSystem.close(handle)
            throw error
        }
    }

    /// Writes `contents` under a temporary name, renames it to `path` and fsyncs `directory`.
    private static func writeAndRename(
        _ contents: [UInt8], to path: String, in directory: String, fileSystem: any FileSystem
    ) throws -> FileHandle {
        let temporary = path + ".tmp"
        let handle = try writeFile(contents, at: temporary, fileSystem: fileSystem)
        do {
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(directory)
            return handle
        } catch {
            try? fileSystem.close(handle)
            try? fileSystem.removeFile(temporary)
            throw error
        }
    }
}
