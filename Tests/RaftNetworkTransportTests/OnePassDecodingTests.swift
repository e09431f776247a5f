import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// Every request and response other than AppendEntries requests (which have their own suite)
/// through the one-pass reader, against the msgpack-c tree walk they used to go through
/// (``MsgpackCReference``): the same values and the same errors, at the same moment of a frame's
/// arrival, in both integer encodings and every string form.
///
/// `RAFT_FUZZ_FRAMES` scales the differential run (a fifth of it, default 20 000 values),
/// `RAFT_FUZZ_SEED` seeds it.
@Suite("Wire format: every RPC through the one-pass reader", .offCooperativePool)
struct OnePassDecodingTests {
    /// A request or a response, so both can go through the same checks.
    private enum Message: Equatable, CustomStringConvertible {
        case request(RaftRequest)
        case response(RaftResponse)

        var description: String {
            switch self {
            case .request(let r): return "\(r)"
            case .response(let r): return "\(r)"
            }
        }
    }

    /// Which value: a request or a response of an RPC type.
    private struct Kind: CustomStringConvertible {
        var type: RPCType
        var isRequest: Bool

        var description: String { "\(type)\(isRequest ? "Request" : "Response")" }

        static let all: [Kind] = RPCType.allCases.flatMap { [Kind(type: $0, isRequest: true), Kind(type: $0, isRequest: false)] }
        /// Everything but AppendEntries requests.
        static let others: [Kind] = all.filter { !($0.type == .appendEntries && $0.isRequest) }
    }

    /// A decode's outcome, comparable across the two decoders.
    private enum Outcome: Equatable, CustomStringConvertible {
        case message(Message)
        case failure(WireError)
        case incomplete

        init(_ body: () throws -> Message) {
            do {
                self = .message(try body())
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
            case .message(let m): return "\(m)"
            case .failure(let error): return "failure(\(error))"
            case .incomplete: return "incomplete"
            }
        }
    }

    private func decode(_ kind: Kind, _ value: [UInt8], decoder: WireDecoder = WireDecoder()) throws -> Message {
        kind.isRequest
            ? .request(try decoder.decodeRequest(kind.type, from: buffer(value)))
            : .response(try decoder.decodeResponse(kind.type, from: buffer(value)))
    }

    private func reference(_ kind: Kind, _ value: [UInt8], limits: WireLimits = WireLimits()) throws -> Message {
        kind.isRequest
            ? .request(try MsgpackCReference.decodeRequest(kind.type, value, limits: limits))
            : .response(try MsgpackCReference.decodeResponse(kind.type, value, limits: limits))
    }

    // MARK: Differential fuzzing

