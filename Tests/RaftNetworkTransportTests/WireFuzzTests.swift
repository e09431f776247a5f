import NIOCore
import NIOEmbedded
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// Random and mutated frames against the decoders: nothing crashes or hangs, every failure is
/// a WireError, and whatever decodes survives a re-encode unchanged.
///
/// `RAFT_FUZZ_FRAMES` sets the number of request frames (default 100 000, a few seconds in a
/// debug build), `RAFT_FUZZ_SEED` the seed (default fixed, so failures replay).
@Suite("Wire format: fuzzing the frame decoders", .offCooperativePool)
struct WireFuzzTests {
    private struct Stats: CustomStringConvertible {
        var frames = 0
        var decoded = 0
        var wireErrors: [String: Int] = [:]
        var otherErrors: [String] = []
        var incomplete = 0

        mutating func record(_ error: any Error) {
            if let wire = error as? WireError {
                let kind: String
                switch wire {
                case .unknownRPCType: kind = "unknownRPCType"
                case .frameTooLarge: kind = "frameTooLarge"
                case .nestingTooDeep: kind = "nestingTooDeep"
                case .reservedByte: kind = "reservedByte"
                case .malformed: kind = "malformed"
                case .wrongType: kind = "wrongType"
                case .valueOutOfRange: kind = "valueOutOfRange"
                case .closedMidFrame: kind = "closedMidFrame"
                }
                wireErrors[kind, default: 0] += 1
            } else if otherErrors.count < 20 {
                otherErrors.append("\(error)")
            }
        }

        var description: String {
            let kinds = wireErrors.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            return "\(frames) frames: \(decoded) decoded, \(incomplete) incomplete, errors: \(kinds)"
        }
    }

    @Test("mutated and random request frames: no crash, no hang, only WireErrors")
    func fuzzRequestFrames() throws {
        let frames = Int(environmentNumber("RAFT_FUZZ_FRAMES") ?? 100_000)
        let seed = environmentNumber("RAFT_FUZZ_SEED") ?? 0x5EED_F00D
        var rng = SplitMix64(seed: seed)
        var mutator = Mutator(seeds: try Golden.allRequestNames.map { try Fixtures.hex("golden", $0) })
        var stats = Stats()
        let encoder = WireEncoder()

        for i in 0..<frames {
            let frame = mutator.mutatedFrame(&rng)
            stats.frames += 1
            if i % 50 == 0 {
                // Through a real pipeline, in random chunks, on a fresh channel each time (one
                // that has failed is closed by the transport, never reused).
                let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
                do {
                    for chunk in Mutator.split(frame, &rng) { try channel.writeInbound(buffer(chunk)) }
                    while let part = try channel.readInbound(as: RequestFramePart.self) {
                        if case .request = part { stats.decoded += 1 }
                    }
                } catch {
                    stats.record(error)
                }
                // Closing inside a frame is reported too (closedMidFrame), by design.
                do { _ = try channel.finish() } catch { stats.record(error) }
                continue
            }
            var parser = RequestFrameParser()
            var input = ByteBufferAllocator().buffer(capacity: frame.count)
            do {
                var requests: [RaftRequest] = []
                for chunk in Mutator.split(frame, &rng) {
                    input.writeBytes(chunk)
                    while let part = try parser.next(from: &input) {
                        if case .request(let request) = part { requests.append(request) }
                    }
                }
                if requests.isEmpty { stats.incomplete += 1 }
                for request in requests {
                    stats.decoded += 1
                    // Whatever decodes must re-encode to the same value.
                    var out = ByteBufferAllocator().buffer(capacity: 256)
                    encoder.encodeRequest(request, into: &out)
                    let again = try decodeRequestFrame(Array(out.readableBytesView))
                    if again != request { Issue.record("re-encode changed \(request) into \(again)") }
                }
            } catch {
                stats.record(error)
            }
        }
        print("request fuzz (seed \(seed)): \(stats)")
        #expect(stats.otherErrors.isEmpty, "\(stats.otherErrors)")
        #expect(stats.decoded > frames / 100, "the mutations should leave some frames decodable")
        #expect(stats.wireErrors.count >= 5, "the mutations should reach many error paths")
    }

    @Test("mutated and random response frames: no crash, only WireErrors")
    func fuzzResponseFrames() throws {
        let frames = Int(environmentNumber("RAFT_FUZZ_FRAMES") ?? 100_000) / 5
        let seed = (environmentNumber("RAFT_FUZZ_SEED") ?? 0x5EED_F00D) &+ 1
        var rng = SplitMix64(seed: seed)
        let names = (Golden.responses + Golden.legacyResponses).map(\.name)
        var mutator = Mutator(seeds: try names.map { try Fixtures.hex("golden", $0) }, requests: false)
        let decoder = WireDecoder()
        var stats = Stats()
        for _ in 0..<frames {
            let frame = mutator.mutatedFrame(&rng)
            stats.frames += 1
            var responses = ResponseFrameDecoder()
            var input = ByteBufferAllocator().buffer(capacity: frame.count)
            do {
                var decodedAny = false
                for chunk in Mutator.split(frame, &rng) {
                    input.writeBytes(chunk)
                    while let response = try responses.next(from: &input) {
                        decodedAny = true
                        let type = RPCType.allCases[Int(rng.next() % 5)]
                        do {
                            _ = try decoder.decodeResponse(type, from: response.body)
                            stats.decoded += 1
                        } catch {
                            stats.record(error)
                        }
                    }
                }
                if !decodedAny { stats.incomplete += 1 }
            } catch {
                stats.record(error)
            }
        }
        print("response fuzz (seed \(seed)): \(stats)")
        #expect(stats.otherErrors.isEmpty, "\(stats.otherErrors)")
        #expect(stats.decoded > frames / 100)
    }
}

