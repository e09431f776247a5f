public import SwiftRaft
import NIOCore
import Synchronization

extension NetworkTransport {
    // MARK: Transport

    /// Sends an AppendEntries request on a pooled connection and waits for its answer.
    public func appendEntries(id: ServerID, target: ServerAddress, _ request: AppendEntriesRequest) async throws
        -> AppendEntriesResponse
    {
        guard case .appendEntries(let response) = try await call(.appendEntries(request), to: target) else {
            throw RaftError(.corrupt, "AppendEntries to \(target) was answered with another type")
        }
        return response
    }

    /// Sends a RequestVote request on a pooled connection and waits for its answer.
    public func requestVote(id: ServerID, target: ServerAddress, _ request: RequestVoteRequest) async throws
        -> RequestVoteResponse
    {
        guard case .requestVote(let response) = try await call(.requestVote(request), to: target) else {
            throw RaftError(.corrupt, "RequestVote to \(target) was answered with another type")
        }
        return response
    }

    /// Sends a RequestPreVote request and waits for its answer. A peer that closes the connection
    /// without answering (hashicorp/raft before 1.7, which does not know the RPC) or answers
    /// "unexpected command" throws ``SwiftRaft/RaftError/Code/preVoteUnsupported``; a pooled
    /// connection closing is first retried on a new one, so a connection the peer dropped
    /// earlier is not taken for that.
    public func requestPreVote(id: ServerID, target: ServerAddress, _ request: RequestPreVoteRequest) async throws
        -> RequestPreVoteResponse
    {
        guard case .requestPreVote(let response) = try await call(.requestPreVote(request), to: target) else {
            throw RaftError(.corrupt, "RequestPreVote to \(target) was answered with another type")
        }
        return response
    }

    /// Sends a TimeoutNow request on a pooled connection and waits for its answer.
    public func timeoutNow(id: ServerID, target: ServerAddress, _ request: TimeoutNowRequest) async throws
        -> TimeoutNowResponse
    {
        guard case .timeoutNow(let response) = try await call(.timeoutNow(request), to: target) else {
            throw RaftError(.corrupt, "TimeoutNow to \(target) was answered with another type")
        }
        return response
    }

