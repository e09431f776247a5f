import NIOCore
import SwiftRaft

/// The outgoing side of one connection: sends one request at a time and decodes its answer as
/// the type it expects (hashicorp/raft's `genericRPC`). The call's deadline is the call's own
/// timer (``OutgoingCall``), which closes the connection when it fires.
///
/// Loop-confined; ``ClientConnection`` reaches it through the event loop. A call whose answer
/// cannot be decoded closes the connection, so nothing arriving late can be taken for the
/// answer to a later call.
final class RPCClientHandler: ChannelInboundHandler {
    typealias InboundIn = ResponseFrame
    typealias OutboundOut = ByteBuffer

    private let decoder: WireDecoder
    private var context: ChannelHandlerContext?
    private var call: (call: OutgoingCall, connection: ClientConnection)?
    /// Part of an answer arrived before the connection ended.
    private var answerStarted = false
    private var closed = false

    init(limits: WireLimits) {
        decoder = WireDecoder(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes `call`'s request on `connection` (whose handler this is) and waits for its
    /// answer. For InstallSnapshot the caller writes the data afterwards.
    func start(_ call: OutgoingCall, on connection: ClientConnection) {
        guard let context, !closed else {
            call.connectionFailed(.closed(answerStarted: false))
            return
        }
        guard self.call == nil else {
            // A connection carries one call at a time; reaching this is a transport bug, and
            // the connection could not tell the two answers apart.
            call.fail(RaftError(.corrupt, "a second call was started on a connection to \(connection.target) in use"))
            context.close(promise: nil)
            return
        }
        guard call.use(connection) else {
            // Timed out on its way here: nothing was written, so the connection is still in step.
            call.release(connection)
            return
        }
        self.call = (call, connection)
        context.writeAndFlush(wrapOutboundOut(call.frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let (call, connection) = self.call else {
            closeAfterFailure(.unexpectedAnswer, context: context)
            return
        }
        self.call = nil
        if !frame.error.isEmpty {
            call.answered(.failure(NetworkTransport.remoteError(frame.error, rpc: call.type, target: call.target)), on: connection)
            return
        }
        let response: RaftResponse
        do {
            response = try decoder.decodeResponse(call.type, from: frame.body)
        } catch {
            context.close(promise: nil)
            call.connectionFailed(.malformed(error))
            return
        }
        call.answered(.success(response), on: connection)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            // Raised while the connection ends, before channelInactive fails the call.
            answerStarted = true
        case let error as WireError:
            closeAfterFailure(.malformed(error), context: context)
        default:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let (call, _) = self.call {
            self.call = nil
            call.connectionFailed(.closed(answerStarted: answerStarted))
        }
        context.fireChannelInactive()
    }

    private func closeAfterFailure(_ error: ClientCallError, context: ChannelHandlerContext) {
        context.close(promise: nil)
        if let (call, _) = self.call {
            self.call = nil
            call.connectionFailed(error)
        }
    }
}
