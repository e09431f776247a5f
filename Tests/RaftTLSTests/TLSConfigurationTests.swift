import RaftTLS
import Testing

/// A layer is made only from usable material; what is wrong is said in a typed error.
@Suite("TLS: configuration errors")
struct TLSConfigurationTests {
    // A certificate file that does not exist is an unreadable file, named in the error.
    @Test func aMissingFileIsUnreadable() async throws {
        let configuration = Certificates.configuration { $0.certificateChain = .file("/nonexistent/node.pem") }
        let error = await #expect(throws: TLSStreamLayerError.self) { try await tlsLayer(configuration) }
        #expect(error?.code == .unreadableFile)
        #expect(error?.message.contains("/nonexistent/node.pem") == true)
    }

    // A key that belongs to another certificate is refused when the layer is made, not at
    // the first handshake.
    @Test func aKeyThatDoesNotMatchTheCertificateIsRefused() async throws {
        let configuration = Certificates.configuration("node-1") { $0.privateKey = Certificates.file("node-2.key") }
        let error = await #expect(throws: TLSStreamLayerError.self) { try await tlsLayer(configuration) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("node-2.key does not belong to the certificate CN=node-1") == true, "\(String(describing: error))")
    }

    // Trust roots without a certificate in them are refused.
    @Test func trustRootsWithoutACertificateAreRefused() async throws {
        let configuration = Certificates.configuration { $0.trustRoots = .pem("no certificate here") }
        let error = await #expect(throws: TLSStreamLayerError.self) { try await tlsLayer(configuration) }
        #expect(error?.code == .invalidConfiguration)
    }

    // A private key that is not PEM is refused, and the error names its source but never
    // repeats what was in it.
    @Test func aMalformedKeyIsRefusedWithoutEchoingIt() async throws {
        let configuration = Certificates.configuration { $0.privateKey = .pem("secret-material") }
        let error = await #expect(throws: TLSStreamLayerError.self) { try await tlsLayer(configuration) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("secret-material") == false)
    }

    // The defaults are mutual authentication, server address checks, no allow-list, TLS 1.2+.
    @Test func theDefaultsAreMutualTLSWithAddressChecks() {
        let configuration = Certificates.configuration()
        #expect(configuration.requireClientCertificates)
        #expect(configuration.verifyServerAddress)
        #expect(configuration.allowedPeerNames.isEmpty)
        #expect(configuration.minimumVersion == .tls12)
    }
}
