import RaftFileStores
import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

/// Reads of a ``FileLogStore`` run outside its write lock; these check that they still only ever
/// return whole, stored entries while the log changes under them.
@Suite("FileLogStore concurrency")
struct FileLogStoreConcurrencyTests {
    // MARK: A write between a read's lookup and its read

    /// A store of 60 entries in two 4 KiB segments (entries 1...31 in the first), whose file system
    /// can run a write at the moment a read has looked up its record but not yet read it.
    private static func storeWithInterleaving() throws -> (TemporaryDirectory, FaultInjectingFileSystem, FileLogStore) {
        let directory = try TemporaryDirectory()
        let files = FaultInjectingFileSystem()
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options(fileSystem: files))
        try store.storeLogs(LogFixtures.entries(1...60))
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == [1, 32])
        return (directory, files, store)
    }

    @Test func aReadWhoseRecordIsTruncatedAndOverwrittenBeforeItReadsReturnsTheNewEntry() throws {
        let (directory, files, store) = try Self.storeWithInterleaving()
        defer { directory.remove() }
        defer { files.removeAllRules() }
        // Smaller entries, so the old record's offset now falls inside another record.
        let replacement = LogFixtures.entries(21...60, term: 2, size: 37)
        files.interleave({
            try store.deleteRange(min: 21, max: 60)
            try store.storeLogs(replacement)
        }, before: .read)

        #expect(try store.getLog(index: 30) == replacement[9])
    }

    @Test func aReadWhoseRecordIsTruncatedBeforeItReadsFindsNoEntry() throws {
        let (directory, files, store) = try Self.storeWithInterleaving()
        defer { directory.remove() }
        defer { files.removeAllRules() }
        files.interleave({ try store.deleteRange(min: 21, max: 60) }, before: .read)

        let error = #expect(throws: RaftError.self) { try store.getLog(index: 30) }
        #expect(error?.code == .logNotFound)
    }

    @Test func aRangeReadWhoseRecordsAreReplacedBeforeItReadsReturnsTheNewEntries() throws {
        let (directory, files, store) = try Self.storeWithInterleaving()
        defer { directory.remove() }
        defer { files.removeAllRules() }
        let replacement = LogFixtures.entries(21...60, term: 2, size: 37)
        files.interleave({
            try store.deleteRange(min: 21, max: 60)
            try store.storeLogs(replacement)
        }, before: .read)

        #expect(try store.getLogs(from: 15, through: 40) == LogFixtures.entries(15...20) + Array(replacement[0..<20]))
    }

    @Test func aReadOfASegmentDeletedUnderItReturnsTheEntryItLookedUp() throws {
        let (directory, files, store) = try Self.storeWithInterleaving()
        defer { directory.remove() }
        defer { files.removeAllRules() }
        files.interleave({ try store.deleteRange(min: 1, max: 40) }, before: .read)

        // The read looked the entry up before the compaction, so returning it is consistent;
        // what matters is that its descriptor stayed open on the unlinked file.
        #expect(try store.getLog(index: 5) == LogFixtures.entry(5))
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == [32])
        #expect(throws: RaftError.self) { try store.getLog(index: 5) }
    }

    @Test func closingTheStoreUnderAReadLetsTheReadFinish() throws {
        let (directory, files, store) = try Self.storeWithInterleaving()
        defer { directory.remove() }
        defer { files.removeAllRules() }
        files.interleave({ try store.close() }, before: .read)

        #expect(try store.getLog(index: 5) == LogFixtures.entry(5))
        let error = #expect(throws: FileStoreError.self) { try store.getLog(index: 5) }
        #expect(error?.code == .closed)
    }

    // MARK: Reads racing writes on other threads

    /// Whether the writer of a test is still at work, shared with its readers.
    private final class WritingFlag: Sendable {
        let value = Atomic(true)
    }

    /// Each term's entries have their own size, so after a truncation and re-append the records
    /// lie at new offsets: a read that located an old record finds other bytes there.
    private static func size(ofTerm term: UInt64) -> Int {
        term == 1 ? 100 : 30 + Int(term * 37 % 150)
    }

    @Test func readsRacingTailTruncationsSeeWholeEntriesOrNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        // Two segments; every truncation cuts the first and deletes the second.
        try store.storeLogs(LogFixtures.entries(1...60, term: 1))
        let writing = WritingFlag()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { writing.value.store(false, ordering: .releasing) }
                for term in 2...60 as ClosedRange<UInt64> {
                    try store.deleteRange(min: 21, max: 60)
                    await Task.yield()
                    try store.storeLogs(LogFixtures.entries(21...60, term: term, size: Self.size(ofTerm: term)))
                    await Task.yield()
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(reader))
                    // Bounded, so a reader never depends on the writer being scheduled.
                    for _ in 0..<3_000 where writing.value.load(ordering: .acquiring) {
                        let index = UInt64.random(in: 1...60, using: &random)
                        do {
                            let log = try store.getLog(index: index)
                            #expect(log == LogFixtures.entry(index, term: log.term, size: Self.size(ofTerm: log.term)))
                            #expect(index > 20 || log.term == 1)
                        } catch let error as RaftError where error.code == .logNotFound {
                            #expect(index > 20)
                        }
                        let range = try store.getLogs(from: 15, through: 40)
                        #expect(range.map(\.index) == Array(15..<(15 + UInt64(range.count))))
                        for log in range {
                            #expect(log == LogFixtures.entry(log.index, term: log.term, size: Self.size(ofTerm: log.term)))
                        }
                        await Task.yield()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.getLogs(from: 1, through: 60)
            == LogFixtures.entries(1...20) + LogFixtures.entries(21...60, term: 60, size: Self.size(ofTerm: 60)))
    }

    @Test func readsRacingHeadCompactionSeeWholeEntriesOrNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileLogStore(directory: directory.path, options: LogFixtures.options())
        try store.storeLogs(LogFixtures.entries(1...150))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for through in stride(from: UInt64(5), through: 140, by: 5) {
                    try store.deleteRange(min: 1, max: through)
                    await Task.yield()
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(reader) + 10)
                    for round in 0..<300 {
                        let index = UInt64.random(in: 1...150, using: &random)
                        do {
                            let log = try store.getLog(index: index)
                            #expect(log == LogFixtures.entry(index))
                        } catch let error as RaftError where error.code == .logNotFound {
                            #expect(index <= 140)
                        }
                        if round % 20 == 0 { await Task.yield() }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.firstIndex() == 141)
    }
}
