import Logging
import Synchronization
import SwiftRaft

/// What every incoming connection of one transport shares: where its RPCs go (the consumer
/// stream, or the heartbeat handler), and the limits it enforces.
final class RPCDispatcher: Sendable {
    let logger: Logger
    let limits: WireLimits
    /// How many requests one connection may have handed to Raft and not had answered.
    let maxPendingRequests: Int
    /// How many bytes of an incoming snapshot may wait to be read.
    let snapshotBufferSize: Int

    private let continuation: AsyncStream<RPC>.Continuation
    private let heartbeatHandler = Mutex<HeartbeatHandler?>(nil)

    /// Wraps the handler so the mutex holds a struct, not a bare function: a function stored
    /// as a generic value and accessed `inout` is re-wrapped in conversion thunks on every
    /// access, and the chain would grow with every heartbeat.
    private struct HeartbeatHandler: Sendable {
        let handle: @Sendable (RPC) -> Void
    }

    init(continuation: AsyncStream<RPC>.Continuation, options: NetworkTransport.Options) {
        self.continuation = continuation
        self.logger = options.logger
        self.limits = WireLimits(maxFrameSize: options.maxFrameSize)
        self.maxPendingRequests = max(options.maxPendingRequestsPerConnection, 1)
        self.snapshotBufferSize = max(options.snapshotBufferSize, 1)
    }

    /// The handler for bare heartbeats, if Raft installed one.
    var heartbeat: (@Sendable (RPC) -> Void)? { heartbeatHandler.withLock { $0 }?.handle }

    func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        let wrapped = handler.map(HeartbeatHandler.init)
        heartbeatHandler.withLock { $0 = wrapped }
    }

    /// Hands `rpc` to Raft through the consumer; answers it with an error when the consumer has
    /// finished, so its connection is not left waiting.
    func deliver(_ rpc: RPC) {
        if case .terminated = continuation.yield(rpc) {
            rpc.respond(error: RaftError(.transportShutdown, "transport shutdown"))
        }
    }

    /// Ends the consumer stream.
    func finish() { continuation.finish() }
}
