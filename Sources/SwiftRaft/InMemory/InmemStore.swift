import DequeModule
import Synchronization

/// A ``LogStore`` and ``StableStore`` kept in memory (hashicorp/raft's `InmemStore`).
///
/// Nothing survives the process, so it suits tests, simulations and servers whose state can be
/// rebuilt from peers. All methods are safe to call from any thread.
///
/// The log Raft writes is one consecutive run of entries, appended at its end and deleted from
/// either end, so that is how it is kept: a deque indexed by position, with no hashing or
/// rehashing per entry. Entries stored apart from that run (hashicorp/raft's store accepts any
/// index, and Raft leaves gaps after installing a snapshot into a non-monotonic store) are kept
/// aside in a dictionary; they cost what they did before, and nothing when there are none.
///
/// Unlike hashicorp/raft's, this store keeps ``firstIndex()`` and ``lastIndex()`` exact when the
/// log has gaps: they always name entries that ``getLog(index:)`` can return.
public final class InmemStore: LogStore, StableStore, NonBlockingStore {
    private struct State {
        var log = InmemLog()
        // Separate namespaces, as in hashicorp/raft: `set` and `setUInt64` under the same key
        // do not overwrite each other.
        var bytes: [[UInt8]: [UInt8]] = [:]
        var integers: [[UInt8]: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    // MARK: LogStore

    /// The index of the first entry held, or 0 when empty.
    public func firstIndex() -> UInt64 {
        state.withLock { $0.log.firstIndex }
    }

    /// The index of the last entry held, or 0 when empty.
    public func lastIndex() -> UInt64 {
        state.withLock { $0.log.lastIndex }
    }

    /// The entry at `index`; throws ``RaftError/Code/logNotFound`` when there is none.
    public func getLog(index: UInt64) throws -> Log {
        guard let log = state.withLock({ $0.log.entry(at: index) }) else {
            throw RaftError(.logNotFound, "log not found")
        }
        return log
    }

    /// The entries from `first` through `last`, in order, stopping at the first one missing; one
    /// lock for the whole run.
    public func getLogs(from first: UInt64, through last: UInt64) -> [Log] {
        state.withLock { $0.log.entries(from: first, through: last) }
    }

    /// Stores `logs`, replacing any entries already held at their indexes.
    ///
    /// Throws ``RaftError/Code/invalidArgument`` without storing anything if an entry has index 0,
    /// because 0 means "no entry" to every ``LogStore`` caller and could never be read back as one.
    public func storeLogs(_ logs: [Log]) throws {
        if logs.contains(where: { $0.index == 0 }) {
            throw RaftError(.invalidArgument, "cannot store a log entry at index 0")
        }
        state.withLock { state in
            for log in logs { state.log.store(log) }
        }
    }

    /// Deletes the entries from `min` through `max`, inclusive; indexes not held are ignored.
    public func deleteRange(min: UInt64, max: UInt64) {
        guard min <= max else { return }
        state.withLock { $0.log.delete(min...max) }
    }

    /// The number of entries held, which is less than `lastIndex - firstIndex + 1` when the log
    /// has gaps.
    public var logCount: Int {
        state.withLock { $0.log.count }
    }

    // MARK: StableStore

    /// Stores `value` under `key`.
    public func set(_ key: [UInt8], _ value: [UInt8]) {
        state.withLock { $0.bytes[key] = value }
    }

    /// The value under `key`, or nil if none was ever set with ``set(_:_:)``.
    public func get(_ key: [UInt8]) -> [UInt8]? {
        state.withLock { $0.bytes[key] }
    }

    /// Stores an integer under `key`.
    public func setUInt64(_ key: [UInt8], _ value: UInt64) {
        state.withLock { $0.integers[key] = value }
    }

    /// The integer under `key`, or nil if none was ever set with ``setUInt64(_:_:)``.
    public func getUInt64(_ key: [UInt8]) -> UInt64? {
        state.withLock { $0.integers[key] }
    }

    /// Nothing to release: the store lives in memory, and keeps its contents for a restart of
    /// the node on it.
    public func close() {}
}

/// The entries of an ``InmemStore``: the newest consecutive run in a deque, anything stored
/// apart from it in a dictionary.
struct InmemLog {
    /// Consecutive entries; `run[i]` has index `runStart + i`.
    private var run: Deque<Log> = []
    private var runStart: UInt64 = 0
    /// Entries not in the run. Never holds an index the run covers.
    private var apart: [UInt64: Log] = [:]

    private var runEnd: UInt64 { runStart + UInt64(run.count) }

    var count: Int { run.count + apart.count }

    var firstIndex: UInt64 {
        let apartFirst = apart.keys.min()
        if run.isEmpty { return apartFirst ?? 0 }
        return Swift.min(runStart, apartFirst ?? .max)
    }

    var lastIndex: UInt64 {
        let apartLast = apart.keys.max()
        if run.isEmpty { return apartLast ?? 0 }
        return Swift.max(runEnd - 1, apartLast ?? 0)
    }

    func entry(at index: UInt64) -> Log? {
        if index >= runStart && index < runEnd { return run[Int(index - runStart)] }
        return apart.isEmpty ? nil : apart[index]
    }

    func entries(from first: UInt64, through last: UInt64) -> [Log] {
        guard first <= last else { return [] }
        if apart.isEmpty, first >= runStart, first < runEnd {
            let end = Swift.min(last, runEnd - 1)
            return Array(run[Int(first - runStart)...Int(end - runStart)])
        }
        var result: [Log] = []
        var index = first
        while let log = entry(at: index) {
            result.append(log)
            if index == last { break }
            index += 1
        }
        return result
    }

    mutating func store(_ log: Log) {
        let index = log.index
        if run.isEmpty {
            apart[index] = nil
            runStart = index
            run.append(log)
        } else if index >= runStart && index < runEnd {
            run[Int(index - runStart)] = log
        } else if index == runEnd {
            apart[index] = nil
            run.append(log)
        } else {
            // Not next to the run: the entry goes apart, or, past the run's end, starts a new run
            // there and the old one goes apart (Raft appends after what it stored last).
            if index > runEnd {
                moveRunApart()
                runStart = index
                apart[index] = nil
                run.append(log)
            } else {
                apart[index] = log
            }
        }
    }

    mutating func delete(_ range: ClosedRange<UInt64>) {
        if !apart.isEmpty {
            if UInt64(apart.count) <= range.upperBound - range.lowerBound {
                apart = apart.filter { !range.contains($0.key) }
            } else {
                for index in range { apart[index] = nil }
            }
        }
        guard !run.isEmpty else { return }
        let lower = Swift.max(range.lowerBound, runStart)
        let upper = Swift.min(range.upperBound, runEnd - 1)
        guard lower <= upper else { return }
        if lower == runStart && upper == runEnd - 1 {
            run.removeAll()
        } else if lower == runStart {
            // From the head (compaction).
            run.removeFirst(Int(upper - lower + 1))
            runStart = upper + 1
        } else if upper == runEnd - 1 {
            // From the tail (a conflicting suffix).
            run.removeLast(Int(upper - lower + 1))
        } else {
            // From the middle, which Raft never does: the part after it goes apart.
            for position in Int(upper - runStart + 1)..<run.count { apart[run[position].index] = run[position] }
            run.removeLast(run.count - Int(lower - runStart))
        }
        if run.isEmpty { runStart = 0 }
    }

    private mutating func moveRunApart() {
        for log in run { apart[log.index] = log }
        run.removeAll()
        runStart = 0
    }
}
