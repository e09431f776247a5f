import NIOCore
public import SwiftRaft
import Synchronization

/// hashicorp/raft's `NetworkTransport` over TCP: protocol version 3, byte for byte, so a
/// swift-raft node and hashicorp/raft nodes can form one cluster.
///
/// Each server dials its peers for its own calls and serves theirs on its listener:
/// - ``send(_:to:timeout:completion:)`` borrows an idle connection to the peer or dials a new
///   one, keeps up to ``Options/maxPool`` idle afterwards (for at most ``Options/maxIdleTime``),
///   and fails with `RaftError.Code.timeout` when the request's timeout passes,
///   closing that connection;
/// - ``appendEntriesPipeline(to:)`` gets a connection of its own that carries AppendEntries
///   without waiting for each answer;
/// - InstallSnapshot streams the snapshot's bytes after the request, reading them off the event
///   loop, and closes its connection afterwards, as hashicorp/raft does;
/// - incoming RPCs go to the handler installed with ``setRPCHandler(_:)``, called on the
///   connection's event loop; bare heartbeats go to the heartbeat handler if one is installed;
///   answers go back in request order.
///
/// All I/O runs in SwiftNIO channel handlers on ``Options/eventLoopGroup`` (one shared thread by
/// default), and nothing on a request's way waits or suspends: `async` is only the edge of the
/// conveniences (`Transport.appendEntries(id:target:_:timeout:)` and the like) and
/// of InstallSnapshot. Errors are `RaftError`s:
/// `RaftError.Code.unreachable` when a peer cannot be dialed or the connection ends
/// before the answer, `RaftError.Code.timeout`,
/// `RaftError.Code.corrupt` for an answer that cannot be decoded,
/// `RaftError.Code.preVoteUnsupported` for a peer that predates RequestPreVote,
/// `RaftError.Code.transportShutdown` once closed; a peer's error answer fails the
/// call with a `RaftError` carrying its text.
public final class NetworkTransport: PreVoteTransport, ClosableTransport {
    /// The address peers reach this server at: the advertised address, or the bound one (with
    /// the real port when bound to port 0).
    public let localAddress: ServerAddress
    /// How this transport behaves.
    public let options: Options
    /// Runs tasks on the event loop this transport listens on, which with the default
    /// ``Options/eventLoopGroup`` (one thread) carries every one of its connections.
    ///
    /// Raft itself needs no task here: it sends through callbacks, and its RPC handler is called
    /// on the loop already. What it serves is `async` code outside Raft that makes one call at a
    /// time (`Transport.appendEntries(id:target:_:timeout:)` and the like, in a
    /// tool or a benchmark): preferring this executor,
    /// `Task(executorPreference: transport.taskExecutor) { … }`, it is resumed on the loop that
    /// completed the call, without a thread hand-off. The task's work then delays the
    /// transport's I/O, so only short, non-blocking work belongs there; see
    /// ``EventLoopTaskExecutor``.
    public let taskExecutor: EventLoopTaskExecutor

    /// ``Options/maxFrameSize``: peers are assumed to refuse frames beyond the same limit, so a
    /// request that encodes larger fails with `RaftError.Code.invalidArgument`
    /// instead of being sent, and Raft keeps its commands and batches below it.
    public var maxMessageSize: Int? { options.maxFrameSize }

    let dispatcher: RPCDispatcher
    let connections: TransportConnections
    let limits: WireLimits
    /// Encodes requests for ``send(_:to:timeout:completion:)`` on the caller's thread, keeping
    /// that work off the event loop. Raft sends from one thread, so the lock is uncontended; it
    /// only keeps concurrent callers from sharing the encoder's buffer.
    let encoder = Mutex(WireEncoder())
    let allocator = ByteBufferAllocator()
    private let listener: any Channel

    private init(
        localAddress: ServerAddress,
        options: Options,
        dispatcher: RPCDispatcher,
        connections: TransportConnections,
        listener: any Channel
    ) {
        self.localAddress = localAddress
        self.options = options
        self.dispatcher = dispatcher
        self.connections = connections
        self.limits = WireLimits(maxFrameSize: options.maxFrameSize)
        self.listener = listener
        self.taskExecutor = EventLoopTaskExecutor(listener.eventLoop)
    }

    /// A transport dropped without ``close()`` still releases its port and connections.
    deinit {
        guard let (channels, pipelines) = connections.close() else { return }
        listener.close(promise: nil)
        for pipeline in pipelines { pipeline.shutdown(RaftError(.pipelineShutdown, "transport \(localAddress) closed")) }
        for channel in channels { channel.close(promise: nil) }
        dispatcher.finish()
        connections.closeFinished()
    }

    // MARK: Creating

