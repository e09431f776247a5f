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
/// For TLS, the `RaftTLS` product's `TLSStreamLayer` (swift-nio-ssl) puts a TLS handler and a
/// gate that holds back every byte until the peer passed its checks in front of the transport's
/// handlers, and waits in `dial` for the handshake; see Docs/tls.md. It is a product of its own
/// so that this module never depends on BoringSSL.
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
