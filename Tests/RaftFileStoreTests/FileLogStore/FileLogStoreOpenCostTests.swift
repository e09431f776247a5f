import RaftFileStores
import RaftTestKit
import Synchronization
import Testing

/// Opening a log reads what its records take, plus a short window of zeros after the last one
/// that shows the end is clean, not every preallocated byte of its last segment: a node with a
/// tiny log used to read a whole 64 MiB segment (and hold it in memory) at every start.
@Suite struct FileLogStoreOpenCostTests {
    @Test func openingALogOfFourteenEntriesInA64MiBSegmentReadsAFewMiBNotTheSegment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LogFixtures.options(segmentSize: 64 << 20, sync: true)
        var store: FileLogStore? = try FileLogStore(directory: directory.path, options: options)
        try store!.storeLogs(LogFixtures.entries(1...14))
        try store!.close()
        store = nil

        let counting = ReadCountingFileSystem()
        let reopened = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 64 << 20, fileSystem: counting))
        #expect(try reopened.lastIndex() == 14)
        #expect(try reopened.getLogs(from: 1, through: 14) == LogFixtures.entries(1...14))
        let read = counting.bytesRead
        #expect(read < 8 << 20, "opening read \(read) bytes of a 64 MiB segment holding 14 small entries")
        try reopened.close()
    }

    @Test func aTornTailJustPastTheCleanEndWindowStartIsStillFoundAndCut() throws {
        // Garbage inside the window after the last record: the whole segment is read and the
        // torn tail cut, as before.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LogFixtures.options(segmentSize: 16 << 20, sync: true)
        var store: FileLogStore? = try FileLogStore(directory: directory.path, options: options)
        try store!.storeLogs(LogFixtures.entries(1...3))
        try store!.close()
        store = nil
        let segment = directory.appending("00000000000000000001.wal")
        let end = try LogFixtures.dataEnd(of: segment)
        let posix = PosixFileSystem()
        let handle = try posix.open(segment, mode: .readWrite)
        try posix.write(handle, [UInt8](repeating: 0xAB, count: 100), at: Int64(end + (3 << 20)))
        try posix.close(handle)

        let reopened = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 16 << 20))
        #expect(try reopened.lastIndex() == 3)
        try reopened.storeLogs(LogFixtures.entries(4...5))
        try reopened.close()
        let again = try FileLogStore(directory: directory.path, options: LogFixtures.options(segmentSize: 16 << 20))
        #expect(try again.getLogs(from: 1, through: 5) == LogFixtures.entries(1...5))
        try again.close()
    }
}

/// The real file system, counting the bytes read through it.
private final class ReadCountingFileSystem: FileSystem {
    private let base = PosixFileSystem()
    private let read = Atomic<Int>(0)

    var bytesRead: Int { read.load(ordering: .relaxed) }

    func open(_ path: String, mode: FileOpenMode) throws -> FileHandle { try base.open(path, mode: mode) }
    func close(_ file: FileHandle) throws { try base.close(file) }
    func read(_ file: FileHandle, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        let count = try base.read(file, into: buffer, at: offset)
        read.add(count, ordering: .relaxed)
        return count
    }
    func write(_ file: FileHandle, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try base.write(file, bytes, at: offset) }
    func syncData(_ file: FileHandle) throws { try base.syncData(file) }
    func sync(_ file: FileHandle) throws { try base.sync(file) }
    func truncate(_ file: FileHandle, to size: Int64) throws { try base.truncate(file, to: size) }
    func preallocate(_ file: FileHandle, size: Int64) throws { try base.preallocate(file, size: size) }
    func size(of file: FileHandle) throws -> Int64 { try base.size(of: file) }
    func tryLock(_ file: FileHandle) throws -> Bool { try base.tryLock(file) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func removeFile(_ path: String) throws { try base.removeFile(path) }
    func removeDirectory(_ path: String) throws { try base.removeDirectory(path) }
    func makeDirectory(_ path: String) throws { try base.makeDirectory(path) }
    func contentsOfDirectory(_ path: String) throws -> [DirectoryEntry] { try base.contentsOfDirectory(path) }
    func isDirectory(_ path: String) throws -> Bool? { try base.isDirectory(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
}
