import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// The one-pass AppendEntries decoder against the msgpack-c tree walk it replaced
/// (``AppendEntriesReference``): same requests, same errors, at the same moment of a frame's
/// arrival, and within the same limits.
///
/// `RAFT_FUZZ_FRAMES` scales the differential run (a fifth of it, default 20 000 values),
/// `RAFT_FUZZ_SEED` seeds it.
@Suite("Wire format: one-pass AppendEntries decoder", .offCooperativePool)
struct AppendEntriesDecoderTests {
    /// A decode's outcome, comparable across the two decoders.
    private enum Outcome: Equatable, CustomStringConvertible {
        case request(AppendEntriesRequest)
        case failure(WireError)
        case incomplete

        init(_ body: () throws -> AppendEntriesRequest) {
            do {
                self = .request(try body())
            } catch let error as WireError {
                self = .failure(error)
            } catch {
                self = .failure(.malformed("not a WireError: \(error)"))
            }
        }

        /// Equal, or the reference failed where only msgpack-c itself could (its messages are
        /// not reproduced).
        func matches(reference: Outcome) -> Bool {
            if case .failure(.malformed(let why)) = reference, why.hasPrefix("msgpack-c"), case .failure = self { return true }
            return self == reference
        }

        var description: String {
            switch self {
            case .request(let r): return "request(term \(r.term), \(r.entries.count) entries: \(r))"
            case .failure(let error): return "failure(\(error))"
            case .incomplete: return "incomplete"
            }
        }
    }

    private func decode(_ value: [UInt8], limits: WireLimits = WireLimits(), decoder: WireDecoder? = nil) throws -> AppendEntriesRequest {
        let decoder = decoder ?? WireDecoder(limits: limits)
        guard case .appendEntries(let r) = try decoder.decodeRequest(.appendEntries, from: buffer(value)) else {
            throw FixtureError("not AppendEntries")
        }
        return r
    }

    /// Whether every entry's non-empty `Data` and `Extensions` are slices of one array.
    private func sharesOneCopy(_ request: AppendEntriesRequest) -> Bool {
        var bases = Set<UInt>()
        for log in request.entries {
            for bytes in [log.data, log.extensions] where !bytes.isEmpty {
                // A slice's element i lives at (array base + i): the base identifies the array.
                _ = bytes.withUnsafeBufferPointer { raw in
                    bases.insert(UInt(bitPattern: raw.baseAddress! - bytes.startIndex))
                }
            }
        }
        return bases.count <= 1
    }

    // MARK: Differential fuzzing

    @Test("random and mutated AppendEntries values: the same request or error as the msgpack-c tree walk")
    func differentialAgainstTreeWalk() throws {
        let count = Int(environmentNumber("RAFT_FUZZ_FRAMES") ?? 100_000) / 5
        let seed = (environmentNumber("RAFT_FUZZ_SEED") ?? 0x5EED_F00D) &+ 7
        var rng = SplitMix64(seed: seed)
        let generator = AppendEntriesGenerator()
        let golden = try (Golden.requests + Golden.legacyRequests).filter { $0.request.type == .appendEntries }
            .map { try Fixtures.hex("golden", $0.name) }
        let shared = WireDecoder()  // reused throughout, as a connection's is
        var kinds: [String: Int] = [:]
        var mismatches = 0
        var mutator = Mutator(seeds: golden)

        for i in 0..<count {
            if i % 200 == 0 {
                // Fresh generated seeds now and then, beside the Go-written frames.
                mutator = Mutator(seeds: golden + (0..<40).map { _ in [0] + generator.request(&rng) })
            }
            let value: [UInt8] = rng.next() % 3 == 0 ? generator.request(&rng) : Array(mutator.mutatedFrame(&rng).dropFirst())
            let custom = rng.next() % 5 == 0
            let limits = custom ? WireLimits(maxFrameSize: 1 + Int(rng.next() % 700), maxDepth: 1 + Int(rng.next() % 6)) : WireLimits()

            let reference = Outcome { try AppendEntriesReference.decode(value, limits: limits) }
            let decoded = Outcome { try decode(value, decoder: custom ? WireDecoder(limits: limits) : shared) }
            switch reference {
            case .request: kinds["request", default: 0] += 1
            case .failure(let error): kinds[String("\(error)".prefix(while: { $0 != ":" && $0 != " " })), default: 0] += 1
            case .incomplete: break
            }
            if !decoded.matches(reference: reference) {
                mismatches += 1
                if mismatches <= 10 { Issue.record("value \(hexString(value)) with \(limits):\n  decoded \(decoded)\n  expected \(reference)") }
            }
            if case .request(let r) = decoded, !sharesOneCopy(r) { Issue.record("entry bytes not from one copy: \(hexString(value))") }

            try compareFraming(value, limits: limits, &rng, &mismatches)
        }
        print("AppendEntries differential (seed \(seed), \(count) values): \(kinds.sorted { $0.key < $1.key })")
        #expect(mismatches == 0)
        // The inputs must reach the decoder's paths, not die at the first byte.
        #expect(kinds["request", default: 0] > count / 10)
        for kind in ["field", "frame", "msgpack", "reserved", "malformed"] {
            #expect(kinds[kind, default: 0] > count / 1000, "too few \(kind) outcomes: \(kinds)")
        }
    }

