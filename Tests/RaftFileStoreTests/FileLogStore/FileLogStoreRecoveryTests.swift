import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// What ``FileLogStore`` does when it opens a directory a crash or a damaged disk left behind:
/// repair what a crash explains, report everything else as corruption with the file and offset.
@Suite("FileLogStore recovery")
struct FileLogStoreRecoveryTests {
    /// A log in one large segment, each entry stored by its own `storeLogs` (its own batch).
    private struct OneSegmentLog {
        let directory: TemporaryDirectory
        /// The segment file.
        let segment: String
        /// `ends[i]` is where entry i's record ends; `ends[0]` where the first one starts.
        let ends: [Int]
        let entries: [Log]

        static let options = LogFixtures.options(segmentSize: 1 << 20)

        /// Stores `count` entries one batch each (or the last `lastBatch` of them as one batch),
        /// then closes the store.
        init(count: UInt64 = 10, lastBatch: UInt64 = 1) throws {
            directory = try TemporaryDirectory()
            let store = try FileLogStore(directory: directory.path, options: Self.options)
            entries = LogFixtures.entries(1...count)
            segment = directory.appending("00000000000000000001.wal")
            var ends: [Int] = []
            for log in entries.prefix(Int(count - lastBatch)) {
                try store.storeLogs([log])
                if ends.isEmpty { ends.append(32) }
                ends.append(try LogFixtures.dataEnd(of: segment))
            }
            try store.storeLogs(Array(entries.suffix(Int(lastBatch))))
            if ends.isEmpty { ends.append(32) }
            // Every entry has the same size, so the last batch's records are evenly spaced.
            let batchEnd = try LogFixtures.dataEnd(of: segment)
            let size = (batchEnd - ends[ends.count - 1]) / Int(lastBatch)
            for _ in 0..<lastBatch { ends.append(ends[ends.count - 1] + size) }
            self.ends = ends
            try store.close()
        }

        func open(logger: LogCollector? = nil) throws -> FileLogStore {
            var options = Self.options
            if let logger { options.logger = logger.logger }
            return try FileLogStore(directory: directory.path, options: options)
        }
    }

    // MARK: A torn tail is repaired

    @Test func aTailCutInTheMiddleOfARecordIsTrimmedToTheLastWholeRecordWithAWarning() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        let cut = log.ends[9] + (log.ends[10] - log.ends[9]) / 2
        try LogFixtures.truncate(log.segment, to: cut)

