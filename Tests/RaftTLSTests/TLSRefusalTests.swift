import NIOCore
import RaftNetworkTransport
import RaftTLS
import RaftTestKit
import SwiftRaft
import Testing

/// A mutual-TLS server refuses every peer it should, logs why, lets nothing such a peer sent
/// reach Raft, and goes on serving good peers; a dialing node refuses servers it should.
@Suite("TLS: who is refused, and why", .timeLimit(.minutes(3)))
struct TLSRefusalTests {
    /// The peers a mutual-TLS server must turn away, each with what its warning must say.
    enum BadClient: String, CaseIterable, CustomTestStringConvertible {
        case withoutClientCertificate, fromAnotherAuthority, withExpiredCertificate, speakingPlaintext

        var testDescription: String { rawValue }

        /// Words the server's warning must contain.
        var reason: String {
            switch self {
            case .withoutClientCertificate: return "presented no client certificate"
            case .fromAnotherAuthority: return "not a trusted authority"
            case .withExpiredCertificate: return "expired on"
            case .speakingPlaintext: return "does not speak TLS"
            }
        }

        func layer() async throws -> any StreamLayer {
            switch self {
            case .withoutClientCertificate: return CertificatelessTLSLayer()
            case .fromAnotherAuthority: return try await tlsLayer(Certificates.configuration("rogue"))
            case .withExpiredCertificate: return try await tlsLayer(Certificates.configuration("expired"))
            case .speakingPlaintext: return TCPStreamLayer()
            }
        }
    }

    // A client without a certificate, with one from another authority, with an expired one, or
    // without TLS at all is refused with a logged reason; nothing it sent reaches Raft, and a
    // good client is served right after.
    @Test(arguments: BadClient.allCases)
    func aMutualTLSServerRefusesABadClientSaysWhyAndKeepsServingGoodOnes(_ bad: BadClient) async throws {
        let log = LogCollector()
        try await withTransports(over: [
            try await tlsLayer(Certificates.configuration("node-1"), logger: log.logger),
            try await bad.layer(),
            try await tlsLayer(Certificates.configuration("node-2")),
        ]) { transports in
            let (server, intruder, good) = (transports[0], transports[1], transports[2])
            let received = ReceivedRPCs(on: server)

            await #expect(throws: (any Error).self) { try await callVote(from: intruder, to: server) }
            let warning = try await warning(containing: bad.reason, in: log)
            #expect(warning != nil, "the server's warnings: \(log.warnings.map(\.text))")
            #expect(received.count == 0)

            let answer = try await callVote(from: good, to: server)
            #expect(answer.granted)
            #expect(received.count == 1)
        }
    }

    // A server whose certificate comes from an authority the dialer does not trust is refused
    // by the dialer, and the call's error says so.
    @Test func aDialerRefusesAServerFromAnotherAuthority() async throws {
        try await withTransports(over: [
            try await tlsLayer(Certificates.configuration("rogue", trusting: "ca")),
            try await tlsLayer(Certificates.configuration("node-2")),
        ]) { transports in
            let (server, client) = (transports[0], transports[1])
            let received = ReceivedRPCs(on: server)

            let error = await #expect(throws: RaftError.self) { try await callVote(from: client, to: server) }
            #expect(error?.code == .unreachable)
            #expect("\(error.map { "\($0)" } ?? "")".contains("not a trusted authority"))
            #expect(received.count == 0)
        }
    }

    // A server whose certificate does not name the address dialed is refused, unless the
    // dialer was told not to check addresses.
    @Test func aServerCertificateMustNameTheAddressDialedUnlessThatCheckIsOff() async throws {
        try await withTransports(over: [
            try await tlsLayer(Certificates.configuration("outsider")),
            try await tlsLayer(Certificates.configuration("node-2")),
            try await tlsLayer(Certificates.configuration("node-2") { $0.verifyServerAddress = false }),
        ]) { transports in
            let (server, strict, lax) = (transports[0], transports[1], transports[2])
            let received = ReceivedRPCs(on: server)

            let error = await #expect(throws: RaftError.self) { try await callVote(from: strict, to: server) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("TLS handshake with"))
            #expect(received.count == 0)

            let laxAnswer = try await callVote(from: lax, to: server)
            #expect(laxAnswer.granted)
            #expect(received.count == 1)
        }
    }

    // With an allow-list, a client whose certificate verifies but names no allowed peer is
    // refused, and one that names an allowed peer is served.
    @Test func anAllowListAdmitsOnlyTheNamedPeers() async throws {
        let log = LogCollector()
        let configuration = Certificates.configuration("node-1") { $0.allowedPeerNames = ["node-2", "node-3"] }
        try await withTransports(over: [
            try await tlsLayer(configuration, logger: log.logger),
            try await tlsLayer(Certificates.configuration("outsider")),
            try await tlsLayer(Certificates.configuration("node-2")),
        ]) { transports in
            let (server, outsider, member) = (transports[0], transports[1], transports[2])
            let received = ReceivedRPCs(on: server)

            await #expect(throws: (any Error).self) { try await callVote(from: outsider, to: server) }
            let refusal = try await warning(containing: "names none of the allowed peers", in: log)
            #expect(refusal != nil)
            #expect(received.count == 0)

            let memberAnswer = try await callVote(from: member, to: server)
            #expect(memberAnswer.granted)
            #expect(received.count == 1)
        }
    }

    // A dialer that speaks TLS to a plaintext server fails the call with a TLS reason, and the
    // plaintext server passes nothing to Raft.
    @Test func aTLSDialerToAPlaintextServerFailsTheCall() async throws {
        try await withTransports(over: [
            TCPStreamLayer(),
            try await tlsLayer(Certificates.configuration("node-2")),
        ]) { transports in
            let (server, client) = (transports[0], transports[1])
            let received = ReceivedRPCs(on: server)

            let error = await #expect(throws: RaftError.self) { try await callVote(from: client, to: server) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("TLS handshake with"))
            #expect(received.count == 0)
        }
    }

    // A server that accepts the connection but never answers the handshake fails the dial once
    // the handshake timeout passes, instead of holding the call forever.
    @Test func aServerThatNeverAnswersTheHandshakeFailsTheDialAtTheTimeout() async throws {
        let layer = try await tlsLayer(Certificates.configuration("node-2") { $0.handshakeTimeout = .milliseconds(300) })
        try await withTransports(over: [SilentStreamLayer(), layer]) { transports in
            let (silent, client) = (transports[0], transports[1])
            let error = await #expect(throws: RaftError.self) { try await callVote(from: client, to: silent) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("did not finish within"))
        }
    }
}

/// Listens like TCP, but every accepted connection swallows what it is sent and never answers:
/// a server stuck before its handshake.
struct SilentStreamLayer: StreamLayer {
    func listen(
        host: String, port: Int, group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await TCPStreamLayer().listen(host: host, port: port, group: group) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Swallow()) }
        }
    }

    func dial(
        host: String, port: Int, timeout: TimeAmount, eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await TCPStreamLayer().dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop, channelInitializer: channelInitializer)
    }

    private final class Swallow: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    }
}
