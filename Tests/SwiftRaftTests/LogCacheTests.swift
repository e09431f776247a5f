import Dispatch
import Synchronization
import SwiftRaft
import Testing

/// A log store that counts the reads reaching it and fails writes on demand, so the tests can
/// tell a cache hit from a miss and check what a failed write leaves behind.
private final class RecordingLogStore: MonotonicLogStore {
    private struct State {
        var reads = 0
        var failWrites = false
        var failDeletes = false
    }

    private let backing = InmemStore()
    private let state = Mutex(State())
    let isMonotonic: Bool

    init(isMonotonic: Bool = false) { self.isMonotonic = isMonotonic }

    /// How many times `getLog` reached this store.
    var reads: Int { state.withLock { $0.reads } }
    /// The entries held, bypassing the read counter.
    var logCount: Int { backing.logCount }

    func failWrites(_ fail: Bool) { state.withLock { $0.failWrites = fail } }
    func failDeletes(_ fail: Bool) { state.withLock { $0.failDeletes = fail } }

    /// Writes straight to the store, behind the cache's back.
    func storeBehindTheCache(_ logs: [Log]) throws { try backing.storeLogs(logs) }

    func firstIndex() throws -> UInt64 { backing.firstIndex() }
    func lastIndex() throws -> UInt64 { backing.lastIndex() }

    func getLog(index: UInt64) throws -> Log {
        state.withLock { $0.reads += 1 }
        return try backing.getLog(index: index)
    }

    func storeLogs(_ logs: [Log]) throws {
        if state.withLock({ $0.failWrites }) { throw RaftError(.storage, "disk full") }
        try backing.storeLogs(logs)
    }

    func deleteRange(min: UInt64, max: UInt64) throws {
        if state.withLock({ $0.failDeletes }) { throw RaftError(.storage, "disk gone") }
        backing.deleteRange(min: min, max: max)
    }
}

private func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1) -> [Log] {
    range.map { Log(index: $0, term: term, data: Array("entry \($0)".utf8)) }
}

@Suite("LogCache")
struct LogCacheTests {
    // MARK: Creating

    @Test(arguments: [0, -1, Int.min])
    func capacityMustBePositive(capacity: Int) {
        let error = #expect(throws: RaftError.self) {
            _ = try LogCache(capacity: capacity, store: InmemStore())
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func newCacheExposesItsCapacityAndStore() throws {
        let store = InmemStore()
        let cache = try LogCache(capacity: 3, store: store)
        #expect(cache.capacity == 3)
        #expect((cache.store as? InmemStore) === store)
    }

    // MARK: Indexes

    @Test func emptyCacheOverAnEmptyStoreReportsZeroIndexes() throws {
        let cache = try LogCache(capacity: 4, store: InmemStore())
        #expect(try cache.firstIndex() == 0)
        #expect(try cache.lastIndex() == 0)
    }

    @Test func firstAndLastIndexComeFromTheStore() throws {
        let store = RecordingLogStore()
        try store.storeBehindTheCache(entries(3...9))
        let cache = try LogCache(capacity: 2, store: store)
        #expect(try cache.firstIndex() == 3)
        #expect(try cache.lastIndex() == 9)
    }

    // MARK: Reading

    @Test func storedEntriesAreServedWithoutReadingTheStore() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        let logs = entries(1...4)
        try cache.storeLogs(logs)
        for log in logs {
            #expect(try cache.getLog(index: log.index) == log)
        }
        #expect(store.reads == 0)
    }

