public import NIOCore
import NIOPosix

/// Plain TCP, the default ``StreamLayer`` (hashicorp/raft's `TCPStreamLayer`).
///
/// Sockets have Nagle's algorithm off, since an RPC's latency matters more than packet count
/// and the transport batches its own writes; listeners reuse their address at once, so a
/// restarted server gets its port back.
public struct TCPStreamLayer: StreamLayer {
    /// The listen backlog.
    public var backlog: Int32
    /// The most bytes one socket read may return. Larger reads mean fewer system calls for a
    /// pipeline's stream of big AppendEntries; NIO adapts each connection's reads between 64
    /// bytes and this.
    public var maximumReadSize: Int

    /// Creates a TCP layer.
    public init(backlog: Int32 = 256, maximumReadSize: Int = 256 << 10) {
        self.backlog = backlog
        self.maximumReadSize = max(maximumReadSize, 4096)
    }

    /// Listens on `host`:`port` with plain TCP.
    public func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        guard let bootstrap = ServerBootstrap(validatingGroup: group) else {
            throw TCPStreamLayerError("the event loop group cannot run NIOPosix sockets")
        }
        return try await bootstrap
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: readAllocator)
            .childChannelInitializer(childChannelInitializer)
            .bind(host: host, port: port)
            .get()
    }

    /// Connects to `host`:`port` with plain TCP.
    public func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        guard let bootstrap = ClientBootstrap(validatingGroup: eventLoop) else {
            throw TCPStreamLayerError("the event loop cannot run NIOPosix sockets")
        }
        return try await bootstrap
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: readAllocator)
            .channelInitializer(channelInitializer)
            .connect(host: host, port: port)
            .get()
    }

    private var readAllocator: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 4096, maximum: maximumReadSize)
    }
}

/// A ``TCPStreamLayer`` was given an event loop group it cannot use.
struct TCPStreamLayerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
