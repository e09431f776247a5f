public import SwiftRaft

/// The rules every `LogStore` must follow for Raft to be safe on it, as runnable checks.
///
/// The checks cover what Raft relies on: consecutive appends, reads of single entries and
/// ranges, deletion from the head (compaction) and from the tail (conflict truncation), deleting
/// everything (after a snapshot is installed into a monotonic store) and, for durable stores,
/// that all of it survives a reopen. They avoid what stores may legitimately differ on, such as
/// gaps or overwriting without truncating first, so both `InmemStore` and a monotonic file
/// store pass.
///
/// ```swift
/// @Test(arguments: LogStoreConformance.checks)
/// func conforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
///     try await check.run(LogStoreConformance.Subject(makeStore: { InmemStore() }))
/// }
/// ```
public enum LogStoreConformance {
    /// How the checks get the store under test.
    public struct Subject: Sendable {
        /// Creates a new, empty store. Each check calls it once.
        public var makeStore: @Sendable () throws -> any LogStore
        /// Closes the store it is given and opens the same storage again, as a restart would;
        /// nil for a store that keeps nothing across a restart, which then runs
        /// ``checks(durable:)`` with `false` (a durability check given no reopen fails).
        public var reopen: (@Sendable (any LogStore) throws -> any LogStore)?

        /// Describes the store under test.
        public init(
            makeStore: @escaping @Sendable () throws -> any LogStore,
            reopen: (@Sendable (any LogStore) throws -> any LogStore)? = nil
        ) {
            self.makeStore = makeStore
            self.reopen = reopen
        }
    }

    /// Every check, each named for its rule.
    public static var checks: [ConformanceCheck<Subject>] {
        [
            ConformanceCheck("An empty store reports first and last index 0 and has no entries", emptyStore),
            ConformanceCheck("Stored entries read back with every field unchanged", roundTrip),
            ConformanceCheck("First and last index track appends", indexesTrackAppends),
            ConformanceCheck("storeLog appends a single entry", storeLogAppendsOne),
            ConformanceCheck("getLogs returns a range in order and stops at the last entry", getLogsRange),
            ConformanceCheck("Entries deleted from the tail can be replaced by different ones", tailTruncation),
            ConformanceCheck("Deleting from the head moves the first index and keeps the rest", headDeletion),
            ConformanceCheck("Deleting every entry empties the log and the next append may start at any index", deleteEverything),
            ConformanceCheck("First and last index are right after every kind of deletion", indexesAfterEveryDeletion),
            ConformanceCheck("Indexes above Int64.max order, read and delete like any other", indexesAboveInt64Max),
            ConformanceCheck("Entries survive a reopen", needsReopen: true, entriesSurviveReopen),
            ConformanceCheck("Tail truncation survives a reopen", needsReopen: true, tailTruncationSurvivesReopen),
            ConformanceCheck("Head deletion survives a reopen", needsReopen: true, headDeletionSurvivesReopen),
            ConformanceCheck("Concurrent readers see either no entry or exactly the stored one", concurrentReaders),
        ]
    }

    /// The checks for a store of the given kind: `durable: false` leaves out those that reopen the
    /// store, for stores that keep nothing across a restart (in-memory ones).
    public static func checks(durable: Bool) -> [ConformanceCheck<Subject>] {
        durable ? checks : checks.filter { !$0.needsReopen }
    }

    // MARK: Helpers

