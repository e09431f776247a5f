public import SwiftRaft

extension Transport {
    /// The RPCs arriving at this transport, as a stream: for tools and tests that would rather
    /// read requests in a loop than handle them in a callback.
    ///
    /// ```swift
    /// for await rpc in transport.incomingRPCs() {
    ///     rpc.respond(myAnswer(to: rpc.request))
    /// }
    /// ```
    ///
    /// It installs an RPC handler (`Transport.setRPCHandler(_:)`) that only queues each RPC on
    /// the stream, so it **replaces whatever handler was installed, Raft's included**: it is for
    /// tools and tests, never for a transport a running `Raft` node uses. Heartbeats arrive on
    /// the stream too, unless a heartbeat handler is installed (`Transport.setHeartbeatHandler(_:)`).
    ///
    /// Whoever takes an RPC from the stream answers it exactly once (`RPC.respond(_:)` or
    /// `RPC.respond(error:)`) and closes its `RPC.snapshotData`, as Raft would. No RPC is left
    /// hanging: one that arrives after the stream has stopped being read (the task iterating it
    /// was cancelled, or the stream was dropped), or that `bufferingPolicy` drops, is answered at
    /// once with a `RaftError.Code.shutdown` error.
    ///
    /// The stream finishes once the transport lets go of the handler: when another handler
    /// replaces it, when `setRPCHandler(nil)` removes it, or when the transport drops its
    /// handlers on closing (as `InmemTransport` does).
    ///
    /// - Parameter bufferingPolicy: How many RPCs wait for the reader; unbounded by default.
    public func incomingRPCs(
        bufferingPolicy: AsyncStream<RPC>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncStream<RPC> {
        let (stream, continuation) = AsyncStream.makeStream(of: RPC.self, bufferingPolicy: bufferingPolicy)
        let finisher = IncomingStreamFinisher(continuation)
        let address = localAddress
        setRPCHandler { rpc in
            switch finisher.continuation.yield(rpc) {
            case .enqueued:
                return
            case .dropped(let dropped):
                dropped.snapshotData?.close()
                dropped.respond(error: RaftError(.shutdown, "\(address) dropped the RPC: its incoming-RPC stream is full"))
            case .terminated:
                rpc.snapshotData?.close()
                rpc.respond(error: RaftError(.shutdown, "nothing reads \(address)'s incoming RPCs any more"))
            @unknown default:
                rpc.snapshotData?.close()
                rpc.respond(error: RaftError(.shutdown, "\(address)'s incoming-RPC stream refused the RPC"))
            }
        }
        return stream
    }
}

/// Finishes an incoming-RPC stream when the handler that captured it is released: the
/// transport holds the only lasting reference, through that handler.
private final class IncomingStreamFinisher: Sendable {
    let continuation: AsyncStream<RPC>.Continuation

    init(_ continuation: AsyncStream<RPC>.Continuation) { self.continuation = continuation }

    deinit { continuation.finish() }
}
