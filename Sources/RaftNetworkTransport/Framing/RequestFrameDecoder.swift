import NIOCore
import SwiftRaft

/// One piece of what a client sends on a NetworkTransport connection, in order.
enum RequestFramePart: Hashable, Sendable {
    /// A decoded request. After an InstallSnapshot request come its snapshot bytes as
    /// ``snapshotData(_:)`` parts, then ``snapshotEnd``.
    case request(RaftRequest)
    /// Some of the snapshot bytes after an InstallSnapshot request, as they arrived (chunk
    /// boundaries follow the reads, not the data).
    case snapshotData(ByteBuffer)
    /// The InstallSnapshot request's `size` bytes have all been delivered; what follows is the
    /// next request. Sent at once after the request when `size` is 0 or negative.
    case snapshotEnd
}

/// The server side's framing as a state machine over a byte buffer, without NIO's pipeline:
/// type byte, request value, and for InstallSnapshot the snapshot's raw bytes, then again
/// (hashicorp/raft's `handleCommand` loop; a hashicorp client closes the connection after a
/// snapshot, but nothing forbids more requests, so the server keeps reading).
///
/// A request is first decoded in one pass from whatever has arrived (``WireDecoder``), which
/// in the common case, the whole frame in one read, is all the work. Only when that finds the
/// frame incomplete does the resumable scanner take over to find its end as the rest arrives,
/// so a large frame split over many reads is not decoded again on each; the complete frame is
/// then decoded once more.
///
/// Kept apart from ``RequestFrameDecoder`` so tests and other framings can drive it directly.
struct RequestFrameParser {
    private enum State {
        case awaitingType
        /// Reading a request value. `scanning`: a one-pass decode has found the frame
        /// incomplete, and the resumable scanner is finding its end.
        case value(RPCType, scanning: Bool)
        case snapshot(remaining: Int64)
    }

    private var state = State.awaitingType
    private var scanner: MessagePackFrameScanner
    private let decoder: WireDecoder

    /// Creates a parser enforcing `limits` on every request value.
    init(limits: WireLimits = WireLimits()) {
        scanner = MessagePackFrameScanner(valueCount: 1, limits: limits)
        decoder = WireDecoder(limits: limits)
    }

    /// Consumes from `buffer` the next complete part and returns it, or returns nil (consuming
    /// nothing it will need again) when `buffer` does not yet hold one. Call until nil after
    /// each read.
    ///
    /// Throws ``WireError/unknownRPCType(_:)`` for a type byte it does not know, and any scan
    /// or decode error of the value. After an error the stream cannot be resynchronised: close
    /// the connection, as hashicorp/raft does.
    mutating func next(from buffer: inout ByteBuffer) throws(WireError) -> RequestFramePart? {
        switch state {
        case .awaitingType:
            guard let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            guard let type = RPCType(rawValue: byte) else { throw .unknownRPCType(byte) }
            buffer.moveReaderIndex(forwardBy: 1)
            scanner.reset()
            state = .value(type, scanning: false)
            return try next(from: &buffer)

        case .value(let type, scanning: false):
            switch try decodePrefix(type, buffer) {
            case .complete(let result, let length):
                let request = try result.get()
                buffer.moveReaderIndex(forwardBy: length)
                return .request(accept(request))
            case .needMoreData:
                // Nothing of the value yet (its type byte came alone): try again on the next read.
                if buffer.readableBytes == 0 { return nil }
                state = .value(type, scanning: true)
                return try next(from: &buffer)
            }

        case .value(let type, scanning: true):
            // The scanner resumes where the last read left it: a frame split over many reads
            // is scanned once in total.
            let progress: MessagePackFrameScanner.Progress = try scan(buffer)
            guard case .complete(let length) = progress else { return nil }
            let request: RaftRequest = try decode(type, buffer, length: length)
            buffer.moveReaderIndex(forwardBy: length)
            return .request(accept(request))

        case .snapshot(let remaining):
            if remaining == 0 {
                state = .awaitingType
                return .snapshotEnd
            }
            guard buffer.readableBytes > 0 else { return nil }
            let count = Int(min(remaining, Int64(buffer.readableBytes)))
            guard let chunk = buffer.readSlice(length: count) else { return nil }
            state = .snapshot(remaining: remaining - Int64(count))
            return .snapshotData(chunk)
        }
    }

