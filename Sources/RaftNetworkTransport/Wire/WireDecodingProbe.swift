public import SwiftRaft
import NIOCore

/// A hook for `Benchmarks/wire-decode-bench` into the transport's value decoding
/// (``WireDecoder``), which is internal, so the decoding of one value, encoded once, can be
/// timed many times over without a connection around it. Not for anything else.
@_spi(WireDecodingBenchmark)
public final class WireDecodingProbe {
    /// The value a probe decodes: the requests and responses whose cost matters most.
    public enum Message {
        /// An AppendEntries request, as a leader sends one per batch.
        case appendEntriesRequest(AppendEntriesRequest)
        /// A RequestVote request, the typical small request.
        case requestVoteRequest(RequestVoteRequest)
        /// An AppendEntries response, the response a leader reads most.
        case appendEntriesResponse(AppendEntriesResponse)
    }

    private let message: Message
    /// The value's bytes as they reach the decoder: for a request without its type byte, for
    /// a response without its error string.
    private let value: ByteBuffer
    private let decoder = WireDecoder()

    /// Encodes `message` as the transport sends it.
    public init(_ message: Message) {
        self.message = message
        var frame = ByteBufferAllocator().buffer(capacity: 256)
        switch message {
        case .appendEntriesRequest(let r):
            WireEncoder().encodeRequest(.appendEntries(r), into: &frame)
            frame.moveReaderIndex(forwardBy: 1)
        case .requestVoteRequest(let r):
            WireEncoder().encodeRequest(.requestVote(r), into: &frame)
            frame.moveReaderIndex(forwardBy: 1)
        case .appendEntriesResponse(let r):
            WireEncoder().encodeResponse(.appendEntries(r), into: &frame)
            // The error string is empty (a0, one byte) when the RPC succeeded.
            frame.moveReaderIndex(forwardBy: 1)
        }
        value = frame
    }

    /// The size of the value decoded, in bytes.
    public var valueSize: Int { value.readableBytes }

    /// Decodes the value once, as the transport does, and returns a number taken from the
    /// result, so the work cannot be optimised away.
    public func decode() throws -> Int {
        switch message {
        case .appendEntriesRequest:
            guard case .appendEntries(let r) = try decoder.decodeRequest(.appendEntries, from: value) else { return -1 }
            return r.entries.count &+ (r.entries.last?.data.count ?? 0)
        case .requestVoteRequest:
            guard case .requestVote(let r) = try decoder.decodeRequest(.requestVote, from: value) else { return -1 }
            return Int(truncatingIfNeeded: r.term) &+ r.candidate.rawValue.utf8.count
        case .appendEntriesResponse:
            guard case .appendEntries(let r) = try decoder.decodeResponse(.appendEntries, from: value) else { return -1 }
            return Int(truncatingIfNeeded: r.lastLog)
        }
    }

    /// Whether decoding gives back the message the value was made from.
    public func roundTrips() throws -> Bool {
        switch message {
        case .appendEntriesRequest(let r): return try decoder.decodeRequest(.appendEntries, from: value) == .appendEntries(r)
        case .requestVoteRequest(let r): return try decoder.decodeRequest(.requestVote, from: value) == .requestVote(r)
        case .appendEntriesResponse(let r): return try decoder.decodeResponse(.appendEntries, from: value) == .appendEntries(r)
        }
    }
}
