import NIOCore
import NIOEmbedded
import NIOTestUtils
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// The NIO frame decoders: any split of the byte stream decodes the same, snapshots stream
/// through without accumulating, and bad input closes the door with a WireError.
@Suite("Wire format: NIO frame decoders", .offCooperativePool)
struct FrameDecoderTests {
    /// Golden request frames that stand alone (InstallSnapshot ones need their data). The two
    /// 70 KB frames are left out where every byte goes through a channel separately (tens of
    /// seconds in a debug build); `bigFrameByteByByte` and the scanner tests cover them.
    private func plainRequestFrames(includingBig: Bool = false) throws -> [(bytes: [UInt8], request: RaftRequest)] {
        try (Golden.requests + Golden.legacyRequests).compactMap { golden in
            if case .installSnapshot = golden.request { return nil }
            let bytes = try Fixtures.hex("golden", golden.name)
            return bytes.count < 4096 || includingBig ? (bytes, golden.request) : nil
        }
    }

    /// InstallSnapshot frames with their data: Size 300 from Go, and Size 0 and -300 whose
    /// stream ends at once.
    private func snapshotFrames() throws -> [(bytes: [UInt8], parts: [RequestFramePart])] {
        let data = Golden.pattern(300, 9)
        let withData = Golden.requests.first { $0.name == "req-install-snapshot" }!.request
        let negative = Golden.requests.first { $0.name == "req-install-snapshot-negative" }!.request
        var empty = InstallSnapshotRequest(header: Golden.leaderHeader, term: 3, leader: Golden.leaderAddress, lastLogIndex: 1,
                                           lastLogTerm: 1, configuration: [1], configurationIndex: 1, size: 0)
        empty.peers = []
        return [
            (try Fixtures.hex("golden", "req-install-snapshot") + data, [.request(withData), .snapshotData(buffer(data)), .snapshotEnd]),
            (try Fixtures.hex("golden", "req-install-snapshot-negative"), [.request(negative), .snapshotEnd]),
            (encodedRequest(.installSnapshot(empty)), [.request(.installSnapshot(empty)), .snapshotEnd]),
        ]
    }

