public import NIOCore

/// How a ``NetworkTransport`` opens its connections: a listener that accepts peers' calls, and
/// dialing for its own calls (hashicorp/raft's `StreamLayer`).
///
/// The layer owns the bootstraps, so it chooses socket options, and it may put handlers of its
/// own at the front of every channel's pipeline before it calls the transport's initializer,
/// which adds the framing and RPC handlers behind them. The transport only ever reads and writes
/// plain bytes through whatever the layer put in front, which is what lets encryption plug in
/// without the transport knowing. ``TCPStreamLayer`` is plain TCP.
///
/// A TLS layer (with swift-nio-ssl, not a dependency of this package) would look like this;
/// every connection is then encrypted in both directions, and hashicorp/raft peers need the same
/// TLS configuration on their side (their `NewNetworkTransport` with a TLS `StreamLayer`):
///
/// ```swift
/// struct TLSStreamLayer: StreamLayer {
///     let server: NIOSSLContext   // certificate and key, and client verification if wanted
///     let client: NIOSSLContext   // trust roots
///     let tcp = TCPStreamLayer()
///
///     func listen(host: String, port: Int, group: any EventLoopGroup,
///                 childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>)
///         async throws -> any Channel {
///         try await tcp.listen(host: host, port: port, group: group) { channel in
///             channel.eventLoop.makeCompletedFuture {
///                 try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server))
///             }.flatMap { childChannelInitializer(channel) }
///         }
///     }
///
///     func dial(host: String, port: Int, timeout: TimeAmount, eventLoop: any EventLoop,
///               channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>)
///         async throws -> any Channel {
///         try await tcp.dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop) { channel in
///             channel.eventLoop.makeCompletedFuture {
///                 try channel.pipeline.syncOperations.addHandler(
///                     try NIOSSLClientHandler(context: client, serverHostname: host))
///             }.flatMap { channelInitializer(channel) }
///         }
///     }
/// }
/// ```
public protocol StreamLayer: Sendable {
    /// Starts listening on `host`:`port` (port 0 picks a free one) and returns the listening
    /// channel, whose `localAddress` is the address actually bound. Each accepted connection
    /// must get the layer's own handlers first, then `childChannelInitializer`'s.
    ///
    /// The port must be reusable at once after the listener closes (`SO_REUSEADDR`), so a
    /// restarted server can listen at its old address.
    func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel

    /// Connects to `host`:`port` on `eventLoop`, giving up after `timeout`, and returns the
    /// connected channel, set up by the layer's own handlers first, then `channelInitializer`'s.
    func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel
}
