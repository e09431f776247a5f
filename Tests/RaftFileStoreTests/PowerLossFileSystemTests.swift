import RaftFileStores
import RaftTestKit
import Testing

/// What ``PowerLossFileSystem`` keeps through a power cut: only what was synced, file by file
/// and directory by directory.
@Suite("PowerLossFileSystem")
struct PowerLossFileSystemTests {
    /// The file's content, or nil if no file is there.
    private static func contents(_ files: PowerLossFileSystem, _ path: String) throws -> [UInt8]? {
        guard try files.isDirectory(path) == false else { return nil }
        let handle = try files.open(path, mode: .readOnly)
        defer { try? files.close(handle) }
        return try files.read(handle, count: Int(try files.size(of: handle)), at: 0)
    }

    /// A directory `/d` whose entry is durable, holding nothing yet.
    private static func fileSystemWithDirectory() throws -> PowerLossFileSystem {
        let files = PowerLossFileSystem()
        try files.makeDirectory("/d")
        try files.syncDirectory("/")
        return files
    }

    /// Creates `/d/<name>` holding `bytes`, synced, with its name synced.
    private static func durableFile(_ files: PowerLossFileSystem, _ name: String, _ bytes: [UInt8]) throws {
        let handle = try files.open("/d/" + name, mode: .createNew)
        try files.write(handle, bytes, at: 0)
        try files.sync(handle)
        try files.close(handle)
        try files.syncDirectory("/d")
    }

    // MARK: File content

