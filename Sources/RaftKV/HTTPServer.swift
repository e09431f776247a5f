import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// raftkv's HTTP/1.1 server, on SwiftNIO's NIOHTTP1, as a swift-service-lifecycle `Service`.
///
/// Why NIOHTTP1 and not a framework (Hummingbird, Vapor): SwiftNIO is already in every build of
/// swift-raft (the TCP transport), so this server adds no package; a framework would add several,
/// and minutes to every CI build, for a dozen routes that fit in one `switch` (see `Routes.swift`).
///
/// Each request runs in its own task, so a write waiting for its commit holds up no other
/// connection; on one connection, NIO's pipelining handler keeps responses in request order.
/// On a graceful shutdown the server stops accepting, answers every request already received
/// (with `Connection: close`), then closes the remaining connections and returns; only then
/// does the service group shut the node down.
final class HTTPServer: Service {
    /// The address the server listens on, `host:port`.
    let localAddress: String
    private let listener: any Channel
    private let connections: HTTPConnections
    private let logger: Logger

    /// The largest body accepted; larger requests get `413` and the connection is closed.
    static let maximumBodySize = 64 << 20

    private init(listener: any Channel, connections: HTTPConnections, localAddress: String, logger: Logger) {
        self.listener = listener
        self.connections = connections
        self.localAddress = localAddress
        self.logger = logger
    }

    /// Listens on `host`:`port` and serves each request with `respond`. Binding happens here,
    /// before the service group runs, so an unusable address fails the start with a clear error.
    static func bind(
        host: String,
        port: Int,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        respond: @escaping @Sendable (HTTPRequest) async -> HTTPReply
    ) async throws -> HTTPServer {
        let connections = HTTPConnections()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.register(channel) else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPRequestHandler(connections: connections, respond: respond)
                    )
                }
            }
            .bind(host: host, port: port)
            .get()
        let bound = listener.localAddress?.port.map { "\(host):\($0)" } ?? "\(host):\(port)"
        return HTTPServer(listener: listener, connections: connections, localAddress: bound, logger: logger)
    }

    /// Serves until a graceful shutdown or cancellation, then drains as described above.
    func run() async throws {
        logger.info("HTTP API listening", metadata: ["http": "\(localAddress)"])
        try? await gracefulShutdown()
        logger.info("HTTP API: no new connections; answering requests in flight")
        // Draining before the listener closes, so every reply from now on carries `Connection: close`.
        connections.beginDraining()
        try? await listener.close()
        await connections.drain()
        logger.info("HTTP API stopped")
    }
}

/// The server's open connections and how many requests are being answered, so a shutdown can
/// wait for the answers before it closes the connections.
final class HTTPConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var inFlight = 0
        var draining = false
        var drained: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Whether a shutdown has begun: replies then carry `Connection: close`.
    var isDraining: Bool { state.withLock { $0.draining } }

    /// Tracks `channel` until it closes; false once draining (the connection is refused).
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state -> Bool in
            guard !state.draining else { return false }
            state.channels[id] = channel
            return true
        }
        if accepted {
            channel.closeFuture.whenComplete { [self] _ in
                _ = state.withLock { $0.channels.removeValue(forKey: id) }
            }
        }
        return accepted
    }

    func requestStarted() { state.withLock { $0.inFlight += 1 } }

    func requestFinished() {
        let drained = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight -= 1
            guard state.inFlight == 0 else { return nil }
            defer { state.drained = nil }
            return state.drained
        }
        drained?.resume()
    }

    /// Refuses new connections from now on, and marks replies `Connection: close`.
    func beginDraining() { state.withLock { $0.draining = true } }

    /// Waits until no request is being answered, then closes every connection.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                state.draining = true
                guard state.inFlight > 0 else { return true }
                state.drained = continuation
                return false
            }
            if done { continuation.resume() }
        }
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels { try? await channel.close() }
    }
}

/// Collects one request (head, body, end), hands it to the routes in a task of its own, and
/// writes the reply back.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let connections: HTTPConnections
    private let respond: @Sendable (HTTPRequest) async -> HTTPReply
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(connections: HTTPConnections, respond: @escaping @Sendable (HTTPRequest) async -> HTTPReply) {
        self.connections = connections
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            tooLarge = false
        case .body(var buffer):
            guard !tooLarge else { return }
            if body.count + buffer.readableBytes > HTTPServer.maximumBodySize {
                tooLarge = true
                body = []
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let request = HTTPRequest(method: head.method.rawValue, uri: head.uri, body: body)
            body = []
            let keepAlive = head.isKeepAlive && !tooLarge
            let version = head.version
            let channel = context.channel
            let connections = connections
            let respond = respond
            let oversized = tooLarge
            connections.requestStarted()
            Task {
                let reply =
                    oversized
                    ? HTTPReply.text(413, "request body larger than \(HTTPServer.maximumBodySize) bytes")
                    : await respond(request)
                let close = !keepAlive || connections.isDraining
                var headers = HTTPHeaders()
                for field in reply.headers { headers.add(name: field.name, value: field.value) }
                headers.replaceOrAdd(name: "Content-Length", value: String(reply.body.count))
                if close { headers.replaceOrAdd(name: "Connection", value: "close") }
                let status = HTTPResponseStatus(statusCode: reply.status)
                channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers)), promise: nil)
                if !reply.body.isEmpty {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: reply.body))), promise: nil)
                }
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
                    if close { channel.close(promise: nil) }
                    connections.requestFinished()
                }
            }
        }
    }
}
