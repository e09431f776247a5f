public import SwiftRaft
import NIOCore
import Synchronization

extension NetworkTransport {
    // MARK: Transport

    /// Sends `request` on a pooled connection to `target` (or a new one) and calls `completion`
    /// once, from the connection's event loop, with the answer or the reason there is none.
    ///
    /// Never waits: the request is encoded on the calling thread and handed to the connection's
    /// event loop; with no idle connection to the peer, one is dialed in the background. The
    /// request's one timer, on that event loop, covers dialing and answering: when it fires the
    /// call fails with `RaftError.Code.timeout` and its connection (or the dial) is
    /// closed, so its late answer can never be taken for the next request's, and the next
    /// request dials afresh. A `timeout` of zero or less means no limit.
    ///
    /// A pooled connection that closes before any byte of the answer is retried once on a new
    /// connection (the peer may have dropped it while it sat idle). A peer that closes a fresh
    /// connection on RequestPreVote without answering, or answers "unexpected command", predates
    /// pre-vote: the call fails with `RaftError.Code.preVoteUnsupported`. A request
    /// that encodes past ``Options/maxFrameSize`` fails at once with
    /// `RaftError.Code.invalidArgument`, without being sent. InstallSnapshot goes
    /// through ``installSnapshot(_:data:to:timeout:)``.
    public func send(
        _ request: RaftRequest,
        to target: Server,
        timeout: Duration,
        completion: @escaping @Sendable (Result<RaftResponse, any Error>) -> Void
    ) {
        if isClosed {
            completion(.failure(shutdownError))
            return
        }
        if case .installSnapshot = request {
            completion(.failure(RaftError(.invalidArgument, "InstallSnapshot carries data: send it with installSnapshot(_:data:to:timeout:)")))
            return
        }
        var frame = allocator.buffer(capacity: 0)
        encoder.withLock { encoder in encoder.encodeRequest(request, into: &frame) }
        guard frame.readableBytes <= limits.maxFrameSize else {
            completion(.failure(Self.tooLarge(request.type, size: frame.readableBytes, limit: limits.maxFrameSize, target: target.address)))
            return
        }
        if let connection = connections.takeIdle(target.address) {
            let call = OutgoingCall(
                request.type, frame: frame, to: target.address, timeout: timeout, eventLoop: connection.channel.eventLoop,
                reused: true, transport: self, completion: completion
            )
            connection.start(call)
        } else {
            let call = OutgoingCall(
                request.type, frame: frame, to: target.address, timeout: timeout, eventLoop: options.eventLoopGroup.next(),
                reused: false, transport: self, completion: completion
            )
            call.armTimer(on: call.eventLoop)
            dial(for: call)
        }
    }