    /// Opens a pipeline to `target` on a connection of its own; see ``Options/pipelineWindow``
    /// and ``Options/pipelineWindowBytes`` for its back-pressure. A send waits only while the
    /// window is full; the oldest request out must be answered within ``Options/timeout`` of
    /// the previous answer, or the pipeline breaks: every request out fails, in order,
    /// `responses` finishes and later sends throw.
    public func appendEntriesPipeline(id: ServerID, target: ServerAddress) async throws -> any AppendPipeline {
        try checkOpen()
        let core = PipelineCore(target: target, window: options.pipelineWindow, windowBytes: options.pipelineWindowBytes)
        let timeout = options.timeout.timeLimit
        let limits = self.limits
        let (channel, handler) = try await dial(target) { channel in
            let handler = PipelineHandler(core: core, timeout: timeout, limits: limits)
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder(limits: limits)))
            try channel.pipeline.syncOperations.addHandler(handler)
            return bound
        }
        let pipeline = NetworkPipeline(core: core, channel: channel, handler: handler, maxFrameSize: limits.maxFrameSize)
        guard connections.register(pipeline, on: channel) else {
            await pipeline.shutdown(RaftError(.pipelineShutdown, "transport \(localAddress) is closed"))
            try checkOpen()
            throw RaftError(.unreachable, "pipeline connection to \(target) closed as it opened")
        }
        return pipeline
    }

    // MARK: Calls

    /// Sends `request` to `target` on a pooled connection and returns its answer.
    ///
    /// A pooled connection that closes before any byte of the answer is retried once on a new
    /// connection. Raft's RPCs are safe to repeat (an AppendEntries or vote is answered the same
    /// way twice), and a peer that restarted leaves every pooled connection to it dead.
    private func call(_ request: WireRequest, to target: ServerAddress) async throws -> WireResponse {
        try checkOpen()
        var (connection, reused) = try await acquire(target)
        let timeout = options.timeout.timeLimit
        while true {
            let answer: CallAnswer
            do {
                answer = try await connection.call(request, timeout: timeout)
            } catch {
                connection.close()
                try Task.checkCancellation()
                if reused, case ClientCallError.closed(answerStarted: false) = error, !isClosed {
                    // The connection sat in the pool, and the peer may have dropped it long ago
                    // (it restarted, say) without this side having noticed yet: try once more on
                    // a new connection. For RequestPreVote this also matters for correctness:
                    // only a fresh connection closing on the request says the peer lacks it.
                    (connection, reused) = (try await dialCall(target), false)
                    continue
                }
                throw surfaced(error, rpc: request.type, target: target, timeout: nil)
            }
            connections.putIdle(connection)
            switch answer {
            case .response(let response): return response
            case .refused(let text): throw Self.remoteError(text, rpc: request.type, target: target)
            }
        }
    }

    /// An idle pooled connection to `target` (and true), or a new one (and false).
    private func acquire(_ target: ServerAddress) async throws -> (ClientConnection, reused: Bool) {
        if let connection = connections.takeIdle(target) { return (connection, true) }
        return (try await dialCall(target), false)
    }

    /// Dials a connection for calls to `target`.
    func dialCall(_ target: ServerAddress) async throws -> ClientConnection {
        let limits = self.limits
        let (channel, handler) = try await dial(target) { channel in
            let handler = RPCClientHandler(limits: limits)
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder(limits: limits)))
            try channel.pipeline.syncOperations.addHandler(handler)
            return bound
        }
        return ClientConnection(channel: channel, target: target, handler: handler)
    }

    /// Dials `target` through the stream layer, sets the channel up with `setUp` on its event
    /// loop, registers it for ``close()``, and returns it with what `setUp` returned.
    private func dial<Handler: Sendable>(
        _ target: ServerAddress,
        setUp: @escaping @Sendable (any Channel) throws -> Handler
    ) async throws -> (any Channel, Handler) {
        let address = try HostAndPort(parsing: target)
        let made = SetUpResult<Handler>()
        let streamLayer = options.streamLayer
        let timeout = options.dialTimeout
        let eventLoop = options.eventLoopGroup.next()
        let channel: any Channel
        do {
            channel = try await abandonOnCancel(
                {
                    try await streamLayer.dial(host: address.host, port: address.port, timeout: timeout, eventLoop: eventLoop) {
                        channel in
                        channel.eventLoop.makeCompletedFuture { made.set(try setUp(channel)) }
                    }
                },
                cleanUp: { channel in channel.close(promise: nil) }
            )
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try checkOpen()
            throw RaftError(.unreachable, "failed to dial \(target): \(error)")
        }
        guard connections.registerDialed(channel), let handler = made.value else {
            channel.close(promise: nil)
            try checkOpen()
            throw RaftError(.unreachable, "connection to \(target) closed as it opened")
        }
        return (channel, handler)
    }
}

/// Runs `operation` in a task of its own and returns its result, or throws `CancellationError`
/// as soon as the calling task is cancelled, leaving `operation` to finish alone and handing
/// what it then returns to `cleanUp`.
///
/// NIO cannot abort a connect, and Raft bounds its calls with timeouts that cancel them (and
/// then wait for them to end), so a dial to a silent host must not hold the caller for the whole
/// connect timeout.
private func abandonOnCancel<Value: Sendable>(
    _ operation: @escaping @Sendable () async throws -> Value,
    cleanUp: @escaping @Sendable (Value) -> Void
) async throws -> Value {
    let outcome = FirstOutcome<Value>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            outcome.wait(continuation)
            Task {
                do {
                    let value = try await operation()
                    if !outcome.settle(.success(value)) { cleanUp(value) }
                } catch {
                    outcome.settle(.failure(error))
                }
            }
        }
    } onCancel: {
        outcome.settle(.failure(CancellationError()))
    }
}

/// The first of several possible outcomes, delivered to one waiter, whichever comes first.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Value, any Error>?
        var result: Result<Value, any Error>?
    }

    private let state = Mutex(State())

    /// Resumes `continuation` with the outcome, now if there is one already.
    func wait(_ continuation: CheckedContinuation<Value, any Error>) {
        let ready = state.withLock { state -> Result<Value, any Error>? in
            if let result = state.result { return result }
            state.waiter = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    /// Records `result` unless an outcome came first; returns whether it was the first.
    @discardableResult
    func settle(_ result: Result<Value, any Error>) -> Bool {
        let (first, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Value, any Error>?) in
            guard state.result == nil else { return (false, nil) }
            state.result = result
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(with: result)
        return first
    }
}

/// Carries what a channel initializer made out of it, to the task that dialed.
private final class SetUpResult<Value: Sendable>: Sendable {
    private let box = Mutex<Value?>(nil)
    func set(_ value: Value) { box.withLock { $0 = value } }
    var value: Value? { box.withLock { $0 } }
}
