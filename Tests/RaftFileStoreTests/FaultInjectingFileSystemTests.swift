#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores
import RaftTestKit
import Testing

/// ``FaultInjectingFileSystem`` passes calls through, records them, and fails, tears or crashes
/// exactly where a test says.
@Suite("FaultInjectingFileSystem")
struct FaultInjectingFileSystemTests {
    @Test func passesCallsThroughAndRecordsThemInOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        let path = directory.appending("a")

        let handle = try files.open(path, mode: .createNew)
        try files.write(handle, [1, 2, 3], at: 0)
        try files.syncData(handle)
        #expect(try files.read(handle, count: 3, at: 0) == [1, 2, 3])
        try files.close(handle)
        try files.rename(path, to: directory.appending("b"))

        #expect(files.calls == [
            .init(operation: .open, path: path),
            .init(operation: .write, path: path),
            .init(operation: .syncData, path: path),
            .init(operation: .read, path: path),
            .init(operation: .close, path: path),
            .init(operation: .rename, path: path),
        ])
        #expect(try readFile(directory.appending("b")) == [1, 2, 3])
    }

    @Test(arguments: [
        (ENOSPC, FileStoreError.Code.noSpace),
        (EACCES, FileStoreError.Code.permissionDenied),
        (EIO, FileStoreError.Code.io),
        (ENOENT, FileStoreError.Code.notFound),
    ])
    func failsTheNthCallOfAnOperationWithTheErrnosClassification(errno: Int32, code: FileStoreError.Code) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        files.fail(.makeDirectory, call: 2, errno: errno)

        try files.makeDirectory(directory.appending("1"))
        let error = #expect(throws: FileStoreError.self) { try files.makeDirectory(directory.appending("2")) }
        try files.makeDirectory(directory.appending("3"))

        #expect(error?.code == code)
        #expect(error?.errno == errno)
        #expect(error?.path == directory.appending("2"))
        #expect(try PosixFileSystem().exists(directory.appending("2")) == false)
        #expect(try PosixFileSystem().exists(directory.appending("3")))
        #expect(!files.hasCrashed)
    }

    @Test func failsEveryMatchingCallUntilTheRulesAreRemoved() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        files.failEvery([.open], errno: EACCES, path: { $0.hasSuffix(".secret") })

        for _ in 0..<3 {
            #expect(throws: FileStoreError.self) { _ = try files.open(directory.appending("x.secret"), mode: .readWriteCreate) }
        }
        try files.close(try files.open(directory.appending("x.public"), mode: .readWriteCreate))
        files.removeAllRules()
        try files.close(try files.open(directory.appending("x.secret"), mode: .readWriteCreate))
    }

    @Test func aTornWriteWritesAPrefixAndThenEveryCallThrows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        let path = directory.appending("torn")
        let handle = try files.open(path, mode: .createNew)
        files.tearNextWrite(keepingFirst: 3)

        #expect(throws: FileStoreError.self) { try files.write(handle, [1, 2, 3, 4, 5, 6], at: 0) }
        #expect(files.hasCrashed)
        #expect(throws: FileStoreError.self) { try files.syncData(handle) }
        #expect(throws: FileStoreError.self) { _ = try files.contentsOfDirectory(directory.path) }
        #expect(throws: FileStoreError.self) { try files.close(handle) }

        #expect(try readFile(path) == [1, 2, 3])
        #expect(files.calls.map(\.operation) == [.open, .write])
    }

    @Test func crashesBeforeAChosenCall() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        files.crash(beforeCall: 2)

        try files.makeDirectory(directory.appending("0"))
        try files.makeDirectory(directory.appending("1"))
        #expect(throws: FileStoreError.self) { try files.makeDirectory(directory.appending("2")) }
        #expect(throws: FileStoreError.self) { try files.makeDirectory(directory.appending("3")) }

        #expect(files.hasCrashed)
        #expect(files.callCount == 3)
        #expect(try PosixFileSystem().exists(directory.appending("2")) == false)
    }

    @Test func closingAfterACrashStillReleasesTheFileAndItsLock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        let lockPath = directory.appending("LOCK")
        let held = try files.open(lockPath, mode: .readWriteCreate)
        #expect(try files.tryLock(held))
        files.crash()

        #expect(throws: FileStoreError.self) { try files.close(held) }

        let posix = PosixFileSystem()
        let again = try posix.open(lockPath, mode: .readWrite)
        defer { try? posix.close(again) }
        #expect(try posix.tryLock(again))
    }

    @Test func syncsCanBeRecordedWithoutReachingTheDisk() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let inner = FaultInjectingFileSystem()
        let files = FaultInjectingFileSystem(wrapping: inner, performsSyncs: false)
        let handle = try files.open(directory.appending("f"), mode: .createNew)
        try files.syncData(handle)
        try files.sync(handle)
        try files.syncDirectory(directory.path)
        try files.close(handle)

        #expect(files.calls.map(\.operation) == [.open, .syncData, .sync, .syncDirectory, .close])
        #expect(inner.calls.map(\.operation) == [.open, .close])
    }

    @Test func aCrashRuleAppliesToTheMatchingCall() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        files.inject(.init(operations: [.removeFile], path: { $0.hasSuffix("b") }, fault: .crash))
        try writeFile(directory.appending("a"), [1])
        try writeFile(directory.appending("b"), [2])

        try files.removeFile(directory.appending("a"))
        #expect(throws: FileStoreError.self) { try files.removeFile(directory.appending("b")) }

        #expect(files.hasCrashed)
        #expect(try PosixFileSystem().exists(directory.appending("b")))
    }
}
