@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// The scanner finds frame ends incrementally and stops hostile input at the header that
/// declares too much, however little has arrived.
@Suite("Wire format: msgpack boundary scanner", .offCooperativePool)
struct MessagePackFrameScannerTests {
    private func scan(_ bytes: [UInt8], values: Int = 1, limits: WireLimits = WireLimits()) throws -> MessagePackFrameScanner.Progress {
        var scanner = MessagePackFrameScanner(valueCount: values, limits: limits)
        return try bytes.withUnsafeBytes { raw throws(WireError) in try scanner.scan(raw) }
    }

    /// Every golden frame's value, without the request type byte, and the number of values in it.
    private func goldenValues() throws -> [(name: String, bytes: [UInt8], values: Int)] {
        try Fixtures.names(in: "golden").map { name in
            let bytes = try Fixtures.hex("golden", name)
            return name.contains("req-") ? (name, Array(bytes.dropFirst()), 1) : (name, bytes, 2)
        }
    }

    @Test("finds the exact end of every golden frame, with trailing bytes present or not")
    func goldenLengths() throws {
        for (name, bytes, values) in try goldenValues() {
            #expect(try scan(bytes, values: values) == .complete(length: bytes.count), "\(name)")
            #expect(try scan(bytes + [0x01, 0x02], values: values) == .complete(length: bytes.count), "\(name)")
            #expect(try scan(Array(bytes.dropLast()), values: values) == .needMoreData, "\(name)")
        }
    }

    @Test("resumes across any split: every prefix, then the whole, gives the same length")
    func resumesAtEverySplit() throws {
        for (name, bytes, values) in try goldenValues() where bytes.count < 2000 {
            for split in 0..<bytes.count {
                var scanner = MessagePackFrameScanner(valueCount: values, limits: WireLimits())
                let first = try Array(bytes[0..<split]).withUnsafeBytes { raw throws(WireError) in try scanner.scan(raw) }
                #expect(first == .needMoreData, "\(name) split \(split)")
                let second = try bytes.withUnsafeBytes { raw throws(WireError) in try scanner.scan(raw) }
                #expect(second == .complete(length: bytes.count), "\(name) split \(split)")
            }
        }
    }

    @Test("byte by byte, needMoreData until the last byte, including a 70000-byte string")
    func byteByByte() throws {
        for (name, bytes, values) in try goldenValues() {
            var scanner = MessagePackFrameScanner(valueCount: values, limits: WireLimits())
            for end in 1...bytes.count {
                let progress = try bytes.withUnsafeBytes { raw throws(WireError) in
                    try scanner.scan(UnsafeRawBufferPointer(rebasing: raw[0..<end]))
                }
                let expected: MessagePackFrameScanner.Progress = end == bytes.count ? .complete(length: bytes.count) : .needMoreData
                if progress != expected {
                    Issue.record("\(name) at \(end): \(progress)")
                    break
                }
            }
        }
    }

    @Test("declared lengths beyond the limit fail at once, from the header alone", arguments: [
        [0xdb, 0xff, 0xff, 0xff, 0xff],  // raw/str32 of 4 GiB
        [0xc6, 0xff, 0xff, 0xff, 0xff],  // bin32
        [0xc9, 0xff, 0xff, 0xff, 0xff],  // ext32 (type byte not even sent)
        [0xdd, 0xff, 0xff, 0xff, 0xff],  // array32 of 4 G elements
        [0xdf, 0x80, 0x00, 0x00, 0x00],  // map32 of 2 G entries
        [0x81, 0xa1, 0x41, 0xdd, 0x10, 0x00, 0x00, 0x00],  // nested, 256 M elements
    ] as [[UInt8]])
    func hugeDeclaredLengths(_ bytes: [UInt8]) {
        #expect(throws: WireError.frameTooLarge(limit: 64 << 20)) { try scan(bytes) }
        // The decoder refuses the header too, before anything is sized by the declared count.
        #expect(throws: WireError.frameTooLarge(limit: 64 << 20)) { try WireDecoder().decodeRequest(.timeoutNow, from: buffer(bytes)) }
    }

