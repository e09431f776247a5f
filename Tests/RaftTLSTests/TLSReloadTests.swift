import Foundation
import RaftNetworkTransport
import RaftTLS
import RaftTestKit
import SwiftRaft
import Testing

/// Certificates rotate without a restart: connections opened after a reload use the new ones,
/// and a reload that fails changes nothing.
@Suite("TLS: reloading certificates", .timeLimit(.minutes(2)))
struct TLSReloadTests {
    /// A copy of node-1's certificate, key and the CA in a directory of its own, so a test can
    /// overwrite them as a certificate rotation would.
    private func rotatableFiles() throws -> (directory: TemporaryDirectory, configuration: TLSStreamLayer.Configuration) {
        let directory = try TemporaryDirectory(prefix: "tls-reload")
        for name in ["node-1.pem", "node-1.key", "ca.pem"] {
            try FileManager.default.copyItem(atPath: Certificates.path(name), toPath: "\(directory.path)/\(name)")
        }
        let configuration = TLSStreamLayer.Configuration(
            certificateChain: .file("\(directory.path)/node-1.pem"),
            privateKey: .file("\(directory.path)/node-1.key"),
            trustRoots: .file("\(directory.path)/ca.pem")
        )
        return (directory, configuration)
    }

    private func replace(_ name: String, in directory: TemporaryDirectory, with fixture: String) throws {
        let target = "\(directory.path)/\(name)"
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: Certificates.path(fixture), toPath: target)
    }

    // A server whose certificate files were replaced by ones from a new authority presents the
    // new certificate once it reloads: a client trusting only the new authority is refused
    // before and served after, without a restart.
    @Test func aReloadRereadsTheFilesAndNewConnectionsUseTheNewCertificate() async throws {
        let (directory, configuration) = try rotatableFiles()
        defer { directory.remove() }
        let serverLayer = try await tlsLayer(configuration)
        let clientLayer = try await tlsLayer(Certificates.configuration("node-2", trusting: "renewed-ca"))
        try await withTransports(over: [serverLayer, clientLayer]) { transports in
            let (server, client) = (transports[0], transports[1])
            let received = ReceivedRPCs(on: server)
            await #expect(throws: RaftError.self) { try await callVote(from: client, to: server) }

            try replace("node-1.pem", in: directory, with: "renewed-1.pem")
            try replace("node-1.key", in: directory, with: "renewed-1.key")
            try await serverLayer.reloadCertificates()

            let afterReload = try await callVote(from: client, to: server)
            #expect(afterReload.granted)
            #expect(received.count == 1)
        }
    }

    // A reload from files that no longer make a certificate and key throws, and the layer goes
    // on presenting the certificate it had.
    @Test func aFailedReloadKeepsTheCertificatesInUse() async throws {
        let (directory, configuration) = try rotatableFiles()
        defer { directory.remove() }
        let serverLayer = try await tlsLayer(configuration)
        let clientLayer = try await tlsLayer(Certificates.configuration("node-2"))
        try await withTransports(over: [serverLayer, clientLayer]) { transports in
            let (server, client) = (transports[0], transports[1])
            _ = ReceivedRPCs(on: server)
            try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: "\(directory.path)/node-1.pem"))

            let error = await #expect(throws: TLSStreamLayerError.self) { try await serverLayer.reloadCertificates() }
            #expect(error?.code == .invalidConfiguration)
            let afterFailedReload = try await callVote(from: client, to: server)
            #expect(afterFailedReload.granted)
        }
    }

    // A reload with a new configuration (in-memory PEM, as from a secret store) takes effect
    // for the next connection too, and the layer reports the configuration in use.
    @Test func aReloadWithANewConfigurationTakesEffect() async throws {
        let serverLayer = try await tlsLayer(Certificates.configuration("node-1"))
        let clientLayer = try await tlsLayer(Certificates.configuration("node-2", trusting: "renewed-ca"))
        try await withTransports(over: [serverLayer, clientLayer]) { transports in
            let (server, client) = (transports[0], transports[1])
            _ = ReceivedRPCs(on: server)
            await #expect(throws: RaftError.self) { try await callVote(from: client, to: server) }

            let renewed = TLSStreamLayer.Configuration(
                certificateChain: .pem(try String(contentsOfFile: Certificates.path("renewed-1.pem"), encoding: .utf8)),
                privateKey: .pem(try String(contentsOfFile: Certificates.path("renewed-1.key"), encoding: .utf8)),
                trustRoots: Certificates.file("ca.pem")
            )
            try await serverLayer.reload(renewed)
            #expect(serverLayer.configuration.certificateChain == renewed.certificateChain)
            let afterNewConfiguration = try await callVote(from: client, to: server)
            #expect(afterNewConfiguration.granted)
        }
    }
}
