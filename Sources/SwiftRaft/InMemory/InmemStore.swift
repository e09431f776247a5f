import Synchronization

/// A ``LogStore`` and ``StableStore`` kept in memory (hashicorp/raft's `InmemStore`).
///
/// Nothing survives the process, so it suits tests, simulations and servers whose state can be
/// rebuilt from peers. All methods are safe to call from any thread.
///
/// Unlike hashicorp/raft's, this store keeps ``firstIndex()`` and ``lastIndex()`` exact when the
/// log has gaps (which Raft leaves after installing a snapshot into a non-monotonic store): they
/// always name entries that ``getLog(index:)`` can return.
public final class InmemStore: LogStore, StableStore, NonBlockingStore {
    private struct State {
        var logs: [UInt64: Log] = [:]
        var lowIndex: UInt64 = 0
        var highIndex: UInt64 = 0
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
        state.withLock { $0.lowIndex }
    }

    /// The index of the last entry held, or 0 when empty.
    public func lastIndex() -> UInt64 {
        state.withLock { $0.highIndex }
    }

    /// The entry at `index`; throws ``RaftError/Code/logNotFound`` when there is none.
    public func getLog(index: UInt64) throws -> Log {
        guard let log = state.withLock({ $0.logs[index] }) else {
            throw RaftError(.logNotFound, "log not found")
        }
        return log
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
            for log in logs {
                state.logs[log.index] = log
                state.lowIndex = state.lowIndex == 0 ? log.index : min(state.lowIndex, log.index)
                state.highIndex = max(state.highIndex, log.index)
            }
        }
    }

    /// Deletes the entries from `min` through `max`, inclusive; indexes not held are ignored.
    public func deleteRange(min: UInt64, max: UInt64) {
        state.withLock { state in
            guard !state.logs.isEmpty else { return }
            // Only the part of the range that overlaps the held entries matters, which also keeps
            // a range such as `0...UInt64.max` from being walked index by index.
            let lower = Swift.max(min, state.lowIndex)
            let upper = Swift.min(max, state.highIndex)
            guard lower <= upper else { return }

            if upper - lower < UInt64(state.logs.count) {
                for index in lower...upper {
                    state.logs.removeValue(forKey: index)
                }
            } else {
                state.logs = state.logs.filter { !(lower...upper).contains($0.key) }
            }

            guard !state.logs.isEmpty else {
                state.lowIndex = 0
                state.highIndex = 0
                return
            }
            if lower == state.lowIndex {
                // The entry just past the range is the new head unless the log has a gap there.
                let next = upper + 1
                state.lowIndex = state.logs[next] != nil ? next : state.logs.keys.min()!
            }
            if upper == state.highIndex {
                let previous = lower - 1
                state.highIndex = state.logs[previous] != nil ? previous : state.logs.keys.max()!
            }
        }
    }

    /// The number of entries held, which is less than `lastIndex - firstIndex + 1` when the log
    /// has gaps.
    public var logCount: Int {
        state.withLock { $0.logs.count }
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
