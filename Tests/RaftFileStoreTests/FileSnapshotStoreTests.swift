import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

@Suite("FileSnapshotStore")
struct FileSnapshotStoreTests {
    // MARK: Opening

    @Test func createsTheSnapshotsDirectoryInsideTheBaseAndAnyMissingParents() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.appending("node/base/"), retain: 1)
        #expect(store.snapshotsDirectory == directory.appending("node/base/snapshots"))
        #expect(try PosixFileSystem().isDirectory(store.snapshotsDirectory) == true)
        // The permission probe is removed again.
        #expect(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).isEmpty)
    }

    @Test(arguments: [0, -1])
    func retainingFewerThanOneSnapshotIsInvalid(retain: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: FileStoreError.self) { try FileSnapshotStore(directory: directory.path, retain: retain) }
        #expect(error?.code == .invalidOptions)
    }

    // MARK: Creating

    @Test(arguments: [0, 2, -1])
    func createRejectsEveryVersionButOne(version: SnapshotVersion) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let error = #expect(throws: RaftError.self) {
            _ = try store.create(version: version, index: 1, term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "unsupported snapshot version \(version)")
    }

    @Test func idIsTermIndexAndTheClocksMilliseconds() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1, options: .init(clock: { 1_795_289_623_467 }))
        let sink = try store.create(version: 1, index: 42, term: 3, configuration: snapshotTestConfiguration, configurationIndex: 7)
        #expect(sink.id == "3-42-1795289623467")
        try sink.cancel()
    }

    @Test func snapshotsInTheSameMillisecondGetSuccessiveMilliseconds() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 3, options: .init(clock: { 1000 }))
        let first = try store.save([1], index: 42, term: 3)
        let second = try store.save([2], index: 42, term: 3)
        #expect([first, second] == ["3-42-1000", "3-42-1001"])
        #expect(try store.list().map(\.id) == [second, first])
    }

    @Test func aRestartWithinTheSameMillisecondDoesNotReuseAnID() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = FileSnapshotStore.Options(clock: { 1000 })
        let before = try FileSnapshotStore(directory: directory.path, retain: 3, options: options).save([1], index: 5, term: 1)
        let after = try FileSnapshotStore(directory: directory.path, retain: 3, options: options).save([2], index: 5, term: 1)
        #expect(before != after)
        let (_, source) = try FileSnapshotStore(directory: directory.path, retain: 3).open(id: before)
        #expect(try source.readAll() == [1])
    }

    @Test func aSnapshotIsWrittenUnderTmpUntilClosed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let sink = try store.create(version: 1, index: 1, term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
        try sink.write(snapshotTestBytes(100))
        let files = PosixFileSystem()
        #expect(try files.contentsOfDirectory(store.snapshotsDirectory).map(\.name) == [sink.id + ".tmp"])
        #expect(Set(try files.contentsOfDirectory(store.snapshotsDirectory + "/" + sink.id + ".tmp").map(\.name)) == ["meta.json", "state.bin"])
        try sink.close()
        #expect(try files.contentsOfDirectory(store.snapshotsDirectory).map(\.name) == [sink.id])
    }

    @Test func cancelRemovesTheTmpDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let sink = try store.create(version: 1, index: 1, term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
        try sink.write(snapshotTestBytes(300_000))
        try sink.cancel()
        #expect(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).isEmpty)
        let error = #expect(throws: RaftError.self) { try sink.close() }
        #expect(error?.code == .invalidArgument)
    }

    @Test func aSinkDroppedWithoutCloseOrCancelLeavesNothingBehind() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        do {
            let sink = try store.create(version: 1, index: 1, term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
            try sink.write([1, 2, 3])
        }
        #expect(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).isEmpty)
    }

    // MARK: Retaining

    @Test func closingASnapshotReapsAllButTheNewestRetained() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 2, options: .init(clock: steppingClock(from: 1000)))
        var ids: [String] = []
        for index in 1...4 {
            ids.append(try store.save(snapshotTestBytes(1000, seed: index), index: UInt64(index) * 10, term: 1))
        }
        #expect(try store.list().map(\.id) == [ids[3], ids[2]])
        #expect(Set(try PosixFileSystem().contentsOfDirectory(store.snapshotsDirectory).map(\.name)) == [ids[3], ids[2]])
    }

    @Test func newestIsByTermThenIndexThenID() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 5, options: .init(clock: steppingClock(from: 1000)))
        let oldTermHighIndex = try store.save([1], index: 900, term: 1)
        let newTermLowIndex = try store.save([2], index: 5, term: 2)
        let sameTermAndIndexLater = try store.save([3], index: 5, term: 2)
        let newTermHighIndex = try store.save([4], index: 7, term: 2)
        #expect(try store.list().map(\.id) == [newTermHighIndex, sameTermAndIndexLater, newTermLowIndex, oldTermHighIndex])
    }

    @Test func aSourceStaysReadableWhenItsSnapshotIsReaped() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1, options: .init(clock: steppingClock(from: 1000)))
        let bytes = snapshotTestBytes(200_000)
        let old = try store.save(bytes, index: 1, term: 1)
        let (_, source) = try store.open(id: old)
        try store.save([9], index: 2, term: 1)
        #expect(try store.list().map(\.index) == [2])
        #expect(try source.readAll(chunkSize: 10_000) == bytes)
        source.close()
    }

    // MARK: Listing

    @Test func listSkipsTmpDirectoriesPlainFilesAndUnreadableOrUnsupportedMetadata() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let logs = LogCollector()
        let store = try FileSnapshotStore(directory: directory.path, retain: 10, options: .init(logger: logs.logger))
        let good = try store.save(snapshotTestBytes(100), index: 10, term: 1)
        let goodMeta = try readFile(store.snapshotsDirectory + "/" + good + "/meta.json")
        let files = PosixFileSystem()
        let base = store.snapshotsDirectory + "/"

        // A newer snapshot still being written, or left by a crash.
        try files.makeDirectory(base + "9-99-1.tmp")
        try writeFile(base + "9-99-1.tmp/meta.json", goodMeta)
        // Stray files.
        try writeFile(base + "9-98-1", Array("not a directory".utf8))
        // Damaged, missing or future-version metadata.
        try files.makeDirectory(base + "8-88-1")
        try writeFile(base + "8-88-1/meta.json", Array("{\"Version\":1,\"ID\":".utf8))
        try files.makeDirectory(base + "7-77-1")
        try files.makeDirectory(base + "6-66-1")
        try writeFile(base + "6-66-1/meta.json", Array(#"{"Version":2,"ID":"6-66-1","Index":66,"Term":6}"#.utf8))

        #expect(try store.list().map(\.id) == [good])
        let warned = Set(logs.warnings.compactMap { $0.metadata["name"]?.description })
        #expect(warned == ["8-88-1", "7-77-1", "6-66-1"])
    }

    @Test func listReturnsAtMostRetainEvenWhenMoreAreOnDisk() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = FileSnapshotStore.Options(clock: steppingClock(from: 1000))
        let wide = try FileSnapshotStore(directory: directory.path, retain: 3, options: options)
        for index in 1...3 { try wide.save([UInt8(index)], index: UInt64(index), term: 1) }
        let narrow = try FileSnapshotStore(directory: directory.path, retain: 2)
        #expect(try narrow.list().map(\.index) == [3, 2])
    }

    // MARK: Opening snapshots

    @Test func openVerifiesTheCRCAndReportsAMismatchNamingTheStateFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let id = try store.save(snapshotTestBytes(10_000), index: 1, term: 1)
        let statePath = store.snapshotsDirectory + "/" + id + "/state.bin"
        var state = try readFile(statePath)
        state[5000] ^= 0x01
        try writeFile(statePath, state)

        let error = #expect(throws: FileStoreError.self) { try store.open(id: id) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.hasPrefix("CRC mismatch") == true)
        #expect(error?.path == statePath)
        // Listing does not read the state, as in hashicorp/raft: the damage shows on open.
        #expect(try store.list().map(\.id) == [id])
    }

    @Test func aTruncatedStateFailsItsCRC() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let id = try store.save(snapshotTestBytes(10_000), index: 1, term: 1)
        let statePath = store.snapshotsDirectory + "/" + id + "/state.bin"
        try writeFile(statePath, Array(try readFile(statePath).prefix(9_999)))
        let error = #expect(throws: FileStoreError.self) { try store.open(id: id) }
        #expect(error?.code == .corrupt)
    }

    @Test(arguments: ["", ".", "..", "../snapshots/x", "a/b", "1-1-1.tmp", "no-such-snapshot"])
    func openRefusesIDsThatNameNoSnapshotDirectory(id: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        try PosixFileSystem().makeDirectory(store.snapshotsDirectory + "/1-1-1.tmp")
        let error = #expect(throws: FileStoreError.self) { try store.open(id: id) }
        #expect(error?.code == .notFound)
    }

    @Test func theSourceServesSmallAndLargeReadsInOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1)
        let bytes = snapshotTestBytes(300_000)
        let id = try store.save(bytes, index: 1, term: 1)
        let (_, source) = try store.open(id: id)
        var read: [UInt8] = []
        for length in [1, 7, 65_535, 65_536, 3, 200_000, 1, 100_000] {
            let chunk = try source.read(maxLength: length)
            #expect(chunk.count <= length)
            read += chunk
        }
        read += try source.readAll()
        #expect(read == bytes)
        #expect(try source.read(maxLength: 10) == [])
        source.close()
        let error = #expect(throws: RaftError.self) { try source.read(maxLength: 10) }
        #expect(error?.code == .invalidArgument)
    }
}
