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

    private let limits: WireLimits
    private var scanner: MessagePackFrameScanner

    /// Creates a decoder enforcing `limits` on every response.
    init(limits: WireLimits = WireLimits()) {
        scanner = MessagePackFrameScanner(valueCount: 2, limits: limits)
        self.limits = limits
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
                let (text, errorLength) = try Self.errorText(UnsafeRawBufferPointer(rebasing: bytes[0..<length]), limits: self.limits)
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

    /// The error text at the start of a complete frame, and its length in bytes: any string or
    /// binary form, or nil for none (what a Go server sends when the RPC succeeded).
    private static func errorText(_ frame: UnsafeRawBufferPointer, limits: WireLimits) throws(WireError) -> (String, length: Int) {
        var reader = MessagePackFrameReader(frame, limits: limits)
        let result: Result<(String, length: Int), MessagePackFrameReader.Stop>
        do throws(MessagePackFrameReader.Stop) {
            let value = try reader.read(depth: 0)
            switch value {
            case .string, .binary, .nil: result = .success((try reader.string(value, "response error string"), reader.offset))
            default: throw .field(.wrongType(field: "response error string", expected: "string", found: value.typeName))
            }
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let text): return text
        // The scanner has seen the whole frame: it cannot end early.
        case .failure(.needMoreData): throw .malformed("response error string: truncated")
        case .failure(.structure(let error)), .failure(.field(let error)): throw error
        }
    }
}
