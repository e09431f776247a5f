public import SwiftRaft
import NIOCore

/// A hook for `Benchmarks/wire-decode-bench` into the transport's value decoding, which is
/// internal: it times the decoding of one value, encoded once, many times over, without a
/// connection around it. Not for anything else.
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

    /// Which decoding to time.
    public enum Path: CaseIterable, Sendable {
        /// ``WireDecoder``: one pass over the bytes with ``MessagePackFrameReader``.
        case onePassReader
        /// The msgpack-c object tree (``MsgpackCTreeDecoder``): a boundary scan, then
        /// `msgpack_unpack` into a tree, then a walk of the tree.
        case msgpackCTree
    }

    private let message: Message
    /// The value's bytes as they reach the decoder: for a request without its type byte, for
    /// a response without its error string.
    private let value: ByteBuffer
    private let decoder = WireDecoder()
    private let treeDecoder = MsgpackCTreeDecoder()

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

    /// Decodes the value once through `path`, and returns a number taken from the result, so
    /// the work cannot be optimised away.
    public func decode(_ path: Path) throws -> Int {
        switch message {
        case .appendEntriesRequest:
            guard case .appendEntries(let r) = try request(path, .appendEntries) else { return -1 }
            return r.entries.count &+ r.entries[r.entries.count - 1].data.count
        case .requestVoteRequest:
            guard case .requestVote(let r) = try request(path, .requestVote) else { return -1 }
            return Int(truncatingIfNeeded: r.term) &+ r.candidate.rawValue.utf8.count
        case .appendEntriesResponse:
            let response = try path == .onePassReader
                ? decoder.decodeResponse(.appendEntries, from: value) : treeDecoder.decodeResponse(.appendEntries, from: value)
            guard case .appendEntries(let r) = response else { return -1 }
            return Int(truncatingIfNeeded: r.lastLog)
        }
    }

    /// Whether `path` decodes the value back into the message it was made from.
    public func roundTrips(_ path: Path) throws -> Bool {
        switch message {
        case .appendEntriesRequest(let r): return try request(path, .appendEntries) == .appendEntries(r)
        case .requestVoteRequest(let r): return try request(path, .requestVote) == .requestVote(r)
        case .appendEntriesResponse(let r):
            let response = try path == .onePassReader
                ? decoder.decodeResponse(.appendEntries, from: value) : treeDecoder.decodeResponse(.appendEntries, from: value)
            return response == .appendEntries(r)
        }
    }

    private func request(_ path: Path, _ type: RPCType) throws -> WireRequest {
        switch path {
        case .onePassReader: return try decoder.decodeRequest(type, from: value)
        case .msgpackCTree: return try treeDecoder.decodeRequest(type, from: value)
        }
    }
}