    /// Entries `range`, all of `term`, whose data names both, so entries stored over others at
    /// the same index are told apart.
    static func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1) -> [Log] {
        range.map { entry($0, term: term) }
    }

    static func entry(_ index: UInt64, term: UInt64 = 1) -> Log {
        Log(index: index, term: term, data: Array("entry \(index) of term \(term)".utf8))
    }

    static func requireNotFound(_ store: any LogStore, _ index: UInt64, fileID: String = #fileID, line: Int = #line) async throws {
        try await conformanceRequireThrows(
            "getLog(index: \(index))", fileID: fileID, line: line,
            matching: { ($0 as? RaftError)?.code == .logNotFound }
        ) { _ = try store.getLog(index: index) }
    }

    static func requireIndexes(_ store: any LogStore, _ first: UInt64, _ last: UInt64, fileID: String = #fileID, line: Int = #line) throws {
        try conformanceRequireEqual(try store.firstIndex(), first, "firstIndex()", fileID: fileID, line: line)
        try conformanceRequireEqual(try store.lastIndex(), last, "lastIndex()", fileID: fileID, line: line)
    }

    static func requireEntries(_ store: any LogStore, _ expected: [Log], fileID: String = #fileID, line: Int = #line) throws {
        for log in expected {
            try conformanceRequireEqual(try store.getLog(index: log.index), log, "getLog(index: \(log.index))", fileID: fileID, line: line)
        }
    }

    // MARK: Checks

    static func emptyStore(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try requireIndexes(store, 0, 0)
        try await requireNotFound(store, 1)
        try await requireNotFound(store, 0)
        try conformanceRequireEqual(try store.getLogs(from: 1, through: 10), [], "getLogs on an empty store")
    }

    static func roundTrip(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        let everyByte = (0...255).map { UInt8($0) }
        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let logs = [
            Log(index: 1, term: 1, type: .command, data: [UInt8]()),
            Log(index: 2, term: 1, type: .noop),
            Log(index: 3, term: 2, type: .addPeerDeprecated, data: Array("peer".utf8)),
            Log(index: 4, term: 2, type: .removePeerDeprecated, data: Array("peer".utf8)),
            Log(index: 5, term: 3, type: .barrier),
            Log(index: 6, term: 3, type: .configuration, data: everyByte, extensions: [0, 1, 2]),
            Log(index: 7, term: 3, type: .command, data: large, extensions: Array(everyByte.reversed()),
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_123_456_789)),
            Log(index: 8, term: UInt64.max / 3, type: .command, data: everyByte[10..<20], extensions: everyByte[200...],
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: -1)),
            Log(index: 9, term: UInt64.max, type: .command, data: [UInt8](repeating: 0, count: 1000),
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: Int64.max)),
        ]
        try store.storeLogs(Array(logs[0..<5]))
        try store.storeLogs(Array(logs[5...]))
        try requireEntries(store, logs)
        try conformanceRequireEqual(try store.getLogs(from: 1, through: 9), logs, "getLogs(from: 1, through: 9)")
    }

    static func indexesTrackAppends(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLogs(entries(1...3))
        try requireIndexes(store, 1, 3)
        try store.storeLogs(entries(4...10))
        try requireIndexes(store, 1, 10)
        try store.storeLogs(entries(11...11))
        try requireIndexes(store, 1, 11)
        try requireEntries(store, entries(1...11))
    }

    static func storeLogAppendsOne(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLog(entry(1, term: 1))
        try requireIndexes(store, 1, 1)
        try store.storeLog(entry(2, term: 2))
        try requireIndexes(store, 1, 2)
        try requireEntries(store, [entry(1, term: 1), entry(2, term: 2)])
    }

    static func getLogsRange(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        let logs = entries(1...20)
        try store.storeLogs(Array(logs[0..<7]))
        try store.storeLogs(Array(logs[7...]))
        try conformanceRequireEqual(try store.getLogs(from: 5, through: 9), Array(logs[4...8]), "getLogs(from: 5, through: 9)")
        try conformanceRequireEqual(try store.getLogs(from: 1, through: 20), logs, "getLogs(from: 1, through: 20)")
        try conformanceRequireEqual(try store.getLogs(from: 15, through: 100), Array(logs[14...]), "getLogs(from: 15, through: 100)")
        try conformanceRequireEqual(try store.getLogs(from: 7, through: 7), [logs[6]], "getLogs(from: 7, through: 7)")
        try conformanceRequireEqual(try store.getLogs(from: 21, through: 30), [], "getLogs past the last entry")
        try conformanceRequireEqual(try store.getLogs(from: 9, through: 5), [], "getLogs with first after last")
    }

    static func tailTruncation(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLogs(entries(1...10, term: 1))
        try store.deleteRange(min: 6, max: 10)
        try requireIndexes(store, 1, 5)
        try await requireNotFound(store, 6)
        try await requireNotFound(store, 10)
        try store.storeLogs(entries(6...8, term: 2))
        try requireIndexes(store, 1, 8)
        try requireEntries(store, entries(1...5, term: 1) + entries(6...8, term: 2))
        try await requireNotFound(store, 9)
        try conformanceRequireEqual(
            try store.getLogs(from: 1, through: 10), entries(1...5, term: 1) + entries(6...8, term: 2),
            "getLogs after truncating and re-appending"
        )
    }

    static func headDeletion(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLogs(entries(1...10))
        try store.deleteRange(min: 1, max: 4)
        try requireIndexes(store, 5, 10)
        try await requireNotFound(store, 4)
        try await requireNotFound(store, 1)
        try requireEntries(store, entries(5...10))
        try conformanceRequireEqual(try store.getLogs(from: 3, through: 6), [], "getLogs starting before the first entry")
        try store.storeLogs(entries(11...12))
        try requireIndexes(store, 5, 12)
        try requireEntries(store, entries(5...12))
    }

    static func deleteEverything(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLogs(entries(1...10))
        try store.deleteRange(min: 1, max: 10)
        try requireIndexes(store, 0, 0)
        try await requireNotFound(store, 5)
        // After a snapshot install Raft continues at the snapshot's index + 1, which may be past
        // the old log or inside it.
        try store.storeLogs(entries(100...102, term: 2))
        try requireIndexes(store, 100, 102)
        try requireEntries(store, entries(100...102, term: 2))
        try store.deleteRange(min: 100, max: 102)
        try requireIndexes(store, 0, 0)
        try store.storeLogs(entries(50...51, term: 3))
        try requireIndexes(store, 50, 51)
        try requireEntries(store, entries(50...51, term: 3))
        try await requireNotFound(store, 100)
    }

    static func indexesAfterEveryDeletion(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        try store.storeLogs(entries(1...20))
        try store.deleteRange(min: 1, max: 1)  // one entry from the head
        try requireIndexes(store, 2, 20)
        try store.deleteRange(min: 20, max: 20)  // one entry from the tail
        try requireIndexes(store, 2, 19)
        try store.deleteRange(min: 0, max: 5)  // from below the first index
        try requireIndexes(store, 6, 19)
        try store.deleteRange(min: 15, max: 1_000)  // through past the last index
        try requireIndexes(store, 6, 14)
        try store.deleteRange(min: 100, max: 200)  // wholly past the end: nothing changes
        try requireIndexes(store, 6, 14)
        try requireEntries(store, entries(6...14))
        try await requireNotFound(store, 5)
        try await requireNotFound(store, 15)
        try store.storeLogs(entries(15...16, term: 2))  // appends continue after a tail deletion
        try requireIndexes(store, 6, 16)
        try store.deleteRange(min: 0, max: UInt64.max)  // everything
        try requireIndexes(store, 0, 0)
        try conformanceRequireEqual(try store.getLogs(from: 1, through: 20), [], "getLogs after deleting everything")
    }

    static func indexesAboveInt64Max(_ subject: Subject) async throws {
        // A log that starts (after a snapshot into an empty store) where a signed 64-bit index
        // would be negative: every comparison, key order and range must stay unsigned.
        let store = try subject.makeStore()
        let base = UInt64(Int64.max) - 2
        try store.storeLogs(entries(base...(base + 5)))
        try requireIndexes(store, base, base + 5)
        try requireEntries(store, entries(base...(base + 5)))
        try conformanceRequireEqual(
            try store.getLogs(from: base + 1, through: base + 4), entries((base + 1)...(base + 4)),
            "getLogs across Int64.max"
        )
        try store.deleteRange(min: base + 4, max: base + 5)
        try requireIndexes(store, base, base + 3)
        try store.deleteRange(min: base, max: base + 1)
        try requireIndexes(store, base + 2, base + 3)
        try store.storeLogs(entries((base + 4)...(base + 6), term: 2))
        try requireEntries(store, entries((base + 2)...(base + 3)) + entries((base + 4)...(base + 6), term: 2))
        try await requireNotFound(store, base + 1)
        try await requireNotFound(store, base + 7)
    }

    static func entriesSurviveReopen(_ subject: Subject) async throws {
        let reopen = try conformanceRequireReopen(subject.reopen)
        var store = try subject.makeStore()
        var logs: [Log] = []
        var index: UInt64 = 1
        for batch in 0..<10 {
            let batchLogs = (0..<(batch + 1)).map { offset -> Log in
                defer { index += 1 }
                return Log(index: index, term: UInt64(batch / 3 + 1), type: batch == 0 ? .configuration : .command,
                           data: [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 100 * (offset + 1)),
                           extensions: offset == 0 ? [7] : [UInt8](),
                           appendedAt: LogTimestamp(nanosecondsSinceEpoch: Int64(index) * 1_000))
            }
            try store.storeLogs(batchLogs)
            logs += batchLogs
        }
        store = try reopen(store)
        try requireIndexes(store, 1, UInt64(logs.count))
        try requireEntries(store, logs)
        try conformanceRequireEqual(try store.getLogs(from: 1, through: UInt64(logs.count)), logs, "getLogs after a reopen")
        // A reopened store keeps appending where it left off.
        try store.storeLogs(entries(UInt64(logs.count + 1)...UInt64(logs.count + 2)))
        store = try reopen(store)
        try requireIndexes(store, 1, UInt64(logs.count + 2))
    }

    static func tailTruncationSurvivesReopen(_ subject: Subject) async throws {
        let reopen = try conformanceRequireReopen(subject.reopen)
        var store = try subject.makeStore()
        try store.storeLogs(entries(1...30, term: 1))
        try store.deleteRange(min: 21, max: 30)
        try store.storeLogs(entries(21...25, term: 2))
        store = try reopen(store)
        try requireIndexes(store, 1, 25)
        try requireEntries(store, entries(1...20, term: 1) + entries(21...25, term: 2))
        try await requireNotFound(store, 26)

        try store.deleteRange(min: 23, max: 25)
        store = try reopen(store)
        try requireIndexes(store, 1, 22)
        try await requireNotFound(store, 23)
        try store.storeLogs(entries(23...23, term: 3))
        try requireEntries(store, entries(21...22, term: 2) + entries(23...23, term: 3))
    }

    static func headDeletionSurvivesReopen(_ subject: Subject) async throws {
        let reopen = try conformanceRequireReopen(subject.reopen)
        var store = try subject.makeStore()
        try store.storeLogs(entries(1...30))
        try store.deleteRange(min: 1, max: 10)
        store = try reopen(store)
        try requireIndexes(store, 11, 30)
        try await requireNotFound(store, 10)
        try requireEntries(store, entries(11...30))

        try store.deleteRange(min: 11, max: 30)
        store = try reopen(store)
        try requireIndexes(store, 0, 0)
        try store.storeLogs(entries(5...6, term: 2))
        store = try reopen(store)
        try requireIndexes(store, 5, 6)
        try requireEntries(store, entries(5...6, term: 2))
    }

    static func concurrentReaders(_ subject: Subject) async throws {
        let store = try subject.makeStore()
        let count: UInt64 = 100
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 1...count {
                    try store.storeLog(entry(index))
                    if index % 10 == 0 { await Task.yield() }
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(reader) + 1)
                    for round in 0..<200 {
                        let last = try store.lastIndex()
                        if last > 0 {
                            try conformanceRequireEqual(try store.getLog(index: last), entry(last),
                                                        "getLog(index: lastIndex()) while appending")
                        }
                        let index = UInt64.random(in: 1...count, using: &random)
                        do {
                            try conformanceRequireEqual(try store.getLog(index: index), entry(index),
                                                        "getLog(index: \(index)) while appending")
                        } catch let error as RaftError where error.code == .logNotFound {
                            try conformanceRequire(index > last, "getLog(index: \(index)) found nothing after lastIndex() was \(last)")
                        }
                        if round % 10 == 0 { await Task.yield() }
                    }
                }
            }
            try await group.waitForAll()
        }
        try requireIndexes(store, 1, count)
    }
}
