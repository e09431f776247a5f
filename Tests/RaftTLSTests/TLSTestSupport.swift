import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RaftNetworkTransport
import RaftTLS
import RaftTestKit
import SwiftRaft
import Synchronization

/// The certificates `scripts/make-test-certificates.sh` wrote into Fixtures/ (see the script for
/// what each one is).
enum Certificates {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// The PEM file `name` (e.g. "node-1.pem").
    static func file(_ name: String) -> PEMSource { .file(path(name)) }

    /// A node presenting `identity`.pem/.key and trusting `trust`.pem.
    static func configuration(
        _ identity: String = "node-1",
        trusting trust: String = "ca",
        change: (inout TLSStreamLayer.Configuration) -> Void = { _ in }
    ) -> TLSStreamLayer.Configuration {
        var configuration = TLSStreamLayer.Configuration(
            certificateChain: file("\(identity).pem"),
            privateKey: file("\(identity).key"),
            trustRoots: file("\(trust).pem")
        )
        change(&configuration)
        return configuration
    }
}

/// A logger that drops everything, for the side of a test whose logs nobody reads.
let silentLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Transport options for tests: no logs, short waits, and the given stream layer.
func transportOptions(_ layer: any StreamLayer, timeout: Duration = .seconds(10)) -> NetworkTransport.Options {
    var options = NetworkTransport.Options(logger: silentLogger)
    options.streamLayer = layer
    options.timeout = timeout
    options.connectTimeout = .seconds(20)
    return options
}

/// A transport on a free loopback port over `layer`.
func bindTransport(_ layer: any StreamLayer) async throws -> NetworkTransport {
    try await NetworkTransport.bind(to: "127.0.0.1:0", options: transportOptions(layer))
}

/// A TLS layer for `configuration`, logging to `logger`.
func tlsLayer(_ configuration: TLSStreamLayer.Configuration, logger: Logger = silentLogger) async throws -> TLSStreamLayer {
    try await TLSStreamLayer(configuration: configuration, logger: logger)
}

/// Records every RPC a transport hands to Raft, answering votes with a grant: what "reached
/// Raft" means in these tests.
final class ReceivedRPCs: Sendable {
    private let received = Mutex<[RaftRequest]>([])

    /// Installs itself as `transport`'s RPC handler.
    init(on transport: any Transport) {
        transport.setRPCHandler { [self] rpc in
            received.withLock { $0.append(rpc.request) }
            if case .requestVote(let request) = rpc.request {
                rpc.respond(.requestVote(RequestVoteResponse(header: request.header, term: request.term, peers: [], granted: true)))
            } else {
                rpc.respond(error: RaftError(.unsupportedProtocol, "this test answers only RequestVote"))
            }
        }
    }

    var count: Int { received.withLock { $0.count } }
}

/// A RequestVote from node-9, the call every check here makes.
let voteRequest = RequestVoteRequest(
    header: RPCHeader(protocolVersion: 3, id: "node-9", address: "127.0.0.1:1"),
    term: 7, candidate: "node-9", lastLogIndex: 0, lastLogTerm: 0
)

/// Sends ``voteRequest`` from `client` to `server`.
@discardableResult
func callVote(from client: NetworkTransport, to server: NetworkTransport) async throws -> RequestVoteResponse {
    try await client.requestVote(id: "server", target: server.localAddress, voteRequest, timeout: .seconds(10))
}

/// Waits until `collector` holds a warning containing `fragment`, and returns it. The server
/// logs a refusal on its own event loop, which may run after the client already saw the
/// connection fail, so the check waits for it (up to `timeout`) rather than looking once.
func warning(containing fragment: String, in collector: LogCollector, timeout: Duration = .seconds(20)) async throws -> String? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let found = collector.warnings.first(where: { $0.text.contains(fragment) }) { return found.text }
        try await Task.sleep(for: .milliseconds(10))
    }
    return nil
}

/// A TLS client layer that presents no certificate at all (the peer a mutual-TLS server must
/// refuse); it only dials.
struct CertificatelessTLSLayer: StreamLayer {
    func listen(
        host: String, port: Int, group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await TCPStreamLayer().listen(host: host, port: port, group: group, childChannelInitializer: childChannelInitializer)
    }

    func dial(
        host: String, port: Int, timeout: TimeAmount, eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(Certificates.path("ca.pem")))
        configuration.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: configuration)
        return try await TCPStreamLayer().dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
            }.flatMap { channelInitializer(channel) }
        }
    }
}

/// Runs `body` with a transport on a free loopback port over each of `layers`, in order, and
/// closes them all afterwards, whatever `body` does.
func withTransports(over layers: [any StreamLayer], _ body: ([NetworkTransport]) async throws -> Void) async throws {
    var transports: [NetworkTransport] = []
    do {
        for layer in layers { transports.append(try await bindTransport(layer)) }
        try await body(transports)
    } catch {
        for transport in transports { await transport.close() }
        throw error
    }
    for transport in transports { await transport.close() }
}
