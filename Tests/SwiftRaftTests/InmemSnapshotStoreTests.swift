import Dispatch
import Synchronization
import SwiftRaft
import Testing

private let configuration = Configuration(servers: [
    Server(id: "n1", address: "127.0.0.1:7000"),
    Server(suffrage: .nonvoter, id: "n2", address: "127.0.0.1:7001"),
])

private extension SnapshotStore {
    /// Creates a version-1 snapshot of `index` and `term` with the shared test configuration.
    func create(index: UInt64, term: UInt64) throws -> any SnapshotSink {
        try create(version: 1, index: index, term: term, configuration: configuration, configurationIndex: 7)
    }

    /// Creates, fills and closes a snapshot, returning its ID.
    func save(_ bytes: [UInt8], index: UInt64, term: UInt64) throws -> String {
        let sink = try create(index: index, term: term)
        try sink.write(bytes)
        try sink.close()
        return sink.id
    }
}

@Suite("InmemSnapshotStore")
struct InmemSnapshotStoreTests {
    // MARK: Empty store

    @Test func newStoreListsNoSnapshots() throws {
        #expect(InmemSnapshotStore().list().isEmpty)
    }

    @Test func openOnAnEmptyStoreThrowsInvalidArgument() {
        let error = #expect(throws: RaftError.self) { try InmemSnapshotStore().open(id: "1-1-1") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "no snapshot with ID 1-1-1")
    }

    // MARK: Creating

