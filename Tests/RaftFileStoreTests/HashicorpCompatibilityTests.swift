import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// The on-disk layout is hashicorp/raft's: a snapshot its `FileSnapshotStore` wrote opens here,
/// and one written here is byte for byte what it would have written.
@Suite("FileSnapshotStore hashicorp/raft compatibility")
struct HashicorpCompatibilityTests {
    /// `Fixtures/hashicorp-snapshot`: the base directory that `make-hashicorp-snapshot` (see
    /// `Fixtures/README.md`) filled with hashicorp/raft 1.1.2's FileSnapshotStore.
    private static let fixture: String = {
        let testFile = "\(#filePath)"
        return String(testFile[..<testFile.lastIndex(of: "/")!]) + "/Fixtures/hashicorp-snapshot"
    }()

    /// The state the fixture program wrote: the top byte of each step of the LCG
    /// x = x * 1664525 + 1013904223, from x = 1.
    private static let fixtureState: [UInt8] = {
        var x: UInt32 = 1
        return (0..<12_345).map { _ in
            x = x &* 1_664_525 &+ 1_013_904_223
            return UInt8(x >> 24)
        }
    }()

    /// Copies the fixture somewhere writable: opening a store creates files, and tests must not
    /// write into the source tree.
    private func copyOfFixture(in directory: TemporaryDirectory) throws -> String {
        let base = directory.appending("base")
        try copyTree(from: Self.fixture, to: base)
        return base
    }

    @Test func aSnapshotWrittenByHashicorpRaftListsWithItsMetadata() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: try copyOfFixture(in: directory), retain: 2)
        let listed = try store.list()
        try #require(listed.count == 1)
        let meta = listed[0]
        #expect(meta.id.hasPrefix("5-1234-"))
        #expect(meta.version == 1)
        #expect(meta.index == 1234)
        #expect(meta.term == 5)
        #expect(meta.configurationIndex == 17)
        #expect(meta.size == 12_345)
        #expect(meta.configuration == snapshotTestConfiguration)
        // Peers: msgpack of the two voters' addresses, as encodePeers wrote it.
        #expect(meta.peers == [0x92, 0xae] + Array("127.0.0.1:7000".utf8) + [0xae] + Array("127.0.0.1:7001".utf8))
    }

    @Test func aSnapshotWrittenByHashicorpRaftPassesItsCRCAndReadsBackItsState() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: try copyOfFixture(in: directory), retain: 2)
        let id = try #require(try store.list().first?.id)
        let (meta, source) = try store.open(id: id)
        defer { source.close() }
        #expect(meta.size == 12_345)
        #expect(try source.readAll(chunkSize: 1000) == Self.fixtureState)
    }

    @Test func writingTheFixturesSnapshotHereProducesTheSameFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fixtureStore = try FileSnapshotStore(directory: try copyOfFixture(in: directory), retain: 2)
        let id = try #require(try fixtureStore.list().first?.id)
        let milliseconds = try #require(UInt64(id.split(separator: "-").last!))

        let store = try FileSnapshotStore(directory: directory.appending("ours"), retain: 2, options: .init(clock: { milliseconds }))
        let ours = try store.save(Self.fixtureState, index: 1234, term: 5, configurationIndex: 17, chunk: 1000)
        #expect(ours == id)
        let theirs = Self.fixture + "/snapshots/" + id
        let mine = store.snapshotsDirectory + "/" + ours
        #expect(try readFile(mine + "/meta.json") == readFile(theirs + "/meta.json"))
        #expect(try readFile(mine + "/state.bin") == readFile(theirs + "/state.bin"))
    }

    /// The example in the hashicorp/raft reference: what its FileSnapshotStore wrote for the
    /// state "hello".
    @Test func metaJSONIsByteForByteWhatGoWritesForTheReferenceExample() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSnapshotStore(directory: directory.path, retain: 1, options: .init(clock: { 1_795_289_623_467 }))
        let sink = try store.create(
            version: 1, index: 42, term: 3,
            configuration: Configuration(servers: [Server(id: "n1", address: "127.0.0.1:7000")]),
            configurationIndex: 7)
        try sink.write(Array("hello".utf8))
        try sink.close()
        let expected = #"{"Version":1,"ID":"3-42-1795289623467","Index":42,"Term":3,"Peers":"ka4xMjcuMC4wLjE6NzAwMA==","#
            + #""Configuration":{"Servers":[{"Suffrage":0,"ID":"n1","Address":"127.0.0.1:7000"}]},"#
            + #""ConfigurationIndex":7,"Size":5,"CRC":"mx7a5du5N7E="}"# + "\n"
        #expect(try readFile(store.snapshotsDirectory + "/3-42-1795289623467/meta.json") == Array(expected.utf8))
    }
}
