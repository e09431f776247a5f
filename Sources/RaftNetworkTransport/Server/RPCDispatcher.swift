import Logging
import Synchronization
import SwiftRaft

/// What every incoming connection of one transport shares: where its RPCs go (the handler Raft
/// installed, or the heartbeat handler), and the limits it enforces.
final class RPCDispatcher: Sendable {
    let logger: Logger
    let limits: WireLimits
    /// How many requests one connection may have handed to Raft and not had answered.
    let maxPendingRequests: Int
    /// How many bytes of an incoming snapshot may wait to be read.
    let snapshotBufferSize: Int

    private let handlers = Mutex(Handlers())

    /// The installed handlers. Each is wrapped in a struct so the mutex holds a struct, not a
    /// bare function: a function stored as a generic value and accessed `inout` is re-wrapped in
    /// conversion thunks on every access, and the chain would grow with every RPC.
    private struct Handlers {
        var rpc: Handler?
        var heartbeat: Handler?
    }

    private struct Handler: Sendable {
        let handle: @Sendable (RPC) -> Void
    }

    init(options: NetworkTransport.Options) {
        self.logger = options.logger
        self.limits = WireLimits(maxFrameSize: options.maxFrameSize)
        self.maxPendingRequests = max(options.maxPendingRequestsPerConnection, 1)
        self.snapshotBufferSize = max(options.snapshotBufferSize, 1)
    }

    /// The handler for bare heartbeats, if Raft installed one.
    var heartbeat: (@Sendable (RPC) -> Void)? { handlers.withLock { $0.heartbeat }?.handle }

    func setRPCHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        let wrapped = handler.map(Handler.init)
        handlers.withLock { $0.rpc = wrapped }
    }

    func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        let wrapped = handler.map(Handler.init)
        handlers.withLock { $0.heartbeat = wrapped }
    }

    /// Hands `rpc` to Raft's handler, on the calling thread (the connection's event loop). With
    /// no handler installed (Raft not started yet, or shut down) it answers with an error at
    /// once and closes the snapshot data, so the connection is not left waiting.
    func deliver(_ rpc: RPC) {
        guard let handler = handlers.withLock({ $0.rpc }) else {
            rpc.snapshotData?.close()
            rpc.respond(error: Self.noHandler)
            return
        }
        handler.handle(rpc)
    }

    /// Removes both handlers: the transport is closed, and dropping them breaks the reference
    /// cycle a handler capturing its node makes with the node's transport.
    func finish() {
        handlers.withLock { $0 = Handlers() }
    }

    /// The answer to an RPC that arrives while no handler is installed. Its text is what a
    /// hashicorp/raft peer logs.
    static let noHandler = RaftError(.unreachable, "no RPC handler installed: the node is not running")
}