    @Test("random and mutated values of every other RPC: the same value or error as the msgpack-c tree walk, however they arrive")
    func differentialAgainstTreeWalk() throws {
        let count = Int(environmentNumber("RAFT_FUZZ_FRAMES") ?? 100_000) / 5
        let seed = (environmentNumber("RAFT_FUZZ_SEED") ?? 0x5EED_F00D) &+ 11
        var rng = SplitMix64(seed: seed)
        let generator = StructGenerator()
        // Go-written values of each kind, as mutation seeds.
        var seeds: [String: [[UInt8]]] = [:]
        for golden in Golden.requests + Golden.legacyRequests {
            let kind = Kind(type: golden.request.type, isRequest: true)
            seeds[kind.description, default: []].append(try Fixtures.hex("golden", golden.name))
        }
        for golden in Golden.responses + Golden.legacyResponses {
            let kind = Kind(type: golden.type, isRequest: false)
            // A type byte in front, as Mutator leaves the first byte alone mostly.
            seeds[kind.description, default: []].append([0] + (try Fixtures.hex("golden", golden.name)).dropFirst(MP.raw(golden.error).count))
        }
        let shared = WireDecoder()  // reused throughout, as a connection's is
        var outcomes: [String: Int] = [:]
        var mismatches = 0

        for _ in 0..<count {
            let kind = Kind.others[Int(rng.next() % UInt64(Kind.others.count))]
            let value: [UInt8]
            if rng.next() % 3 == 0 || seeds[kind.description] == nil {
                value = generator.value(kind.type, isRequest: kind.isRequest, &rng)
            } else {
                var mutator = Mutator(seeds: seeds[kind.description]! + [[0] + generator.value(kind.type, isRequest: kind.isRequest, &rng)])
                value = Array(mutator.mutatedFrame(&rng).dropFirst())
            }
            let custom = rng.next() % 5 == 0
            let limits = custom ? WireLimits(maxFrameSize: 1 + Int(rng.next() % 300), maxDepth: 1 + Int(rng.next() % 6)) : WireLimits()

            let expected = Outcome { try reference(kind, value, limits: limits) }
            let decoded = Outcome { try decode(kind, value, decoder: custom ? WireDecoder(limits: limits) : shared) }
            switch expected {
            case .message: outcomes["value", default: 0] += 1
            case .failure(let error): outcomes[String("\(error)".prefix(while: { $0 != ":" && $0 != " " })), default: 0] += 1
            case .incomplete: break
            }
            if !decoded.matches(reference: expected) {
                mismatches += 1
                if mismatches <= 10 { Issue.record("\(kind) \(hexString(value)) with \(limits):\n  decoded \(decoded)\n  expected \(expected)") }
            }
            if kind.isRequest {
                compareRequestFraming(kind.type, value, limits: limits, &rng, &mismatches)
            } else {
                compareResponseFraming(kind.type, value, limits: limits, &rng, &mismatches)
            }
        }
        print("other RPCs differential (seed \(seed), \(count) values): \(outcomes.sorted { $0.key < $1.key })")
        #expect(mismatches == 0)
        #expect(outcomes["value", default: 0] > count / 10)
        for kind in ["field", "frame", "msgpack", "reserved", "malformed"] {
            #expect(outcomes[kind, default: 0] > count / 1000, "too few \(kind) outcomes: \(outcomes)")
        }
    }

    /// Feeds `type + value + a TimeoutNow frame` to a ``RequestFrameParser`` in random chunks
    /// and checks after each what the old framing (scan, then tree walk) made of the bytes so
    /// far: nothing while the value is incomplete, a structural error as soon as its bytes are
    /// present, the request or field error once the value is complete.
    private func compareRequestFraming(_ type: RPCType, _ value: [UInt8], limits: WireLimits, _ rng: inout SplitMix64, _ mismatches: inout Int) {
        let stream = [type.rawValue] + value + encodedRequest(.timeoutNow(TimeoutNowRequest(header: Golden.leaderHeader)))
        var parser = RequestFrameParser(limits: limits)
        var input = ByteBufferAllocator().buffer(capacity: stream.count)
        for chunk in Mutator.split(stream, &rng) {
            input.writeBytes(chunk)
            let received = input.writerIndex
            let got: Outcome
            do {
                if case .request(let r)? = try parser.next(from: &input) { got = .message(.request(r)) } else { got = .incomplete }
            } catch {
                got = .failure(error)
            }
            let present = Array(stream[1..<max(received, 1)])
            let expected: Outcome
            switch referenceScan(present, values: 1, limits: limits) {
            case .failure(let error): expected = .failure(error)
            case .success(.needMoreData): expected = .incomplete
            case .success(.complete(let length)):
                expected = Outcome { .request(try MsgpackCReference.decodeRequest(type, Array(present[0..<length]), limits: limits)) }
            }
            if !got.matches(reference: expected) {
                mismatches += 1
                if mismatches <= 10 { Issue.record("framing \(hexString(stream)) at \(received) bytes with \(limits):\n  got \(got)\n  expected \(expected)") }
                return
            }
            if got != .incomplete { return }
        }
    }

