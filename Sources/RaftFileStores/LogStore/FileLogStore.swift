public import SwiftRaft
import Synchronization

/// A `LogStore` on the local disk: a segmented, append-only write-ahead log in one directory.
///
/// ## Layout
///
/// ```
/// <directory>/LOCK                       held with flock while a store has the directory open
/// <directory>/first-index                how far the head was deleted (absent until it first is)
/// <directory>/00000000000000000001.wal   segments, named for their first entry's index
/// <directory>/00000000000000004097.wal
/// ```
///
/// A segment starts with a 32-byte header (magic, format version, first index, CRC-32C), then
/// holds consecutive entries, each as a record framed with its length and a CRC-32C (the format
/// is described on `RecordCodec`). New segments are preallocated to
/// ``Options/segmentSize`` and synced with their directory before an entry goes in them.
///
/// ## Durability
///
/// ``storeLogs(_:)`` writes its batch with one write per segment it touches and syncs it with
/// one `fdatasync` per segment: group commit, never a sync per entry. When the batch fills a
/// segment, the full segment is synced before the next one is created, so every segment but the
/// last is entirely durable. ``deleteRange(min:max:)`` is durable before it returns: see there.
///
/// ## Recovery
///
/// Opening reads and checks every record. The end of the last segment is where a crash leaves
/// its marks, and is repaired: a torn or checksum-failing tail is cut back to the last whole
/// record, and a `logger.warning` names the file, the offset and the number of bytes dropped.
/// Zeroed, preallocated space after the last record is a segment's normal end. Anything else
/// is reported as ``FileStoreError/Code/corrupt`` with the file and offset, never dropped
/// silently: damage in an earlier segment, segments that do not continue one another, or a
/// damaged record in the last segment followed by a record of a later batch (which could only
/// have been written after the damaged one was durable).
///
/// One case cannot be told apart: damage to a record of the *last batch* written is
/// indistinguishable from that batch being torn by a crash (after a crash, a batch's pages can
/// reach the disk in any order, so its valid records may follow its damaged ones). A bit flip
/// in the last batch, typically in the very last record, is therefore treated as a torn write:
/// the records from the damaged one on are dropped, with the warning.
///
/// ## Concurrency
///
/// Every method may be called from any thread. Writes are serialized by one lock held for the
/// whole write. The index (each segment's record offsets) sits behind a second lock that is
/// held only to look up or publish positions: a read takes it to find its record, reads the
/// bytes outside it, and so never waits for a write's I/O. That is safe because:
///
/// - a record's bytes never change while it is in the index: appends only write past the end,
///   and entries are published only once their batch is durable;
/// - a segment's file descriptor is reference-counted (`SegmentFile`) and closed when the last
///   read using it finishes, so deleting a segment under a read leaves that read on the
///   unlinked file, never on a closed or reused descriptor;
/// - tail truncation is the one operation that lets bytes be overwritten (a new entry is later
///   written where a removed one was). It removes the entries from the index first and moves a
///   generation counter. A read re-validates its record (checksum, index) and checks the
///   generation afterwards: if it moved, the read retries from the lookup; if not, the bytes it
///   read were immutable, so a failed validation is real corruption.
///
/// ## Failures
///
/// If a write fails, the in-memory index is left as it was before the batch (it is updated only
/// after the batch is durable), and the store puts the disk back: it deletes segments the batch
/// created and zeroes what the batch wrote in the existing segment. If that clean-up also fails,
/// or a sync failed (after a failed `fsync` the kernel may have dropped the dirty pages, so a
/// retry could report success for data that is gone), the store marks itself failed: writes
/// then throw ``FileStoreError/Code/closed`` and only reopening (which runs recovery) clears it.
/// Reads keep working, since every entry in the index is durable. Nothing already durable is
/// ever written to by a failed write's clean-up.
///
/// ## Exclusivity
///
/// The directory is locked with `flock` on its `LOCK` file for as long as the store is open. A
/// second store on the same directory, in this or another process, fails with
/// ``FileStoreError/Code/locked``. ``close()`` releases the lock; so does deinitialization.
public final class FileLogStore: MonotonicLogStore, Sendable {
    /// The directory holding the log.
    public let directory: String
    /// The options the store was opened with.
    public let options: Options

    let state: Mutex<State>
    /// Held for the whole of every write, so writes run one at a time; reads never take it.
    let writer = Mutex(())

    var fileSystem: any FileSystem { options.fileSystem }