/// Makes hostile variants of valid frames.
struct Mutator {
    private let seeds: [[UInt8]]
    /// Indices of seeds small enough to use often; the 70 KB frames are used rarely, to keep
    /// the run short.
    private let small: [Int]
    private let requests: Bool

    /// Mutates `seeds`; `requests` says whether the first byte is a type byte.
    init(seeds: [[UInt8]], requests: Bool = true) {
        self.seeds = seeds
        self.small = seeds.indices.filter { seeds[$0].count < 4096 }
        self.requests = requests
    }

    private func pick(_ rng: inout SplitMix64) -> [UInt8] {
        if rng.next() % 500 == 0 { return seeds[Int(rng.next() % UInt64(seeds.count))] }
        return seeds[small[Int(rng.next() % UInt64(small.count))]]
    }

    private static func below(_ n: Int, _ rng: inout SplitMix64) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }

    /// Heads that change a value's type or declare large sizes.
    private static let heads: [[UInt8]] = [
        [0xc0], [0xc2], [0xc3], [0xca, 0, 0, 0, 0], [0xcb, 0, 0, 0, 0, 0, 0, 0, 0], [0xcc, 0xff], [0xd0, 0x80], [0xd3],
        [0xa5], [0x91], [0x81], [0x9f], [0x8f], [0xd9, 0x10], [0xc4, 0x04], [0xc7, 0x01, 0xff], [0xd4, 0xff], [0xd7, 0xff],
        [0xdb, 0xff, 0xff, 0xff, 0xff], [0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff],
        [0xc6, 0x7f, 0xff, 0xff, 0xff], [0xc9, 0xff, 0xff, 0xff, 0xff], [0xda, 0xff, 0xff], [0xdc, 0xff, 0xff], [0xc1],
        [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xff], [0x7f],
    ]

    /// A random seed with one to four random mutations, or now and then pure garbage.
    mutating func mutatedFrame(_ rng: inout SplitMix64) -> [UInt8] {
        // Now and then, pure garbage.
        if rng.next() % 20 == 0 {
            let count = Self.below(300, &rng)
            var garbage = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if requests, !garbage.isEmpty { garbage[0] = UInt8(rng.next() % 6) }
            return garbage
        }
        var frame = pick(&rng)
        for _ in 0...Self.below(3, &rng) {
            // Mostly leave a request's type byte alone (case 8 mutates it), or most frames
            // would die at the first byte and never reach the value decoder.
            let first = requests && frame.count > 1 && rng.next() % 16 != 0 ? 1 : 0
            let at = first + Self.below(frame.count - first, &rng)
            switch rng.next() % 10 {
            case 0:  // truncate
                frame = Array(frame.prefix(at))
            case 1:  // flip bits
                for _ in 0...Self.below(8, &rng) where !frame.isEmpty {
                    frame[Self.below(frame.count, &rng)] ^= 1 << UInt8(rng.next() % 8)
                }
            case 2:  // insert random bytes
                let extra = (0...Self.below(16, &rng)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                frame.insert(contentsOf: extra, at: at)
            case 3:  // delete a range
                frame.removeSubrange(at..<min(frame.count, at + 1 + Self.below(16, &rng)))
            case 4, 5:  // a header of another type or a huge size, over or into the bytes
                let head = Self.heads[Self.below(Self.heads.count, &rng)]
                if rng.next() % 2 == 0, at + head.count <= frame.count {
                    frame.replaceSubrange(at..<(at + head.count), with: head)
                } else {
                    frame.insert(contentsOf: head, at: at)
                }
            case 6:  // deep nesting
                let levels = rng.next() % 2 == 0 ? 1 + Self.below(14, &rng) : 10 + Self.below(200, &rng)
                frame.insert(contentsOf: [UInt8](repeating: rng.next() % 2 == 0 ? 0x91 : 0x81, count: levels), at: at)
            case 7:  // splice with another frame
                let other = pick(&rng)
                frame = Array(frame.prefix(at)) + other.suffix(Self.below(other.count + 1, &rng))
            case 8:  // the type byte
                if requests, !frame.isEmpty { frame[0] = UInt8(truncatingIfNeeded: rng.next() % 8 == 0 ? rng.next() : rng.next() % 6) }
            default:  // duplicate a range
                let end = min(frame.count, at + 1 + Self.below(32, &rng))
                frame.insert(contentsOf: frame[at..<end], at: at)
            }
        }
        return frame
    }

    /// Splits a frame into 1 to 4 chunks at random points, as reads would.
    static func split(_ frame: [UInt8], _ rng: inout SplitMix64) -> [ArraySlice<UInt8>] {
        var cuts = (0..<below(4, &rng)).map { _ in below(frame.count + 1, &rng) }.sorted()
        cuts.append(frame.count)
        var chunks: [ArraySlice<UInt8>] = []
        var start = 0
        for cut in cuts where cut >= start {
            chunks.append(frame[start..<cut])
            start = cut
        }
        return chunks
    }
}
