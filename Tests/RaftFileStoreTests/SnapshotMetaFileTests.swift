@testable import RaftFileStores
import SwiftRaft
import Testing

/// `meta.json` is written byte for byte as Go's `encoding/json` writes hashicorp/raft's
/// `fileSnapshotMeta`, and read as liberally as Go reads it.
@Suite("Snapshot meta.json format")
struct SnapshotMetaFileTests {
    private static let referenceMeta = SnapshotMeta(
        version: 1,
        id: "3-42-1795289623467",
        index: 42,
        term: 3,
        peers: LegacyPeers.encode(Configuration(servers: [Server(id: "n1", address: "127.0.0.1:7000")])),
        configuration: Configuration(servers: [Server(id: "n1", address: "127.0.0.1:7000")]),
        configurationIndex: 7,
        size: 5
    )

    /// The example in the hashicorp/raft reference, produced by the real FileSnapshotStore for
    /// the state "hello".
    private static let referenceJSON = """
        {"Version":1,"ID":"3-42-1795289623467","Index":42,"Term":3,"Peers":"ka4xMjcuMC4wLjE6NzAwMA==",\
        "Configuration":{"Servers":[{"Suffrage":0,"ID":"n1","Address":"127.0.0.1:7000"}]},\
        "ConfigurationIndex":7,"Size":5,"CRC":"mx7a5du5N7E="}

        """

    @Test func encodesTheReferenceExampleByteForByteWithGosTrailingNewline() {
        let file = SnapshotMetaFile(meta: Self.referenceMeta, crc: CRC64(resuming: 0x9b1e_dae5_dbb9_37b1).bigEndianBytes)
        #expect(String(decoding: file.encoded(), as: UTF8.self) == Self.referenceJSON)
    }

    @Test func decodesTheReferenceExample() throws {
        let file = try SnapshotMetaFile.decode(Array(Self.referenceJSON.utf8))
        #expect(file.meta == Self.referenceMeta)
        #expect(file.crc == [0x9b, 0x1e, 0xda, 0xe5, 0xdb, 0xb9, 0x37, 0xb1])
    }

    /// What hashicorp/raft writes when the snapshot is created, before any state: `CRC` is a nil
    /// slice, and a `Configuration{}` has nil `Servers`; both are JSON null. (Go 1.19 output.)
    @Test func unfinishedMetadataWritesNilSlicesAsNull() {
        let meta = SnapshotMeta(id: "1-2-3", index: 2, term: 1, peers: [0xc0], configuration: Configuration(), configurationIndex: 0)
        let expected = """
            {"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Peers":"wA==","Configuration":{"Servers":null},\
            "ConfigurationIndex":0,"Size":0,"CRC":null}

            """
        #expect(String(decoding: SnapshotMetaFile(meta: meta, crc: nil).encoded(), as: UTF8.self) == expected)
    }

    @Test func readsNullPeersCRCAndServersAsEmpty() throws {
        let json = #"{"Version":1,"ID":"1-2-3","Index":2,"Term":1,"Peers":null,"Configuration":{"Servers":null},"ConfigurationIndex":0,"Size":0,"CRC":null}"#
        let file = try SnapshotMetaFile.decode(Array(json.utf8))
        #expect(file.meta.peers.isEmpty)
        #expect(file.meta.configuration.servers.isEmpty)
        #expect(file.crc == nil)
    }

    /// Strings are escaped as Go escapes them with its HTML-safe default; the expected text is
    /// what Go 1.19's `json.Encoder` wrote for the same server ID and address.
    @Test func escapesStringsAsGoDoes() {
        let id = "a\"<>&\u{2028}\u{01}\u{08}\n\té"
        #expect(SnapshotMetaFile.quoted(id) == #""a\"\u003c\u003e\u0026\u2028\u0001\u0008\n\té""#)
        #expect(SnapshotMetaFile.quoted("b\\/") == #""b\\/""#)
    }