    /// The same for a response frame (an error string, then `value`, then another response)
    /// through a ``ResponseFrameDecoder`` and the decoder the client uses on its body.
    private func compareResponseFraming(_ type: RPCType, _ value: [UInt8], limits: WireLimits, _ rng: inout SplitMix64, _ mismatches: inout Int) {
        let errors: [[UInt8]] = [MP.raw(""), MP.nil, MP.raw("boom"), MP.str8(Array("boom".utf8)), MP.bin8([]), [0xdb] + MP.be(2, 4) + [0x6f, 0x6b]]
        let errorString = errors[Int(rng.next() % UInt64(errors.count))]
        let stream = errorString + value + MP.raw("") + MP.map([])
        var frames = ResponseFrameDecoder(limits: limits)
        let decoder = WireDecoder(limits: limits)
        var input = ByteBufferAllocator().buffer(capacity: stream.count)
        for chunk in Mutator.split(stream, &rng) {
            input.writeBytes(chunk)
            let received = input.writerIndex
            let got: Outcome
            do {
                if let frame = try frames.next(from: &input) {
                    got = .message(.response(try decoder.decodeResponse(type, from: frame.body)))
                } else {
                    got = .incomplete
                }
            } catch {
                got = .failure(error)
            }
            let present = Array(stream[0..<received])
            let expected: Outcome
            switch referenceScan(present, values: 2, limits: limits) {
            case .failure(let error): expected = .failure(error)
            case .success(.needMoreData): expected = .incomplete
            case .success(.complete(let length)):
                let body = Array(present[errorString.count..<length])
                expected = Outcome { .response(try MsgpackCReference.decodeResponse(type, body, limits: limits)) }
            }
            if !got.matches(reference: expected) {
                mismatches += 1
                if mismatches <= 10 { Issue.record("response framing \(hexString(stream)) at \(received) bytes with \(limits):\n  got \(got)\n  expected \(expected)") }
                return
            }
            if got != .incomplete { return }
        }
    }

    private func referenceScan(_ bytes: [UInt8], values: Int, limits: WireLimits) -> Result<ReferenceMessagePackScanner.Progress, WireError> {
        var scanner = ReferenceMessagePackScanner(valueCount: values, limits: limits)
        return bytes.withUnsafeBytes { raw in
            do throws(WireError) { return .success(try scanner.scan(raw)) } catch { return .failure(error) }
        }
    }

    // MARK: Truncation