    @Test("RequestFrameDecoder passes NIO's ByteToMessageDecoderVerifier on every golden request")
    func requestVerifier() throws {
        let pairs = try plainRequestFrames().map { (buffer($0.bytes), [RequestFramePart.request($0.request)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RequestFrameDecoder() }
    }

    @Test("InstallSnapshot with its data passes the verifier (chunks joined, as their split varies)")
    func snapshotVerifier() throws {
        let pairs = try snapshotFrames().map { (buffer($0.bytes), $0.parts) }
            + (try plainRequestFrames().prefix(3).map { (buffer($0.bytes), [RequestFramePart.request($0.request)]) })
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { CoalescingRequestDecoder() }
    }

    @Test("ResponseFrameDecoder passes the verifier on every golden response")
    func responseVerifier() throws {
        let pairs = try (Golden.responses + Golden.legacyResponses).map { golden -> (ByteBuffer, [ResponseFrame]) in
            let bytes = try Fixtures.hex("golden", golden.name)
            let errorLength = MP.raw(golden.error).count
            return (buffer(bytes), [ResponseFrame(error: golden.error, body: buffer(bytes.dropFirst(errorLength)))])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { ResponseFrameDecoder() }
    }

    @Test("byte by byte through a channel: every request, snapshot stream and response")
    func byteByByteThroughAChannel() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        var expected: [RequestFramePart] = []
        var received: [RequestFramePart] = []
        for (bytes, parts) in try plainRequestFrames().map({ ($0.bytes, [RequestFramePart.request($0.request)]) }) + (try snapshotFrames()) {
            for byte in bytes {
                try channel.writeInbound(buffer([byte]))
                while let part = try channel.readInbound(as: RequestFramePart.self) { received.append(part) }
            }
            expected += parts
        }
        #expect(coalescingSnapshotData(received) == expected)
        #expect(try channel.finish().isClean)

        let responses = EmbeddedChannel(handler: ByteToMessageHandler(ResponseFrameDecoder()))
        for golden in Golden.responses + Golden.legacyResponses {
            for byte in try Fixtures.hex("golden", golden.name) { try responses.writeInbound(buffer([byte])) }
            let frame = try #require(try responses.readInbound(as: ResponseFrame.self), "\(golden.name)")
            #expect(frame.error == golden.error)
            #expect(try WireDecoder().decodeResponse(golden.type, from: frame.body) == golden.decoded)
            #expect(try responses.readInbound(as: ResponseFrame.self) == nil)
        }
        #expect(try responses.finish().isClean)
    }

    @Test("the 70 KB frames byte by byte through the parser, and in 1000-byte reads through a channel")
    func bigFrameByteByByte() throws {
        for (bytes, request) in try plainRequestFrames(includingBig: true) where bytes.count >= 4096 {
            var parser = RequestFrameParser()
            var input = ByteBufferAllocator().buffer(capacity: bytes.count)
            var parts: [RequestFramePart] = []
            for byte in bytes {
                input.writeInteger(byte)
                while let part = try parser.next(from: &input) { parts.append(part) }
            }
            #expect(parts == [.request(request)])

            let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
            for start in stride(from: 0, to: bytes.count, by: 1000) {
                try channel.writeInbound(buffer(bytes[start..<min(start + 1000, bytes.count)]))
            }
            #expect(try channel.readInbound(as: RequestFramePart.self) == .request(request))
            #expect(try channel.finish().isClean)
        }
    }

    @Test("all frames in one buffer decode in order")
    func allAtOnce() throws {
        var all: [UInt8] = []
        var expected: [RequestFramePart] = []
        for (bytes, parts) in try plainRequestFrames(includingBig: true).map({ ($0.bytes, [RequestFramePart.request($0.request)]) }) + (try snapshotFrames()) {
            all += bytes
            expected += parts
        }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try channel.writeInbound(buffer(all))
        var received: [RequestFramePart] = []
        while let part = try channel.readInbound(as: RequestFramePart.self) { received.append(part) }
        #expect(received == expected)
        #expect(try channel.finish().isClean)
    }

    @Test("snapshot bytes are passed on as they arrive, never held back")
    func snapshotStreams() throws {
        let data = Golden.pattern(300, 9)
        let frame = try Fixtures.hex("golden", "req-install-snapshot")
        let next = try Fixtures.hex("golden", "req-timeout-now")
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try channel.writeInbound(buffer(frame))
        guard case .request(.installSnapshot)? = try channel.readInbound(as: RequestFramePart.self) else {
            Issue.record("no InstallSnapshot request")
            return
        }
        var delivered: [UInt8] = []
        var offset = 0
        while offset < data.count {
            let end = min(offset + 7, data.count)
            // The last chunk carries the next request too.
            try channel.writeInbound(buffer(data[offset..<end] + (end == data.count ? next : [])))
            offset = end
            while let part = try channel.readInbound(as: RequestFramePart.self) {
                switch part {
                case .snapshotData(let chunk): delivered += Array(chunk.readableBytesView)
                case .snapshotEnd: #expect(delivered == data)
                case .request(let request): #expect(request == .timeoutNow(TimeoutNowRequest(header: Golden.leaderHeader)))
                }
            }
            #expect(delivered == Array(data[0..<offset]), "everything sent so far is delivered")
        }
        #expect(try channel.finish().isClean)
    }

    @Test("an unknown type byte is a WireError; RequestPreVote's 4 is known")
    func unknownType() throws {
        for type: UInt8 in [5, 9, 0xff] {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
            #expect(throws: WireError.unknownRPCType(type)) { try channel.writeInbound(buffer([type, 0x80])) }
            _ = try? channel.finish()
        }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try channel.writeInbound(buffer([4, 0x80]))
        #expect(try channel.readInbound(as: RequestFramePart.self)
            == .request(.requestPreVote(RequestPreVoteRequest(header: RPCHeader(protocolVersion: 0), term: 0, lastLogIndex: 0, lastLogTerm: 0))))
        #expect(try channel.finish().isClean)
    }

    @Test("maxFrameSize is enforced on requests and responses before the frame has arrived")
    func maxFrameSize() throws {
        let big = try Fixtures.hex("golden", "req-append-entries")  // 70 KB
        let limits = WireLimits(maxFrameSize: 4096)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder(limits: limits)))
        var sent = 0
        var failure: (any Error)?
        while sent < big.count && failure == nil {
            do {
                try channel.writeInbound(buffer(big[sent..<min(sent + 256, big.count)]))
            } catch {
                failure = error
            }
            sent += 256
        }
        #expect(failure as? WireError == .frameTooLarge(limit: 4096))
        #expect(sent < 4096 + 256, "refused by the time the limit was crossed, not at the end")
        _ = try? channel.finish()

