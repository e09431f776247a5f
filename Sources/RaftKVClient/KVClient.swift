public import NIOCore
import NIOHTTP1
public import NIOPosix
import Synchronization

/// A minimal async HTTP/1.1 client for one raftkv node: ONE keep-alive connection to one
/// `host:port`, over which requests run one at a time (a caller that wants concurrency uses
/// several clients).
///
/// It never follows redirects: a follower's `307` comes back as it is, and the caller decides
/// whether to go to the leader. A request that times out closes the connection (a late response
/// must not be taken for the next request's), and the next request connects again; so does the
/// request after a connection error.
public final class KVClient: Sendable {
    /// The node's host.
    public let host: String
    /// The node's HTTP port.
    public let port: Int
    private let group: any EventLoopGroup
    private let state = Mutex(State())

    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var channel: (any Channel)?
        var nextRequestID: UInt64 = 0
        var closed = false
    }

    /// Creates a client for the node at `host`:`port`; it connects on the first request.
    public init(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.group = group
    }

    /// Sends one request and returns the node's response, whatever its status.
    ///
    /// - Parameters:
    ///   - method: `GET`, `PUT`, `POST`, `DELETE`, …
    ///   - path: the path and query, already percent-encoded (`/kv/a%2Fb?stale`).
    ///   - body: the request body.
    ///   - timeout: how long the whole request may take, connecting included. On expiry the
    ///     connection is closed and ``KVClientError/timedOut`` thrown.
    /// - Throws: ``KVClientError``, or `CancellationError` when the task is cancelled (which
    ///   closes the connection too).
    public func request(_ method: String, _ path: String, body: [UInt8] = [], timeout: Duration) async throws -> KVResponse {
        let deadline = ContinuousClock.now + timeout
        await takeTurn()
        defer { passTurn() }
        let (channel, id) = try await connection(deadline: deadline)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: String(body.count))
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)
        // The answer can come from the connection's handler, from the timer, from a cancellation
        // or from a write that never reached the handler (the connection closed between the check
        // above and the write: the handler is gone and would never answer). Whichever is first
        // wins; the others find the slot filled.
        let slot = ResponseSlot()
        let remaining = deadline - ContinuousClock.now
        let timer = channel.eventLoop.scheduleTask(in: Self.timeAmount(remaining)) {
            slot.fill(.failure(KVClientError.timedOut))
            channel.close(promise: nil)
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in slot.fill(.failure(KVClientError.connectionClosed)) }
        channel.writeAndFlush(OutgoingRequest(id: id, head: head, body: body, slot: slot), promise: written)
        do {
            let response = try await withTaskCancellationHandler {
                try await slot.value()
            } onCancel: {
                slot.fill(.failure(CancellationError()))
                channel.close(promise: nil)
            }
            timer.cancel()
            if response.header("Connection")?.lowercased() == "close" { drop(channel) }
            return response
        } catch {
            timer.cancel()
            drop(channel)
            throw error
        }
    }

    /// Closes the connection. Requests after this throw ``KVClientError/connectionClosed``.
    public func close() async {
        let channel = state.withLock { state in
            state.closed = true
            defer { state.channel = nil }
            return state.channel
        }
        try? await channel?.close()
    }

    /// The open connection, or a new one; and the id of the request about to use it.
    private func connection(deadline: ContinuousClock.Instant) async throws -> (any Channel, UInt64) {
        let (existing, id, closed) = state.withLock { state in
            state.nextRequestID += 1
            return (state.channel, state.nextRequestID, state.closed)
        }
        if closed { throw KVClientError.connectionClosed }
        if let existing, existing.isActive { return (existing, id) }
        if let existing { drop(existing) }
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw KVClientError.timedOut }
        guard let bootstrap = ClientBootstrap(validatingGroup: group) else {
            throw KVClientError.connectFailed("the event loop group cannot run NIOPosix sockets")
        }
        let channel: any Channel
        do {
            channel = try await bootstrap
                .connectTimeout(Self.timeAmount(remaining))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(HTTPExchangeHandler())
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw KVClientError.connectFailed("\(host):\(port): \(error)")
        }
        state.withLock { $0.channel = channel }
        return (channel, id)
    }

    /// Forgets `channel` (if it is still the client's) and closes it.
    private func drop(_ channel: any Channel) {
        state.withLock { state in
            if state.channel === channel { state.channel = nil }
        }
        channel.close(promise: nil)
    }

    /// Waits until no other request of this client is running, then marks one running.
    private func takeTurn() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if free { continuation.resume() }
        }
    }

    /// Hands the turn to the next waiting request, if any.
    private func passTurn() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}

/// A request as the client hands it to its connection's pipeline.
struct OutgoingRequest: Sendable {
    let id: UInt64
    let head: HTTPRequestHead
    let body: [UInt8]
    let slot: ResponseSlot
}

/// Where one request's outcome goes: filled once, by whoever knows it first; the request waits
/// on it. Unlike an `EventLoopPromise`, it may be offered an outcome more than once (a timer and
/// a closing connection can race), and it needs no handler to be alive to be filled.
final class ResponseSlot: Sendable {
    private struct State {
        var outcome: Result<KVResponse, any Error>?
        var waiter: CheckedContinuation<KVResponse, any Error>?
    }

    private let state = Mutex(State())

    /// Records `outcome` unless one was recorded already, and wakes the waiting request.
    func fill(_ outcome: Result<KVResponse, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<KVResponse, any Error>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: outcome)
    }

    /// The outcome, once there is one.
    func value() async throws -> KVResponse {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<KVResponse, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// Writes one request at a time and fills its slot with the response that follows (HTTP/1.1
/// answers in order, and the client never has two requests outstanding on a connection).
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = OutgoingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: (id: UInt64, slot: ResponseSlot)?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard pending == nil else {
            request.slot.fill(.failure(KVClientError.malformedResponse("a request is already outstanding on this connection")))
            promise?.succeed(())
            return
        }
        guard context.channel.isActive else {
            request.slot.fill(.failure(KVClientError.connectionClosed))
            promise?.succeed(())
            return
        }
        pending = (request.id, request.slot)
        head = nil
        body = []
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if !request.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: request.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let pending, let head else {
                fail(with: KVClientError.malformedResponse("a response arrived with no request outstanding"))
                context.close(promise: nil)
                return
            }
            self.pending = nil
            self.head = nil
            let response = KVResponse(
                status: Int(head.status.code),
                headers: head.headers.map { (name: $0.name, value: $0.value) },
                body: body
            )
            body = []
            pending.slot.fill(.success(response))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(with: KVClientError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            fail(with: KVClientError.malformedResponse("\(error)"))
        } else {
            fail(with: KVClientError.connectionClosed)
        }
        context.close(promise: nil)
    }

    private func fail(with error: any Error) {
        guard let pending else { return }
        self.pending = nil
        pending.slot.fill(.failure(error))
    }
}
