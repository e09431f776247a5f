import Foundation
import NIOSSL
import X509

/// The server and client contexts built from one ``TLSStreamLayer/Configuration``, and what a
/// refusal's diagnosis needs from it. A value: a reload builds a new one and swaps it in, and
/// connections already open keep the one they started with.
struct TLSContexts: Sendable {
    /// For accepted connections.
    let server: NIOSSLContext
    /// For dialed connections.
    let client: NIOSSLContext
    /// The configuration it was built from.
    let configuration: TLSStreamLayer.Configuration
    /// The trust roots' subjects, to tell "signed by an authority we do not trust" apart from
    /// other verification failures in logs.
    let trustedIssuers: [DistinguishedName]
    /// This node's own certificate, for logging what is in use.
    let leaf: Certificate

    /// Reads the PEM sources (files: this blocks, so callers run it on a thread pool) and builds
    /// both contexts.
    static func load(_ configuration: TLSStreamLayer.Configuration) throws(TLSStreamLayerError) -> TLSContexts {
        let chain = try certificates(from: configuration.certificateChain, role: "certificate chain")
        let roots = try certificates(from: configuration.trustRoots, role: "trust roots")
        let keyBytes = try configuration.privateKey.bytes()
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw TLSStreamLayerError(.invalidConfiguration, "the private key \(configuration.privateKey) is not a PEM private key: \(error)")
        }
        let leaf = try parsed(chain[0], source: configuration.certificateChain)
        // Checked here, before BoringSSL would: NIOSSLContext's initializer throws for a key of
        // another certificate only after it made its SSL_CTX, which then leaks (LeakSanitizer,
        // Docs/testing.md), and this way the error says what is wrong. A key swift-certificates
        // cannot read is left to BoringSSL, which reads more kinds.
        if let ownKey = try? Certificate.PrivateKey(pemEncoded: String(decoding: keyBytes, as: UTF8.self)),
            ownKey.publicKey != leaf.publicKey
        {
            throw TLSStreamLayerError(
                .invalidConfiguration,
                "the private key \(configuration.privateKey) does not belong to the certificate \(leaf.summary) in \(configuration.certificateChain)"
            )
        }
        var trustedIssuers: [DistinguishedName] = []
        for root in roots { trustedIssuers.append(try parsed(root, source: configuration.trustRoots).subject) }

        let minimum: TLSVersion = configuration.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        var server = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        server.minimumTLSVersion = minimum
        server.trustRoots = .certificates(roots)
        server.certificateVerification = configuration.requireClientCertificates ? .noHostnameVerification : .none

        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = minimum
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        client.trustRoots = .certificates(roots)
        client.certificateVerification = configuration.verifyServerAddress ? .fullVerification : .noHostnameVerification

        do {
            return TLSContexts(
                server: try NIOSSLContext(configuration: server),
                client: try NIOSSLContext(configuration: client),
                configuration: configuration,
                trustedIssuers: trustedIssuers,
                leaf: leaf
            )
        } catch {
            // BoringSSL checks that the key belongs to the certificate here.
            throw TLSStreamLayerError(
                .invalidConfiguration,
                "cannot use the certificate \(configuration.certificateChain) with the key \(configuration.privateKey): \(error)"
            )
        }
    }

    private static func certificates(from source: PEMSource, role: String) throws(TLSStreamLayerError) -> [NIOSSLCertificate] {
        let bytes = try source.bytes()
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw TLSStreamLayerError(.invalidConfiguration, "the \(role) \(source) is not PEM certificates: \(error)")
        }
        guard !certificates.isEmpty else {
            throw TLSStreamLayerError(.invalidConfiguration, "the \(role) \(source) holds no certificate")
        }
        return certificates
    }

    private static func parsed(_ certificate: NIOSSLCertificate, source: PEMSource) throws(TLSStreamLayerError) -> Certificate {
        do {
            return try Certificate(derEncoded: certificate.toDERBytes())
        } catch {
            throw TLSStreamLayerError(.invalidConfiguration, "a certificate in \(source) cannot be parsed: \(error)")
        }
    }
}

extension Certificate {
    /// The DNS names and IP addresses in its subject alternative names, as text.
    var subjectAlternativeNameStrings: [String] {
        guard let names = try? extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets): return IPAddressText(octets.bytes)
            default: return nil
            }
        }
    }

    /// Who it is, for logs: its subject and names.
    var summary: String {
        let names = subjectAlternativeNameStrings
        return "\(subject)" + (names.isEmpty ? "" : " [\(names.joined(separator: ", "))]")
    }
}

/// An IPv4 or IPv6 address's bytes as text (nil for any other length).
private func IPAddressText(_ bytes: ArraySlice<UInt8>) -> String? {
    switch bytes.count {
    case 4:
        return bytes.map(String.init).joined(separator: ".")
    case 16:
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    default:
        return nil
    }
}