        // The same frame fits the default limit.
        #expect(try decodeRequestFrame(big) == Golden.requests[2].request)

        var responses = ResponseFrameDecoder(limits: WireLimits(maxFrameSize: 10))
        var input = buffer(MP.raw("boom") + MP.map([("Term", MP.uint(1))]))
        #expect(throws: WireError.frameTooLarge(limit: 10)) { try responses.next(from: &input) }
    }

    @Test("a malformed value is a WireError and the channel stops decoding")
    func malformedValue() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        #expect(throws: WireError.wrongType(field: "RequestVoteRequest.Term", expected: "integer", found: "string")) {
            try channel.writeInbound(buffer([1] + MP.map([("Term", MP.raw("x"))])))
        }
        // NIO refuses further input once a decoder has failed; the transport closes the channel.
        #expect(throws: (any Error).self) { try channel.writeInbound(buffer(try Fixtures.hex("golden", "req-timeout-now"))) }
        _ = try? channel.finish()
    }

    @Test("a connection closed inside a frame or a snapshot's data is a WireError")
    func closedMidFrame() throws {
        let frame = try Fixtures.hex("golden", "req-vote")
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try channel.writeInbound(buffer(frame.prefix(10)))
        #expect(try channel.readInbound(as: RequestFramePart.self) == nil)
        #expect(throws: WireError.closedMidFrame("inside a RequestVote request (9 bytes of it received)")) { try channel.finish() }

        let snapshot = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try snapshot.writeInbound(buffer(try Fixtures.hex("golden", "req-install-snapshot") + Golden.pattern(100, 9)))
        #expect(throws: WireError.closedMidFrame("inside InstallSnapshot data, 200 bytes short")) { try snapshot.finish() }

        let unknown = EmbeddedChannel(handler: ByteToMessageHandler(RequestFrameDecoder()))
        try unknown.writeInbound(buffer(try Fixtures.hex("golden", "req-timeout-now")))
        #expect(try unknown.finish().isClean == false, "the decoded request is still unread")

        let responses = EmbeddedChannel(handler: ByteToMessageHandler(ResponseFrameDecoder()))
        try responses.writeInbound(buffer(MP.raw("boom")))
        #expect(throws: WireError.closedMidFrame("inside a response (5 bytes of it received)")) { try responses.finish() }
    }
}

/// RequestFrameDecoder with snapshot chunks joined until the snapshot ends, so outputs do not
/// depend on how the verifier splits the input. Test-only: a real consumer wants the chunks.
struct CoalescingRequestDecoder: ByteToMessageDecoder {
    /// What this decoder emits.
    typealias InboundOut = RequestFramePart

    private var parser = RequestFrameParser()
    private var pending: ByteBuffer?

    /// Emits requests as they complete, snapshot data once whole.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let part = try parser.next(from: &buffer) {
            switch part {
            case .snapshotData(var chunk):
                if pending == nil { pending = chunk } else { pending!.writeBuffer(&chunk) }
            case .snapshotEnd:
                if let data = pending { context.fireChannelRead(Self.wrapInboundOut(.snapshotData(data))) }
                pending = nil
                context.fireChannelRead(Self.wrapInboundOut(.snapshotEnd))
            case .request:
                context.fireChannelRead(Self.wrapInboundOut(part))
            }
        }
        return .needMoreData
    }

    /// As `decode`.
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
