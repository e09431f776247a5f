import NIOCore
import SwiftRaft

/// One outgoing connection: the channel, and the handler that carries its calls one at a time.
/// Sendable so it can sit in the pool; the handler is only ever touched on the channel's loop.
final class ClientConnection: Sendable {
    let channel: any Channel
    let target: ServerAddress
    private let handler: NIOLoopBound<RPCClientHandler>

    init(channel: any Channel, target: ServerAddress, handler: NIOLoopBound<RPCClientHandler>) {
        self.channel = channel
        self.target = target
        self.handler = handler
    }

    /// Sends `call`'s request on this connection, arming its timer first if it has none yet.
    /// From the loop itself (a completion sending the next request, say) it writes at once
    /// rather than behind whatever the loop has queued; from elsewhere it costs one hop to the
    /// loop, which then also schedules the timer, so no second cross-thread operation is needed.
    func start(_ call: OutgoingCall) {
        let eventLoop = channel.eventLoop
        if eventLoop.inEventLoop {
            call.armTimer(on: eventLoop)
            handler.value.start(call, on: self)
        } else {
            let handler = self.handler
            eventLoop.execute {
                call.armTimer(on: eventLoop)
                handler.value.start(call, on: self)
            }
        }
    }

    /// Writes raw bytes after the request; completes once they are handed to the socket, which
    /// is what paces a snapshot's sender.
    func write(_ bytes: ByteBuffer) -> EventLoopFuture<Void> {
        channel.writeAndFlush(bytes)
    }

    /// Whether the connection may still carry calls.
    var isActive: Bool { channel.isActive }

    /// Closes the connection; a call on it fails.
    func close() {
        channel.close(promise: nil)
    }
}