    @Test(arguments: [0, 2, -1])
    func createRejectsEveryVersionButOne(version: SnapshotVersion) {
        let error = #expect(throws: RaftError.self) {
            _ = try InmemSnapshotStore().create(
                version: version, index: 1, term: 1, configuration: configuration, configurationIndex: 1)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "unsupported snapshot version \(version)")
    }

    @Test func sinkIDNamesTermThenIndex() throws {
        let sink = try InmemSnapshotStore().create(index: 42, term: 3)
        #expect(sink.id.hasPrefix("3-42-"))
    }

    @Test func everySinkGetsADistinctIDEvenForTheSameTermAndIndex() throws {
        let store = InmemSnapshotStore()
        let ids = try (0..<5).map { _ in try store.create(index: 10, term: 2).id }
        #expect(Set(ids).count == 5)
    }

    @Test func aSinkStillBeingWrittenIsNotListed() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 5, term: 1)
        try sink.write([1, 2, 3])
        #expect(store.list().isEmpty)
        #expect(throws: RaftError(.invalidArgument, "")) { try store.open(id: sink.id) }
    }

    // MARK: Closing

    @Test func closedSnapshotIsListedWithItsMetadataAndSize() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 42, term: 3)
        try sink.write(Array("hel".utf8))
        try sink.write(Array("lo".utf8))
        try sink.close()

        let metas = store.list()
        let meta = try #require(metas.first)
        #expect(metas.count == 1)
        #expect(meta.version == 1)
        #expect(meta.id == sink.id)
        #expect(meta.index == 42)
        #expect(meta.term == 3)
        #expect(meta.configuration == configuration)
        #expect(meta.configurationIndex == 7)
        #expect(meta.size == 5)
    }

    @Test func emptySnapshotHasSizeZeroAndReadsEmpty() throws {
        let store = InmemSnapshotStore()
        let id = try store.save([], index: 1, term: 1)
        let (meta, source) = try store.open(id: id)
        #expect(meta.size == 0)
        #expect(try source.readAll().isEmpty)
    }

    @Test func openReturnsTheMetadataAndEveryByteWritten() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 9, term: 2)
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for chunk in stride(from: 0, to: bytes.count, by: 777) {
            try sink.write(Array(bytes[chunk..<min(chunk + 777, bytes.count)]))
        }
        try sink.close()

        let (meta, source) = try store.open(id: sink.id)
        #expect(meta == store.list().first)
        #expect(try source.readAll(chunkSize: 1000) == bytes)
    }

    @Test func eachOpenReadsItsOwnCopyFromTheStart() throws {
        let store = InmemSnapshotStore()
        let id = try store.save([1, 2, 3, 4], index: 1, term: 1)
        let (_, first) = try store.open(id: id)
        #expect(try first.read(maxLength: 3) == [1, 2, 3])
        first.close()
        let (_, second) = try store.open(id: id)
        #expect(try second.readAll() == [1, 2, 3, 4])
    }

    @Test func aNewerSnapshotReplacesTheOldOne() throws {
        let store = InmemSnapshotStore()
        let old = try store.save([1], index: 10, term: 1)
        let new = try store.save([2, 2], index: 20, term: 1)

        #expect(store.list().map(\.id) == [new])
        #expect(throws: RaftError(.invalidArgument, "")) { try store.open(id: old) }
        #expect(try store.open(id: new).1.readAll() == [2, 2])
    }

    @Test func aSinkClosedAfterANewerOneDoesNotReplaceIt() throws {
        // A node's own snapshot, begun before a leader's newer one was installed, finishes after
        // it. The log already follows the newer one: the store must keep it, or a restart would
        // restore the older one and find the entries between them missing.
        let store = InmemSnapshotStore()
        let own = try store.create(index: 10, term: 1)
        let installed = try store.save([9], index: 50, term: 2)
        try own.write([1])
        try own.close()

        #expect(store.list().map(\.id) == [installed])
        #expect(try store.open(id: installed).1.readAll() == [9])
    }

    @Test func ofTwoSnapshotsAtTheSamePointTheLastClosedWins() throws {
        let store = InmemSnapshotStore()
        _ = try store.save([1], index: 10, term: 1)
        let second = try store.save([2], index: 10, term: 1)
        #expect(store.list().map(\.id) == [second])
    }

    @Test func aReaderKeepsItsBytesWhenANewerSnapshotReplacesThem() throws {
        let store = InmemSnapshotStore()
        let id = try store.save([1, 2, 3], index: 1, term: 1)
        let (_, source) = try store.open(id: id)
        _ = try store.save([7, 7], index: 2, term: 1)
        #expect(try source.readAll() == [1, 2, 3])
    }

    @Test func closingTwiceIsHarmless() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.write([1])
        try sink.close()
        try sink.close()
        #expect(store.list().map(\.id) == [sink.id])
    }

    @Test func closingTwiceDoesNotBringBackAReplacedSnapshot() throws {
        let store = InmemSnapshotStore()
        let first = try store.create(index: 1, term: 1)
        try first.close()
        let second = try store.save([2], index: 2, term: 1)
        try first.close()
        #expect(store.list().map(\.id) == [second])
    }

    @Test func writingToAClosedSinkThrowsAndChangesNothing() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.write([1])
        try sink.close()
        let error = #expect(throws: RaftError.self) { try sink.write([2]) }
        #expect(error?.code == .invalidArgument)
        #expect(store.list().first?.size == 1)
        #expect(try store.open(id: sink.id).1.readAll() == [1])
    }

    // MARK: Cancelling

    @Test func aCancelledSinkNeverBecomesVisible() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.write([1, 2])
        try sink.cancel()
        #expect(store.list().isEmpty)
        #expect(throws: RaftError(.invalidArgument, "")) { try store.open(id: sink.id) }
    }

    @Test func aCancelledSinkLeavesThePreviousSnapshotInPlace() throws {
        let store = InmemSnapshotStore()
        let kept = try store.save([1], index: 1, term: 1)
        let sink = try store.create(index: 2, term: 1)
        try sink.write([2])
        try sink.cancel()
        #expect(store.list().map(\.id) == [kept])
        #expect(try store.open(id: kept).1.readAll() == [1])
    }

    @Test func writingToACancelledSinkThrows() throws {
        let sink = try InmemSnapshotStore().create(index: 1, term: 1)
        try sink.cancel()
        let error = #expect(throws: RaftError.self) { try sink.write([1]) }
        #expect(error?.code == .invalidArgument)
    }

    @Test func closingACancelledSinkThrowsAndPublishesNothing() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.cancel()
        let error = #expect(throws: RaftError.self) { try sink.close() }
        #expect(error?.code == .invalidArgument)
        #expect(store.list().isEmpty)
    }

    @Test func cancellingAClosedSinkKeepsTheSnapshot() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.write([5])
        try sink.close()
        try sink.cancel()
        #expect(store.list().map(\.id) == [sink.id])
        #expect(try store.open(id: sink.id).1.readAll() == [5])
    }

    @Test func cancellingTwiceIsHarmless() throws {
        let store = InmemSnapshotStore()
        let sink = try store.create(index: 1, term: 1)
        try sink.cancel()
        try sink.cancel()
        #expect(store.list().isEmpty)
    }

    // MARK: Concurrency

    @Test func concurrentSnapshotsLeaveExactlyOneCompleteSnapshot() throws {
        let store = InmemSnapshotStore()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let payload = [UInt8](repeating: UInt8(worker), count: 100 + worker)
            for round in 0..<50 {
                guard let sink = try? store.create(index: UInt64(round), term: UInt64(worker)) else { continue }
                for byte in payload { try? sink.write([byte]) }
                try? sink.close()
            }
        }
        let meta = try #require(store.list().first)
        #expect(store.list().count == 1)
        let bytes = try store.open(id: meta.id).1.readAll()
        let worker = Int(meta.term)
        #expect(bytes == [UInt8](repeating: UInt8(worker), count: 100 + worker))
        #expect(meta.size == Int64(bytes.count))
    }

    // MARK: MemorySnapshotSource

    @Suite("MemorySnapshotSource")
    struct MemorySource {
        @Test func readsInChunksOfAtMostMaxLengthThenEmpty() throws {
            let source = MemorySnapshotSource([1, 2, 3, 4, 5])
            #expect(try source.read(maxLength: 2) == [1, 2])
            #expect(source.remaining == 3)
            #expect(try source.read(maxLength: 2) == [3, 4])
            #expect(try source.read(maxLength: 2) == [5])
            #expect(try source.read(maxLength: 2) == [])
            #expect(try source.read(maxLength: 2) == [])
            #expect(source.remaining == 0)
        }

        @Test func readAllReturnsEverythingNotYetRead() throws {
            let source = MemorySnapshotSource(Array(0...200))
            _ = try source.read(maxLength: 100)
            #expect(try source.readAll(chunkSize: 7) == Array(100...200))
        }

        @Test func anEmptySourceIsAtItsEndImmediately() throws {
            let source = MemorySnapshotSource([])
            #expect(try source.read(maxLength: 10) == [])
            #expect(try source.readAll().isEmpty)
        }

        @Test(arguments: [0, -1])
        func readRejectsANonPositiveMaxLength(maxLength: Int) {
            let source = MemorySnapshotSource([1])
            let error = #expect(throws: RaftError.self) { try source.read(maxLength: maxLength) }
            #expect(error?.code == .invalidArgument)
            #expect(source.remaining == 1)
        }

        @Test func readingAfterCloseThrows() throws {
            let source = MemorySnapshotSource([1, 2])
            source.close()
            let error = #expect(throws: RaftError.self) { try source.read(maxLength: 1) }
            #expect(error?.code == .invalidArgument)
            source.close()
        }

        @Test func concurrentReadersSplitTheBytesWithoutLosingOrRepeatingAny() throws {
            let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0) }
            let source = MemorySnapshotSource(bytes)
            let total = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                while let chunk = try? source.read(maxLength: 3), !chunk.isEmpty {
                    total.add(chunk.count, ordering: .relaxed)
                }
            }
            #expect(total.load(ordering: .relaxed) == bytes.count)
        }
    }

    // MARK: DiscardSnapshotStore

    @Suite("DiscardSnapshotStore")
    struct Discard {
        @Test func sinkIsNamedDiscardAndAcceptsEverything() throws {
            let store = DiscardSnapshotStore()
            let sink = try store.create(index: 5, term: 2)
            #expect(sink.id == "discard")
            try sink.write([1, 2, 3])
            try sink.close()
            try sink.cancel()
        }

        @Test func nothingIsEverListed() throws {
            let store = DiscardSnapshotStore()
            #expect(store.list().isEmpty)
            _ = try store.save([1, 2, 3], index: 5, term: 2)
            #expect(store.list().isEmpty)
        }

        @Test func openAlwaysThrowsInvalidArgument() throws {
            let store = DiscardSnapshotStore()
            let id = try store.save([1], index: 1, term: 1)
            let error = #expect(throws: RaftError.self) { try store.open(id: id) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "discard snapshot store has no snapshots")
        }
    }
}
