import NIOCore
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

extension TransportConformance.Subject {
    /// ``NetworkTransport``s on free loopback ports. A stopped transport is closed (the default
    /// `stop`): its listener and every connection end, as in a crash. Its restart listens again
    /// at the same host and port; peers find it by dialing, as they would a restarted server.
    ///
    /// The connect timeout is generous: the checks that shorten the RPC timeout to 200 ms test
    /// calls, not dialing, and a loaded machine can take longer than that to finish a loopback
    /// connect.
    static let network = network(on: NetworkTransport.sharedEventLoopGroup)

    /// ``network``, with every transport's connections on `group`.
    static func network(on group: any EventLoopGroup) -> TransportConformance.Subject {
        TransportConformance.Subject(
            makeTransports: { count, timeout in
                var transports: [any Transport] = []
                for _ in 0..<count {
                    transports.append(try await NetworkTransport.bind(to: "127.0.0.1:0", options: options(group, timeout)))
                }
                return transports
            },
            restart: { stopped, _, timeout in
                try await NetworkTransport.bind(to: stopped.localAddress, options: options(group, timeout))
            }
        )
    }

    private static func options(_ group: any EventLoopGroup, _ timeout: Duration) -> NetworkTransport.Options {
        testOptions {
            $0.timeout = timeout
            $0.connectTimeout = .seconds(20)
            $0.eventLoopGroup = group
        }
    }
}

@Suite("NetworkTransport: transport conformance", .timeLimit(.minutes(3)))
struct NetworkTransportConformanceTests {
    @Test(arguments: TransportConformance.checks)
    func networkTransportConforms(_ check: ConformanceCheck<TransportConformance.Subject>) async throws {
        try await check.run(.network)
    }
}
