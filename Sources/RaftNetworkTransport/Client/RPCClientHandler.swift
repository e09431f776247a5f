import NIOCore
import SwiftRaft

/// The outgoing side of one pooled connection: sends one request at a time, decodes its answer
/// as the type it expects, and enforces the call's deadline (hashicorp/raft's `genericRPC`
/// with its connection deadline).
///
/// Loop-confined; ``ClientConnection`` reaches it through the event loop. A call that times out,
/// or whose answer cannot be decoded, closes the connection, so nothing arriving late can be
/// taken for the answer to a later call.
final class RPCClientHandler: ChannelInboundHandler {
    typealias InboundIn = ResponseFrame
    typealias OutboundOut = ByteBuffer

    private struct Call {
        let type: RPCType
        let promise: EventLoopPromise<CallAnswer>
        var timer: Scheduled<Void>?
    }

    private let decoder: WireDecoder
    private let encoder = WireEncoder()
    private let maxFrameSize: Int
    private var context: ChannelHandlerContext?
    private var call: Call?
    /// Part of an answer arrived before the connection ended.
    private var answerStarted = false
    private var closed = false

    init(limits: WireLimits) {
        decoder = WireDecoder(limits: limits)
        maxFrameSize = limits.maxFrameSize
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends `request` and completes `promise` with its answer, or fails it with a
    /// ``ClientCallError``. For InstallSnapshot the caller writes the data afterwards, and the
    /// deadline covers both.
    func start(_ request: WireRequest, timeout: TimeAmount?, promise: EventLoopPromise<CallAnswer>) {
        guard let context, !closed else {
            promise.fail(ClientCallError.closed(answerStarted: false))
            return
        }
        guard call == nil else {
            // A pooled connection carries one call at a time; reaching this is a transport bug,
            // and the connection cannot tell the two answers apart.
            promise.fail(ClientCallError.unexpectedAnswer)
            context.close(promise: nil)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        encoder.encodeRequest(request, into: &buffer)
        guard buffer.readableBytes <= maxFrameSize else {
            // Nothing was written, so the connection stays in step and usable.
            promise.fail(ClientCallError.tooLarge(size: buffer.readableBytes, limit: maxFrameSize))
            return
        }
        var call = Call(type: request.type, promise: promise)
        if let timeout {
            call.timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { self.timedOut() }
        }
        self.call = call
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let call else {
            closeAfterFailure(ClientCallError.unexpectedAnswer, context: context)
            return
        }
        self.call = nil
        call.timer?.cancel()
        if !frame.error.isEmpty {
            call.promise.succeed(.refused(frame.error))
            return
        }
        do {
            call.promise.succeed(.response(try decoder.decodeResponse(call.type, from: frame.body)))
        } catch {
            call.promise.fail(ClientCallError.malformed(error))
            context.close(promise: nil)
        }
    }

    private func timedOut() {
        guard let call else { return }
        self.call = nil
        call.promise.fail(ClientCallError.timedOut)
        context?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            // Raised while the connection ends, before channelInactive fails the call.
            answerStarted = true
        case let error as WireError:
            closeAfterFailure(ClientCallError.malformed(error), context: context)
        default:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let call {
            self.call = nil
            call.timer?.cancel()
            call.promise.fail(ClientCallError.closed(answerStarted: answerStarted))
        }
        context.fireChannelInactive()
    }

    private func closeAfterFailure(_ error: ClientCallError, context: ChannelHandlerContext) {
        if let call {
            self.call = nil
            call.timer?.cancel()
            call.promise.fail(error)
        }
        context.close(promise: nil)
    }
}