    @Test("every golden request and response cut at every byte: a typed 'truncated' error, and the frame decoders wait for the rest")
    func truncatedAtEveryByte() throws {
        let decoder = WireDecoder()
        var cuts = 0
        for golden in Golden.requests + Golden.legacyRequests {
            let frame = try Fixtures.hex("golden", golden.name)
            let value = Array(frame.dropFirst())
            // Every byte of the small frames; of the 70 KB ones (each cut copies the frame twice,
            // slow in a debug build), every byte of the head and a stride through the big
            // entry's bytes.
            let ends = value.count < 4096 ? Array(0..<value.count) : Array(0..<400) + Array(stride(from: 400, to: value.count, by: 1999))
            for cut in ends {
                let prefix = Array(value[0..<cut])
                #expect(wireError { try decoder.decodeRequest(golden.request.type, from: buffer(prefix)) }
                    == .malformed("truncated value (\(cut) bytes)"), "\(golden.name) cut at \(cut)")
                #expect(Outcome { try reference(Kind(type: golden.request.type, isRequest: true), prefix) }
                    == .failure(.malformed("truncated value (\(cut) bytes)")), "\(golden.name) cut at \(cut)")
                var parser = RequestFrameParser()
                var input = buffer(frame[0..<(cut + 1)])
                #expect(try parser.next(from: &input) == nil, "\(golden.name) cut at \(cut)")
                input.writeBytes(frame[(cut + 1)...])
                #expect(try parser.next(from: &input) == .request(golden.request), "\(golden.name) cut at \(cut)")
                cuts += 1
            }
        }
        for golden in Golden.responses + Golden.legacyResponses {
            let frame = try Fixtures.hex("golden", golden.name)
            let body = Array(frame.dropFirst(MP.raw(golden.error).count))
            for cut in 0..<body.count {
                #expect(wireError { try decoder.decodeResponse(golden.type, from: buffer(body[0..<cut])) }
                    == .malformed("truncated value (\(cut) bytes)"), "\(golden.name) body cut at \(cut)")
            }
            for cut in 0..<frame.count {
                var frames = ResponseFrameDecoder()
                var input = buffer(frame[0..<cut])
                #expect(try frames.next(from: &input) == nil, "\(golden.name) cut at \(cut)")
                input.writeBytes(frame[cut...])
                let whole = try #require(try frames.next(from: &input), "\(golden.name) cut at \(cut)")
                #expect(whole.error == golden.error)
                #expect(try decoder.decodeResponse(golden.type, from: whole.body) == golden.decoded, "\(golden.name) cut at \(cut)")
                cuts += 1
            }
        }
        #expect(cuts > 2000)
    }

    // MARK: Encodings

    /// Every integer field of every value but AppendEntries requests, with what decoding a map
    /// holding only that field, set to `value`, must give.
    private static var integerFields: [(kind: Kind, field: String, signed: Bool, expected: (Int64) -> Message)] {
        let zero = RPCHeader(protocolVersion: 0)
        func header(_ v: Int64) -> RPCHeader { RPCHeader(protocolVersion: Int(v)) }
        func vote(_ body: (inout RequestVoteRequest) -> Void) -> Message {
            var r = RequestVoteRequest(header: zero, term: 0, candidate: "", lastLogIndex: 0, lastLogTerm: 0)
            body(&r)
            return .request(.requestVote(r))
        }
        func preVote(_ body: (inout RequestPreVoteRequest) -> Void) -> Message {
            var r = RequestPreVoteRequest(header: zero, term: 0, lastLogIndex: 0, lastLogTerm: 0)
            body(&r)
            return .request(.requestPreVote(r))
        }
        func install(_ body: (inout InstallSnapshotRequest) -> Void) -> Message {
            var r = InstallSnapshotRequest(header: zero, snapshotVersion: 0, term: 0, leader: "", lastLogIndex: 0, lastLogTerm: 0,
                                           configuration: [], configurationIndex: 0, size: 0)
            body(&r)
            return .request(.installSnapshot(r))
        }
        func appendAnswer(_ body: (inout AppendEntriesResponse) -> Void) -> Message {
            var r = AppendEntriesResponse(header: zero, term: 0, lastLog: 0, success: false)
            body(&r)
            return .response(.appendEntries(r))
        }
        func voteAnswer(_ body: (inout RequestVoteResponse) -> Void) -> Message {
            var r = RequestVoteResponse(header: zero, term: 0, granted: false)
            body(&r)
            return .response(.requestVote(r))
        }
        func preVoteAnswer(_ body: (inout RequestPreVoteResponse) -> Void) -> Message {
            var r = RequestPreVoteResponse(header: zero, term: 0, granted: false)
            body(&r)
            return .response(.requestPreVote(r))
        }
        func installAnswer(_ body: (inout InstallSnapshotResponse) -> Void) -> Message {
            var r = InstallSnapshotResponse(header: zero, term: 0, success: false)
            body(&r)
            return .response(.installSnapshot(r))
        }
        let request = { (type: RPCType) in Kind(type: type, isRequest: true) }
        let response = { (type: RPCType) in Kind(type: type, isRequest: false) }
        return [
            (request(.requestVote), "Term", false, { v in vote { $0.term = UInt64(v) } }),
            (request(.requestVote), "LastLogIndex", false, { v in vote { $0.lastLogIndex = UInt64(v) } }),
            (request(.requestVote), "LastLogTerm", false, { v in vote { $0.lastLogTerm = UInt64(v) } }),
            (request(.requestVote), "ProtocolVersion", true, { v in vote { $0.header = header(v) } }),
            (request(.requestPreVote), "Term", false, { v in preVote { $0.term = UInt64(v) } }),
            (request(.requestPreVote), "LastLogIndex", false, { v in preVote { $0.lastLogIndex = UInt64(v) } }),
            (request(.requestPreVote), "LastLogTerm", false, { v in preVote { $0.lastLogTerm = UInt64(v) } }),
            (request(.requestPreVote), "ProtocolVersion", true, { v in preVote { $0.header = header(v) } }),
            (request(.installSnapshot), "Term", false, { v in install { $0.term = UInt64(v) } }),
            (request(.installSnapshot), "LastLogIndex", false, { v in install { $0.lastLogIndex = UInt64(v) } }),
            (request(.installSnapshot), "LastLogTerm", false, { v in install { $0.lastLogTerm = UInt64(v) } }),
            (request(.installSnapshot), "ConfigurationIndex", false, { v in install { $0.configurationIndex = UInt64(v) } }),
            (request(.installSnapshot), "Size", true, { v in install { $0.size = v } }),
            (request(.installSnapshot), "SnapshotVersion", true, { v in install { $0.snapshotVersion = Int(v) } }),
            (request(.installSnapshot), "ProtocolVersion", true, { v in install { $0.header = header(v) } }),
            (request(.timeoutNow), "ProtocolVersion", true, { v in .request(.timeoutNow(TimeoutNowRequest(header: header(v)))) }),
            (response(.appendEntries), "Term", false, { v in appendAnswer { $0.term = UInt64(v) } }),
            (response(.appendEntries), "LastLog", false, { v in appendAnswer { $0.lastLog = UInt64(v) } }),
            (response(.appendEntries), "ProtocolVersion", true, { v in appendAnswer { $0.header = header(v) } }),
            (response(.requestVote), "Term", false, { v in voteAnswer { $0.term = UInt64(v) } }),
            (response(.requestVote), "ProtocolVersion", true, { v in voteAnswer { $0.header = header(v) } }),
            (response(.requestPreVote), "Term", false, { v in preVoteAnswer { $0.term = UInt64(v) } }),
            (response(.requestPreVote), "ProtocolVersion", true, { v in preVoteAnswer { $0.header = header(v) } }),
            (response(.installSnapshot), "Term", false, { v in installAnswer { $0.term = UInt64(v) } }),
            (response(.installSnapshot), "ProtocolVersion", true, { v in installAnswer { $0.header = header(v) } }),
            (response(.timeoutNow), "ProtocolVersion", true, { v in .response(.timeoutNow(TimeoutNowResponse(header: header(v)))) }),
        ]
    }

    /// `value` as go-msgpack v2 writes a Go `int`: a fixint when it fits, otherwise the smallest
    /// of the signed family (`d0`–`d3`).
    private static func signedForm(_ value: Int64) -> [UInt8] {
        if (-32...127).contains(value) { return [UInt8(bitPattern: Int8(value))] }
        if let v = Int8(exactly: value) { return MP.int8(v) }
        if let v = Int16(exactly: value) { return MP.int16(v) }
        if let v = Int32(exactly: value) { return MP.int32(v) }
        return MP.int64(value)
    }

    @Test("integers in go-msgpack 0.5.5's unsigned and v2's signed encodings land alike in every integer field, requests and responses")
    func bothIntegerEncodings() throws {
        let positives: [Int64] = [0, 1, 5, 127, 128, 200, 255, 256, 300, 32767, 32768, 65535, 65536, 70000, 1 << 31, 1 << 32, 5_000_000_000, .max]
        let negatives: [Int64] = [-1, -32, -33, -128, -129, -300, -32768, -70000, -(1 << 31) - 1, .min]
        var checked = 0
        for (kind, field, signed, expected) in Self.integerFields {
            for v in positives {
                // The old encoding (smallest unsigned), the new (smallest signed), and the widest of each.
                for form in [MP.uint(UInt64(v)), Self.signedForm(v), [0xcf] + MP.be(UInt64(v), 8), MP.int64(v)] {
                    let value = MP.map([(field, form)])
                    #expect(try decode(kind, value) == expected(v), "\(kind).\(field) = \(hexString(form))")
                    #expect(Outcome { try decode(kind, value) } == Outcome { try reference(kind, value) }, "\(kind).\(field) = \(hexString(form))")
                    checked += 1
                }
            }
            for v in negatives {
                for form in [Self.signedForm(v), MP.int64(v)] {
                    let value = MP.map([(field, form)])
                    let outcome = Outcome { try decode(kind, value) }
                    if signed {
                        #expect(outcome == .message(expected(v)), "\(kind).\(field) = \(hexString(form))")
                    } else {
                        #expect(outcome == .failure(.valueOutOfRange(field: "\(kind).\(field)", value: "\(v)")), "\(kind).\(field) = \(hexString(form))")
                    }
                    #expect(outcome == Outcome { try reference(kind, value) }, "\(kind).\(field) = \(hexString(form))")
                    checked += 1
                }
            }
            // Beyond Int64: fits a Go uint64 field only.
            let huge = [0xcf] + MP.be(1 << 63, 8)
            let outcome = Outcome { try decode(kind, MP.map([(field, huge)])) }
            #expect(outcome == Outcome { try reference(kind, MP.map([(field, huge)])) }, "\(kind).\(field) = 2^63")
            if signed { #expect(outcome == .failure(.valueOutOfRange(field: "\(kind).\(field)", value: "\(UInt64(1) << 63)"))) }
        }
        #expect(checked > 1000)
    }

    @Test("strings and bytes as raw (fixstr, da, db), str8, bin8/16/32 and nil, in every string field, requests and responses")
    func rawStringForms() throws {
        let text = "127.0.0.1:7000"
        let long = String(repeating: "node-", count: 10)  // 50 bytes: raw16 (da) in the old encoding
        func forms(_ s: String) -> [[UInt8]] {
            let b = Array(s.utf8)
            return [MP.raw(b), [0xda] + MP.be(UInt64(b.count), 2) + b, [0xdb] + MP.be(UInt64(b.count), 4) + b,
                    MP.str8(b), MP.bin8(b), MP.bin16(b), MP.bin32(b)]
        }
        var checked = 0
        for kind in Kind.all {
            for s in [text, long, ""] {
                for form in forms(s) + (s.isEmpty ? [MP.nil] : []) {
                    let value = MP.map([("ID", form), ("Addr", form), ("ProtocolVersion", [0x03])])
                    let decoded = try decode(kind, value)
                    let header: RPCHeader
                    switch decoded {
                    case .request(.appendEntries(let r)): header = r.header
                    case .request(.requestVote(let r)): header = r.header
                    case .request(.installSnapshot(let r)): header = r.header
                    case .request(.timeoutNow(let r)): header = r.header
                    case .request(.requestPreVote(let r)): header = r.header
                    case .request(.readIndex(let r)): header = r.header
                    case .response(.appendEntries(let r)): header = r.header
                    case .response(.requestVote(let r)): header = r.header
                    case .response(.installSnapshot(let r)): header = r.header
                    case .response(.timeoutNow(let r)): header = r.header
                    case .response(.requestPreVote(let r)): header = r.header
                    case .response(.readIndex(let r)): header = r.header
                    }
                    #expect(header == RPCHeader(protocolVersion: 3, id: ServerID(s), address: ServerAddress(s)), "\(kind) \(hexString(form))")
                    #expect(Outcome { try decode(kind, value) } == Outcome { try reference(kind, value) }, "\(kind) \(hexString(form))")
                    checked += 1
                }
            }
        }
        // The fields that are not in the header.
        for form in forms(long) {
            guard case .request(.requestVote(let vote)) = try decode(Kind(type: .requestVote, isRequest: true), MP.map([("Candidate", form)])),
                  case .request(.installSnapshot(let install)) = try decode(
                    Kind(type: .installSnapshot, isRequest: true), MP.map([("Leader", form), ("Peers", form), ("Configuration", form)])),
                  case .response(.requestVote(let answer)) = try decode(Kind(type: .requestVote, isRequest: false), MP.map([("Peers", form)]))
            else {
                Issue.record("wrong kinds decoded")
                continue
            }
            #expect(vote.candidate == ServerAddress(long) && install.leader == ServerAddress(long))
            #expect(install.peers == Array(long.utf8) && install.configuration == Array(long.utf8) && answer.peers == Array(long.utf8))
            checked += 1
        }
        #expect(checked > 200)
    }

    @Test("bools from true/false, nil, and the integers 0 and 1 in either family; other integers and types refused, in every bool field")
    func boolFields() throws {
        let fields: [(Kind, String)] = [
            (Kind(type: .requestVote, isRequest: true), "LeadershipTransfer"),
            (Kind(type: .appendEntries, isRequest: false), "Success"), (Kind(type: .appendEntries, isRequest: false), "NoRetryBackoff"),
            (Kind(type: .requestVote, isRequest: false), "Granted"), (Kind(type: .requestPreVote, isRequest: false), "Granted"),
            (Kind(type: .installSnapshot, isRequest: false), "Success"),
        ]
        let forms: [[UInt8]] = [MP.true, MP.false, MP.nil, [0x00], [0x01], [0xcc, 0x01], MP.int8(1), MP.int16(0), [0x02], [0xff], MP.int8(-1),
                                MP.raw("true"), [0xca] + MP.be(0, 4), MP.array([])]
        for (kind, field) in fields {
            for form in forms {
                let value = MP.map([(field, form)])
                #expect(Outcome { try decode(kind, value) } == Outcome { try reference(kind, value) }, "\(kind).\(field) = \(hexString(form))")
            }
            #expect(wireError { try decode(kind, MP.map([(field, [0x02])])) } == .valueOutOfRange(field: "\(kind).\(field)", value: "2 as bool"))
            #expect(wireError { try decode(kind, MP.map([(field, MP.int8(-1))])) } == .valueOutOfRange(field: "\(kind).\(field)", value: "-1 as bool"))
        }
    }

    // MARK: Errors

    @Test("a field error waits for the whole value; a structural error after it wins, in requests and responses alike")
    func errorPrecedence() throws {
        // A request: the parser waits on an incomplete value with a bad field, then reports it.
        let badTerm = MP.map([("Term", MP.raw("x")), ("Candidate", MP.raw("padding"))])
        var parser = RequestFrameParser()
        var input = buffer([RPCType.requestVote.rawValue] + badTerm.dropLast(3))
        #expect(try parser.next(from: &input) == nil, "incomplete: the error is not reported yet")
        input.writeBytes(badTerm.suffix(3))
        #expect(throws: WireError.wrongType(field: "RequestVoteRequest.Term", expected: "integer", found: "string")) {
            try parser.next(from: &input)
        }
        #expect(wireError { try WireDecoder().decodeRequest(.requestVote, from: buffer(badTerm.dropLast())) }
            == .malformed("truncated value (\(badTerm.count - 1) bytes)"))

        // A reserved byte after the bad field wins, in a request and in a response.
        let thenReserved = MP.map([("Term", MP.raw("x")), ("Candidate", [0xc1])])
        #expect(wireError { try WireDecoder().decodeRequest(.requestVote, from: buffer(thenReserved)) } == .reservedByte(offset: thenReserved.count - 1))
        let answer = MP.map([("Success", MP.raw("x")), ("Term", [0xc1])])
        #expect(wireError { try WireDecoder().decodeResponse(.appendEntries, from: buffer(answer)) } == .reservedByte(offset: answer.count - 1))
        #expect(wireError { try MsgpackCReference.decodeResponse(.appendEntries, answer) } == .reservedByte(offset: answer.count - 1))
        // The frame decoder sees it first, at its offset in the frame (after the error string).
        var frames = ResponseFrameDecoder()
        var frame = buffer(MP.raw("") + answer)
        #expect(throws: WireError.reservedByte(offset: answer.count)) { try frames.next(from: &frame) }

        // Trailing bytes after a bad field: the length error, as the scan came first.
        #expect(wireError { try WireDecoder().decodeResponse(.requestVote, from: buffer(MP.map([("Granted", MP.raw("x"))]) + [0xc0])) }
            == .malformed("1 bytes after the value"))
        // A bad error string names what it found, whatever the family.
        for (head, found) in [([UInt8](arrayLiteral: 0x05), "positive integer"), ([0xd0, 0x05], "positive integer"), ([0xff], "negative integer"),
                              (MP.map([]), "map"), (MP.true, "bool")] {
            var decoder = ResponseFrameDecoder()
            var input = buffer(head + MP.map([]))
            #expect(throws: WireError.wrongType(field: "response error string", expected: "string", found: found)) { try decoder.next(from: &input) }
        }
    }
}

