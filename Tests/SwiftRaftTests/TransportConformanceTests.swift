import RaftTestKit
import SwiftRaft
import Testing

extension TransportConformance.Subject {
    /// ``InmemTransport``s connected every way. A stopped transport is closed (the default
    /// `stop`), which makes it unreachable; its restart is a new transport at the same address
    /// that its peers are connected to again, replacing the closed one.
    static let inmem = TransportConformance.Subject(
        makeTransports: { count, timeout in
            let transports = (0..<count).map { InmemTransport(address: ServerAddress("inmem-\($0)"), timeout: timeout) }
            for from in transports {
                for to in transports where to !== from { from.connect(to) }
            }
            return transports
        },
        restart: { stopped, peers, timeout in
            let revived = InmemTransport(address: stopped.localAddress, timeout: timeout)
            for case let peer as InmemTransport in peers {
                peer.connect(revived)
                revived.connect(peer)
            }
            return revived
        }
    )
}

@Suite("Transport conformance: InmemTransport", .timeLimit(.minutes(2)))
struct TransportConformanceTests {
    @Test(arguments: TransportConformance.checks)
    func inmemTransportConforms(_ check: ConformanceCheck<TransportConformance.Subject>) async throws {
        try await check.run(.inmem)
    }
}