    /// Feeds `[0] + value + a heartbeat frame` to a ``RequestFrameParser`` in random chunks and
    /// checks that after each chunk it reports what the scanner-then-tree-walk framing would
    /// have: nothing while the value is incomplete, a structural error as soon as its bytes are
    /// present, and the request or field error once the value is complete.
    private func compareFraming(_ value: [UInt8], limits: WireLimits, _ rng: inout SplitMix64, _ mismatches: inout Int) throws {
        let stream = [0] + value + encodedRequest(.appendEntries(AppendEntriesRequest(header: Golden.leaderHeader, term: 5, leader: "a")))
        var parser = RequestFrameParser(limits: limits)
        var input = ByteBufferAllocator().buffer(capacity: stream.count)
        for chunk in Mutator.split(stream, &rng) {
            input.writeBytes(chunk)
            let received = input.writerIndex
            let got: Outcome
            do {
                if case .request(.appendEntries(let r))? = try parser.next(from: &input) { got = .request(r) } else { got = .incomplete }
            } catch {
                got = .failure(error)
            }
            // What the old framing made of the bytes received so far.
            let present = Array(stream[1..<max(received, 1)])
            let expected: Outcome
            switch scan(present, limits: limits) {
            case .failure(let error): expected = .failure(error)
            case .success(.needMoreData): expected = .incomplete
            case .success(.complete(let length)):
                expected = Outcome { try AppendEntriesReference.decode(Array(present[0..<length]), limits: limits) }
            }
            if !got.matches(reference: expected) {
                mismatches += 1
                if mismatches <= 10 {
                    Issue.record("framing \(hexString(stream)) at \(received) bytes with \(limits):\n  got \(got)\n  expected \(expected)")
                }
                return
            }
            if got != .incomplete { return }
        }
    }

    private func scan(_ bytes: [UInt8], limits: WireLimits) -> Result<ReferenceMessagePackScanner.Progress, WireError> {
        var scanner = ReferenceMessagePackScanner(valueCount: 1, limits: limits)
        return bytes.withUnsafeBytes { raw in
            do throws(WireError) { return .success(try scanner.scan(raw)) } catch { return .failure(error) }
        }
    }

    // MARK: Framing

    @Test("every split point of a stream of multi-entry AppendEntries frames gives the same requests")
    func everySplitPoint() throws {
        let entries = [
            Log(index: 7, term: 2, type: .configuration, data: Golden.pattern(300, 1), extensions: [9, 8], appendedAt: Golden.t2024),
            Log(index: 8, term: 2, data: [UInt8]()),
            Log(index: 9, term: 3, type: .noop, appendedAt: Golden.t1969),
            Log(index: 10, term: 3, data: Golden.pattern(40, 5)),
        ]
        let first = AppendEntriesRequest(header: Golden.leaderHeader, term: 3, leader: "l:1", prevLogEntry: 6, prevLogTerm: 2,
                                         entries: entries, leaderCommitIndex: 5)
        // Hand-built: other encodings, an unknown nested key, bin keys, an extension time.
        let handBuilt = [0] + MP.map16([
            (MP.bin8(Array("Term".utf8)), MP.int16(300)),
            (MP.raw("Future"), MP.map([("x", MP.array([MP.nil, MP.raw("y"), MP.map([])]))])),
            (MP.str8(Array("Entries".utf8)), MP.array([
                MP.map([("Index", MP.int8(1)), ("Data", MP.bin16(Golden.pattern(70, 3))), ("AppendedAt", [0xd7, 0xff] + MP.be(UInt64(5) << 34 | 9, 8))]),
                MP.map([("Index", MP.uint(2)), ("Extensions", MP.str8(Array("ext".utf8))), ("Type", MP.int8(4))]),
            ])),
            (MP.raw("LeaderCommitIndex"), MP.uint(1 << 40)),
        ])
        let second = AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 300, leader: "", entries: [
            Log(index: 1, term: 0, data: Golden.pattern(70, 3), appendedAt: LogTimestamp(nanosecondsSinceEpoch: 9_000_000_005)),
            Log(index: 2, term: 0, type: .barrier, data: [UInt8](), extensions: Array("ext".utf8)),
        ], leaderCommitIndex: 1 << 40)
        let vote = RequestVoteRequest(header: Golden.leaderHeader, term: 4, candidate: "c", lastLogIndex: 1, lastLogTerm: 1)
        let stream = encodedRequest(.appendEntries(first)) + handBuilt + encodedRequest(.requestVote(vote))
        let expected: [RaftRequest] = [.appendEntries(first), .appendEntries(second), .requestVote(vote)]

