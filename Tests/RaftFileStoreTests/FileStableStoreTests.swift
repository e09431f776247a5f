#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

@Suite("FileStableStore")
struct FileStableStoreTests {
    private static let headerSize = 16
    private static let recordHeaderSize = 12

    /// The size of the record a `set` of `key` to `value` appends.
    private static func recordSize(key: String, valueCount: Int) -> Int {
        recordHeaderSize + 5 + key.utf8.count + valueCount
    }

    // MARK: Opening

    @Test func openingCreatesTheDirectoryAndMissingParentsWithADataFileAndALockFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("node/raft/stable")
        let store = try FileStableStore(directory: path)
        defer { store.close() }
        #expect(Set(try PosixFileSystem().contentsOfDirectory(path).map(\.name)) == ["LOCK", "stable.dat"])
        #expect(try readFile(path + "/stable.dat").count == Self.headerSize)
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == nil)
    }

    @Test func aSecondStoreOnTheSameDirectoryIsLockedOutUntilTheFirstCloses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try FileStableStore(directory: directory.path)
        try first.setUInt64(StableStoreKeys.currentTerm, 4)
        let error = #expect(throws: FileStoreError.self) { try FileStableStore(directory: directory.path) }
        #expect(error?.code == .locked)
        first.close()
        let second = try FileStableStore(directory: directory.path)
        defer { second.close() }
        #expect(try second.getUInt64(StableStoreKeys.currentTerm) == 4)
    }

    @Test func aClosedStoreRefusesEveryCall() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStableStore(directory: directory.path)
        store.close()
        store.close()
        #expect((#expect(throws: FileStoreError.self) { try store.get([1]) })?.code == .closed)
        #expect((#expect(throws: FileStoreError.self) { try store.getUInt64([1]) })?.code == .closed)
        #expect((#expect(throws: FileStoreError.self) { try store.set([1], [2]) })?.code == .closed)
        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64([1], 2) })?.code == .closed)
    }

    @Test(arguments: [0, -1] as [Int64])
    func aCompactionThresholdThatIsNotPositiveIsInvalid(threshold: Int64) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: FileStoreError.self) {
            try FileStableStore(directory: directory.path, options: .init(compactionThreshold: threshold))
        }
        #expect(error?.code == .invalidOptions)
    }

    // MARK: Values

    @Test func bytesAndIntegersUnderOneKeyAreSeparate() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStableStore(directory: directory.path)
        try store.set(Array("key".utf8), [1, 2])
        try store.setUInt64(Array("key".utf8), 3)
        #expect(try store.get(Array("key".utf8)) == [1, 2])
        #expect(try store.getUInt64(Array("key".utf8)) == 3)
        store.close()
        let reopened = try FileStableStore(directory: directory.path)
        defer { reopened.close() }
        #expect(try reopened.get(Array("key".utf8)) == [1, 2])
        #expect(try reopened.getUInt64(Array("key".utf8)) == 3)
    }

    @Test func integersAreStoredAsEightBigEndianBytes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStableStore(directory: directory.path)
        try store.setUInt64(Array("k".utf8), 0x0102_0304_0506_0708)
        store.close()
        let file = try readFile(directory.appending("stable.dat"))
        #expect(file.count == Self.headerSize + Self.recordSize(key: "k", valueCount: 8))
        #expect(Array(file.suffix(8)) == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    /// One `fdatasync` per set, and no `fsync`: the size change of an append is flushed by
    /// `fdatasync` too.
    @Test func everySetCostsExactlyOneFdatasync() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        defer { store.close() }
        let before = files.callCount
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        try store.setUInt64(StableStoreKeys.lastVoteTerm, 1)
        try store.set(StableStoreKeys.lastVoteCandidate, Array("n1".utf8))
        let calls = files.calls[before...].map(\.operation)
        #expect(calls == [.write, .syncData, .write, .syncData, .write, .syncData])
    }

    /// Term and vote together (setMany, as Raft writes them) are one write and one `fdatasync`,
    /// where three sets cost three of each.
    @Test func setManyIsOneWriteAndOneFdatasync() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        defer { store.close() }
        let before = files.callCount
        try store.setMany([
            (StableStoreKeys.currentTerm, .uint64(3)),
            (StableStoreKeys.lastVoteCandidate, .bytes(Array("n1".utf8))),
            (StableStoreKeys.lastVoteTerm, .uint64(3)),
        ])
        #expect(files.calls[before...].map(\.operation) == [.write, .syncData])
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 3)
        #expect(try store.get(StableStoreKeys.lastVoteCandidate) == Array("n1".utf8))
        #expect(try store.getUInt64(StableStoreKeys.lastVoteTerm) == 3)
    }

    /// A write that fails in a setMany leaves none of its values visible, and the store usable.
    @Test func aFailedSetManyLeavesNoneOfItsValues() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        defer { store.close() }
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        files.fail(.write, errno: ENOSPC)
        #expect(throws: (any Error).self) {
            try store.setMany([(StableStoreKeys.currentTerm, .uint64(2)), (StableStoreKeys.lastVoteTerm, .uint64(2))])
        }
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 1)
        #expect(try store.getUInt64(StableStoreKeys.lastVoteTerm) == nil)
        files.removeAllRules()
        try store.setMany([(StableStoreKeys.currentTerm, .uint64(2)), (StableStoreKeys.lastVoteTerm, .uint64(2))])
        #expect(try store.getUInt64(StableStoreKeys.lastVoteTerm) == 2)
    }

    /// With sync off a set is only a write; closing syncs once, so a clean shutdown keeps
    /// every value.
    @Test func withSyncOffASetIsOneWriteAndCloseSyncsOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(sync: false, fileSystem: files))
        let before = files.callCount
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        try store.setUInt64(StableStoreKeys.currentTerm, 2)
        #expect(files.calls[before...].map(\.operation) == [.write, .write])
        let beforeClose = files.callCount
        store.close()
        #expect(files.calls[beforeClose...].map(\.operation) == [.syncData, .close, .close])
    }

    // MARK: Torn and damaged records

    /// A crash in the middle of a set leaves a prefix of its record. It was never acknowledged,
    /// so reopening drops it, logs a warning, and the key keeps its previous value.
    @Test(arguments: [1, 4, 8, 11, 12, 13, 17, 20])
    func aTornFinalRecordIsDroppedWithAWarningAndThePreviousValueRemains(keptBytes: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        try store.set(StableStoreKeys.lastVoteCandidate, Array("n1".utf8))
        let intactSize = try readFile(directory.appending("stable.dat")).count
        files.tearNextWrite(keepingFirst: keptBytes)
        #expect(throws: FileStoreError.self) { try store.set(StableStoreKeys.lastVoteCandidate, Array("n2".utf8)) }
        store.close()
        #expect(try readFile(directory.appending("stable.dat")).count == intactSize + keptBytes)

        let logs = LogCollector()
        let reopened = try FileStableStore(directory: directory.path, options: .init(logger: logs.logger))
        #expect(try reopened.get(StableStoreKeys.lastVoteCandidate) == Array("n1".utf8))
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == 1)
        let warning = try #require(logs.warnings.first)
        #expect(warning.text == "dropping a torn final record that was never acknowledged")
        #expect(warning.metadata["offset"]?.description == "\(intactSize)")
        // The torn bytes are cut off, and later sets append after the intact records.
        #expect(try readFile(directory.appending("stable.dat")).count == intactSize)
        try reopened.set(StableStoreKeys.lastVoteCandidate, Array("n3".utf8))
        reopened.close()
        let third = try FileStableStore(directory: directory.path)
        defer { third.close() }
        #expect(try third.get(StableStoreKeys.lastVoteCandidate) == Array("n3".utf8))
    }

    /// Damage to any byte of a record that later records follow cannot be a torn write, so the
    /// store refuses to open and names the file and the record's offset.
    @Test(arguments: [
        0,  // the body length
        4,  // the length's checksum
        8,  // the body's checksum
        12,  // the namespace
        13,  // the key length
        17,  // the key
        19,  // the value
    ])
    func aFlippedBitInAnEarlierRecordIsCorruptionNamingFileAndOffset(byteInRecord: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStableStore(directory: directory.path)
        try store.set(Array("a".utf8), [1, 2, 3])  // the record at offset 16, 21 bytes long
        try store.set(Array("b".utf8), [4, 5, 6])
        try store.setUInt64(Array("c".utf8), 7)
        store.close()
        let path = directory.appending("stable.dat")
        var file = try readFile(path)
        file[Self.headerSize + byteInRecord] ^= 0x10
        try writeFile(path, file)

        let error = #expect(throws: FileStoreError.self) { try FileStableStore(directory: directory.path) }
        #expect(error?.code == .corrupt)
        #expect(error?.path == path)
        #expect(error?.offset == Int64(Self.headerSize))
    }

    @Test func aDamagedFileHeaderIsCorruptionAtOffsetZero() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileStableStore(directory: directory.path).setUInt64(StableStoreKeys.currentTerm, 1)
        let path = directory.appending("stable.dat")
        var file = try readFile(path)
        file[3] ^= 0xff
        try writeFile(path, file)
        let error = #expect(throws: FileStoreError.self) { try FileStableStore(directory: directory.path) }
        #expect(error?.code == .corrupt)
        #expect(error?.offset == 0)
    }

    @Test func anEmptyDataFileIsCorruptionNotAFreshStore() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeFile(directory.appending("stable.dat"), [])
        let error = #expect(throws: FileStoreError.self) { try FileStableStore(directory: directory.path) }
        #expect(error?.code == .corrupt)
    }

    /// A record whose checksums pass but whose content makes no sense was written whole, so it is
    /// damage (or a newer format), never mistaken for a torn write, even at the end of the file.
    @Test func aChecksummedButMalformedFinalRecordIsCorruption() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileStableStore(directory: directory.path).setUInt64(StableStoreKeys.currentTerm, 1)
        let path = directory.appending("stable.dat")
        let body: [UInt8] = [9, 0, 0, 0, 1, UInt8(ascii: "k"), UInt8(ascii: "v")]  // namespace 9 does not exist
        let length = Self.bigEndian(UInt32(body.count))
        let record = length + Self.bigEndian(CRC32C.checksum(length)) + Self.bigEndian(CRC32C.checksum(body)) + body
        let intact = try readFile(path)
        try writeFile(path, intact + record)
        let error = #expect(throws: FileStoreError.self) { try FileStableStore(directory: directory.path) }
        #expect(error?.code == .corrupt)
        #expect(error?.offset == Int64(intact.count))
    }

    /// The limit of torn-write tolerance: damage to the last record looks exactly like a torn
    /// write, so that record is dropped (with the warning) rather than refusing to open.
    @Test func aFlippedBitInTheFinalRecordCannotBeToldFromATornWrite() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStableStore(directory: directory.path)
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        try store.setUInt64(StableStoreKeys.currentTerm, 2)
        store.close()
        let path = directory.appending("stable.dat")
        var file = try readFile(path)
        file[file.count - 1] ^= 0x01
        try writeFile(path, file)
        let logs = LogCollector()
        let reopened = try FileStableStore(directory: directory.path, options: .init(logger: logs.logger))
        defer { reopened.close() }
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == 1)
        #expect(logs.warnings.count == 1)
    }

    // MARK: Compaction

    @Test func compactionKeepsEveryValueAndBoundsTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = FileStableStore.Options(compactionThreshold: 512)
        let store = try FileStableStore(directory: directory.path, options: options)
        try store.set(Array("user".utf8), Array(repeating: 7, count: 40))
        for term in 1...500 {
            try store.setUInt64(StableStoreKeys.currentTerm, UInt64(term))
            try store.set(StableStoreKeys.lastVoteCandidate, Array("n\(term)".utf8))
            let size = try readFile(directory.appending("stable.dat")).count
            #expect(size < 512 + 2 * 40, "after term \(term) the file is \(size) bytes")
        }
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 500)
        store.close()

        let reopened = try FileStableStore(directory: directory.path, options: options)
        defer { reopened.close() }
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == 500)
        #expect(try reopened.get(StableStoreKeys.lastVoteCandidate) == Array("n500".utf8))
        #expect(try reopened.get(Array("user".utf8)) == Array(repeating: 7, count: 40))
        #expect(Set(try PosixFileSystem().contentsOfDirectory(directory.path).map(\.name)) == ["LOCK", "stable.dat"])
    }

    /// Compacting a file that is mostly current values would rewrite it for nothing, again and
    /// again; compaction waits until at least half the file is overwritten values.
    @Test func compactionWaitsUntilHalfTheFileIsOverwritten() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files, compactionThreshold: 100))
        defer { store.close() }
        for key in 0..<50 {
            try store.setUInt64(Array("key-\(key)".utf8), UInt64(key))
        }
        let renames = files.calls.filter { $0.operation == .rename }.count
        #expect(renames == 1, "only the rename that created the file")
    }

    @Test func anUnfinishedCompactionFileIsRemovedWhenTheStoreOpens() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileStableStore(directory: directory.path).setUInt64(StableStoreKeys.currentTerm, 3)
        try writeFile(directory.appending("stable.dat.tmp"), Array("half a compaction".utf8))
        let store = try FileStableStore(directory: directory.path)
        defer { store.close() }
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 3)
        #expect(try PosixFileSystem().exists(directory.appending("stable.dat.tmp")) == false)
    }

    // MARK: Helpers

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