    /// Opens a pipeline to `target` on a connection of its own and returns it at once; the
    /// connection is dialed in the background. Requests sent before it is up are queued and
    /// written once it is, or fail, in order, with `RaftError.Code.unreachable` if
    /// dialing fails (within ``Options/connectTimeout``).
    ///
    /// Completions are called on the connection's event loop, in send order. At most
    /// ``Options/pipelineWindow`` requests (``Options/pipelineWindowBytes`` bytes) are written
    /// without an answer; later ones wait, in order, without making the sender wait. The oldest
    /// request written must be answered within ``Options/timeout`` of the later of its writing
    /// and the previous answer, or the pipeline breaks: every request out or queued fails, in
    /// order, and so does every later one.
    ///
    /// - Throws: `RaftError.Code.transportShutdown` once the transport is closed;
    ///   `RaftError.Code.invalidArgument` when `target`'s address is not `host:port`.
    public func appendEntriesPipeline(to target: Server) throws -> any AppendPipeline {
        try checkOpen()
        let address = try HostAndPort(parsing: target.address)
        let connections = self.connections
        let pipeline = NetworkPipeline(
            target: target.address,
            eventLoop: options.eventLoopGroup.next(),
            maxFrameSize: limits.maxFrameSize,
            onEnd: { pipeline in connections.unregister(pipeline) }
        )
        guard connections.register(pipeline) else { throw shutdownError }
        let timeout = options.timeout.timeLimit
        let limits = self.limits
        let window = options.pipelineWindow
        let windowBytes = options.pipelineWindowBytes
        Task {
            do {
                _ = try await self.dial(address, named: target.address, on: pipeline.eventLoop) { channel in
                    guard channel.eventLoop === pipeline.eventLoop else {
                        throw RaftError(.invalidArgument, "the stream layer dialed on another event loop than it was given")
                    }
                    let handler = try pipeline.makeHandler(timeout: timeout, limits: limits, window: window, windowBytes: windowBytes)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            } catch {
                pipeline.connectFailed(self.dialError(error, target: target.address))
            }
        }
        return pipeline
    }

    // MARK: Dialing

    /// Dials a new connection for `call` and starts the call on it. The dialing channel is
    /// attached to the call as soon as it exists, so the call's timer aborts the dial too.
    func dial(for call: OutgoingCall) {
        let address: HostAndPort
        do {
            address = try HostAndPort(parsing: call.target)
        } catch {
            call.fail(error)
            return
        }
        Task {
            do {
                let connection = try await self.dialConnection(address, named: call.target, on: call.eventLoop) { channel in
                    guard call.attach(channel) else { throw CallOver() }
                }
                connection.start(call)
            } catch is CallOver {
                // The call ended (it timed out) while dialing; the channel is closed.
            } catch {
                call.fail(self.dialError(error, target: call.target))
            }
        }
    }

    /// Dials a connection for calls to `target` on `eventLoop`; `prepare` sees its channel first,
    /// before it connects, on its event loop.
    func dialConnection(
        _ address: HostAndPort,
        named target: ServerAddress,
        on eventLoop: any EventLoop,
        prepare: @escaping @Sendable (any Channel) throws -> Void = { _ in }
    ) async throws -> ClientConnection {
        let limits = self.limits
        let made = SetUpResult<NIOLoopBound<RPCClientHandler>>()
        let channel = try await dial(address, named: target, on: eventLoop) { channel in
            try prepare(channel)
            let handler = RPCClientHandler(limits: limits)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder(limits: limits)))
            try channel.pipeline.syncOperations.addHandler(handler)
            made.set(NIOLoopBound(handler, eventLoop: channel.eventLoop))
        }
        guard let handler = made.value else {
            channel.close(promise: nil)
            throw RaftError(.unreachable, "connection to \(target) was not set up")
        }
        return ClientConnection(channel: channel, target: target, handler: handler)
    }

    /// Dials `address` through the stream layer on `eventLoop`, registers the channel for
    /// ``close()`` (refusing it once closed) and sets it up with `setUp`, on its event loop,
    /// before it connects.
    private func dial(
        _ address: HostAndPort,
        named target: ServerAddress,
        on eventLoop: any EventLoop,
        setUp: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> any Channel {
        let connections = self.connections
        let shutdownError = self.shutdownError
        return try await options.streamLayer.dial(
            host: address.host,
            port: address.port,
            timeout: options.dialTimeout,
            eventLoop: eventLoop
        ) { channel in
            channel.eventLoop.makeCompletedFuture {
                guard connections.registerDialed(channel) else { throw shutdownError }
                try setUp(channel)
            }
        }
    }

    /// The error a failed dial surfaces as.
    func dialError(_ error: any Error, target: ServerAddress) -> RaftError {
        if isClosed { return shutdownError }
        if let error = error as? RaftError { return error }
        return RaftError(.unreachable, "failed to dial \(target): \(error)")
    }
}

/// Thrown from a channel initializer when the call it was dialed for is already over.
private struct CallOver: Error {}

/// Carries what a channel initializer made out of it, to the task that dialed.
private final class SetUpResult<Value: Sendable>: Sendable {
    private let box = Mutex<Value?>(nil)
    func set(_ value: Value) { box.withLock { $0 = value } }
    var value: Value? { box.withLock { $0 } }
}
