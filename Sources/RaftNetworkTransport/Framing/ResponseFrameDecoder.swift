import NIOCore

/// A response as read from the wire, before its value is decoded: the response value does not
/// say which RPC it answers, and only the client, from its queue of outstanding requests,
/// knows (pass the type to ``WireDecoder/decodeResponse(_:from:)``).
struct ResponseFrame: Hashable, Sendable {
    /// The error text; empty when the RPC succeeded. A non-empty error makes the RPC fail with
    /// this text (hashicorp/raft's `errors.New(text)`) whatever the body holds, and leaves the
    /// connection usable.
    var error: String
    /// The response value's bytes, exactly one msgpack value: nil (`c0`) when the server sent
    /// an error without a response.
    var body: ByteBuffer

    /// Creates a frame.
    init(error: String, body: ByteBuffer) {
        self.error = error
        self.body = body
    }
}

/// The client side of a NetworkTransport connection as a NIO decoder: emits a
/// ``ResponseFrame`` for each error string plus response value.
///
/// A frame split across reads at any byte decodes the same, and the scan resumes where the
/// previous read stopped. Malformed bytes or a frame beyond ``WireLimits/maxFrameSize`` (the
/// error string and value together) are thrown as a ``WireError``; the handler behind should
/// close the channel and fail every outstanding request.
struct ResponseFrameDecoder: ByteToMessageDecoder {
    /// What this decoder emits.
    typealias InboundOut = ResponseFrame

    private var scanner: MessagePackScanner

    /// Creates a decoder enforcing `limits` on every response.
    init(limits: WireLimits = WireLimits()) {
        scanner = MessagePackScanner(valueCount: 2, limits: limits)
    }

    /// Emits every response `buffer` completes.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let frame = try next(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        return .needMoreData
    }

    /// Emits what the last bytes complete, then throws ``WireError/closedMidFrame(_:)`` if the
    /// stream stopped inside a response (NIO's handler reports no leftovers itself).
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        _ = try decode(context: context, buffer: &buffer)
        if buffer.readableBytes > 0 {
            let count = buffer.readableBytes
            buffer.moveReaderIndex(to: buffer.writerIndex)  // reported, not to be passed on
            throw WireError.closedMidFrame("inside a response (\(count) bytes of it received)")
        }
        return .needMoreData
    }

    /// Consumes and returns the next complete response in `buffer`, or nil when there is none
    /// yet. Usable without a channel (tests, other framings).
    mutating func next(from buffer: inout ByteBuffer) throws(WireError) -> ResponseFrame? {
        let result: Result<(frame: Int, error: String, errorLength: Int)?, WireError> = buffer.withUnsafeReadableBytes { bytes in
            do throws(WireError) {
                guard case .complete(let length) = try self.scanner.scan(bytes) else { return .success(nil) }
                let (text, errorLength) = try MessagePackScanner.readString(
                    UnsafeRawBufferPointer(rebasing: bytes[0..<length]), field: "response error string")
                return .success((length, text, errorLength))
            } catch {
                return .failure(error)
            }
        }
        guard let (length, text, errorLength) = try result.get() else { return nil }
        guard let body = buffer.getSlice(at: buffer.readerIndex + errorLength, length: length - errorLength) else {
            throw .malformed("response frame outside the buffer")  // cannot happen: the scanner saw these bytes
        }
        buffer.moveReaderIndex(forwardBy: length)
        scanner.reset()
        return ResponseFrame(error: text, body: body)
    }
}
