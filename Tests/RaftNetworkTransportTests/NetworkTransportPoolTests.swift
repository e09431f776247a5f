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

    @Test("A pooled connection stalled silently (no reset, no close) fails its call at the timeout and is closed; the next call succeeds on a new connection")
    func stalledConnectionIsReplacedAfterOneTimeout() async throws {
        let layer = StallingStreamLayer()
        try await withTransportPair(client: { $0.streamLayer = layer; $0.connectTimeout = .seconds(20) }) { client, server in
            _ = TestServer(server)
            let target = server.localAddress
            let port = try HostAndPort(parsing: target).port
            // A connection in the pool, as a leader's heartbeats keep one.
            _ = try await bounded("a call before the stall") {
                try await client.appendEntries(id: "s", target: target, numberedAppend(1, from: client.localAddress))
            }
            #expect(client.idleConnections(to: target) == 1)
            let pooled = try #require(client.connections.takeIdle(target))
            client.connections.putIdle(pooled)

            // A partition: the pooled connection stops moving bytes, silently both ways.
            layer.stall(port: port)
            let code = try await raftErrorCode {
                _ = try await client.appendEntries(id: "s", target: target, numberedAppend(2, from: client.localAddress), timeout: .seconds(1))
            }
            #expect(code == .timeout)
            #expect(client.idleConnections(to: target) == 0)
            // The timeout closed it: its late answer can never be read.
            try await bounded("the timed-out connection closing") { try await pooled.channel.closeFuture.get() }

            // It heals; what the old connection holds would only move a minute later, as TCP's
            // retransmission back-off has it. The next call, with the same timeout, is answered.
            layer.lift(port: port, heldConnectionsResumeAfter: .seconds(60))
            let next = numberedAppend(3, from: client.localAddress)
            let response = try await client.appendEntries(id: "s", target: target, next, timeout: .seconds(1))
            #expect(response == answer(to: next, from: target))
            #expect(client.dialedConnections == 2)
            #expect(server.acceptedConnections == 2)
        }
    }

    @Test("A pooled connection idle longer than maxIdleTime is closed and replaced; one idle for less is reused")
    func idleConnectionsAreRetired() async throws {
        for (maxIdleTime, expectedDials) in [(Duration.milliseconds(100), 2), (.seconds(600), 1), (nil, 1)] as [(Duration?, Int)] {
            try await withTransportPair(client: { $0.maxIdleTime = maxIdleTime }) { client, server in
                _ = TestServer(server)
                let target = server.localAddress
                _ = try await client.appendEntries(id: "s", target: target, numberedAppend(1, from: client.localAddress))
                #expect(client.idleConnections(to: target) == 1)
                // Idle for longer than the short bound; nothing else happens to the connection.
                try await Task.sleep(for: .milliseconds(300))
                let next = numberedAppend(2, from: client.localAddress)
                let response = try await client.appendEntries(id: "s", target: target, next)
                #expect(response == answer(to: next, from: target))
                #expect(client.dialedConnections == expectedDials, "maxIdleTime \(String(describing: maxIdleTime))")
                #expect(server.acceptedConnections == expectedDials)
                // The retired connection was closed, not kept beside the new one.
                #expect(client.idleConnections(to: target) == 1)
            }
        }
    }

    @Test("A pooled connection whose channel has closed is never handed out")
    func closedPooledConnectionIsNotHandedOut() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server)
            let target = server.localAddress
            _ = try await client.appendEntries(id: "s", target: target, numberedAppend(1, from: client.localAddress))
            #expect(client.idleConnections(to: target) == 1)
            // The pooled connection's channel closes while it sits in the pool, as on a reset
            // read while it was idle.
            let connection = try #require(client.connections.takeIdle(target))
            client.connections.putIdle(connection)
            #expect(client.idleConnections(to: target) == 1)
            try await connection.channel.close()
            #expect(client.connections.takeIdle(target) == nil, "a closed connection was handed out")
            let second = numberedAppend(2, from: client.localAddress)
            let response = try await client.appendEntries(id: "s", target: target, second)
            #expect(response == answer(to: second, from: target))
            #expect(client.dialedConnections == 2)
        }
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