    @Test func escapedStringsReadBackUnchanged() throws {
        let servers = [
            Server(suffrage: .staging, id: "a\"<>&\u{2028}\u{01}\u{08}\n\té", address: "b\\/"),
            Server(suffrage: .nonvoter, id: "😀", address: "[::1]:7000"),
        ]
        let meta = SnapshotMeta(id: "1-1-1", index: 1, term: 1, configuration: Configuration(servers: servers), configurationIndex: 1)
        let decoded = try SnapshotMetaFile.decode(SnapshotMetaFile(meta: meta, crc: [1, 2, 3, 4, 5, 6, 7, 8]).encoded())
        #expect(decoded.meta.configuration.servers == servers)
        #expect(decoded.crc == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    /// Go's decoder matches member names in any case, ignores unknown members and whatever
    /// follows the first value, and takes `\b`, `\f` and surrogate-pair escapes.
    @Test func readsAsLiberallyAsGo() throws {
        let json = #"""
            { "version": 1, "id": "x\ud83d\ude00\b\f", "INDEX": 18446744073709551615, "Term": 2, "Extra": [1, {"a": null}, true],
              "configuration": {"servers": [{"suffrage": 1, "id": "n1", "address": "h:1"}]}, "Size": 9223372036854775807 }
            trailing bytes Go never reads
            """#
        let file = try SnapshotMetaFile.decode(Array(json.utf8))
        #expect(file.meta.id == "x😀\u{08}\u{0c}")
        #expect(file.meta.index == UInt64.max)
        #expect(file.meta.term == 2)
        #expect(file.meta.size == Int64.max)
        #expect(file.meta.configuration.servers == [Server(suffrage: .nonvoter, id: "n1", address: "h:1")])
    }

    @Test(arguments: [
        "",
        "[]",
        "{",
        #"{"Index":-1}"#,
        #"{"Index":1.5}"#,
        #"{"Index":"1"}"#,
        #"{"Peers":"not base64!"}"#,
        #"{"CRC":12}"#,
        #"{"Configuration":{"Servers":[{"Suffrage":7}]}}"#,
        #"{"Configuration":{"Servers":{}}}"#,
        #"{"ID":"unterminated}"#,
        #"{"Index":01}"#,
    ])
    func rejectsWhatGoRejects(json: String) {
        #expect(throws: SnapshotMetaFile.DecodingError.self) { try SnapshotMetaFile.decode(Array(json.utf8)) }
    }

    @Test func refusesNestingDeepEnoughToExhaustTheStack() {
        let json = #"{"Extra":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        #expect(throws: SnapshotMetaFile.DecodingError.self) { try SnapshotMetaFile.decode(Array(json.utf8)) }
    }
}

/// The legacy `Peers` field: go-msgpack's encoding of the voters' addresses as `[][]byte`.
@Suite("Snapshot legacy peers")
struct LegacyPeersTests {
    @Test func oneVoterMatchesTheReferenceExample() {
        let configuration = Configuration(servers: [Server(id: "n1", address: "127.0.0.1:7000")])
        #expect(Base64.encode(LegacyPeers.encode(configuration)) == "ka4xMjcuMC4wLjE6NzAwMA==")
    }

    @Test func nonvotersAreLeftOutAndNoVotersIsMsgpackNil() {
        let configuration = Configuration(servers: [
            Server(id: "n1", address: "a:1"),
            Server(suffrage: .nonvoter, id: "n2", address: "b:2"),
            Server(suffrage: .staging, id: "n3", address: "c:3"),
        ])
        #expect(LegacyPeers.encode(configuration) == [0x91, 0xa3] + Array("a:1".utf8))
        #expect(LegacyPeers.encode(Configuration(servers: [Server(suffrage: .nonvoter, id: "n2", address: "b:2")])) == [0xc0])
        #expect(LegacyPeers.encode(Configuration()) == [0xc0])
    }

    @Test func longListsAndAddressesUseTheSixteenBitForms() {
        let long = String(repeating: "x", count: 40)
        let servers = (0..<16).map { Server(id: ServerID("n\($0)"), address: ServerAddress($0 == 0 ? long : "h:\($0)")) }
        let encoded = LegacyPeers.encode(Configuration(servers: servers))
        #expect(Array(encoded.prefix(6)) == [0xdc, 0x00, 0x10, 0xda, 0x00, 40])
    }
}

/// Padded standard base64, as Go's `encoding/json` uses for `[]byte`.
@Suite("Snapshot base64")
struct Base64Tests {
    @Test func roundTripsEveryLengthAroundAGroup() {
        for length in 0..<12 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 89 &+ 250) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes, "length \(length)")
        }
    }

    @Test func matchesRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test(arguments: ["Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!", "=Zm9"])
    func rejectsMalformedText(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