        func parse(_ chunks: [ArraySlice<UInt8>]) throws -> [RaftRequest] {
            var parser = RequestFrameParser()
            var input = ByteBufferAllocator().buffer(capacity: stream.count)
            var requests: [RaftRequest] = []
            for chunk in chunks {
                input.writeBytes(chunk)
                while let part = try parser.next(from: &input) {
                    if case .request(let request) = part { requests.append(request) }
                }
            }
            #expect(input.readableBytes == 0)
            return requests
        }
        for cut in 0...stream.count {
            let requests = try parse([stream[0..<cut], stream[cut...]])
            #expect(requests == expected, "split at \(cut)")
            for case .appendEntries(let r) in requests { #expect(sharesOneCopy(r), "split at \(cut)") }
        }
        for cut1 in stride(from: 0, through: stream.count, by: 5) {
            for cut2 in stride(from: cut1, through: stream.count, by: 13) {
                #expect(try parse([stream[0..<cut1], stream[cut1..<cut2], stream[cut2...]]) == expected, "split at \(cut1), \(cut2)")
            }
        }
    }

    @Test("a field error waits for the whole value; a structural error after it wins, as with the tree walk")
    func errorPrecedence() throws {
        let badTerm = MP.map([("Term", MP.raw("x")), ("Leader", MP.raw("padding"))])
        var parser = RequestFrameParser()
        var input = buffer([0] + badTerm.dropLast(3))
        #expect(try parser.next(from: &input) == nil, "incomplete: the error is not reported yet")
        input.writeBytes(badTerm.suffix(3))
        #expect(throws: WireError.wrongType(field: "AppendEntriesRequest.Term", expected: "integer", found: "string")) {
            try parser.next(from: &input)
        }

        let thenReserved = MP.map([("Term", MP.raw("x")), ("Leader", [0xc1])])
        let reserved = WireError.reservedByte(offset: thenReserved.count - 1)
        #expect(wireError { try decode(thenReserved) } == reserved)
        #expect(wireError { try AppendEntriesReference.decode(thenReserved) } == reserved)
        // The same bytes in a map declaring a third pair: the value is incomplete, but the
        // reserved byte is there to see, and is not waited on.
        var early = RequestFrameParser()
        var partial = buffer([0, 0x83] + thenReserved.dropFirst())
        #expect(throws: reserved) { try early.next(from: &partial) }

