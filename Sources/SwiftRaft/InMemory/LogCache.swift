import Synchronization

/// A ``LogStore`` that keeps the most recently stored entries in memory in front of another
/// store (hashicorp/raft's `LogCache`).
///
/// A leader reads back what it has just appended in order to replicate it, and followers that
/// keep up ask for the same recent entries; answering those from memory spares the wrapped store
/// a disk read each time. The cache is a fixed ring: entry `i` lives in slot `i % capacity`, so
/// the newest `capacity` consecutive entries are all cached.
///
/// Writes go through to the wrapped store first and reach the cache only if they succeed, so the
/// cache never holds an entry the store lacks. All methods are safe to call from any thread.
public final class LogCache: LogStore {
    /// The wrapped store, which holds every entry; the cache holds copies of some.
    public let store: any LogStore
    /// The number of entries the ring holds.
    public let capacity: Int

    private let ring: Mutex<[Log?]>
    // Held across a write to `store` and the matching cache update, so a `deleteRange` cannot
    // slip between the two and leave the cache holding entries the store has just dropped.
    // Reads never take it.
    private let writes = Mutex(())

    /// Wraps `store` with a ring of `capacity` entries; throws ``RaftError/Code/invalidArgument``
    /// unless `capacity` is positive.
    public init(capacity: Int, store: any LogStore) throws {
        guard capacity > 0 else {
            throw RaftError(.invalidArgument, "log cache capacity must be positive, got \(capacity)")
        }
        self.store = store
        self.capacity = capacity
        self.ring = Mutex([Log?](repeating: nil, count: capacity))
    }

    /// The wrapped store's first index.
    public func firstIndex() throws -> UInt64 {
        try store.firstIndex()
    }

    /// The wrapped store's last index.
    public func lastIndex() throws -> UInt64 {
        try store.lastIndex()
    }

    /// The entry at `index`, from the cache if it holds it, else from the wrapped store.
    public func getLog(index: UInt64) throws -> Log {
        let slot = self.slot(of: index)
        if let cached = ring.withLock({ $0[slot] }), cached.index == index {
            return cached
        }
        return try store.getLog(index: index)
    }

    /// The entries from `first` through `last`: from the cache while it holds them in a row, the
    /// rest with one ``LogStore/getLogs(from:through:)`` of the wrapped store.
    public func getLogs(from first: UInt64, through last: UInt64) throws -> [Log] {
        guard first <= last else { return [] }
        var logs: [Log] = []
        var next = first
        ring.withLock { ring in
            while next <= last, let cached = ring[slot(of: next)], cached.index == next {
                logs.append(cached)
                next += 1
            }
        }
        if next <= last {
            logs += try store.getLogs(from: next, through: last)
        }
        return logs
    }

    /// Stores `logs` in the wrapped store and, once that succeeds, caches them.
    public func storeLogs(_ logs: [Log]) throws {
        try writes.withLock { _ in
            try store.storeLogs(logs)
            ring.withLock { ring in
                for log in logs {
                    ring[slot(of: log.index)] = log
                }
            }
        }
    }

    /// Empties the cache, then deletes the entries from `min` through `max` in the wrapped store.
    ///
    /// The whole cache goes rather than just the range because deletions are rare (compaction
    /// and conflict truncation) and a partial failure in the store must not leave the cache
    /// answering for entries the store may or may not still hold.
    public func deleteRange(min: UInt64, max: UInt64) throws {
        try writes.withLock { _ in
            ring.withLock { ring in
                for slot in ring.indices {
                    ring[slot] = nil
                }
            }
            try store.deleteRange(min: min, max: max)
        }
    }

    private func slot(of index: UInt64) -> Int {
        Int(index % UInt64(capacity))
    }
}

extension LogCache: MonotonicLogStore {
    /// Whether the wrapped store is a ``MonotonicLogStore`` that requires gap-free indexes; the
    /// cache itself has no preference, so Raft must see the store's.
    public var isMonotonic: Bool {
        (store as? any MonotonicLogStore)?.isMonotonic ?? false
    }

    /// Closes the wrapped store.
    public func close() throws { try store.close() }
}