    @Test("the limit counts the whole frame: strings, element counts, and both values of a response")
    func limitBoundaries() throws {
        let limits = WireLimits(maxFrameSize: 100)
        let exactly = MP.raw([UInt8](repeating: 7, count: 97))  // da 0061 + 97 = 100 bytes
        #expect(try scan(exactly, limits: limits) == .complete(length: 100))
        #expect(throws: WireError.frameTooLarge(limit: 100)) { try scan(MP.raw([UInt8](repeating: 7, count: 98)), limits: limits) }
        #expect(throws: WireError.frameTooLarge(limit: 100)) { try scan([0xdc, 0x00, 0x62], limits: limits) }  // 98 elements after 3 bytes
        #expect(try scan([0xdc, 0x00, 0x61], limits: limits) == .needMoreData)  // 97 could fit
        #expect(throws: WireError.frameTooLarge(limit: 100)) { try scan([0xde, 0x00, 0x31], limits: limits) }  // 49 entries = 98 values
        // A response's second value counts after the first.
        #expect(throws: WireError.frameTooLarge(limit: 100)) {
            try scan(MP.raw([UInt8](repeating: 7, count: 60)) + MP.raw([UInt8](repeating: 7, count: 40)), values: 2, limits: limits)
        }
        // Many small values add up too.
        #expect(throws: WireError.frameTooLarge(limit: 100)) {
            try scan([0xdc, 0x00, 0x60] + [UInt8](repeating: 0xcc, count: 120), limits: limits)
        }
    }

    @Test("nesting up to the limit passes (and msgpack-c decodes it), one deeper fails")
    func depthLimit() throws {
        for depth in [1, 16, 32] {
            let limits = WireLimits(maxDepth: depth)
            // A map holding depth-1 nested one-element arrays: depth containers in all.
            let nested = [0x81, 0xa1, 0x58] + [UInt8](repeating: 0x91, count: depth - 1) + [0x00]
            #expect(try scan(nested, limits: limits) == .complete(length: nested.count))
            let decoded = try WireDecoder(limits: limits).decodeRequest(.timeoutNow, from: buffer(nested))
            #expect(decoded == .timeoutNow(TimeoutNowRequest(header: RPCHeader(protocolVersion: 0))))
            #expect(try MsgpackCReference.decodeRequest(.timeoutNow, nested, limits: limits) == decoded)
            let deeper = [0x81, 0xa1, 0x58] + [UInt8](repeating: 0x91, count: depth) + [0x00]
            #expect(throws: WireError.nestingTooDeep(limit: depth)) { try scan(deeper, limits: limits) }
        }
        // Empty containers count as open ones too, and 100 000 levels cost nothing to refuse.
        #expect(throws: WireError.nestingTooDeep(limit: 2)) { try scan([0x91, 0x91, 0x90], limits: WireLimits(maxDepth: 2)) }
        #expect(throws: WireError.nestingTooDeep(limit: 16)) { try scan([UInt8](repeating: 0x91, count: 100_000)) }
    }

    @Test("limits are clamped to what the scanner and msgpack-c can guarantee")
    func limitClamping() {
        #expect(WireLimits(maxDepth: 1000).maxDepth == 32)
        #expect(WireLimits(maxDepth: 0).maxDepth == 1)
        #expect(WireLimits(maxFrameSize: -5).maxFrameSize == 1)
        #expect(WireLimits(maxFrameSize: .max).maxFrameSize == 1 << 32)
    }

    @Test("reserved byte c1 fails with its offset")
    func reservedByte() {
        #expect(throws: WireError.reservedByte(offset: 0)) { try scan([0xc1]) }
        #expect(throws: WireError.reservedByte(offset: 2)) { try scan([0x92, 0x01, 0xc1]) }
    }

    @Test("every other first byte has a length the scanner agrees with msgpack-c on")
    func everyHeadByte() throws {
        // Each head followed by enough zero bytes for its longest header and a zero length.
        for head in 0...255 where head != 0xc1 {
            let bytes = [UInt8(head)] + [UInt8](repeating: 0, count: 40)
            guard case .complete(let length) = try scan(bytes) else {
                Issue.record("head \(head) incomplete")
                continue
            }
            // msgpack-c must consume exactly as much of the same bytes (maps/arrays of zero
            // length or zero-filled values).
            let unpacked = MsgpackCReference.unpackedLength(bytes)
            if unpacked != length {
                Issue.record("head \(String(head, radix: 16)): msgpack-c takes \(String(describing: unpacked)) bytes, the scanner \(length)")
            }
            // And the decoder reads exactly that value (a field error is fine, a length one not).
            let decoded = Result { try WireDecoder().decodeResponse(.timeoutNow, from: buffer(Array(bytes[0..<length]))) }
            if case .failure(let error) = decoded, case .malformed = error as? WireError {
                Issue.record("head \(String(head, radix: 16)): the decoder disagrees: \(error)")
            }
        }
    }

    @Test("built on the frame reader, it stops where the old arithmetic scanner stopped, with the same error, however the bytes arrive")
    func sameVerdictsAsTheOldScanner() throws {
        let count = Int(environmentNumber("RAFT_FUZZ_FRAMES") ?? 100_000) / 5
        let seed = (environmentNumber("RAFT_FUZZ_SEED") ?? 0x5EED_F00D) &+ 13
        var rng = SplitMix64(seed: seed)
        let golden = try goldenValues()
        var requests = Mutator(seeds: golden.filter { $0.values == 1 }.map(\.bytes), requests: false)
        var responses = Mutator(seeds: golden.filter { $0.values == 2 }.map(\.bytes), requests: false)
        var verdicts: [String: Int] = [:]
        var mismatches = 0
        for _ in 0..<count {
            let values = rng.next() % 2 == 0 ? 1 : 2
            let frame = values == 1 ? requests.mutatedFrame(&rng) : responses.mutatedFrame(&rng)
            let limits = rng.next() % 4 == 0 ? WireLimits(maxFrameSize: 1 + Int(rng.next() % 400), maxDepth: 1 + Int(rng.next() % 6)) : WireLimits()
            var scanner = MessagePackFrameScanner(valueCount: values, limits: limits)
            var reference = ReferenceMessagePackScanner(valueCount: values, limits: limits)
            var end = 0
            for chunk in Mutator.split(frame, &rng) {
                end += chunk.count
                let got = frame.withUnsafeBytes { raw in Result { () throws(WireError) in try scanner.scan(UnsafeRawBufferPointer(rebasing: raw[0..<end])) } }
                let expected = frame.withUnsafeBytes { raw in Result { () throws(WireError) in try reference.scan(UnsafeRawBufferPointer(rebasing: raw[0..<end])) } }
                let same: Bool
                switch (got, expected) {
                case (.success(.needMoreData), .success(.needMoreData)): same = true
                case (.success(.complete(let a)), .success(.complete(let b))): same = a == b
                case (.failure(let a), .failure(let b)): same = a == b
                default: same = false
                }
                if !same {
                    mismatches += 1
                    if mismatches <= 10 { Issue.record("\(hexString(frame)) at \(end) of \(values) values with \(limits): \(got), expected \(expected)") }
                    break
                }
                if case .success(.needMoreData) = got { continue }
                switch got {
                case .success: verdicts["complete", default: 0] += 1
                case .failure(let error): verdicts[String("\(error)".prefix(while: { $0 != " " })), default: 0] += 1
                }
                break
            }
        }
        print("scanner differential (seed \(seed), \(count) frames): \(verdicts.sorted { $0.key < $1.key })")
        #expect(mismatches == 0)
        #expect(verdicts["complete", default: 0] > count / 10)
        #expect(verdicts.count >= 4, "\(verdicts)")
    }
}