        let trailing = MP.map([("Term", MP.raw("x"))]) + [0xc0]
        #expect(wireError { try decode(trailing) } == .malformed("1 bytes after the value"))
        #expect(wireError { try decode(Array(badTerm.dropLast())) } == .malformed("truncated value (\(badTerm.count - 1) bytes)"))
        #expect(wireError { try decode([]) } == .malformed("truncated value (0 bytes)"))
    }

    @Test("duplicate keys: the last wins, but Entries arrays append, as in the tree walk")
    func duplicateKeys() throws {
        let value = MP.map([
            ("Entries", MP.array([MP.map([("Index", MP.uint(1)), ("Data", MP.raw("a"))])])),
            ("Leader", MP.raw("x")),
            ("Entries", MP.array([MP.map([("Index", MP.uint(2)), ("Data", MP.raw("bb")), ("Data", MP.nil)]), MP.map([("Index", MP.uint(3))])])),
            ("Leader", MP.raw("y")),
        ])
        let r = try decode(value)
        #expect(r == (try AppendEntriesReference.decode(value)))
        #expect(r.entries.map(\.index) == [1, 2, 3] && r.entries.map(\.data) == [ArraySlice("a".utf8), [], []] && r.leader == "y")
        #expect(wireError { try decode(MP.map([("Entries", MP.array([MP.map([])])), ("Entries", MP.array([MP.nil]))])) }
            == .wrongType(field: "AppendEntriesRequest.Entries[0]", expected: "map", found: "nil"))
    }

    // MARK: Limits

    @Test("a declared count of 2^32-1 with a few bytes present: frameTooLarge, or incomplete without a huge allocation")
    func hugeDeclaredCounts() throws {
        let huge: [UInt8] = [0xdd, 0xff, 0xff, 0xff, 0xff]
        let value = [0x81] + MP.raw("Entries") + huge + [0x80, 0x80]
        #expect(wireError { try decode(value) } == .frameTooLarge(limit: 64 << 20))
        var parser = RequestFrameParser()
        var input = buffer([0] + value)
        #expect(throws: WireError.frameTooLarge(limit: 64 << 20)) { try parser.next(from: &input) }

        // At the largest limit, 2^32-1 entries still cannot fit after their header...
        let widest = WireLimits(maxFrameSize: WireLimits.maxFrameSizeCeiling)
        #expect(wireError { try decode(value, limits: widest) } == .frameTooLarge(limit: 1 << 32))
        // ...but a few hundred fewer can: the frame is incomplete, and the capacity reserved
        // for its entries must follow the bytes present, not the count (4 billion entries of
        // ~100 bytes would abort the process).
        for container: [UInt8] in [[0xdd, 0xff, 0xff, 0xfe, 0x00], [0xdf, 0x7f, 0xff, 0xff, 0x00]] {
            let nearlyHuge = [0x81] + MP.raw("Entries") + container + [0x80, 0x80, 0x80]
            var parser = RequestFrameParser(limits: widest)
            var input = buffer([0] + nearlyHuge)
            let start = ContinuousClock.now
            if container[0] == 0xdd {
                #expect(try parser.next(from: &input) == nil)
                #expect(wireError { try decode(nearlyHuge, limits: widest) } == .malformed("truncated value (\(nearlyHuge.count) bytes)"))
            } else {
                // A map for Entries is a field error, reported only once the value is complete.
                #expect(try parser.next(from: &input) == nil)
            }
            #expect(ContinuousClock.now - start < .seconds(5))
        }
        // The same for the top-level map and an entry's map.
        var top = RequestFrameParser(limits: widest)
        var topInput = buffer([0, 0xdf, 0x7f, 0xff, 0xff, 0x00] + MP.raw("Term") + [0x01])
        #expect(try top.next(from: &topInput) == nil)
        var entry = RequestFrameParser(limits: widest)
        var entryInput = buffer([0, 0x81] + MP.raw("Entries") + [0x91, 0xdf, 0x7f, 0xff, 0xff, 0x00] + MP.raw("Index") + [0x01])
        #expect(try entry.next(from: &entryInput) == nil)
    }

    @Test("nesting under unknown keys: up to maxDepth accepted, deeper is nestingTooDeep, as in the scanner")
    func deepNesting() throws {
        /// `levels` arrays (or maps, each with key 0), one inside the other, around a 0.
        func nested(_ levels: Int, map: Bool = false) -> [UInt8] {
            (0..<levels).flatMap { _ in map ? [0x81, 0x00] : [0x91] } + [0x00]
        }
        // The top map is at depth 0, so a value under its key at 1: 15 arrays reach depth 15.
        #expect(try decode(MP.map([("Term", MP.uint(1)), ("X", nested(15))])).term == 1)
        #expect(wireError { try decode(MP.map([("X", nested(16))])) } == .nestingTooDeep(limit: 16))
        #expect(wireError { try decode(MP.map([("X", nested(200))])) } == .nestingTooDeep(limit: 16))
        // Inside an entry (Entries at 1, the entry at 2, its values at 3).
        let inEntry = { (levels: Int) in MP.map([("Entries", MP.array([MP.map([("X", nested(levels))])]))]) }
        #expect(try decode(inEntry(13)).entries.count == 1)
        #expect(wireError { try decode(inEntry(14)) } == .nestingTooDeep(limit: 16))
        // As a key that is not a string, and with maps.
        #expect(wireError { try decode(MP.map16([(nested(16), MP.uint(1))])) } == .nestingTooDeep(limit: 16))
        #expect(wireError { try decode(MP.map([("X", nested(16, map: true))])) } == .nestingTooDeep(limit: 16))
        for levels in 0...40 {
            for value in [MP.map([("X", nested(levels))]), inEntry(levels), MP.map([("X", nested(levels, map: true))])] {
                for limits in [WireLimits(), WireLimits(maxDepth: 3), WireLimits(maxDepth: 1)] {
                    #expect(Outcome { try decode(value, limits: limits) } == Outcome { try AppendEntriesReference.decode(value, limits: limits) },
                            "\(levels) levels, \(limits)")
                }
            }
        }
        // Reported as soon as the bytes show it, the frame unfinished.
        var parser = RequestFrameParser()
        var input = buffer([0, 0x81] + MP.raw("X") + [UInt8](repeating: 0x91, count: 20))
        #expect(throws: WireError.nestingTooDeep(limit: 16)) { try parser.next(from: &input) }
    }

    @Test("maxFrameSize at every byte of a frame: the same verdict as the scanner and tree walk")
    func frameLimitAtEveryByte() throws {
        let golden = try (Golden.requests + Golden.legacyRequests).filter { $0.request.type == .appendEntries }
            .map { Array(try Fixtures.hex("golden", $0.name).dropFirst()) }.filter { $0.count < 4096 }
        // Every one-byte form (fixint, negative fixint, nil, bool, empty fixstr, fixmap,
        // fixarray) as a key, an unknown value and a field's value, last in the frame.
        let oneByte: [[UInt8]] = [[0x05], [0xff], MP.nil, MP.true, [0xa0], [0x80], [0x90]]
        let handBuilt = oneByte.flatMap { byte in
            [MP.map([("X", byte)]), MP.map16([(byte, MP.nil)]), MP.map([("Term", byte)]),
             MP.map([("Entries", MP.array([MP.map([("Type", byte)])]))])]
        }
        var checked = 0
        for value in golden + handBuilt {
            for limit in 1...(value.count + 1) {
                let limits = WireLimits(maxFrameSize: limit)
                let reference = Outcome { try AppendEntriesReference.decode(value, limits: limits) }
                #expect(Outcome { try decode(value, limits: limits) }.matches(reference: reference), "\(hexString(value)) at \(limit)")
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    // MARK: Values

    @Test("AppendedAt as extension -1 in every form: fixext 4/8/16, ext 8/16/32")
    func appendedAtExtensions() throws {
        func appendedAt(_ value: [UInt8]) throws -> LogTimestamp {
            let frame = MP.map([("Entries", MP.array([MP.map([("AppendedAt", value)])]))])
            #expect(Outcome { try decode(frame) } == Outcome { try AppendEntriesReference.decode(frame) }, "\(hexString(value))")
            return try #require(try decode(frame).entries.first).appendedAt
        }
        let packed = MP.be(UInt64(123_456_789) << 34 | 1_700_000_001, 8)
        let instant = LogTimestamp(nanosecondsSinceEpoch: 1_700_000_001_123_456_789)
        let wide = MP.be(123_456_789, 4) + MP.be(1_700_000_001, 8)
        let seconds = LogTimestamp(nanosecondsSinceEpoch: 1_700_000_001_000_000_000)
        let marshalled: [UInt8] = [0x02] + MP.be(0x0000000edd257425, 8) + MP.be(6, 4) + [0x00, 0x3c, 0x1e]  // 16 bytes

        #expect(try appendedAt([0xd6, 0xff] + MP.be(1_700_000_001, 4)) == seconds)  // fixext 4
        #expect(try appendedAt([0xd7, 0xff] + packed) == instant)  // fixext 8
        #expect(try appendedAt([0xd8, 0xff] + marshalled) == Golden.t2024)  // fixext 16
        #expect(try appendedAt(MP.ext8(type: -1, packed)) == instant)  // ext 8
        #expect(try appendedAt(MP.ext8(type: -1, wide)) == instant)
        #expect(try appendedAt([0xc8, 0x00, 0x0c, 0xff] + wide) == instant)  // ext 16
        #expect(try appendedAt([0xc9, 0x00, 0x00, 0x00, 0x08, 0xff] + packed) == instant)  // ext 32

        let field = "AppendEntriesRequest.Entries[0].AppendedAt"
        #expect(wireError { try appendedAt([0xd4, 0xff, 0x01]) } == .valueOutOfRange(field: field, value: "time encoding of 1 bytes"))
        #expect(wireError { try appendedAt(MP.ext8(type: -1, [])) } == .valueOutOfRange(field: field, value: "time encoding of 0 bytes"))
        #expect(wireError { try appendedAt(MP.raw([])) } == .valueOutOfRange(field: field, value: "time encoding of 0 bytes"))
        #expect(wireError { try appendedAt([0xd7, 0x05] + packed) }
            == .wrongType(field: field, expected: "time (string, binary, nil or extension -1)", found: "extension"))
        #expect(wireError { try appendedAt([0xcb] + MP.be(0, 8)) }
            == .wrongType(field: field, expected: "time (string, binary, nil or extension -1)", found: "float"))
    }

    @Test("integers of both families in every width, classified as msgpack-c does, in every integer field")
    func integerFamilies() throws {
        let encodings: [[UInt8]] = [
            [0x00], [0x7f], [0xe0], [0xff], MP.nil, [0xcc, 0xff], [0xcd, 0xff, 0xff], [0xce] + MP.be(UInt64(UInt32.max), 4),
            [0xcf] + MP.be(UInt64.max, 8), [0xcf] + MP.be(UInt64(Int64.max), 8), [0xcf] + MP.be(1 << 63, 8),
            MP.int8(5), MP.int8(-5), MP.int8(.min), MP.int16(300), MP.int16(-300), MP.int32(70000), MP.int32(.min),
            MP.int64(.max), MP.int64(.min), MP.int64(0), MP.int8(4), MP.int16(5), MP.int16(6),
            [0xca] + MP.be(0, 4), MP.true, MP.raw("1"), MP.bin8([1]), MP.array([]), MP.map([]), [0xd4, 0x01, 0x00],
        ]
        let fields = ["Term", "LeaderCommitIndex", "PrevLogEntry", "PrevLogTerm", "ProtocolVersion"]
        let entryFields = ["Index", "Term", "Type"]
        var accepted = 0
        for encoding in encodings {
            var values = fields.map { MP.map([($0, encoding)]) }
            values += entryFields.map { MP.map([("Entries", MP.array([MP.map([]), MP.map([($0, encoding)])]))]) }
            for value in values {
                let reference = Outcome { try AppendEntriesReference.decode(value) }
                #expect(Outcome { try decode(value) } == reference, "\(hexString(value))")
                if case .request = reference { accepted += 1 }
            }
        }
        #expect(accepted > 50)
    }
}

