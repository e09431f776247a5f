import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// How ``FileLogStore`` lays the log out in segments, compacts and truncates it, and guards its
/// directory and its arguments.
@Suite("FileLogStore")
struct FileLogStoreTests {
    // MARK: Segments

    @Test func appendsRollIntoNewSegmentsNamedForTheirFirstIndexAndSurviveAReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        let logs = LogFixtures.entries(1...100)
        for start in stride(from: 0, to: logs.count, by: 7) {
            try store.storeLogs(Array(logs[start..<min(start + 7, logs.count)]))
        }

        let firsts = try LogFixtures.segmentFirstIndexes(in: directory.path)
        #expect(firsts.count >= 3)
        #expect(firsts.first == 1)
        for log in logs {
            #expect(try store.getLog(index: log.index) == log)
        }

        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == firsts)
        #expect(try store.firstIndex() == 1)
        #expect(try store.lastIndex() == 100)
        #expect(try store.getLogs(from: 1, through: 100) == logs)

        try store.storeLogs(LogFixtures.entries(101...110))
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.getLogs(from: 1, through: 110) == LogFixtures.entries(1...110))
    }

    @Test func aBatchLargerThanASegmentContinuesInNewSegments() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        let logs = LogFixtures.entries(1...200)
        try store.storeLogs(logs)

        #expect(try LogFixtures.segmentNames(in: directory.path).count >= 5)
        #expect(try store.getLogs(from: 1, through: 200) == logs)
        try store.close()
        let reopened = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try reopened.getLogs(from: 1, through: 200) == logs)
    }

    @Test func anEntryLargerThanASegmentGetsASegmentOfItsOwnThatGrowsToHoldIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 4096))
        let logs = [
            LogFixtures.entry(1),
            LogFixtures.entry(2, size: 20_000),
            LogFixtures.entry(3),
        ]
        try store.storeLogs(logs)
        try store.storeLogs([LogFixtures.entry(4, size: 50_000)])

        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == [1, 2, 3, 4])
        #expect(try LogFixtures.size(of: directory.appending(LogFixtures.segmentNames(in: directory.path)[1])) > 20_000)
        #expect(try store.getLog(index: 2) == logs[1])
        try store.close()

        let reopened = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 4096))
        #expect(try reopened.getLogs(from: 1, through: 4) == logs + [LogFixtures.entry(4, size: 50_000)])
        try reopened.storeLogs([LogFixtures.entry(5)])
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == [1, 2, 3, 4, 5])
    }

    @Test func longRangesAreReadInChunksAcrossSegments() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Segments of 2 MiB and 3 MiB of entries: several segments, each read in more than one chunk.
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 2 << 20))
        let logs = LogFixtures.entries(1...300, size: 10_000)
        try store.storeLogs(Array(logs[0..<150]))
        try store.storeLogs(Array(logs[150...]))
        #expect(try LogFixtures.segmentNames(in: directory.path).count == 2)
        #expect(try store.getLogs(from: 1, through: 300) == logs)
        #expect(try store.getLogs(from: 120, through: 260) == Array(logs[119..<260]))
    }

    @Test func aBatchIsWrittenWithOneWriteAndSyncedWithOneDataSync() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileLogStore(
            directory: directory.path,
            options: LogFixtures.options(segmentSize: 1 << 20, sync: true, fileSystem: files)
        )
        try store.storeLogs(LogFixtures.entries(1...1))
        let before = files.callCount

        try store.storeLogs(LogFixtures.entries(2...51))

        let batchCalls = files.calls[before...].map(\.operation)
        #expect(batchCalls == [.write, .syncData])
    }

    // MARK: Deleting from the head

    @Test func headCompactionDropsWholeSegmentFilesAndTheFirstIndexSurvivesAReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        for start in stride(from: UInt64(1), through: 100, by: 10) {
            try store.storeLogs(LogFixtures.entries(start...(start + 9)))
        }
        let firsts = try LogFixtures.segmentFirstIndexes(in: directory.path)
        #expect(firsts.count >= 3)
        let newFirst = firsts[1] + 5

        try store.deleteRange(min: 1, max: newFirst - 1)

        // The first segment lies wholly below the new first index; the second holds it.
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == Array(firsts.dropFirst()))
        #expect(try store.firstIndex() == newFirst)
        #expect(try store.lastIndex() == 100)
        #expect(throws: RaftError.self) { try store.getLog(index: newFirst - 1) }
        #expect(try store.getLogs(from: newFirst, through: 100) == LogFixtures.entries(newFirst...100))

        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.firstIndex() == newFirst)
        #expect(try store.lastIndex() == 100)
        let error = #expect(throws: RaftError.self) { try store.getLog(index: newFirst - 1) }
        #expect(error?.code == .logNotFound)
        #expect(try store.getLog(index: newFirst) == LogFixtures.entry(newFirst))
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == Array(firsts.dropFirst()))
    }

    @Test func deletingEverythingThenRestartingBelowTheOldFirstIndexSurvivesAReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...50))
        try store.deleteRange(min: 1, max: 30)
        try store.deleteRange(min: 31, max: 50)
        #expect(try store.firstIndex() == 0)
        #expect(try store.lastIndex() == 0)
        #expect(try LogFixtures.segmentNames(in: directory.path).isEmpty)

        // As after installing a snapshot taken at index 9, older than the deleted head.
        try store.storeLogs(LogFixtures.entries(10...12, term: 2))
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.firstIndex() == 10)
        #expect(try store.lastIndex() == 12)
        #expect(try store.getLogs(from: 10, through: 12) == LogFixtures.entries(10...12, term: 2))
    }

    @Test func deletingEverythingSurvivesAReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        try store.deleteRange(min: 0, max: .max)
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.firstIndex() == 0)
        #expect(try store.lastIndex() == 0)
        try store.storeLogs(LogFixtures.entries(500...501))
        #expect(try store.firstIndex() == 500)
    }

    // MARK: Deleting from the tail

    @Test func tailTruncationAcrossASegmentBoundaryDeletesLaterSegmentsAndCutsTheRest() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100, term: 1))
        let firsts = try LogFixtures.segmentFirstIndexes(in: directory.path)
        #expect(firsts.count >= 3)
        let cut = firsts[1] + 3

        try store.deleteRange(min: cut, max: 100)

        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == Array(firsts.prefix(2)))
        #expect(try store.lastIndex() == cut - 1)
        #expect(throws: RaftError.self) { try store.getLog(index: cut) }

        let replacement = LogFixtures.entries(cut...120, term: 2)
        try store.storeLogs(replacement)
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.lastIndex() == 120)
        #expect(try store.getLogs(from: 1, through: 120) == LogFixtures.entries(1...(cut - 1), term: 1) + replacement)
    }

    @Test func tailTruncationAtASegmentsFirstIndexDeletesThatSegment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        let firsts = try LogFixtures.segmentFirstIndexes(in: directory.path)

        try store.deleteRange(min: firsts[2], max: 100)

        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == Array(firsts.prefix(2)))
        #expect(try store.lastIndex() == firsts[2] - 1)
        try store.storeLogs(LogFixtures.entries(firsts[2]...firsts[2], term: 2))
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.getLog(index: firsts[2]) == LogFixtures.entry(firsts[2], term: 2))
        #expect(try store.getLog(index: firsts[2] - 1) == LogFixtures.entry(firsts[2] - 1))
    }

    @Test func entriesRemovedFromTheTailNeverReappearBehindOnesStoredInTheirPlace() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 1 << 20))
        try store.storeLogs(LogFixtures.entries(1...10))
        try store.deleteRange(min: 5, max: 10)
        // The same size as the entry it replaces: had the old bytes stayed, the old entry 6 would
        // start right where the new entry 5 ends and a reopen would read it as the next entry.
        try store.storeLogs(LogFixtures.entries(5...5, term: 2))
        try store.close()
        store = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 1 << 20))
        #expect(try store.lastIndex() == 5)
        #expect(try store.getLog(index: 5) == LogFixtures.entry(5, term: 2))
    }

    // MARK: Arguments

    @Test func storeLogsRejectsEntriesThatDoNotContinueTheLog() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...5))

        let rejected: [[Log]] = [
            LogFixtures.entries(7...8),  // a gap
            LogFixtures.entries(5...6),  // an overlap
            [LogFixtures.entry(6), LogFixtures.entry(8)],  // not consecutive
            [LogFixtures.entry(6), LogFixtures.entry(6)],
        ]
        for logs in rejected {
            let error = #expect(throws: RaftError.self) { try store.storeLogs(logs) }
            #expect(error?.code == .invalidArgument)
        }
        #expect(try store.lastIndex() == 5)
        try store.storeLogs([])
        try store.storeLogs(LogFixtures.entries(6...6))
        #expect(try store.lastIndex() == 6)

        let empty = try FileLogStore(directory: directory.appending("empty"), options: LogFixtures.options())
        let error = #expect(throws: RaftError.self) { try empty.storeLogs([Log(index: 0, term: 1)]) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func deletingARangeInTheMiddleIsRejectedBecauseTheLogCannotHaveGaps() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...10))

        let error = #expect(throws: RaftError.self) { try store.deleteRange(min: 3, max: 6) }
        #expect(error?.code == .invalidArgument)
        #expect(try store.getLogs(from: 1, through: 10) == LogFixtures.entries(1...10))

        // Ranges reaching past either end are clamped to the log, and one missing it does nothing.
        try store.deleteRange(min: 20, max: 30)
        try store.deleteRange(min: 8, max: 1000)
        #expect(try store.lastIndex() == 7)
        try store.deleteRange(min: 0, max: 2)
        #expect(try store.firstIndex() == 3)
    }

    @Test(arguments: [0, 100, 4095])
    func aSegmentSizeBelowTheMinimumIsRejected(segmentSize: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: FileStoreError.self) {
            _ = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: segmentSize))
        }
        #expect(error?.code == .invalidOptions)
    }

    @Test func theStoreIsMonotonicAndCreatesItsDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.appending("log"), options: LogFixtures.options())
        #expect(store.isMonotonic)
        #expect(try PosixFileSystem().isDirectory(directory.appending("log")) == true)
    }

    // MARK: The directory lock

    @Test func aSecondStoreOnTheSameDirectoryIsRefusedUntilTheFirstCloses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try first.storeLogs(LogFixtures.entries(1...3))

        let error = #expect(throws: FileStoreError.self) {
            _ = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        }
        #expect(error?.code == .locked)
        #expect(error?.path == directory.path)

        try first.close()
        let second = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try second.lastIndex() == 3)
    }

    @Test func releasingAStoreWithoutClosingItReleasesTheLock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        func useAndForget() throws {
            let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
            try store.storeLogs(LogFixtures.entries(1...3))
        }
        try useAndForget()
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        #expect(try store.lastIndex() == 3)
    }

    @Test func aClosedStoreRefusesEveryCall() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...3))
        try store.close()
        try store.close()

        let calls: [() throws -> Void] = [
            { _ = try store.firstIndex() },
            { _ = try store.lastIndex() },
            { _ = try store.getLog(index: 1) },
            { _ = try store.getLogs(from: 1, through: 3) },
            { try store.storeLogs(LogFixtures.entries(4...4)) },
            { try store.deleteRange(min: 1, max: 1) },
        ]
        for call in calls {
            let error = #expect(throws: FileStoreError.self) { try call() }
            #expect(error?.code == .closed)
        }
    }
}
