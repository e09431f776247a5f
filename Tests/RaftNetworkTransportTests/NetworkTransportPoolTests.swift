@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: the connection pool")
struct NetworkTransportPoolTests {
    @Test("Sequential calls to one peer reuse one connection")
    func sequentialCallsReuseOneConnection() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server)
            for number in 1...20 as ClosedRange<UInt64> {
                let request = numberedAppend(number, from: client.localAddress)
                let response = try await bounded("call \(number)") {
                    try await client.appendEntries(id: "s", target: server.localAddress, request)
                }
                #expect(response == answer(to: request, from: server.localAddress))
            }
            _ = try await bounded("vote") {
                try await client.requestVote(id: "s", target: server.localAddress,
                                             RequestVoteRequest(header: header(client.localAddress), term: 2, candidate: client.localAddress,
                                                                lastLogIndex: 1, lastLogTerm: 1))
            }
            #expect(server.acceptedConnections == 1)
            #expect(client.dialedConnections == 1)
            #expect(client.idleConnections(to: server.localAddress) == 1)
        }
    }

    @Test("Concurrent calls open as many connections as they need; at most maxPool stay idle afterwards")
    func concurrentCallsOpenWhatTheyNeed() async throws {
        try await withTransportPair(client: { $0.maxPool = 3 }) { client, server in
            let peer = TestServer(server, .hold)
            let count = 8
            let calls = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for number in 1...count {
                        group.addTask {
                            let request = numberedAppend(UInt64(number), from: client.localAddress)
                            let response = try await client.appendEntries(id: "s", target: server.localAddress, request)
                            #expect(response == answer(to: request, from: server.localAddress))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // Every call is held by the peer at once, so each needs a connection of its own.
            try await peer.waitUntilReceived(count)
            #expect(server.acceptedConnections == count)
            peer.release()
            try await bounded("the held calls") { try await calls.value }
            #expect(client.idleConnections(to: server.localAddress) == 3)

            // The idle ones serve the next calls.
            for number in 20...25 as ClosedRange<UInt64> {
                _ = try await bounded("call \(number)") {
                    try await client.appendEntries(id: "s", target: server.localAddress, numberedAppend(number, from: client.localAddress))
                }
            }
            #expect(server.acceptedConnections == count)
        }
    }

    @Test("A pooled connection the server broke is discarded, and the next call connects anew")
    func brokenConnectionsAreReplaced() async throws {
        let client = try await makeTransport()
        var server = try await makeTransport()
        let address = server.localAddress
        _ = TestServer(server)
        let first = numberedAppend(1, from: client.localAddress)
        _ = try await bounded("first call") { try await client.appendEntries(id: "s", target: address, first) }
        #expect(client.idleConnections(to: address) == 1)

        // The server goes away, taking the pooled connection's other end with it, and comes back.
        await server.close()
        server = try await NetworkTransport.bind(to: address, options: testOptions())
        _ = TestServer(server)

        let second = numberedAppend(2, from: client.localAddress)
        let response = try await bounded("call after the restart") { try await client.appendEntries(id: "s", target: address, second) }
        #expect(response == answer(to: second, from: address))
        #expect(client.dialedConnections == 2)
        #expect(server.acceptedConnections == 1)
        await client.close()
        await server.close()
    }

    @Test("A peer that is down makes calls fail with unreachable at once")
    func unreachablePeer() async throws {
        let client = try await makeTransport()
        let gone = try await makeTransport()
        let address = gone.localAddress
        await gone.close()
        let code = try await raftErrorCode {
            _ = try await client.appendEntries(id: "s", target: address, numberedAppend(1, from: client.localAddress))
        }
        #expect(code == .unreachable)
        await client.close()
    }
}