/// Random AppendEntries values in the many encodings go-msgpack accepts, with a share of wrong
/// types, odd keys, duplicates, deep unknown values and bad times, as seeds for the
/// differential test (and its mutations).
struct AppendEntriesGenerator {
    static func below(_ n: Int, _ rng: inout SplitMix64) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
    static func chance(_ oneIn: Int, _ rng: inout SplitMix64) -> Bool { below(oneIn, &rng) == 0 }

    /// A request value: usually a map of known and unknown fields.
    func request(_ rng: inout SplitMix64) -> [UInt8] {
        if Self.chance(40, &rng) { return MP.nil }
        if Self.chance(60, &rng) { return wrong(&rng) }
        let known = ["Addr", "Entries", "ID", "Leader", "LeaderCommitIndex", "PrevLogEntry", "PrevLogTerm", "ProtocolVersion", "Term"]
        var pairs: [([UInt8], [UInt8])] = []
        for _ in 0..<Self.below(12, &rng) {
            let name = Self.chance(6, &rng) ? "Unknown\(Self.below(3, &rng))" : known[Self.below(known.count, &rng)]
            let value: [UInt8]
            switch name {
            case "Addr", "ID", "Leader": value = bytes(&rng, max: 40)
            case "Entries": value = entries(&rng)
            case "ProtocolVersion", "LeaderCommitIndex", "PrevLogEntry", "PrevLogTerm", "Term": value = integer(&rng)
            default: value = any(&rng, depth: 1)
            }
            pairs.append((key(name, &rng), value))
            if Self.chance(15, &rng) { pairs.append((any(&rng, depth: 1), any(&rng, depth: 1))) }  // a key of another type
        }
        return map(pairs, &rng)
    }

