public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import RaftNetworkTransport
import Synchronization

/// A ``RaftNetworkTransport/StreamLayer`` that runs every connection of a
/// ``RaftNetworkTransport/NetworkTransport`` over TLS, mutually authenticated by default.
///
/// Each node presents its certificate both when it accepts and when it dials, and trusts only
/// the authorities in ``Configuration/trustRoots`` (usually the cluster's own CA). A peer is
/// refused, with a warning naming the reason, when it presents no certificate, one from another
/// authority, an expired one, one that does not name the address dialed, one outside
/// ``Configuration/allowedPeerNames``, or no TLS at all; nothing it sent reaches Raft, and the
/// server keeps serving everyone else.
///
/// ```swift
/// let tls = try await TLSStreamLayer(configuration: .init(
///     certificateChain: .file("/etc/raft/node-1.pem"),
///     privateKey: .file("/etc/raft/node-1.key"),
///     trustRoots: .file("/etc/raft/ca.pem")
/// ))
/// let transport = try await NetworkTransport.bind(
///     to: "10.0.0.1:7000", options: NetworkTransport.Options(streamLayer: tls))
/// ```
///
/// Certificates rotate without a restart: ``reloadCertificates()`` reads the files again (or
/// ``reload(_:)`` takes a new configuration), and every connection opened afterwards uses them;
/// connections already open keep theirs until they close.
///
/// The bytes inside TLS are hashicorp/raft's wire format, unchanged, so a hashicorp/raft node
/// whose own `StreamLayer` speaks TLS with the same certificates interoperates.
public final class TLSStreamLayer: StreamLayer {
    private let tcp: TCPStreamLayer
    private let logger: Logger
    private let contexts: Mutex<TLSContexts>

    /// A layer presenting `configuration`'s certificate and trusting its roots, over `tcp`'s
    /// sockets. Reads the PEM files on NIO's blocking-I/O thread pool.
    ///
    /// - Throws: ``TLSStreamLayerError`` with code `unreadableFile` or `invalidConfiguration`
    ///   (no certificate, a key that does not parse or does not match).
    public init(
        configuration: Configuration,
        tcp: TCPStreamLayer = TCPStreamLayer(),
        logger: Logger = Logger(label: "swift-raft.tls")
    ) async throws {
        let loaded = try await Self.load(configuration)
        self.tcp = tcp
        self.logger = logger
        self.contexts = Mutex(loaded)
        logLoaded(loaded, what: "using")
    }

    /// The configuration in use.
    public var configuration: Configuration { contexts.withLock { $0.configuration } }

    /// Reads the certificate chain, key and trust roots again from the current configuration's
    /// sources; connections opened afterwards use them. On failure nothing changes.
    ///
    /// - Throws: ``TLSStreamLayerError`` as ``init(configuration:tcp:logger:)`` does.
    public func reloadCertificates() async throws {
        try await reload(configuration)
    }

    /// Switches to `configuration`; connections opened afterwards use it. On failure nothing
    /// changes.
    ///
    /// - Throws: ``TLSStreamLayerError`` as ``init(configuration:tcp:logger:)`` does.
    public func reload(_ configuration: Configuration) async throws {
        let loaded: TLSContexts
        do {
            loaded = try await Self.load(configuration)
        } catch {
            logger.error("TLS certificates not reloaded, keeping the ones in use: \(error)")
            throw error
        }
        contexts.withLock { $0 = loaded }
        logLoaded(loaded, what: "reloaded; new connections use")
    }

    /// Listens on `host`:`port`; every accepted connection starts with a TLS handshake.
    public func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await tcp.listen(host: host, port: port, group: group) { [self] channel in
            channel.eventLoop.makeCompletedFuture {
                let current = self.contexts.withLock { $0 }
                let tls = NIOSSLServerHandler(context: current.server)
                let remote = channel.remoteAddress.map { address in
                    address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? "\(address)"
                } ?? "an unknown address"
                try channel.pipeline.syncOperations.addHandler(tls)
                try channel.pipeline.syncOperations.addHandler(
                    TLSHandshakeGate(side: .accepted(from: remote), contexts: current, tls: tls, logger: self.logger, handshakeDone: nil)
                )
            }.flatMap { childChannelInitializer(channel) }
        }
    }

    /// Connects to `host`:`port` and returns once the TLS handshake finished and the server
    /// passed every check.
    ///
    /// - Throws: ``TLSStreamLayerError`` (`handshakeFailed`, `handshakeTimedOut`,
    ///   `peerNotAllowed`) when the server is refused, or what the TCP dial throws.
    public func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        let current = contexts.withLock { $0 }
        let handshakeDone = eventLoop.makePromise(of: Void.self)
        let target = "\(host):\(port)"
        let channel: any Channel
        do {
            channel = try await tcp.dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop) { [logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    // SNI carries host names only; for an IP address NIOSSL checks the
                    // certificate against the address connected to instead.
                    let tls = try NIOSSLClientHandler(context: current.client, serverHostname: host.isIPAddress ? nil : host)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(
                        TLSHandshakeGate(side: .dialed(to: target), contexts: current, tls: tls, logger: logger, handshakeDone: handshakeDone)
                    )
                }.flatMap { channelInitializer(channel) }
            }
        } catch {
            handshakeDone.fail(error)
            throw error
        }
        do {
            try await handshakeDone.futureResult.get()
            return channel
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    private static func load(_ configuration: Configuration) async throws -> TLSContexts {
        try await NIOThreadPool.singleton.runIfActive { try TLSContexts.load(configuration) }
    }

    private func logLoaded(_ loaded: TLSContexts, what: String) {
        let configuration = loaded.configuration
        logger.info(
            "TLS \(what) \(loaded.leaf.summary), valid until \(loaded.leaf.notValidAfter)",
            metadata: [
                "tls.certificate": "\(configuration.certificateChain)",
                "tls.trust_roots": "\(configuration.trustRoots)",
                "tls.mutual": "\(configuration.requireClientCertificates)",
                "tls.verify_server_address": "\(configuration.verifyServerAddress)",
                "tls.allowed_peers": "\(configuration.allowedPeerNames.sorted())",
            ]
        )
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address literal (which TLS's SNI cannot carry).
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