/// Random values of every RPC but AppendEntries requests, built from ``AppendEntriesGenerator``'s
/// value makers: usually a map of known and unknown fields in any encoding, with a share of
/// wrong types, odd keys, duplicates and deep unknown values.
struct StructGenerator {
    private enum Field { case bytes, integer, bool }

    private let values = AppendEntriesGenerator()

    private static func fields(_ type: RPCType, isRequest: Bool) -> [(String, Field)] {
        let header: [(String, Field)] = [("Addr", .bytes), ("ID", .bytes), ("ProtocolVersion", .integer)]
        switch (type, isRequest) {
        case (.appendEntries, true):
            return header + [("Term", .integer), ("Leader", .bytes), ("PrevLogEntry", .integer), ("PrevLogTerm", .integer),
                             ("LeaderCommitIndex", .integer)]
        case (.requestVote, true):
            return header + [("Term", .integer), ("Candidate", .bytes), ("LastLogIndex", .integer), ("LastLogTerm", .integer),
                             ("LeadershipTransfer", .bool)]
        case (.requestPreVote, true):
            return header + [("Term", .integer), ("LastLogIndex", .integer), ("LastLogTerm", .integer)]
        case (.installSnapshot, true):
            return header + [("SnapshotVersion", .integer), ("Term", .integer), ("Leader", .bytes), ("LastLogIndex", .integer),
                             ("LastLogTerm", .integer), ("Peers", .bytes), ("Configuration", .bytes), ("ConfigurationIndex", .integer),
                             ("Size", .integer)]
        case (.timeoutNow, _):
            return header
        case (.appendEntries, false):
            return header + [("Term", .integer), ("LastLog", .integer), ("Success", .bool), ("NoRetryBackoff", .bool)]
        case (.requestVote, false):
            return header + [("Term", .integer), ("Peers", .bytes), ("Granted", .bool)]
        case (.requestPreVote, false):
            return header + [("Term", .integer), ("Granted", .bool)]
        case (.installSnapshot, false):
            return header + [("Term", .integer), ("Success", .bool)]
        case (.readIndex, true):
            return header + [("Term", .integer)]
        case (.readIndex, false):
            return header + [("Term", .integer), ("ReadIndex", .integer), ("Refusal", .integer)]
        }
    }