    private func entries(_ rng: inout SplitMix64) -> [UInt8] {
        if Self.chance(20, &rng) { return MP.nil }
        if Self.chance(30, &rng) { return wrong(&rng) }
        let count = Self.below(7, &rng)
        var elements: [UInt8] = []
        for _ in 0..<count {
            if Self.chance(60, &rng) { elements += Self.chance(2, &rng) ? MP.nil : wrong(&rng) } else { elements += entry(&rng) }
        }
        switch Self.below(4, &rng) {
        case 0: return [0xdc] + MP.be(UInt64(count), 2) + elements
        case 1: return [0xdd] + MP.be(UInt64(count), 4) + elements
        default: return [0x90 | UInt8(count)] + elements
        }
    }

    private func entry(_ rng: inout SplitMix64) -> [UInt8] {
        let known = ["AppendedAt", "Data", "Extensions", "Index", "Term", "Type"]
        var pairs: [([UInt8], [UInt8])] = []
        for _ in 0..<Self.below(9, &rng) {
            let name = Self.chance(8, &rng) ? "Other" : known[Self.below(known.count, &rng)]
            let value: [UInt8]
            switch name {
            case "AppendedAt": value = time(&rng)
            case "Data", "Extensions": value = bytes(&rng, max: 300)
            case "Type": value = Self.chance(3, &rng) ? integer(&rng) : MP.uint(UInt64(Self.below(7, &rng)))
            case "Index", "Term": value = integer(&rng)
            default: value = any(&rng, depth: 3)
            }
            pairs.append((key(name, &rng), value))
        }
        return map(pairs, &rng)
    }

