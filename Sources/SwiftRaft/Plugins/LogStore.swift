/// Durable storage for log entries (hashicorp/raft's `LogStore`).
///
/// Methods may block on disk: Raft calls them from a storage thread of its own, never from Swift's
/// cooperative pool. Index 0 means "no entry"; indexes use the whole `UInt64` range.
///
/// What Raft relies on:
/// - **Durability.** When ``storeLogs(_:)`` or ``deleteRange(min:max:)`` returns, the change
///   survives a crash of the process *and a loss of power*: the data is synced to stable storage
///   (`fdatasync` or equivalent), not only handed to the operating system. A store that cannot
///   promise this must say so; Raft then loses acknowledged writes on a power cut.
/// - **What Raft writes.** Each batch continues the log: its first entry follows the last one
///   held (or the log is empty, or everything was deleted, and it starts anywhere). Raft never
///   stores over an entry it has not deleted first, and never leaves a gap; it deletes only from
///   the head (compaction) or the tail (a follower's conflicting suffix), or everything. A store
///   may refuse anything else (``RaftError/Code/invalidArgument``) or accept it (``InmemStore``
///   overwrites, as hashicorp/raft's does).
/// - **Crashes and errors mid-batch.** After a crash, or an error thrown from ``storeLogs(_:)``,
///   the log may hold any prefix of the batch, including none or all of it, but never a later
///   entry without the earlier ones, and never a damaged entry: Raft treats what survives as
///   appended but not acknowledged. An error leaves the node stopped (it cannot keep promises it
///   cannot write), so a store must not throw for conditions it can recover from itself.
///
/// `LogStoreConformance` in RaftTestKit checks all of this a test can see; Docs/testing-plugins.md
/// says how to test durability for a store of your own.
public protocol LogStore: Sendable {
    /// The index of the first entry held, or 0 when empty.
    func firstIndex() throws -> UInt64
    /// The index of the last entry held, or 0 when empty.
    func lastIndex() throws -> UInt64
    /// The entry at `index`; throws ``RaftError/Code/logNotFound`` when there is none.
    func getLog(index: UInt64) throws -> Log
    /// Durably appends `logs` (consecutive, in order) as one batch: one sync for all of them.
    func storeLogs(_ logs: [Log]) throws
    /// Deletes the entries from `min` through `max`, inclusive.
    func deleteRange(min: UInt64, max: UInt64) throws
    /// The entries from `first` through `last`, inclusive, in order; stops at the first one
    /// missing. Raft reads catch-up batches with it. The default calls ``getLog(index:)`` per
    /// entry; a store that can read a run at once (a file, a range scan) should implement it.
    func getLogs(from first: UInt64, through last: UInt64) throws -> [Log]
    /// Releases what the store holds (open files, a directory lock), so the same storage can be
    /// opened again, as a test that restarts a node on reopened stores does. Raft never calls it:
    /// the store's owner does, after ``Raft/shutdown()``. Calls after it may fail. The default
    /// does nothing.
    func close() throws
}

extension LogStore {
    /// Nothing to release.
    public func close() throws {}

    /// Durably appends one entry.
    public func storeLog(_ log: Log) throws { try storeLogs([log]) }

    /// The entries from `first` through `last`, inclusive, in order, one ``getLog(index:)`` per
    /// entry; stops at the first one missing.
    public func getLogs(from first: UInt64, through last: UInt64) throws -> [Log] {
        guard first <= last else { return [] }
        var logs: [Log] = []
        logs.reserveCapacity(Int(min(last - first + 1, 4096)))
        for index in first...last {
            do {
                logs.append(try getLog(index: index))
            } catch let error as RaftError where error.code == .logNotFound {
                break
            }
        }
        return logs
    }
}

/// A log store whose indexes never have gaps (hashicorp/raft's `MonotonicLogStore`): after a
/// snapshot is installed Raft deletes the whole log instead of leaving a gap.
public protocol MonotonicLogStore: LogStore {
    /// Whether the store requires gap-free indexes.
    var isMonotonic: Bool { get }
}