    @Test func storeLogGoesThroughTheCacheToo() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLog(Log(index: 1, term: 2))
        #expect(store.logCount == 1)
        #expect(try cache.getLog(index: 1).term == 2)
        #expect(store.reads == 0)
    }

    @Test func entriesPushedOutOfTheRingAreReadFromTheStore() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 2, store: store)
        try cache.storeLogs(entries(1...3))
        // Entry 3 took slot 1 from entry 1; entries 2 and 3 are the newest two.
        #expect(try cache.getLog(index: 1).index == 1)
        #expect(store.reads == 1)
        #expect(try cache.getLog(index: 2).index == 2)
        #expect(try cache.getLog(index: 3).index == 3)
        #expect(store.reads == 1)
    }

    @Test func aMissDoesNotFillTheCache() throws {
        let store = RecordingLogStore()
        try store.storeBehindTheCache(entries(1...1))
        let cache = try LogCache(capacity: 2, store: store)
        _ = try cache.getLog(index: 1)
        _ = try cache.getLog(index: 1)
        #expect(store.reads == 2)
    }

    @Test func anEntryMissingEverywhereThrowsLogNotFound() throws {
        let cache = try LogCache(capacity: 2, store: InmemStore())
        try cache.storeLogs(entries(1...2))
        let error = #expect(throws: RaftError.self) { try cache.getLog(index: 5) }
        #expect(error?.code == .logNotFound)
    }

    @Test func aSlotHoldingAnotherIndexIsNotMistakenForAHit() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLogs(entries(5...5))
        // Index 1 maps to slot 1, which holds entry 5; the store has no entry 1.
        #expect(throws: RaftError(.logNotFound, "")) { try cache.getLog(index: 1) }
        #expect(store.reads == 1)
    }

    @Test func overwritingAnIndexReplacesTheCachedEntry() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLogs(entries(1...3, term: 1))
        try cache.storeLogs(entries(3...3, term: 2))
        #expect(try cache.getLog(index: 3).term == 2)
        #expect(store.reads == 0)
    }

    @Test func capacityOneCachesOnlyTheNewestEntry() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 1, store: store)
        try cache.storeLogs(entries(1...3))
        #expect(try cache.getLog(index: 3).index == 3)
        #expect(store.reads == 0)
        #expect(try cache.getLog(index: 2).index == 2)
        #expect(store.reads == 1)
    }

    // MARK: Failed writes

    @Test func aFailedStoreIsReportedAndLeavesNothingCached() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        store.failWrites(true)
        #expect(throws: RaftError(.storage, "disk full")) { try cache.storeLogs(entries(1...2)) }
        store.failWrites(false)
        #expect(throws: RaftError(.logNotFound, "")) { try cache.getLog(index: 1) }
        #expect(store.reads == 1)
    }

    @Test func aFailedOverwriteKeepsServingTheEntryTheStoreStillHolds() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLogs(entries(1...1, term: 1))
        store.failWrites(true)
        #expect(throws: RaftError.self) { try cache.storeLogs(entries(1...1, term: 9)) }
        #expect(try cache.getLog(index: 1).term == 1)
    }

    // MARK: Deleting

    @Test func deleteRangeRemovesTheEntriesFromTheStore() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 8, store: store)
        try cache.storeLogs(entries(1...6))
        try cache.deleteRange(min: 1, max: 3)
        #expect(try cache.firstIndex() == 4)
        #expect(try cache.lastIndex() == 6)
        #expect(throws: RaftError(.logNotFound, "")) { try cache.getLog(index: 2) }
    }

    @Test func deleteRangeEmptiesTheWholeCacheNotJustTheRange() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 8, store: store)
        try cache.storeLogs(entries(1...6))
        try cache.deleteRange(min: 6, max: 6)
        #expect(try cache.getLog(index: 1).index == 1)
        #expect(store.reads == 1)
    }

    @Test func deletedEntriesAreNeverServedFromTheCache() throws {
        let cache = try LogCache(capacity: 8, store: InmemStore())
        try cache.storeLogs(entries(1...4))
        try cache.deleteRange(min: 3, max: 4)
        #expect(throws: RaftError(.logNotFound, "")) { try cache.getLog(index: 3) }
        #expect(throws: RaftError(.logNotFound, "")) { try cache.getLog(index: 4) }
    }

    @Test func aFailedDeleteIsReportedAndStillEmptiesTheCache() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLogs(entries(1...2))
        store.failDeletes(true)
        #expect(throws: RaftError(.storage, "disk gone")) { try cache.deleteRange(min: 1, max: 2) }
        #expect(try cache.getLog(index: 1).index == 1)
        #expect(store.reads == 1)
    }

    @Test func entriesStoredAfterADeleteAreCachedAgain() throws {
        let store = RecordingLogStore()
        let cache = try LogCache(capacity: 4, store: store)
        try cache.storeLogs(entries(1...4))
        try cache.deleteRange(min: 3, max: 4)
        try cache.storeLogs(entries(3...4, term: 2))
        #expect(try cache.getLog(index: 4).term == 2)
        #expect(store.reads == 0)
    }

    // MARK: Monotonic stores

    @Test func isMonotonicIsFalseOverAnOrdinaryStore() throws {
        let cache = try LogCache(capacity: 2, store: InmemStore())
        #expect(!cache.isMonotonic)
    }

    @Test(arguments: [true, false])
    func isMonotonicFollowsAMonotonicStore(monotonic: Bool) throws {
        let cache = try LogCache(capacity: 2, store: RecordingLogStore(isMonotonic: monotonic))
        #expect(cache.isMonotonic == monotonic)
    }

    // MARK: Concurrency

    @Test func concurrentReadersAlwaysSeeTheEntryTheyAskFor() throws {
        let cache = try LogCache(capacity: 16, store: InmemStore())
        let total: UInt64 = 2000
        let wrongEntries = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            if worker == 0 {
                for index in 1...total {
                    try? cache.storeLog(Log(index: index, term: index))
                }
            } else {
                for _ in 0..<Int(total) {
                    guard let last = try? cache.lastIndex(), last > 0,
                          let log = try? cache.getLog(index: last) else { continue }
                    if log.index != last || log.term != last {
                        wrongEntries.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(wrongEntries.load(ordering: .relaxed) == 0)
        #expect(try cache.lastIndex() == total)
        #expect(try cache.getLogs(from: 1, through: total).count == Int(total))
    }
}
