#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// What a full disk, a refused permission, a failed sync or a crash leaves of a stable store.
@Suite("FileStableStore faults")
struct FileStableStoreFaultTests {
    private static let userKey = Array("user".utf8)
    private static let userValue = Array(repeating: UInt8(0xab), count: 30)
    private static let threshold: Int64 = 300

    // MARK: A full disk

    @Test func aFullDiskFailsTheSetWithNoSpaceAndThePreviousValueSurvives() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        let sizeBefore = try readFile(directory.appending("stable.dat")).count
        files.fail(.write, errno: ENOSPC)

        let error = #expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, 2) }
        #expect(error?.code == .noSpace)
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 1)
        #expect(try readFile(directory.appending("stable.dat")).count == sizeBefore)
        // Nothing was half written, so the store goes on once there is space again.
        try store.setUInt64(StableStoreKeys.currentTerm, 3)
        store.close()

        let reopened = try FileStableStore(directory: directory.path)
        defer { reopened.close() }
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == 3)
    }

    /// A disk that fills up between the write and the sync (delayed allocation) is reported by
    /// `fdatasync`. Linux may then have dropped the page, so what the disk holds is unknown: the
    /// store refuses writes until reopened, and the reopened store holds one value or the other.
    @Test func aFailedFdatasyncStopsWritesUntilReopened() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        files.fail(.syncData, errno: ENOSPC)

        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, 2) })?.code == .noSpace)
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == 1)
        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, 3) })?.code == .closed)
        store.close()

        let reopened = try FileStableStore(directory: directory.path)
        defer { reopened.close() }
        #expect([1, 2].contains(try reopened.getUInt64(StableStoreKeys.currentTerm)))
        try reopened.setUInt64(StableStoreKeys.currentTerm, 4)
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == 4)
    }

    @Test func aFailedWriteThatCannotBeCutOffStopsWrites() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        defer { store.close() }
        files.fail(.write, errno: EIO)
        files.fail(.truncate, errno: EIO)
        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, 1) })?.code == .io)
        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, 1) })?.code == .closed)
    }

    // MARK: Permissions

    @Test func aRefusedPermissionIsReportedWhenTheStoreOpens() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        files.fail(.open, errno: EACCES)
        let error = #expect(throws: FileStoreError.self) {
            try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        }
        #expect(error?.code == .permissionDenied)
    }

    @Test func aReadOnlyFileSystemIsReportedOnTheFirstSet() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files))
        defer { store.close() }
        files.fail(.write, errno: EROFS)
        #expect((#expect(throws: FileStoreError.self) { try store.set([1], [2]) })?.code == .permissionDenied)
        #expect(try store.get([1]) == nil)
    }

    // MARK: Crashes

    /// Crashes before each call that creating a store makes: a restart finds an empty store.
    @Test func aCrashAnywhereWhileCreatingAStoreLeavesOneThatOpensEmpty() throws {
        let probe = try TemporaryDirectory()
        defer { probe.remove() }
        let counting = FaultInjectingFileSystem(performsSyncs: false)
        let probed = try FileStableStore(directory: probe.appending("stable"), options: .init(fileSystem: counting))
        let callsToOpen = counting.callCount
        probed.close()
        for position in 0..<callsToOpen {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let files = FaultInjectingFileSystem(performsSyncs: false)
            files.crash(beforeCall: position)
            #expect(throws: FileStoreError.self) {
                try FileStableStore(directory: directory.appending("stable"), options: .init(fileSystem: files))
            }
            let restarted = try FileStableStore(directory: directory.appending("stable"))
            #expect(try restarted.getUInt64(StableStoreKeys.currentTerm) == nil, "crash point \(position)")
            restarted.close()
        }
    }

    /// The sets every crash scenario makes before its last one: a user key, then terms until the
    /// next set compacts.
    private static func prepare(_ store: FileStableStore, terms: Int) throws {
        try store.set(userKey, userValue)
        for term in 1...terms {
            try store.setUInt64(StableStoreKeys.currentTerm, UInt64(term))
        }
    }

    /// How many terms can be set before the next set compacts, and the positions of the calls
    /// that set makes.
    private static func compactingSet() throws -> (terms: Int, positions: Range<Int>) {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files, compactionThreshold: threshold))
        defer { store.close() }
        try store.set(userKey, userValue)
        var term = 1
        while true {
            let start = files.callCount
            try store.setUInt64(StableStoreKeys.currentTerm, UInt64(term))
            if files.calls[start...].contains(where: { $0.operation == .rename }) {
                return (term - 1, start..<files.callCount)
            }
            term += 1
        }
    }

    /// Crashes before each call of a set that compacts — writing the new file, syncing it,
    /// renaming it over the old one, syncing the directory, appending — and restarts: every value
    /// is there, the term is the old or the new one, and no temporary file is left.
    @Test func aCrashAnywhereInACompactionLosesNoValue() throws {
        let (terms, positions) = try Self.compactingSet()
        #expect(positions.count >= 6)
        for position in positions {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let files = FaultInjectingFileSystem(performsSyncs: false)
            let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files, compactionThreshold: Self.threshold))
            try Self.prepare(store, terms: terms)
            files.crash(beforeCall: position)
            #expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, UInt64(terms + 1)) }
            store.close()

            let restarted = try FileStableStore(directory: directory.path, options: .init(compactionThreshold: Self.threshold))
            #expect(try restarted.get(Self.userKey) == Self.userValue, "crash point \(position)")
            let term = try restarted.getUInt64(StableStoreKeys.currentTerm)
            #expect(term == UInt64(terms) || term == UInt64(terms + 1), "crash point \(position): term \(String(describing: term))")
            #expect(try PosixFileSystem().exists(directory.appending("stable.dat.tmp")) == false, "crash point \(position)")
            // And the restarted store goes on compacting and appending normally.
            for next in (terms + 2)...(terms + 40) {
                try restarted.setUInt64(StableStoreKeys.currentTerm, UInt64(next))
            }
            restarted.close()
            let again = try FileStableStore(directory: directory.path)
            #expect(try again.getUInt64(StableStoreKeys.currentTerm) == UInt64(terms + 40))
            #expect(try again.get(Self.userKey) == Self.userValue)
            again.close()
        }
    }

    @Test func aCompactionThatFailsBeforeItsRenameKeepsTheOldFileAndTheSetSucceeds() throws {
        let (terms, _) = try Self.compactingSet()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let logs = LogCollector()
        let store = try FileStableStore(
            directory: directory.path,
            options: .init(fileSystem: files, logger: logs.logger, compactionThreshold: Self.threshold))
        try Self.prepare(store, terms: terms)
        files.fail(.write, errno: ENOSPC, path: { $0.hasSuffix(".tmp") })

        try store.setUInt64(StableStoreKeys.currentTerm, UInt64(terms + 1))
        #expect(logs.warnings.contains { $0.text.hasPrefix("stable store compaction failed") })
        #expect(try PosixFileSystem().exists(directory.appending("stable.dat.tmp")) == false)
        store.close()
        let reopened = try FileStableStore(directory: directory.path)
        defer { reopened.close() }
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == UInt64(terms + 1))
        #expect(try reopened.get(Self.userKey) == Self.userValue)
    }

    /// Until the directory sync after the rename succeeds, a crash could bring back the old file,
    /// so appending to the new one could lose acknowledged values: the store stops writing.
    @Test func aFailedDirectorySyncAfterACompactionStopsWrites() throws {
        let (terms, _) = try Self.compactingSet()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileStableStore(directory: directory.path, options: .init(fileSystem: files, compactionThreshold: Self.threshold))
        try Self.prepare(store, terms: terms)
        files.fail(.syncDirectory, errno: EIO)

        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, UInt64(terms + 1)) })?.code == .io)
        #expect((#expect(throws: FileStoreError.self) { try store.setUInt64(StableStoreKeys.currentTerm, UInt64(terms + 2)) })?.code == .closed)
        #expect(try store.getUInt64(StableStoreKeys.currentTerm) == UInt64(terms))
        store.close()
        let reopened = try FileStableStore(directory: directory.path)
        defer { reopened.close() }
        #expect(try reopened.getUInt64(StableStoreKeys.currentTerm) == UInt64(terms))
        #expect(try reopened.get(Self.userKey) == Self.userValue)
    }
}