    /// Opens the log in `directory`, creating the directory if it is missing, and recovers it.
    ///
    /// Throws ``FileStoreError``: `.invalidOptions` for unusable options, `.locked` if another
    /// store has the directory open, `.corrupt` (naming the file and offset) for damage that is
    /// not a crash's torn tail, or the file system's error.
    public init(directory: String, options: Options = Options()) throws {
        try options.validate()
        let fileSystem = options.fileSystem
        // Synced into its parent, or a power cut could lose the new directory and every entry
        // in it.
        try fileSystem.makeDirectoriesDurably(directory)
        let lockPath = directory + "/LOCK"
        let lock = try fileSystem.open(lockPath, mode: .readWriteCreate)
        var recovered: State
        do {
            guard try fileSystem.tryLock(lock) else {
                throw FileStoreError(
                    .locked,
                    "the log directory is already open in another FileLogStore, in this process or another",
                    path: directory
                )
            }
            recovered = try Recovery(directory: directory, options: options).run()
        } catch {
            try? fileSystem.close(lock)
            throw error
        }
        recovered.lockFile = lock
        self.directory = directory
        self.options = options
        self.state = Mutex(recovered)
    }

    deinit {
        try? close()
    }

    /// Always true: the log has no gaps, so Raft deletes it whole after installing a snapshot.
    public var isMonotonic: Bool { true }

    /// The index of the first entry held, or 0 when empty.
    public func firstIndex() throws -> UInt64 {
        try state.withLock { state in
            try state.checkOpen(directory)
            return state.firstIndex
        }
    }

    /// The index of the last entry held, or 0 when empty.
    public func lastIndex() throws -> UInt64 {
        try state.withLock { state in
            try state.checkOpen(directory)
            return state.lastIndex
        }
    }

    /// The entry at `index`; throws `RaftError.Code.logNotFound` when there is none, and
    /// ``FileStoreError/Code/corrupt`` if its record fails its checksum.
    public func getLog(index: UInt64) throws -> Log {
        try readLog(index)
    }

    /// The entries from `first` through `last`, in order, stopping at the last entry held;
    /// empty if `first` is not held. Reads runs of consecutive records with one call each.
    public func getLogs(from first: UInt64, through last: UInt64) throws -> [Log] {
        try readLogs(from: first, through: last)
    }

    /// Durably appends `logs` as one batch: one write and one `fdatasync` per segment touched.
    ///
    /// The entries must be consecutive and continue the log at ``lastIndex()`` + 1, or start
    /// anywhere when the log is empty; otherwise this throws `RaftError.Code.invalidArgument`
    /// without writing. After a failure the store is as before the call, or refuses further
    /// writes (see the type's documentation).
    public func storeLogs(_ logs: [Log]) throws {
        try append(logs)
    }

    /// Deletes the entries from `min` through `max`, inclusive (the part of the range outside
    /// the log is ignored), durably before returning.
    ///
    /// - From the head (compaction): the new first index is written to the `first-index` file
    ///   (crash-atomically), then every segment lying wholly below it is deleted.
    /// - From the tail (a follower's conflict truncation): later segments are deleted, the
    ///   segment holding the new last entry is cut after it, and all of it is synced, so an entry
    ///   later stored at one of these indexes can never be mistaken for a removed one.
    /// - Everything: the `first-index` file moves past the last entry, then every segment is
    ///   deleted; the next ``storeLogs(_:)`` may start at any index.
    ///
    /// A range that is neither at the head nor at the tail would leave a gap, which a monotonic
    /// log cannot hold: it throws `RaftError.Code.invalidArgument`.
    public func deleteRange(min: UInt64, max: UInt64) throws {
        try delete(min: min, max: max)
    }

    /// Closes the store and releases the directory's lock; later calls throw
    /// ``FileStoreError/Code/closed``. Waits for a write in progress; a read in progress
    /// finishes on its own. Closing twice does nothing.
    public func close() throws {
        try writer.withLock { _ in
            let (segments, lock) = state.withLock { state -> ([Segment], FileHandle?) in
                guard !state.isClosed else { return ([], nil) }
                state.isClosed = true
                defer {
                    state.segments = []
                    state.lockFile = nil
                }
                return (state.segments, state.lockFile)
            }
            // Each segment's descriptor closes as its last reference (this one, or a read's) goes.
            _ = segments
            if let lock { try fileSystem.close(lock) }
        }
    }

    /// Refuses further writes after `error` left the disk in a state the index may not match.
    func markFailed(_ error: any Error) {
        state.withLock { state in
            if state.failure == nil { state.failure = "\(error)" }
        }
    }
}
