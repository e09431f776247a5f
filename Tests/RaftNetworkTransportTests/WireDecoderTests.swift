import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// The decoder accepts everything go-msgpack's decoders accept (hashicorp-raft.md §4.2), and
/// fails on the rest with a WireError that names the field.
@Suite("Wire format: liberal decoding and typed errors", .offCooperativePool)
struct WireDecoderTests {
    private func request(_ type: RPCType, _ value: [UInt8]) throws -> RaftRequest {
        try WireDecoder().decodeRequest(type, from: buffer(value))
    }

    private func appendEntries(_ value: [UInt8]) throws -> AppendEntriesRequest {
        guard case .appendEntries(let r) = try request(.appendEntries, value) else { throw FixtureError("not AppendEntries") }
        return r
    }

    private func installSnapshot(_ value: [UInt8]) throws -> InstallSnapshotRequest {
        guard case .installSnapshot(let r) = try request(.installSnapshot, value) else { throw FixtureError("not InstallSnapshot") }
        return r
    }

    private func entry(_ fields: [(String, [UInt8])]) throws -> Log {
        let r = try appendEntries(MP.map([("Entries", MP.array([MP.map(fields)]))]))
        guard let log = r.entries.first, r.entries.count == 1 else { throw FixtureError("no entry") }
        return log
    }

    @Test("go-msgpack v2's signed integers (d0-d3) decode into signed and unsigned fields")
    func signedIntegerFamily() throws {
        let r = try installSnapshot(MP.map([
            ("Size", MP.int16(300)),  // d1 01 2c, as v2 writes Size 300
            ("SnapshotVersion", MP.int8(1)),
            ("ProtocolVersion", MP.int16(3)),
            ("Term", MP.int64(9)),
            ("LastLogIndex", MP.int32(70000)),
            ("ConfigurationIndex", MP.int16(200)),
        ]))
        #expect(r.size == 300 && r.snapshotVersion == 1 && r.header.protocolVersion == 3)
        #expect(r.term == 9 && r.lastLogIndex == 70000 && r.configurationIndex == 200)
        #expect(MP.int16(300) == [0xd1, 0x01, 0x2c])
    }

    @Test("negative values decode into signed fields")
    func negativeIntoSigned() throws {
        let r = try installSnapshot(MP.map([("Size", [0xff]), ("SnapshotVersion", MP.int8(-100)), ("ProtocolVersion", MP.int64(-70000))]))
        #expect(r.size == -1 && r.snapshotVersion == -100 && r.header.protocolVersion == -70000)
    }

    @Test("str8, bin8/16/32 and raw all decode into strings and bytes")
    func stringAndBinaryFamilies() throws {
        let address = Array("127.0.0.1:7000".utf8)
        let long = Golden.pattern(200, 4)
        let r = try appendEntries(MP.map([
            ("Leader", MP.str8(address)),
            ("ID", MP.bin8(Array("n1".utf8))),
            ("Addr", MP.bin16(address)),
            ("Entries", MP.array([
                MP.map([("Data", MP.bin32(long)), ("Extensions", MP.str8(long)), ("Index", MP.uint(1))]),
                MP.map([("Data", MP.raw(long)), ("Extensions", MP.bin8([1, 2, 3])), ("Index", MP.uint(2))]),
            ])),
        ]))
        #expect(r.leader == "127.0.0.1:7000" && r.header.id == "n1" && r.header.address == "127.0.0.1:7000")
        #expect(r.entries.map(\.index) == [1, 2])
        #expect(r.entries[0].data == long[...] && r.entries[0].extensions == long[...])
        #expect(r.entries[1].data == long[...] && r.entries[1].extensions == [1, 2, 3])
    }

    @Test("unknown keys are skipped, whatever their values, and keys may come in any order")
    func unknownKeysSkipped() throws {
        let r = try appendEntries(MP.map([
            ("Term", MP.uint(7)),
            ("Future", MP.map([("Nested", MP.array([MP.raw("x"), MP.map([("Deep", MP.uint(1))])]))])),
            ("Leader", MP.raw("a:1")),
            ("Weird", [0xcb, 0, 0, 0, 0, 0, 0, 0, 0]),  // a float64
            ("Ext", MP.ext8(type: 42, [1, 2, 3])),
            ("PrevLogTerm", MP.uint(3)),
        ]))
        #expect(r == AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 7, leader: "a:1", prevLogTerm: 3))
    }

    @Test("keys that are not strings are skipped; binary keys match")
    func nonStringKeys() throws {
        let r = try appendEntries(MP.map16([
            (MP.uint(5), MP.uint(99)),
            (MP.nil, MP.uint(99)),
            (MP.bin8(Array("Term".utf8)), MP.uint(8)),
        ]))
        #expect(r.term == 8)
    }