    func map(_ pairs: [([UInt8], [UInt8])], _ rng: inout SplitMix64) -> [UInt8] {
        let body = pairs.flatMap { $0.0 + $0.1 }
        switch Self.below(5, &rng) {
        case 0: return [0xde] + MP.be(UInt64(pairs.count), 2) + body
        case 1: return [0xdf] + MP.be(UInt64(pairs.count), 4) + body
        default: return pairs.count < 16 ? [0x80 | UInt8(pairs.count)] + body : [0xde] + MP.be(UInt64(pairs.count), 2) + body
        }
    }

    /// A field name as any string or binary form.
    func key(_ name: String, _ rng: inout SplitMix64) -> [UInt8] {
        let utf8 = Array(name.utf8)
        switch Self.below(8, &rng) {
        case 0: return MP.str8(utf8)
        case 1: return [0xda] + MP.be(UInt64(utf8.count), 2) + utf8
        case 2: return [0xdb] + MP.be(UInt64(utf8.count), 4) + utf8
        case 3: return MP.bin8(utf8)
        case 4: return MP.bin16(utf8)
        case 5: return MP.bin32(utf8)
        default: return MP.raw(utf8)
        }
    }

    /// An integer in any encoding that holds it, often at a boundary; now and then a wrong type.
    func integer(_ rng: inout SplitMix64) -> [UInt8] {
        if Self.chance(12, &rng) { return Self.chance(2, &rng) ? MP.nil : wrong(&rng) }
        let boundaries: [Int64] = [0, 1, 5, 127, 128, 255, 256, 300, 32767, 65535, 65536, .max, -1, -32, -33, -128, -129, -70000, .min]
        let value: Int64 = Self.chance(2, &rng) ? boundaries[Self.below(boundaries.count, &rng)] : Int64(bitPattern: rng.next() >> (rng.next() % 64))
        if value < 0 {
            var forms: [[UInt8]] = [MP.int64(value)]
            if value >= -32 { forms.append([UInt8(bitPattern: Int8(value))]) }
            if let v = Int8(exactly: value) { forms.append(MP.int8(v)) }
            if let v = Int16(exactly: value) { forms.append(MP.int16(v)) }
            if let v = Int32(exactly: value) { forms.append(MP.int32(v)) }
            return forms[Self.below(forms.count, &rng)]
        }
        let u = UInt64(value)
        var forms: [[UInt8]] = [MP.uint(u), [0xcf] + MP.be(u, 8), MP.int64(value)]
        if Self.chance(10, &rng) { return [0xcf] + MP.be(u | 1 << 63, 8) }  // beyond Int64
        if u < 128 { forms.append([UInt8(u)]) }
        if u < 0x100 { forms.append([0xcc, UInt8(u)]) }
        if u < 0x10000 { forms.append([0xcd] + MP.be(u, 2)) }
        if u < 0x1_0000_0000 { forms.append([0xce] + MP.be(u, 4)) }
        if let v = Int8(exactly: value) { forms.append(MP.int8(v)) }
        if let v = Int16(exactly: value) { forms.append(MP.int16(v)) }
        if let v = Int32(exactly: value) { forms.append(MP.int32(v)) }
        return forms[Self.below(forms.count, &rng)]
    }