    /// Where the stream stands, for an error when it ends: nil between frames, otherwise a
    /// phrase naming the unfinished frame.
    func unfinished(buffered: Int) -> String? {
        switch state {
        case .awaitingType:
            return buffered == 0 ? nil : "after \(buffered) unexpected bytes"
        case .value(let type, _):
            return "inside a \(type) request (\(buffered) bytes of it received)"
        case .snapshot(let remaining):
            return "inside InstallSnapshot data, \(remaining) bytes short"
        }
    }

    /// Moves to what follows `request`: its snapshot data, or the next request.
    private mutating func accept(_ request: RaftRequest) -> RaftRequest {
        if case .installSnapshot(let snapshot) = request {
            // A negative Size reads nothing in Go (io.LimitReader), so it ends at once here too.
            state = .snapshot(remaining: max(snapshot.size, 0))
        } else {
            state = .awaitingType
        }
        return request
    }

    private mutating func scan(_ buffer: ByteBuffer) throws(WireError) -> MessagePackFrameScanner.Progress {
        // Mutates self.scanner in place: a local copy would share, then copy, its stack.
        let result: Result<MessagePackFrameScanner.Progress, WireError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(WireError) { return .success(try self.scanner.scan(bytes)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func decodePrefix(_ type: RPCType, _ buffer: ByteBuffer) throws(WireError) -> PrefixDecodeResult<RaftRequest> {
        let decoder = self.decoder
        let result: Result<PrefixDecodeResult<RaftRequest>, WireError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(WireError) { return .success(try decoder.decodeRequest(type, prefixOf: bytes)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private func decode(_ type: RPCType, _ buffer: ByteBuffer, length: Int) throws(WireError) -> RaftRequest {
        let decoder = self.decoder
        let result: Result<RaftRequest, WireError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(WireError) {
                return .success(try decoder.decodeRequest(type, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<length])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// The server side of a NetworkTransport connection as a NIO decoder: emits a
/// ``RequestFramePart`` for each request and each run of snapshot bytes.
///
/// A frame split across reads at any byte decodes the same. Snapshot bytes are passed on as
/// they arrive, never accumulated, so a snapshot of any size streams through in constant
/// memory (back-pressure is the consumer's business: stop reading the channel). An unknown
/// type byte, a malformed value or a frame beyond ``WireLimits/maxFrameSize`` is thrown as a
/// ``WireError``; the handler behind should close the channel.
///
/// A connection that ends in the middle of a frame, or of a snapshot's data, ends with
/// ``WireError/closedMidFrame(_:)`` (so a snapshot consumer knows its data is short).
struct RequestFrameDecoder: ByteToMessageDecoder {
    /// What this decoder emits.
    typealias InboundOut = RequestFramePart

    private var parser: RequestFrameParser

    /// Creates a decoder enforcing `limits` on every request value.
    init(limits: WireLimits = WireLimits()) {
        parser = RequestFrameParser(limits: limits)
    }

    /// Emits every part `buffer` completes. Loops itself rather than returning `.continue`,
    /// because NIO does not call back with an empty buffer, and the end of a snapshot needs no
    /// further bytes to be reported.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let part = try parser.next(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(part))
        }
        return .needMoreData
    }

    /// Emits what the last bytes complete, then throws ``WireError/closedMidFrame(_:)`` if the
    /// stream stopped inside a frame or snapshot. NIO's handler reports no leftovers itself.
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        _ = try decode(context: context, buffer: &buffer)
        if let unfinished = parser.unfinished(buffered: buffer.readableBytes) {
            buffer.moveReaderIndex(to: buffer.writerIndex)  // reported, not to be passed on
            throw WireError.closedMidFrame(unfinished)
        }
        return .needMoreData
    }
}