    @Test("missing keys, nil values and a nil struct leave zero values")
    func missingAndNil() throws {
        let zero = AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 0, leader: "")
        #expect(try appendEntries([0x80]) == zero)
        #expect(try appendEntries(MP.nil) == zero)
        #expect(try appendEntries(MP.map([
            ("Term", MP.nil), ("Leader", MP.nil), ("Entries", MP.nil), ("ID", MP.nil), ("Addr", MP.nil),
            ("ProtocolVersion", MP.nil), ("LeaderCommitIndex", MP.nil), ("PrevLogEntry", MP.nil), ("PrevLogTerm", MP.nil),
        ])) == zero)
        let log = try entry([("AppendedAt", MP.nil), ("Data", MP.nil), ("Extensions", MP.nil), ("Type", MP.nil), ("Index", MP.nil)])
        #expect(log == Log(index: 0, term: 0))
        let vote = try WireDecoder().decodeResponse(.requestVote, from: buffer(MP.map([("Granted", MP.nil), ("Peers", MP.nil)])))
        #expect(vote == .requestVote(RequestVoteResponse(header: RPCHeader(protocolVersion: 0), term: 0, granted: false)))
    }

    @Test("bool fields accept true/false and the integers 0 and 1, nothing else")
    func boolFromIntegers() throws {
        func vote(_ value: [UInt8]) throws -> Bool {
            guard case .requestVote(let r) = try request(.requestVote, MP.map([("LeadershipTransfer", value)])) else { return false }
            return r.leadershipTransfer
        }
        #expect(try vote(MP.true) && !(try vote(MP.false)) && (try vote([0x01])) && !(try vote([0x00])))
        #expect(wireError { try vote([0x02]) } == .valueOutOfRange(field: "RequestVoteRequest.LeadershipTransfer", value: "2 as bool"))
        #expect(wireError { try vote(MP.raw("true")) }
            == .wrongType(field: "RequestVoteRequest.LeadershipTransfer", expected: "bool", found: "string"))
    }

    @Test("the last of duplicate keys wins, as in Go")
    func duplicateKeys() throws {
        #expect(try appendEntries(MP.map([("Term", MP.uint(1)), ("Term", MP.uint(2))])).term == 2)
    }

    @Test("out-of-range integers fail with the field's name")
    func integerRanges() {
        #expect(wireError { try appendEntries(MP.map([("Term", [0xff])])) }
            == .valueOutOfRange(field: "AppendEntriesRequest.Term", value: "-1"))
        #expect(wireError { try installSnapshot(MP.map([("Size", MP.uint(UInt64.max))])) }
            == .valueOutOfRange(field: "InstallSnapshotRequest.Size", value: "\(UInt64.max)"))
        #expect(wireError { try installSnapshot(MP.map([("ProtocolVersion", MP.uint(1 << 63))])) }
            == .valueOutOfRange(field: "InstallSnapshotRequest.ProtocolVersion", value: "\(UInt64(1) << 63)"))
        #expect(wireError { try entry([("Type", MP.uint(300))]) }
            == .valueOutOfRange(field: "AppendEntriesRequest.Entries[0].Type", value: "300"))
        #expect(wireError { try entry([("Type", MP.uint(9))]) }
            == .valueOutOfRange(field: "AppendEntriesRequest.Entries[0].Type", value: "9"))
        #expect(wireError { try entry([("Index", MP.int8(-2))]) }
            == .valueOutOfRange(field: "AppendEntriesRequest.Entries[0].Index", value: "-2"))
    }

    @Test("wrong msgpack types fail with the field's name")
    func wrongTypes() {
        #expect(wireError { try appendEntries(MP.map([("Term", MP.raw("5"))])) }
            == .wrongType(field: "AppendEntriesRequest.Term", expected: "integer", found: "string"))
        #expect(wireError { try appendEntries(MP.map([("Term", [0xca, 0, 0, 0, 0])])) }
            == .wrongType(field: "AppendEntriesRequest.Term", expected: "integer", found: "float"))
        #expect(wireError { try appendEntries(MP.map([("Leader", MP.uint(5))])) }
            == .wrongType(field: "AppendEntriesRequest.Leader", expected: "string or bytes", found: "positive integer"))
        #expect(wireError { try appendEntries(MP.map([("Entries", [0x80])])) }
            == .wrongType(field: "AppendEntriesRequest.Entries", expected: "array", found: "map"))
        #expect(wireError { try appendEntries(MP.map([("Entries", MP.array([MP.map([]), MP.nil]))])) }
            == .wrongType(field: "AppendEntriesRequest.Entries[1]", expected: "map", found: "nil"))
        #expect(wireError { try appendEntries(MP.map([("Entries", MP.array([MP.uint(1)]))])) }
            == .wrongType(field: "AppendEntriesRequest.Entries[0]", expected: "map", found: "positive integer"))
        #expect(wireError { try appendEntries(MP.array([])) }
            == .wrongType(field: "AppendEntriesRequest", expected: "map", found: "array"))
        #expect(wireError { try entry([("Data", MP.array([]))]) }
            == .wrongType(field: "AppendEntriesRequest.Entries[0].Data", expected: "string or bytes", found: "array"))
        #expect(wireError { try WireDecoder().decodeResponse(.timeoutNow, from: buffer(MP.uint(1))) }
            == .wrongType(field: "TimeoutNowResponse", expected: "map", found: "positive integer"))
    }

    @Test("AppendedAt: Go MarshalBinary (v1, v2), msgpack timestamps as raw, bin or extension -1, nil")
    func appendedAtForms() throws {
        let t2024: [UInt8] = [0x01] + MP.be(0x0000000edd257425, 8) + MP.be(6, 4) + [0xff, 0xff]
        #expect(try entry([("AppendedAt", MP.raw(t2024))]).appendedAt == Golden.t2024)
        #expect(try entry([("AppendedAt", MP.bin8(t2024))]).appendedAt == Golden.t2024)
        let v2: [UInt8] = [0x02] + MP.be(0x0000000edd257425, 8) + MP.be(6, 4) + [0x00, 0x3c, 0x1e]
        #expect(try entry([("AppendedAt", MP.raw(v2))]).appendedAt == Golden.t2024)
        let zero: [UInt8] = [0x01] + [UInt8](repeating: 0, count: 12) + [0xff, 0xff]
        #expect(try entry([("AppendedAt", MP.raw(zero))]).appendedAt == .unset)
        #expect(try entry([("AppendedAt", MP.nil)]).appendedAt == .unset)

        let packed = MP.be(UInt64(123_456_789) << 34 | 1_700_000_001, 8)
        let expected = LogTimestamp(nanosecondsSinceEpoch: 1_700_000_001_123_456_789)
        #expect(try entry([("AppendedAt", [0xd7, 0xff] + packed)]).appendedAt == expected)  // fixext 8, type -1
        #expect(try entry([("AppendedAt", MP.ext8(type: -1, packed))]).appendedAt == expected)
        #expect(try entry([("AppendedAt", [0xd6, 0xff] + MP.be(1_700_000_000, 4))]).appendedAt
            == LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000))
        #expect(try entry([("AppendedAt", MP.ext8(type: -1, MP.be(5, 4) + MP.be(UInt64(bitPattern: -1), 8)))]).appendedAt
            == LogTimestamp(nanosecondsSinceEpoch: -999_999_995))
    }

    @Test("AppendedAt beyond LogTimestamp's range saturates instead of failing the RPC")
    func appendedAtSaturates() throws {
        let far = MP.be(0, 4) + MP.be(UInt64(Int64.max), 8)
        #expect(try entry([("AppendedAt", MP.raw(far))]).appendedAt == LogTimestamp(nanosecondsSinceEpoch: .max))
        let early = [0x01] + MP.be(1, 8) + MP.be(0, 4) + [0xff, 0xff]  // 0001-01-01T00:00:01Z
        #expect(try entry([("AppendedAt", MP.raw(early))]).appendedAt == LogTimestamp(nanosecondsSinceEpoch: .min))
        let ancient = [0x01] + MP.be(UInt64(bitPattern: Int64.min), 8) + MP.be(0, 4) + [0xff, 0xff]
        #expect(try entry([("AppendedAt", MP.raw(ancient))]).appendedAt == LogTimestamp(nanosecondsSinceEpoch: .min))
    }

    @Test("AppendedAt in an unknown form fails with the field's name")
    func appendedAtErrors() {
        let field = "AppendEntriesRequest.Entries[0].AppendedAt"
        #expect(wireError { try entry([("AppendedAt", MP.raw([1, 2, 3, 4, 5, 6, 7]))]) }
            == .valueOutOfRange(field: field, value: "time encoding of 7 bytes"))
        #expect(wireError { try entry([("AppendedAt", MP.raw([0x03] + [UInt8](repeating: 0, count: 14)))]) }
            == .valueOutOfRange(field: field, value: "time encoding version 3 with 15 bytes"))
        #expect(wireError { try entry([("AppendedAt", MP.ext8(type: 5, MP.be(1, 4)))]) }
            == .wrongType(field: field, expected: "time (string, binary, nil or extension -1)", found: "extension"))
        #expect(wireError { try entry([("AppendedAt", MP.uint(5))]) }
            == .wrongType(field: field, expected: "time (string, binary, nil or extension -1)", found: "positive integer"))
    }

    @Test("Go's MarshalBinary bytes: hashicorp/raft's own examples")
    func goTimeExamples() {
        func marshal(_ t: LogTimestamp) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 15)
            out.withUnsafeMutableBytes { GoTime.marshalBinary(t, into: $0) }
            return out
        }
        // util_test.go TestMsgpackEncodeTimeDefaultFormat: 2006-01-02T15:04:05Z.
        #expect(marshal(Golden.t2006) == [0x01] + MP.be(0x0000000ebb4b37e5, 8) + MP.be(0, 4) + [0xff, 0xff])
        #expect(marshal(Golden.t2024) == [0x01] + MP.be(0x0000000edd257425, 8) + MP.be(6, 4) + [0xff, 0xff])
        #expect(marshal(.unset) == [0x01] + [UInt8](repeating: 0, count: 12) + [0xff, 0xff])
        for ns: Int64 in [1, -1, -999_999_999, -1_000_000_000, Golden.t1969.nanosecondsSinceEpoch, .max, .min + 1] {
            let t = LogTimestamp(nanosecondsSinceEpoch: ns)
            let bytes = marshal(t)
            let back = bytes.withUnsafeBytes { raw in try? GoTime.decode(raw, field: "t") }
            #expect(back == t, "\(ns)")
        }
    }

    @Test("truncated values and trailing bytes are typed errors, at every cut")
    func truncatedAndTrailing() throws {
        let bytes = Array(try Fixtures.hex("golden", "req-install-snapshot").dropFirst())
        for cut in 0..<bytes.count {
            let error = wireError { try request(.installSnapshot, Array(bytes[0..<cut])) }
            guard case .malformed? = error else {
                Issue.record("cut \(cut): \(String(describing: error))")
                continue
            }
        }
        #expect(wireError { try request(.installSnapshot, bytes + [0xc0]) } == .malformed("1 bytes after the value"))
    }

    @Test("reserved byte c1 and over-deep nesting are rejected with their own errors")
    func reservedAndDeep() {
        #expect(wireError { try request(.timeoutNow, MP.map([("X", [0xc1])])) } == .reservedByte(offset: 3))
        let deep = [UInt8](repeating: 0x91, count: 40) + [0x00]
        #expect(wireError { try request(.timeoutNow, MP.map([("X", deep)])) } == .nestingTooDeep(limit: 16))
    }

    @Test("response error strings in every string form, and nil for none")
    func responseErrorForms() throws {
        let body = MP.map([])
        for (first, text) in [(MP.raw("boom"), "boom"), (MP.str8(Array("boom".utf8)), "boom"), (MP.bin8(Array("boom".utf8)), "boom"),
                              (MP.nil, ""), (MP.raw(""), "")] {
            let (error, response) = try decodeResponseFrame(first + body, as: .timeoutNow)
            #expect(error == text)
            #expect(response == .timeoutNow(TimeoutNowResponse(header: RPCHeader(protocolVersion: 0))))
        }
        var decoder = ResponseFrameDecoder()
        var input = buffer(MP.uint(1) + body)
        #expect(wireError { try decoder.next(from: &input) }
            == .wrongType(field: "response error string", expected: "string", found: "positive integer"))
    }

    @Test("every RPC's request and response decode from an empty map to zeros")
    func emptyMapsForEveryType() throws {
        let decoder = WireDecoder()
        for type in RPCType.allCases {
            let request = try decoder.decodeRequest(type, from: buffer([0x80]))
            #expect(request.type == type)
            let response = try decoder.decodeResponse(type, from: buffer([0x80]))
            #expect(response.type == type)
        }
    }

    @Test("one decoder decodes many frames in a row (its scratch is reused)")
    func decoderReuse() throws {
        let decoder = WireDecoder()
        let big = Array(try Fixtures.hex("golden", "req-append-entries").dropFirst())
        let small = Array(try Fixtures.hex("golden", "req-vote").dropFirst())
        for _ in 0..<50 {
            #expect(try decoder.decodeRequest(.appendEntries, from: buffer(big)) == Golden.requests[2].request)
            #expect(try decoder.decodeRequest(.requestVote, from: buffer(small)) == Golden.requests[6].request)
        }
    }
}
