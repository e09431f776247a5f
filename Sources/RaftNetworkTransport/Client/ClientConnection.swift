import NIOCore
import SwiftRaft

/// One outgoing connection of the pool: the channel, and the handler that carries its calls.
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

    /// Sends `request` and waits for its answer; throws ``ClientCallError``. Cancelling the
    /// waiting task closes the connection, which ends the call at once: the request cannot be
    /// taken back, and its late answer must not reach a later call.
    func call(_ request: WireRequest, timeout: TimeAmount?) async throws -> CallAnswer {
        let answer = start(request, timeout: timeout)
        return try await withTaskCancellationHandler {
            try await answer.get()
        } onCancel: {
            self.close()
        }
    }

    /// Sends `request` and returns its answer to come, without waiting: InstallSnapshot writes
    /// its data with ``write(_:)`` in between.
    func start(_ request: WireRequest, timeout: TimeAmount?) -> EventLoopFuture<CallAnswer> {
        let promise = channel.eventLoop.makePromise(of: CallAnswer.self)
        let handler = self.handler
        if channel.eventLoop.inEventLoop {
            // A caller on the loop (a task on ``NetworkTransport/taskExecutor``) writes now
            // rather than behind whatever the loop has queued.
            handler.value.start(request, timeout: timeout, promise: promise)
        } else {
            channel.eventLoop.execute { handler.value.start(request, timeout: timeout, promise: promise) }
        }
        return promise.futureResult
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