    /// Bytes as any string or binary form (invalid UTF-8 included), nil, or now and then a
    /// wrong type.
    func bytes(_ rng: inout SplitMix64, max: Int) -> [UInt8] {
        if Self.chance(15, &rng) { return MP.nil }
        if Self.chance(25, &rng) { return wrong(&rng) }
        let count = Self.chance(4, &rng) ? 0 : Self.below(max + 1, &rng)
        let payload = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        switch Self.below(6, &rng) {
        case 0: return MP.str8(Array(payload.prefix(255)))
        case 1: return MP.bin8(Array(payload.prefix(255)))
        case 2: return MP.bin16(payload)
        case 3: return MP.bin32(payload)
        case 4: return [0xdb] + MP.be(UInt64(count), 4) + payload
        default: return MP.raw(payload)
        }
    }

    /// `AppendedAt` in its good forms and many bad ones.
    private func time(_ rng: inout SplitMix64) -> [UInt8] {
        let marshalled: [UInt8] = [0x01] + MP.be(rng.next() >> Self.below(64, &rng), 8) + MP.be(rng.next() % 1_000_000_000, 4) + [0xff, 0xff]
        let payloads: [[UInt8]] = [
            marshalled, [0x02] + marshalled.dropFirst() + [0x1e], [0x01] + [UInt8](repeating: 0, count: 12) + [0xff, 0xff],
            MP.be(rng.next() % 1_000_000_000, 4) + MP.be(rng.next(), 8), MP.be(rng.next(), 8), MP.be(rng.next(), 4),
            (0..<Self.below(20, &rng)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
        ]
        let payload = payloads[Self.below(payloads.count, &rng)]
        let extType: UInt8 = Self.chance(8, &rng) ? UInt8(truncatingIfNeeded: rng.next()) : 0xff
        switch Self.below(9, &rng) {
        case 0: return MP.nil
        case 1: return wrong(&rng)
        case 2: return MP.bin8(payload)
        case 3:
            let fixed: [Int: UInt8] = [1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8]
            if let head = fixed[payload.count] { return [head, extType] + payload }
            return MP.ext8(type: Int8(bitPattern: extType), payload)
        case 4: return MP.ext8(type: Int8(bitPattern: extType), payload)
        case 5: return [0xc8] + MP.be(UInt64(payload.count), 2) + [extType] + payload
        case 6: return [0xc9] + MP.be(UInt64(payload.count), 4) + [extType] + payload
        default: return MP.raw(payload)
        }
    }

    /// A value of a type no AppendEntries field takes (float, bool, ext) or of a field's wrong
    /// family.
    func wrong(_ rng: inout SplitMix64) -> [UInt8] {
        let options: [[UInt8]] = [
            [0xca] + MP.be(rng.next(), 4), [0xcb] + MP.be(rng.next(), 8), MP.true, MP.false, MP.raw("s"), MP.bin8([1]),
            MP.array([MP.uint(1)]), MP.map([("Term", MP.uint(1))]), [0xd4, 0x01, 0x02], MP.ext8(type: 3, [1, 2]), [0xff], MP.uint(3),
        ]
        return options[Self.below(options.count, &rng)]
    }

    /// Any value, nested up to about 20 deep now and then (beyond maxDepth).
    func any(_ rng: inout SplitMix64, depth: Int) -> [UInt8] {
        if depth < 22, Self.chance(3, &rng) {
            let count = Self.below(4, &rng)
            if Self.chance(2, &rng) {
                return [0x90 | UInt8(count)] + (0..<count).flatMap { _ in any(&rng, depth: depth + 1) }
            }
            return [0x80 | UInt8(count)] + (0..<count).flatMap { _ in any(&rng, depth: depth + 1) + any(&rng, depth: depth + 1) }
        }
        switch Self.below(4, &rng) {
        case 0: return integer(&rng)
        case 1: return bytes(&rng, max: 20)
        case 2: return time(&rng)
        default: return wrong(&rng)
        }
    }
}
