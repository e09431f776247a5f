public import SwiftRaft
import NIOCore

/// Entry points into the transport's decoding of peer bytes, for the coverage-guided fuzzers in
/// `Fuzz/` and for the tests that replay their corpus (`Docs/fuzzing.md`). Not for anything else.
///
/// Each function feeds bytes through exactly the code a connection runs on what a peer sends
/// (the framing state machines, the one-pass decoders, the resumable scanner), split into reads
/// as the caller says, and reports what came out. Malformed bytes must end in a
/// ``DecodingError`` (the transport's internal `WireError`, which closes the connection);
/// anything else (a trap, a hang, unbounded memory) is a bug.
@_spi(Fuzzing)
public enum WireFuzzing {
    /// What a stream of bytes decoded to, in a form that does not depend on how the stream was
    /// split into reads: equal for every split of the same bytes.
    public struct Outcome: Hashable, Sendable {
        /// The requests (for the server side's stream) or responses (for the client side's)
        /// decoded, in order.
        public var messages: [Message] = []
        /// The error that ended the stream, or nil if every byte was consumed at a frame boundary.
        public var error: DecodingError?
    }

    /// Why bytes could not be decoded: the error the transport would close the connection with.
    public struct DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The transport's own error.
        let underlying: WireError

        /// The transport's explanation, naming the field at fault.
        public var description: String { underlying.description }
    }

    /// One thing a stream delivered.
    public enum Message: Hashable, Sendable {
        /// A request the server side decoded.
        case request(RaftRequest)
        /// All of the snapshot data after an InstallSnapshot request, joined.
        case snapshotData([UInt8])
        /// A response frame the client side decoded: its error text, and its value decoded as
        /// the answer to each RPC in ``RPCType/allCases`` order (the client knows the type from
        /// its queue; a fuzzer tries every one).
        case response(error: String, decoded: [Result<RaftResponse, DecodingError>])
    }

    /// Runs `bytes` through the server side's framing (``RequestFrameParser``, as
    /// ``RequestFrameDecoder`` drives it) as if they arrived in reads of `readSize` bytes (0: all
    /// at once), then ends the stream as a closing connection does.
    public static func readRequests(_ bytes: UnsafeRawBufferPointer, readSize: Int) -> Outcome {
        var parser = RequestFrameParser(limits: limits)
        var outcome = Outcome()
        var snapshot: [UInt8]?
        // Never compacted (NIO compacts now and then): once per read would make byte-by-byte
        // reads quadratic.
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        do throws(WireError) {
            for read in reads(of: bytes, size: readSize) {
                buffer.writeBytes(read)
                while let part = try parser.next(from: &buffer) {
                    switch part {
                    case .request(let request):
                        outcome.messages.append(.request(request))
                        if case .installSnapshot = request { snapshot = [] }
                    case .snapshotData(let chunk):
                        snapshot?.append(contentsOf: chunk.readableBytesView)
                    case .snapshotEnd:
                        outcome.messages.append(.snapshotData(snapshot ?? []))
                        snapshot = nil
                    }
                }
            }
            if let unfinished = parser.unfinished(buffered: buffer.readableBytes) {
                throw .closedMidFrame(unfinished)
            }
        } catch {
            outcome.error = DecodingError(underlying: error)
        }
        return outcome
    }

    /// Runs `bytes` through the client side's framing (``ResponseFrameDecoder``) as if they
    /// arrived in reads of `readSize` bytes (0: all at once), decoding each response's value as
    /// every RPC's answer, then ends the stream as a closing connection does.
    public static func readResponses(_ bytes: UnsafeRawBufferPointer, readSize: Int) -> Outcome {
        var decoder = ResponseFrameDecoder(limits: limits)
        let values = WireDecoder(limits: limits)
        var outcome = Outcome()
        // Never compacted (NIO compacts now and then): once per read would make byte-by-byte
        // reads quadratic.
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        do throws(WireError) {
            for read in reads(of: bytes, size: readSize) {
                buffer.writeBytes(read)
                while let frame = try decoder.next(from: &buffer) {
                    let decoded = RPCType.allCases.map { type in
                        Result { () throws(WireError) in try values.decodeResponse(type, from: frame.body) }
                            .mapError(DecodingError.init)
                    }
                    outcome.messages.append(.response(error: frame.error, decoded: decoded))
                }
            }
            if buffer.readableBytes > 0 {
                throw .closedMidFrame("inside a response (\(buffer.readableBytes) bytes of it received)")
            }
        } catch {
            outcome.error = DecodingError(underlying: error)
        }
        return outcome
    }

    /// Decodes `bytes` as one AppendEntries request value (no type byte), whole, as
    /// ``WireDecoder`` does once a frame is complete, with `decoder`'s scratch space kept from
    /// earlier calls as a connection keeps it.
    public static func decodeAppendEntries(_ bytes: UnsafeRawBufferPointer, with decoder: ValueDecoder) throws(DecodingError) -> AppendEntriesRequest {
        let request: RaftRequest
        do {
            request = try decoder.wire.decodeRequest(.appendEntries, bytes: bytes)
        } catch {
            throw DecodingError(underlying: error)
        }
        guard case .appendEntries(let appendEntries) = request else {
            preconditionFailure("an AppendEntries value decoded as another request")
        }
        return appendEntries
    }

    /// The bytes the transport sends for `request`'s value (after the type byte), to check
    /// that what was decoded encodes to bytes that decode the same.
    public static func encodedValue(of request: AppendEntriesRequest) -> [UInt8] {
        var frame = ByteBufferAllocator().buffer(capacity: 256)
        WireEncoder().encodeRequest(.appendEntries(request), into: &frame)
        frame.moveReaderIndex(forwardBy: 1)
        return Array(frame.readableBytesView)
    }

    /// A value decoder that keeps its scratch space between calls, as one connection's does.
    public final class ValueDecoder {
        fileprivate let wire = WireDecoder(limits: WireFuzzing.limits)

        /// Creates a decoder with the fuzzing limits.
        public init() {}
    }

    /// The limits the fuzzers run with: a transport's defaults, so the code fuzzed is the code a
    /// peer reaches.
    static let limits = WireLimits()

    /// `bytes` cut into reads of `size` bytes, the last one shorter; all of it at once for 0.
    private static func reads(of bytes: UnsafeRawBufferPointer, size: Int) -> [UnsafeRawBufferPointer] {
        guard size > 0, bytes.count > size else { return [bytes] }
        return stride(from: 0, to: bytes.count, by: size).map { start in
            UnsafeRawBufferPointer(rebasing: bytes[start..<Swift.min(start + size, bytes.count)])
        }
    }
}
