import Dispatch
import SwiftRaft
import Testing

/// Entries `range`, all of `term`, each carrying its own index as data so a test can tell them
/// apart from entries stored over them later.
private func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1) -> [Log] {
    range.map { Log(index: $0, term: term, data: Array("entry \($0)".utf8)) }
}

@Suite("InmemStore")
struct InmemStoreTests {
    // MARK: Empty store

    @Test func emptyStoreReportsZeroForFirstAndLastIndex() throws {
        let store = InmemStore()
        #expect(store.firstIndex() == 0)
        #expect(store.lastIndex() == 0)
        #expect(store.logCount == 0)
    }

    @Test func getLogOnAnEmptyStoreThrowsLogNotFound() {
        let store = InmemStore()
        let error = #expect(throws: RaftError.self) { try store.getLog(index: 1) }
        #expect(error?.code == .logNotFound)
        #expect(error?.message == "log not found")
    }

    @Test func deleteRangeOnAnEmptyStoreLeavesItEmpty() throws {
        let store = InmemStore()
        store.deleteRange(min: 1, max: 10)
        #expect(store.firstIndex() == 0)
        #expect(store.lastIndex() == 0)
    }

    // MARK: Storing

    @Test func storedEntriesReadBackUnchanged() throws {
        let store = InmemStore()
        let logs = [
            Log(index: 1, term: 1, type: .configuration, data: [1, 2], extensions: [9],
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)),
            Log(index: 2, term: 1, type: .noop),
            Log(index: 3, term: 2, type: .command, data: Array("set x".utf8)),
        ]
        try store.storeLogs(logs)
        for log in logs {
            #expect(try store.getLog(index: log.index) == log)
        }
    }

    @Test func storeLogsSetsFirstAndLastIndexToTheBatchBounds() throws {
        let store = InmemStore()
        try store.storeLogs(entries(5...9))
        #expect(store.firstIndex() == 5)
        #expect(store.lastIndex() == 9)
        #expect(store.logCount == 5)
    }

    @Test func storeLogAppendsOneEntryAndMovesLastIndex() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...3))
        try store.storeLog(Log(index: 4, term: 2))
        #expect(store.lastIndex() == 4)
        #expect(try store.getLog(index: 4).term == 2)
    }

    @Test func storingAtAHeldIndexReplacesTheEntry() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...3, term: 1))
        try store.storeLogs(entries(2...2, term: 5))
        #expect(try store.getLog(index: 2).term == 5)
        #expect(try store.getLog(index: 1).term == 1)
        #expect(store.logCount == 3)
    }

    @Test func storingBelowTheFirstIndexMovesFirstIndexDown() throws {
        let store = InmemStore()
        try store.storeLogs(entries(10...12))
        try store.storeLogs(entries(4...4))
        #expect(store.firstIndex() == 4)
        #expect(store.lastIndex() == 12)
    }

    @Test func storingAnEmptyBatchChangesNothing() throws {
        let store = InmemStore()
        try store.storeLogs([])
        #expect(store.firstIndex() == 0)
        #expect(store.lastIndex() == 0)
    }

    @Test func storeLogsRejectsIndexZeroAndStoresNothingOfTheBatch() throws {
        let store = InmemStore()
        let error = #expect(throws: RaftError.self) {
            try store.storeLogs([Log(index: 1, term: 1), Log(index: 0, term: 1)])
        }
        #expect(error?.code == .invalidArgument)
        #expect(store.logCount == 0)
        #expect(store.lastIndex() == 0)
    }

    @Test func getLogOfAnIndexNeverStoredThrowsLogNotFound() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...3))
        #expect(throws: RaftError(.logNotFound, "log not found")) { try store.getLog(index: 4) }
        #expect(throws: RaftError(.logNotFound, "log not found")) { try store.getLog(index: 0) }
    }

    // MARK: Deleting

    @Test func deleteRangeFromTheHeadMovesFirstIndex() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        store.deleteRange(min: 1, max: 4)
        #expect(store.firstIndex() == 5)
        #expect(store.lastIndex() == 10)
        #expect(throws: RaftError(.logNotFound, "")) { try store.getLog(index: 4) }
        #expect(try store.getLog(index: 5).index == 5)
    }

    @Test func deleteRangeStartingBelowTheFirstIndexStillMovesIt() throws {
        let store = InmemStore()
        try store.storeLogs(entries(5...10))
        store.deleteRange(min: 0, max: 7)
        #expect(store.firstIndex() == 8)
        #expect(store.logCount == 3)
    }

    @Test func deleteRangeFromTheTailMovesLastIndex() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        store.deleteRange(min: 7, max: 10)
        #expect(store.firstIndex() == 1)
        #expect(store.lastIndex() == 6)
        #expect(throws: RaftError(.logNotFound, "")) { try store.getLog(index: 7) }
    }

    @Test func deleteRangeReachingPastTheLastIndexStillMovesIt() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        store.deleteRange(min: 8, max: .max)
        #expect(store.lastIndex() == 7)
        #expect(store.logCount == 7)
    }

    @Test func deleteRangeInTheMiddleKeepsBothBoundsAndLeavesAGap() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        store.deleteRange(min: 4, max: 6)
        #expect(store.firstIndex() == 1)
        #expect(store.lastIndex() == 10)
        #expect(store.logCount == 7)
        #expect(throws: RaftError(.logNotFound, "")) { try store.getLog(index: 5) }
        #expect(try store.getLog(index: 3).index == 3)
        #expect(try store.getLog(index: 7).index == 7)
    }

    @Test func deleteRangeIsInclusiveAtBothEnds() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...5))
        store.deleteRange(min: 2, max: 4)
        #expect(try store.getLogs(from: 1, through: 5).map(\.index) == [1])
        #expect(try store.getLog(index: 5).index == 5)
        #expect(store.logCount == 2)
    }

    @Test func deleteRangeOfASingleIndexDeletesOnlyThatEntry() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...3))
        store.deleteRange(min: 3, max: 3)
        #expect(store.lastIndex() == 2)
        #expect(store.logCount == 2)
    }

    @Test func deleteRangeOfEverythingResetsBothIndexesToZero() throws {
        let store = InmemStore()
        try store.storeLogs(entries(3...8))
        store.deleteRange(min: 3, max: 8)
        #expect(store.firstIndex() == 0)
        #expect(store.lastIndex() == 0)
        #expect(store.logCount == 0)
    }

    @Test func deleteRangeOfTheWholeIndexSpaceEmptiesTheStoreWithoutWalkingIt() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...1000))
        // Walking 2^64 indexes would never finish, so finishing at all is the assertion.
        store.deleteRange(min: 0, max: .max)
        #expect(store.firstIndex() == 0)
        #expect(store.lastIndex() == 0)
        #expect(store.logCount == 0)
    }

    @Test func deleteRangeOutsideTheHeldEntriesDeletesNothing() throws {
        let store = InmemStore()
        try store.storeLogs(entries(10...20))
        store.deleteRange(min: 1, max: 9)
        store.deleteRange(min: 21, max: 30)
        #expect(store.firstIndex() == 10)
        #expect(store.lastIndex() == 20)
        #expect(store.logCount == 11)
    }

    @Test func deleteRangeWithMinAboveMaxDeletesNothing() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...5))
        store.deleteRange(min: 4, max: 2)
        #expect(store.logCount == 5)
        #expect(store.firstIndex() == 1)
        #expect(store.lastIndex() == 5)
    }

    @Test func storingAfterDeletingEverythingStartsAfresh() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...5))
        store.deleteRange(min: 1, max: 5)
        try store.storeLogs(entries(100...101))
        #expect(store.firstIndex() == 100)
        #expect(store.lastIndex() == 101)
    }

    // MARK: Gaps

    @Test func firstIndexSkipsAGapWhenTheHeadIsDeleted() throws {
        // The shape Raft leaves in a non-monotonic store after installing a snapshot at 100.
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        try store.storeLogs(entries(101...105))
        store.deleteRange(min: 1, max: 50)
        #expect(store.firstIndex() == 101)
        #expect(try store.getLog(index: store.firstIndex()).index == 101)
    }

    @Test func lastIndexSkipsAGapWhenTheTailIsDeleted() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        try store.storeLogs(entries(101...105))
        store.deleteRange(min: 50, max: 105)
        #expect(store.lastIndex() == 10)
        #expect(try store.getLog(index: store.lastIndex()).index == 10)
    }

    @Test func getLogsStopsAtTheFirstMissingEntry() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...10))
        store.deleteRange(min: 5, max: 5)
        #expect(try store.getLogs(from: 2, through: 8).map(\.index) == [2, 3, 4])
        #expect(try store.getLogs(from: 6, through: 8).map(\.index) == [6, 7, 8])
        #expect(try store.getLogs(from: 8, through: 6).isEmpty)
    }

    // The log is kept as one consecutive run plus entries stored apart from it: a batch that
    // leaves a gap starts a new run, and every entry on either side, and any filling the gap
    // later, reads back as stored.
    @Test func entriesOnBothSidesOfAGapAndThoseFillingItLaterAllReadBack() throws {
        let store = InmemStore()
        try store.storeLogs(entries(1...5))
        try store.storeLogs(entries(10...12, term: 2))
        #expect(try store.firstIndex() == 1 && store.lastIndex() == 12)
        #expect(try store.getLogs(from: 1, through: 12).map(\.index) == [1, 2, 3, 4, 5])
        #expect(try store.getLogs(from: 10, through: 12) == entries(10...12, term: 2))
        try store.storeLogs(entries(6...9, term: 2))
        #expect(try store.getLogs(from: 1, through: 12) == entries(1...5) + entries(6...12, term: 2))
        #expect(store.logCount == 12)
        try store.storeLogs(entries(13...14, term: 2))
        store.deleteRange(min: 1, max: 7)
        #expect(try store.firstIndex() == 8 && store.lastIndex() == 14)
        #expect(try store.getLogs(from: 8, through: 14) == entries(8...14, term: 2))
        store.deleteRange(min: 12, max: 14)
        #expect(try store.lastIndex() == 11)
        #expect(store.logCount == 4)
    }

    // MARK: StableStore

    @Test func getOfAKeyNeverSetIsNil() throws {
        let store = InmemStore()
        #expect(store.get(StableStoreKeys.lastVoteCandidate) == nil)
    }

    @Test func setValueReadsBack() throws {
        let store = InmemStore()
        store.set(StableStoreKeys.lastVoteCandidate, Array("node-2".utf8))
        #expect(store.get(StableStoreKeys.lastVoteCandidate) == Array("node-2".utf8))
    }

    @Test func setOverwritesTheEarlierValue() throws {
        let store = InmemStore()
        store.set([1], [1, 1])
        store.set([1], [2])
        #expect(store.get([1]) == [2])
    }

    @Test func emptyKeysAndEmptyValuesAreStoredLikeAnyOther() throws {
        let store = InmemStore()
        store.set([], [])
        #expect(store.get([]) == [])
        #expect(store.get([0]) == nil)
    }

    @Test func getUInt64OfAKeyNeverSetIsNil() throws {
        let store = InmemStore()
        #expect(store.getUInt64(StableStoreKeys.currentTerm) == nil)
    }

    @Test func setUInt64ValueReadsBackIncludingZeroAndMax() throws {
        let store = InmemStore()
        store.setUInt64(StableStoreKeys.currentTerm, 0)
        #expect(store.getUInt64(StableStoreKeys.currentTerm) == 0)
        store.setUInt64(StableStoreKeys.currentTerm, .max)
        #expect(store.getUInt64(StableStoreKeys.currentTerm) == .max)
    }

    @Test func keysAreComparedByContent() throws {
        let store = InmemStore()
        store.setUInt64(Array("CurrentTerm".utf8), 7)
        #expect(store.getUInt64(StableStoreKeys.currentTerm) == 7)
        #expect(store.getUInt64(StableStoreKeys.lastVoteTerm) == nil)
    }

    @Test func bytesAndIntegersUnderTheSameKeyAreIndependent() throws {
        let store = InmemStore()
        store.set([7], [1, 2, 3])
        store.setUInt64([7], 42)
        #expect(store.get([7]) == [1, 2, 3])
        #expect(store.getUInt64([7]) == 42)
    }

    @Test func stableStateIsIndependentOfTheLog() throws {
        let store = InmemStore()
        store.setUInt64(StableStoreKeys.currentTerm, 3)
        try store.storeLogs(entries(1...3))
        store.deleteRange(min: 1, max: 3)
        #expect(store.getUInt64(StableStoreKeys.currentTerm) == 3)
    }

    // MARK: Concurrency

    @Test func concurrentWritersAndReadersLoseNothing() throws {
        let store = InmemStore()
        let writers = 8
        let perWriter: UInt64 = 500
        DispatchQueue.concurrentPerform(iterations: writers * 2) { worker in
            if worker < writers {
                let first = UInt64(worker) * perWriter + 1
                for index in first..<(first + perWriter) {
                    try? store.storeLog(Log(index: index, term: 1))
                    store.setUInt64(Array("w\(worker)".utf8), index)
                }
            } else {
                for _ in 0..<Int(perWriter) {
                    let last = store.lastIndex()
                    if last > 0 { _ = try? store.getLog(index: last) }
                }
            }
        }
        let total = UInt64(writers) * perWriter
        #expect(store.logCount == Int(total))
        #expect(store.firstIndex() == 1)
        #expect(store.lastIndex() == total)
        for worker in 0..<writers {
            #expect(store.getUInt64(Array("w\(worker)".utf8)) == UInt64(worker + 1) * perWriter)
        }
    }
}