    /// A value of the request or response of `type`.
    func value(_ type: RPCType, isRequest: Bool, _ rng: inout SplitMix64) -> [UInt8] {
        if AppendEntriesGenerator.chance(40, &rng) { return MP.nil }
        if AppendEntriesGenerator.chance(60, &rng) { return values.wrong(&rng) }
        let known = Self.fields(type, isRequest: isRequest)
        var pairs: [([UInt8], [UInt8])] = []
        for _ in 0..<AppendEntriesGenerator.below(12, &rng) {
            if AppendEntriesGenerator.chance(6, &rng) {
                pairs.append((values.key("Unknown\(AppendEntriesGenerator.below(3, &rng))", &rng), values.any(&rng, depth: 1)))
                continue
            }
            let (name, field) = known[AppendEntriesGenerator.below(known.count, &rng)]
            let value: [UInt8]
            switch field {
            case .bytes: value = values.bytes(&rng, max: 60)
            case .integer: value = values.integer(&rng)
            case .bool: value = bool(&rng)
            }
            pairs.append((values.key(name, &rng), value))
            if AppendEntriesGenerator.chance(15, &rng) { pairs.append((values.any(&rng, depth: 1), values.any(&rng, depth: 1))) }  // a key of another type
        }
        return values.map(pairs, &rng)
    }

    /// A bool in the forms go-msgpack accepts, and some it does not.
    private func bool(_ rng: inout SplitMix64) -> [UInt8] {
        let forms: [[UInt8]] = [MP.true, MP.false, MP.nil, [0x00], [0x01], [0x02], MP.int8(1), MP.int8(-1), [0xcc, 0x01], [0xcd, 0x01, 0x00]]
        return AppendEntriesGenerator.chance(10, &rng) ? values.wrong(&rng) : forms[AppendEntriesGenerator.below(forms.count, &rng)]
    }
}