    @Test func anUnsyncedWriteIsLostInAStrictCut() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [1, 2, 3])
        let handle = try files.open("/d/f", mode: .readWrite)
        try files.write(handle, [9, 9, 9, 9], at: 1)
        #expect(try Self.contents(files, "/d/f") == [1, 9, 9, 9, 9], "reads see the write before the cut")

        files.cutPower()
        #expect(try Self.contents(files, "/d/f") == [1, 2, 3])
    }

    @Test func aSyncedWriteSurvives() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [1, 2, 3])
        let handle = try files.open("/d/f", mode: .readWrite)
        try files.write(handle, [7, 7], at: 3)
        try files.syncData(handle)

        files.cutPower()
        #expect(try Self.contents(files, "/d/f") == [1, 2, 3, 7, 7])
    }

    @Test func unsyncedTruncationAndPreallocationAreLostInAStrictCut() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [1, 2, 3, 4])
        let handle = try files.open("/d/f", mode: .readWrite)
        try files.truncate(handle, to: 1)
        try files.preallocate(handle, size: 8)
        #expect(try files.size(of: handle) == 8)

        files.cutPower()
        #expect(try Self.contents(files, "/d/f") == [1, 2, 3, 4])
    }

    // MARK: Names

    @Test func aNewFileWithoutADirectorySyncVanishesEvenIfTheFileWasSynced() throws {
        let files = try Self.fileSystemWithDirectory()
        let handle = try files.open("/d/new", mode: .createNew)
        try files.write(handle, [1], at: 0)
        try files.sync(handle)

        files.cutPower()
        #expect(try files.isDirectory("/d/new") == nil)
        #expect(try files.contentsOfDirectory("/d").isEmpty)
    }

    @Test func aRenameWithoutADirectorySyncRevertsAndLeavesTheOldDestination() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "old", [1])
        try Self.durableFile(files, "new.tmp", [2])
        try files.rename("/d/new.tmp", to: "/d/old")
        #expect(try Self.contents(files, "/d/old") == [2])

        files.cutPower()
        #expect(try Self.contents(files, "/d/old") == [1])
        #expect(try Self.contents(files, "/d/new.tmp") == [2])
    }

    @Test func aRenameBetweenDirectoriesNeedsBothSynced() throws {
        let files = try Self.fileSystemWithDirectory()
        try files.makeDirectory("/e")
        try files.syncDirectory("/")
        try Self.durableFile(files, "f", [1])
        try files.rename("/d/f", to: "/e/f")
        try files.syncDirectory("/e")

        files.cutPower()
        // Only the destination was synced: the file has both names.
        #expect(try Self.contents(files, "/d/f") == [1])
        #expect(try Self.contents(files, "/e/f") == [1])
    }

    @Test func anUnlinkWithoutADirectorySyncIsUndone() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [5])
        try files.removeFile("/d/f")
        #expect(try files.isDirectory("/d/f") == nil)

        files.cutPower()
        #expect(try Self.contents(files, "/d/f") == [5])
    }

    @Test func aNewDirectoryNeedsItsParentSynced() throws {
        let files = PowerLossFileSystem()
        try files.makeDirectory("/a")
        try files.makeDirectory("/b")
        try files.syncDirectory("/")
        try files.makeDirectory("/c")

        files.cutPower()
        #expect(try files.contentsOfDirectory("/").map(\.name).sorted() == ["a", "b"])
    }

    // MARK: Handles, locks and errors

    @Test func aCutInvalidatesHandlesAndReleasesLocks() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "lock", [])
        let before = try files.open("/d/lock", mode: .readWrite)
        #expect(try files.tryLock(before))
        let other = try files.open("/d/lock", mode: .readWrite)
        #expect(try !files.tryLock(other), "another handle holds the lock")

        files.cutPower()
        #expect(throws: FileStoreError.self) { try files.size(of: before) }
        let after = try files.open("/d/lock", mode: .readWrite)
        #expect(try files.tryLock(after))
        #expect(throws: FileStoreError.self) { try files.close(before) }
        #expect(try files.size(of: after) == 0, "closing a stale handle touched nothing")
    }

    @Test func aProcessCrashKeepsEveryUnsyncedChangeButNoHandleOrLock() throws {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [1, 2, 3])
        let handle = try files.open("/d/f", mode: .readWrite)
        #expect(try files.tryLock(handle))
        try files.write(handle, [9], at: 3)
        try files.rename("/d/f", to: "/d/g")
        try files.makeDirectory("/d/e")

        files.cutPower(.processCrash)
        #expect(try Self.contents(files, "/d/g") == [1, 2, 3, 9])
        #expect(try files.contentsOfDirectory("/d").map(\.name) == ["e", "g"])
        #expect(throws: FileStoreError.self) { try files.size(of: handle) }
        #expect(try files.tryLock(try files.open("/d/g", mode: .readWrite)), "the dead process's lock went with it")
    }

    @Test func directoriesListInNameOrder() throws {
        // Whatever order the entries were made in: a store acting on them in listing order must
        // make the same calls in every run, so that crash points replay.
        let files = try Self.fileSystemWithDirectory()
        for name in ["m", "b", "z", "a", "k"] { try files.close(try files.open("/d/" + name, mode: .createNew)) }
        #expect(try files.contentsOfDirectory("/d").map(\.name) == ["a", "b", "k", "m", "z"])
    }

    @Test func missingPathsThrowNotFoundAndStatSaysNil() throws {
        let files = PowerLossFileSystem()
        #expect((#expect(throws: FileStoreError.self) { try files.open("/nope", mode: .readOnly) })?.code == .notFound)
        #expect((#expect(throws: FileStoreError.self) { try files.contentsOfDirectory("/nope") })?.code == .notFound)
        #expect((#expect(throws: FileStoreError.self) { try files.open("/nope/f", mode: .readWriteCreate) })?.code == .notFound)
        #expect(try files.isDirectory("/nope") == nil)
        #expect(try files.isDirectory("/") == true)
    }

    // MARK: Crash points

    @Test func aScheduledCutFailsThatCallAndEveryLaterOneUntilRestart() throws {
        let files = try Self.fileSystemWithDirectory()
        let handle = try files.open("/d/f", mode: .createNew)
        let position = files.callCount + 1
        files.cutPower(beforeCall: position)
        try files.write(handle, [1], at: 0)
        #expect(throws: FileStoreError.self) { try files.sync(handle) }
        #expect(files.isDown)
        #expect(throws: FileStoreError.self) { try files.isDirectory("/d") }
        #expect(files.callCount == position + 1, "calls while down are not recorded")

        files.restart()
        #expect(try files.isDirectory("/d/f") == nil, "the file's name was never synced")
    }

    // MARK: Seeded cuts

    /// Ten pages written and never synced, then a seeded cut.
    private static func seededOutcome(_ seed: UInt64) throws -> [UInt8] {
        let files = try Self.fileSystemWithDirectory()
        try Self.durableFile(files, "f", [UInt8](repeating: 0, count: 10 * PowerLossFileSystem.pageSize))
        let handle = try files.open("/d/f", mode: .readWrite)
        try files.write(handle, [UInt8](repeating: 0xff, count: 10 * PowerLossFileSystem.pageSize), at: 0)
        files.cutPower(.seeded(seed))
        return try Self.contents(files, "/d/f")!
    }

    @Test func aSeededCutKeepsSomeUnsyncedPagesDeterministically() throws {
        let outcomes = try (1...8).map { try Self.seededOutcome($0) }
        #expect(try outcomes == (1...8).map { try Self.seededOutcome($0) }, "same seed, same result")
        #expect(Set(outcomes).count > 1, "different seeds keep different pages")
        for outcome in outcomes {
            for page in stride(from: 0, to: outcome.count, by: PowerLossFileSystem.pageSize) {
                let bytes = Set(outcome[page..<(page + PowerLossFileSystem.pageSize)])
                #expect(bytes.count == 1, "a page is kept or lost whole")
            }
        }
        #expect(outcomes.contains { $0.contains(0xff) && $0.contains(0) }, "some seed keeps part of the write")
    }
}