        let collector = LogCollector()
        var store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 9)
        #expect(try store.getLogs(from: 1, through: 9) == Array(log.entries.prefix(9)))
        let warning = try #require(collector.warnings.first)
        #expect(collector.warnings.count == 1)
        #expect(warning.text.contains(log.segment))
        #expect(warning.metadata["file"]?.description == log.segment)
        #expect(warning.metadata["offset"]?.description == "\(log.ends[9])")
        #expect(warning.metadata["bytesDropped"]?.description == "\(cut - log.ends[9])")

        // Appends continue after the last whole record, and the repair is not reported again.
        try store.storeLogs(LogFixtures.entries(10...10, term: 2))
        try store.close()
        let quiet = LogCollector()
        store = try log.open(logger: quiet)
        #expect(try store.getLog(index: 10) == LogFixtures.entry(10, term: 2))
        #expect(quiet.warnings.isEmpty)
    }

    @Test func garbageAfterTheLastRecordIsCutOffWithAWarning() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        try LogFixtures.overwrite(log.segment, at: log.ends[10], with: [UInt8](repeating: 0xAB, count: 100))

        let collector = LogCollector()
        let store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 10)
        #expect(try store.getLogs(from: 1, through: 10) == log.entries)
        let warning = try #require(collector.warnings.first)
        #expect(warning.text.contains(log.segment))
        #expect(warning.metadata["offset"]?.description == "\(log.ends[10])")
        #expect(warning.metadata["bytesDropped"]?.description == "100")
        // The garbage is gone from the file, not just skipped.
        #expect(try LogFixtures.dataEnd(of: log.segment) == log.ends[10])
    }

    @Test func aDamagedLastRecordLooksLikeATornWriteAndIsDropped() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        try LogFixtures.flipBit(in: log.segment, at: log.ends[9] + 40)

        let collector = LogCollector()
        let store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 9)
        #expect(collector.warnings.count == 1)
    }

    @Test func aDamagedRecordOfTheLastBatchLooksLikeATornWriteEvenWithValidRecordsAfterIt() throws {
        // A crash can persist a batch's pages in any order, so this is what a torn batch can
        // look like; the entries were never acknowledged if it was.
        let log = try OneSegmentLog(count: 10, lastBatch: 5)
        defer { log.directory.remove() }
        try LogFixtures.flipBit(in: log.segment, at: log.ends[6] + 40)

        let collector = LogCollector()
        let store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 6)
        #expect(try store.getLogs(from: 1, through: 6) == Array(log.entries.prefix(6)))
        #expect(collector.warnings.count == 1)
    }

    @Test func zeroesPreallocatedAfterTheLastRecordAreTheNormalEnd() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        #expect(try LogFixtures.size(of: log.segment) == 1 << 20)

        let collector = LogCollector()
        let store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 10)
        #expect(collector.warnings.isEmpty)
    }

    // MARK: Damage to durable entries is corruption

    @Test func aFlippedBitInAMiddleRecordIsCorruptionNamingTheFileAndOffset() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        try LogFixtures.flipBit(in: log.segment, at: log.ends[4] + 40)

        let error = #expect(throws: FileStoreError.self) { _ = try log.open() }
        #expect(error?.code == .corrupt)
        #expect(error?.path == log.segment)
        #expect(error?.offset == Int64(log.ends[4]))
    }

    @Test func aZeroedMiddleRecordIsCorruptionNotTheEndOfTheSegment() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        try LogFixtures.overwrite(log.segment, at: log.ends[4], with: [UInt8](repeating: 0, count: log.ends[5] - log.ends[4]))

        let error = #expect(throws: FileStoreError.self) { _ = try log.open() }
        #expect(error?.code == .corrupt)
        #expect(error?.path == log.segment)
        #expect(error?.offset == Int64(log.ends[4]))
    }

    @Test func aFlippedBitInAnEarlierSegmentIsCorruption() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        try store.close()
        let first = directory.appending(try LogFixtures.segmentNames(in: directory.path)[0])
        try LogFixtures.flipBit(in: first, at: 500)

        let error = #expect(throws: FileStoreError.self) {
            _ = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        }
        #expect(error?.code == .corrupt)
        #expect(error?.path == first)
        let offset = try #require(error?.offset)
        #expect(offset > 32 && offset <= 500)
    }

    @Test func aDamagedSegmentHeaderIsCorruption() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        try store.close()
        let names = try LogFixtures.segmentNames(in: directory.path)

        for name in [names[0], names[names.count - 1]] {
            let path = directory.appending(name)
            try LogFixtures.flipBit(in: path, at: 20)
            let error = #expect(throws: FileStoreError.self) {
                _ = try FileLogStore(directory: directory.path, options: LogFixtures.options())
            }
            #expect(error?.code == .corrupt)
            #expect(error?.path == path)
            #expect(error?.offset == 0)
            try LogFixtures.flipBit(in: path, at: 20)
        }
    }

    @Test func aMissingSegmentIsCorruption() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        try store.close()
        let names = try LogFixtures.segmentNames(in: directory.path)
        try PosixFileSystem().removeFile(directory.appending(names[1]))

        let error = #expect(throws: FileStoreError.self) {
            _ = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        }
        #expect(error?.code == .corrupt)
        #expect(error?.path == directory.appending(names[0]))
    }

    @Test func aDamagedFirstIndexFileIsCorruption() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...100))
        try store.deleteRange(min: 1, max: 50)
        try store.close()
        try LogFixtures.flipBit(in: directory.appending("first-index"), at: 14)

        let error = #expect(throws: FileStoreError.self) {
            _ = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        }
        #expect(error?.code == .corrupt)
        #expect(error?.path == directory.appending("first-index"))
    }

    // MARK: Leftovers of interrupted operations are cleaned up

    @Test(arguments: [[UInt8](repeating: 0, count: 4096), Array("SRAFT".utf8), []])
    func aSegmentWhoseCreationWasInterruptedIsRemoved(contents: [UInt8]) throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        let leftover = log.directory.appending("00000000000000000011.wal")
        try writeFile(leftover, contents)

        let collector = LogCollector()
        let store = try log.open(logger: collector)

        #expect(try store.lastIndex() == 10)
        #expect(try PosixFileSystem().exists(leftover) == false)
        #expect(collector.warnings.count == 1)
        #expect(collector.warnings.first?.text.contains(leftover) == true)
        try store.storeLogs(LogFixtures.entries(11...11))
        #expect(try store.getLog(index: 11) == LogFixtures.entry(11))
    }

    @Test func anUnfinishedFirstIndexUpdateIsDiscarded() throws {
        let log = try OneSegmentLog()
        defer { log.directory.remove() }
        try writeFile(log.directory.appending("first-index.tmp"), [1, 2, 3])

        let store = try log.open()

        #expect(try store.firstIndex() == 1)
        #expect(try PosixFileSystem().exists(log.directory.appending("first-index.tmp")) == false)
    }
}
