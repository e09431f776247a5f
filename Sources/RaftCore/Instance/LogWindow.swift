import DequeModule

/// The part of the log the core keeps in memory: every entry after ``baseIndex``.
///
/// Invariant kept by ``RaftInstance``: every entry at or below ``baseIndex`` is committed, so a
/// follower never needs to read storage to check an AppendEntries request, and a leader that needs
/// older entries for a lagging follower asks the shell to load them (``EntryLoad``).
struct LogWindow: Sendable {
    private(set) var entries: Deque<Log>
    /// The index just before the first entry held (0 for an empty log).
    private(set) var baseIndex: UInt64
    /// The term of the entry at ``baseIndex`` (0 for an empty log).
    private(set) var baseTerm: UInt64

    init(baseIndex: UInt64 = 0, baseTerm: UInt64 = 0, entries: some Sequence<Log> = []) {
        self.baseIndex = baseIndex
        self.baseTerm = baseTerm
        self.entries = Deque(entries)
        precondition(self.entries.first.map { $0.index == baseIndex + 1 } ?? true, "window entries must follow its base")
    }

    var firstIndex: UInt64 { baseIndex + 1 }
    var lastIndex: UInt64 { baseIndex + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? baseTerm }
    var count: Int { entries.count }

    /// The term of the entry at `index`, or nil when the window does not know it.
    func term(at index: UInt64) -> UInt64? {
        if index == baseIndex { return baseTerm }
        guard index > baseIndex, index <= lastIndex else { return nil }
        return entries[Int(index - baseIndex - 1)].term
    }

    func entry(at index: UInt64) -> Log? {
        guard index > baseIndex, index <= lastIndex else { return nil }
        return entries[Int(index - baseIndex - 1)]
    }

    /// Up to `maxCount` consecutive entries starting at `index`, stopping early once `maxBytes`
    /// of data is reached (at least one entry is always returned when one exists).
    func entries(from index: UInt64, maxCount: Int, maxBytes: Int) -> [Log] {
        guard index > baseIndex, index <= lastIndex, maxCount > 0 else { return [] }
        let start = Int(index - baseIndex - 1)
        let end = start + min(entries.count - start, maxCount)
        var result: [Log] = []
        result.reserveCapacity(end - start)
        var bytes = 0
        for position in start..<end {
            let entry = entries[position]
            let size = entry.data.count + entry.extensions.count
            if !result.isEmpty && size > maxBytes - bytes { break }
            bytes += size
            result.append(entry)
        }
        return result
    }

    mutating func append(_ entry: Log) {
        precondition(entry.index == lastIndex + 1, "appending \(entry.index) after \(lastIndex)")
        entries.append(entry)
    }

    /// Removes the entries at `index` and after.
    mutating func truncate(from index: UInt64) {
        precondition(index > baseIndex, "truncating at \(index) below the window base \(baseIndex)")
        let keep = Int(index - baseIndex - 1)
        if keep < entries.count { entries.removeLast(entries.count - keep) }
    }

    /// Forgets the entries at `index` and before; they must be committed.
    mutating func trimPrefix(through index: UInt64) {
        guard index > baseIndex else { return }
        let drop = Int(min(index, lastIndex) - baseIndex)
        guard drop > 0 else { return }
        baseTerm = entries[drop - 1].term
        entries.removeFirst(drop)
        baseIndex += UInt64(drop)
    }
}