    /// Listens on `address` (`host:port`; port 0 picks a free port) and returns the transport.
    ///
    /// - Parameters:
    ///   - address: Where to listen, e.g. `127.0.0.1:7000`, `[::1]:0` or `0.0.0.0:7000`.
    ///   - advertise: The address peers should dial, when it differs from `address`. Required
    ///     when `address` is unspecified (`0.0.0.0`, `::`), which names no machine a peer could
    ///     dial.
    ///   - options: Pool, timeouts, windows, event loops, stream layer, logger.
    /// - Throws: `RaftError.Code.invalidArgument` when the address to advertise is
    ///   unspecified (hashicorp/raft's `errNotAdvertisable`) or not `host:port`;
    ///   `RaftError.Code.unreachable` when the stream layer cannot listen.
    public static func bind(
        to address: ServerAddress,
        advertise: ServerAddress? = nil,
        options: Options = Options()
    ) async throws -> NetworkTransport {
        let bindAddress = try HostAndPort(parsing: address)
        let advertised = try advertise.map { try HostAndPort(parsing: $0) }
        if let advertised, advertised.isUnspecified {
            throw notAdvertisable(advertised.description)
        }
        if advertised == nil && bindAddress.isUnspecified {
            throw notAdvertisable(bindAddress.description)
        }

        let dispatcher = RPCDispatcher(options: options)
        let connections = TransportConnections(maxPool: options.maxPool, maxIdleTime: options.maxIdleTime)
        let limits = WireLimits(maxFrameSize: options.maxFrameSize)
        let listener: any Channel
        do {
            listener = try await options.streamLayer.listen(
                host: bindAddress.host,
                port: bindAddress.port,
                group: options.eventLoopGroup
            ) { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.registerAccepted(channel) else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestFrameDecoder(limits: limits)))
                    try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(dispatcher: dispatcher))
                }
            }
        } catch {
            throw RaftError(.unreachable, "cannot listen on \(bindAddress): \(error)")
        }

        var local = advertised
        if local == nil, let bound = listener.localAddress.flatMap(HostAndPort.init) {
            local = bound
        }
        guard let local, !local.isUnspecified else {
            try? await listener.close()
            throw notAdvertisable(local?.description ?? "\(listener.localAddress.map { "\($0)" } ?? "?")")
        }
        return NetworkTransport(
            localAddress: ServerAddress(local.description),
            options: options,
            dispatcher: dispatcher,
            connections: connections,
            listener: listener
        )
    }

    /// Listens on `host`:`port` (port 0 picks a free port); see ``bind(to:advertise:options:)``.
    public static func bind(
        host: String,
        port: Int,
        advertise: ServerAddress? = nil,
        options: Options = Options()
    ) async throws -> NetworkTransport {
        try await bind(to: ServerAddress(HostAndPort(host: host, port: port).description), advertise: advertise, options: options)
    }

    private static func notAdvertisable(_ address: String) -> RaftError {
        RaftError(
            .invalidArgument,
            "local bind address is not advertisable: \(address) names no host peers can dial; pass advertise:"
        )
    }

    // MARK: Incoming RPCs

    /// Installs the handler for incoming RPCs (nil removes it). It is called on the connection's
    /// event loop as soon as a read's requests are decoded, in the order they arrived, so it must
    /// not block: Raft's queues the request for its node and returns. Until one is installed,
    /// and after ``close()``, requests are answered with an error (and a snapshot's data is
    /// dropped).
    public func setRPCHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        dispatcher.setRPCHandler(handler)
    }

    /// Installs the handler for bare heartbeats (an AppendEntries with a term, a leader address
    /// and nothing else, hashicorp/raft's fast-path shape). It is called on the event loop as
    /// soon as a heartbeat is decoded, without waiting behind other RPCs, so it must answer
    /// quickly and must not block. Passing nil sends heartbeats to the RPC handler again.
    public func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        dispatcher.setHeartbeatHandler(handler)
    }

    // MARK: Closing

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { connections.isClosed }

    /// Stops listening, closes every connection (pooled, in use, dialing, accepted, pipelines),
    /// removes the RPC and heartbeat handlers, and fails calls not yet answered and every later
    /// call with `RaftError.Code.transportShutdown`. Answers Raft gives to RPCs it
    /// received before are dropped. Calling it again waits for the first call to finish.
    public func close() async {
        guard let (channels, pipelines) = connections.close() else {
            await connections.waitUntilClosed()
            return
        }
        try? await listener.close()
        for pipeline in pipelines { pipeline.shutdown(RaftError(.pipelineShutdown, "transport \(localAddress) closed")) }
        let closing = channels.map { channel in channel.close().recover { _ in } }
        for future in closing { try? await future.get() }
        dispatcher.finish()
        connections.closeFinished()
    }

    // MARK: For tests

    /// How many connections the listener has accepted so far.
    var acceptedConnections: Int { connections.counts.accepted }

    /// How many connections this transport has dialed so far, pipelines' included.
    var dialedConnections: Int { connections.counts.dialed }

    /// How many idle connections to `target` the pool holds.
    func idleConnections(to target: ServerAddress) -> Int { connections.idleCount(to: target) }
}
