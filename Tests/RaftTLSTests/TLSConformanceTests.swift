import NIOCore
import RaftNetworkTransport
import RaftTLS
import RaftTestKit
import SwiftRaft
import Testing

/// The NetworkTransport over mutual TLS passes the whole transport conformance suite: TLS
/// changes how bytes travel, never what a transport promises.
@Suite("TLS: transport conformance", .timeLimit(.minutes(5)))
struct TLSConformanceTests {
    @Test(arguments: TransportConformance.checks)
    func networkTransportOverMutualTLSConforms(_ check: ConformanceCheck<TransportConformance.Subject>) async throws {
        try await check.run(.overMutualTLS)
    }
}

extension TransportConformance.Subject {
    /// NetworkTransports on free loopback ports, each over its own TLS layer presenting one of
    /// the three node certificates in turn; a restarted one listens again at its address.
    static let overMutualTLS = TransportConformance.Subject(
        makeTransports: { count, timeout in
            var transports: [any Transport] = []
            for index in 0..<count {
                let layer = try await tlsLayer(Certificates.configuration("node-\(index % 3 + 1)"))
                transports.append(try await NetworkTransport.bind(to: "127.0.0.1:0", options: transportOptions(layer, timeout: timeout)))
            }
            return transports
        },
        restart: { stopped, _, timeout in
            let layer = try await tlsLayer(Certificates.configuration("node-1"))
            return try await NetworkTransport.bind(to: stopped.localAddress, options: transportOptions(layer, timeout: timeout))
        }
    )
}
