#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// What a full disk, a refused permission or a crash leaves of a snapshot.
@Suite("FileSnapshotStore faults")
struct FileSnapshotStoreFaultTests {
    private static let state = snapshotTestBytes(700_000)

    /// Opens a store on `files` with a fixed clock, so every run makes the same calls.
    private func makeStore(_ directory: TemporaryDirectory, _ files: FaultInjectingFileSystem) throws -> FileSnapshotStore {
        try FileSnapshotStore(directory: directory.path, retain: 2, options: .init(fileSystem: files, clock: { 5000 }))
    }

    private func startSnapshot(_ store: FileSnapshotStore) throws -> any SnapshotSink {
        let sink = try store.create(version: 1, index: 10, term: 2, configuration: snapshotTestConfiguration, configurationIndex: 3)
        try sink.write(Self.state)
        return sink
    }

    /// Runs close once on a healthy file system and returns the positions of the calls it made,
    /// and the position of its rename.
    private func callsMadeByClose() throws -> (positions: Range<Int>, rename: Int) {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let sink = try startSnapshot(try makeStore(directory, files))
        let start = files.callCount
        try sink.close()
        let calls = files.calls
        let rename = try #require(calls.indices.first { $0 >= start && calls[$0].operation == .rename })
        return (start..<calls.count, rename)
    }

    /// Crashes before each call that closing a snapshot makes, in turn, then "restarts": a fresh
    /// store on the real file system must list either nothing (crash before the rename, leaving a
    /// `.tmp` directory) or the complete snapshot, which passes its CRC.
    @Test func aCrashAnywhereInCloseLeavesNothingListedOrTheWholeSnapshot() throws {
        let (positions, rename) = try callsMadeByClose()
        #expect(positions.count >= 8, "close makes at least its flush, syncs, meta write and rename")
        for position in positions {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let files = FaultInjectingFileSystem(performsSyncs: false)
            let sink = try startSnapshot(try makeStore(directory, files))
            files.crash(beforeCall: position)
            try? sink.close()
            #expect(files.hasCrashed, "crash point \(position)")

            let restarted = try FileSnapshotStore(directory: directory.path, retain: 2)
            let listed = try restarted.list()
            if position <= rename {
                #expect(listed.isEmpty, "crash before call \(position), at or before the rename at \(rename)")
                let left = try PosixFileSystem().contentsOfDirectory(restarted.snapshotsDirectory).map(\.name)
                #expect(left == [sink.id + ".tmp"], "crash point \(position)")
            } else {
                #expect(listed.map(\.id) == [sink.id], "crash before call \(position), after the rename at \(rename)")
                let (meta, source) = try restarted.open(id: sink.id)
                #expect(meta.size == Int64(Self.state.count))
                #expect(try source.readAll() == Self.state)
                source.close()
            }
        }
    }

    @Test func aFullDiskWhileWritingFailsTheSinkAndRemovesItsDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try makeStore(directory, files)
        let sink = try store.create(version: 1, index: 1, term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
        files.fail(.write, errno: ENOSPC, path: { $0.hasSuffix("state.bin") })

        let error = #expect(throws: FileStoreError.self) { try sink.write(Self.state) }
        #expect(error?.code == .noSpace)
        #expect(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).isEmpty)
        // The failure is reported again rather than a partial snapshot being kept.
        #expect((#expect(throws: FileStoreError.self) { try sink.write([1]) })?.code == .noSpace)
        #expect((#expect(throws: FileStoreError.self) { try sink.close() })?.code == .noSpace)
        try sink.cancel()
        #expect(try store.list().isEmpty)
    }

    @Test func aFullDiskWhileClosingFailsTheCloseAndKeepsTheOlderSnapshot() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try FileSnapshotStore(directory: directory.path, retain: 2, options: .init(fileSystem: files, clock: steppingClock(from: 1)))
        let older = try store.save([1, 2, 3], index: 1, term: 1)
        let sink = try startSnapshot(store)
        files.fail(.sync, errno: ENOSPC)

        #expect((#expect(throws: FileStoreError.self) { try sink.close() })?.code == .noSpace)
        #expect(try store.list().map(\.id) == [older])
        #expect(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).map(\.name) == [older])
    }

    @Test func aRefusedPermissionIsReportedWhenTheStoreOpens() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        files.fail(.open, errno: EACCES, path: { $0.hasSuffix("permTest") })
        let error = #expect(throws: FileStoreError.self) {
            try FileSnapshotStore(directory: directory.path, retain: 1, options: .init(fileSystem: files))
        }
        #expect(error?.code == .permissionDenied)
    }

    @Test func anUnreadableStateFileFailsOpenWithoutLeakingItsDescriptor() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try makeStore(directory, files)
        let id = try store.save(Self.state, index: 1, term: 1)
        files.fail(.read, errno: EIO, path: { $0.hasSuffix("state.bin") })
        #expect((#expect(throws: FileStoreError.self) { try store.open(id: id) })?.code == .io)
        let opens = files.calls.filter { $0.operation == .open && $0.path.hasSuffix("/\(id)/state.bin") }.count
        let closes = files.calls.filter { $0.operation == .close && $0.path.hasSuffix("/\(id)/state.bin") }.count
        #expect(opens == closes)
    }

    @Test func aFailedReapDoesNotFailTheCloseThatTriggeredIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let logs = LogCollector()
        let store = try FileSnapshotStore(
            directory: directory.path, retain: 1,
            options: .init(fileSystem: files, logger: logs.logger, clock: steppingClock(from: 1)))
        let older = try store.save([1], index: 1, term: 1)
        files.failEvery([.removeFile], errno: EIO)
        let newer = try store.save([2], index: 2, term: 1)
        #expect(try store.list().map(\.id) == [newer])
        #expect(logs.messages.contains { $0.text == "failed to reap snapshots" })
        files.removeAllRules()
        // The next close reaps what this one could not.
        let newest = try store.save([3], index: 3, term: 1)
        let left = Set(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).map(\.name))
        #expect(left == [newest])
        #expect(!left.contains(older))
    }
}
