@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: binding, advertising and closing")
struct NetworkTransportLifecycleTests {
    @Test("Binding to port 0 advertises the port actually bound")
    func realPortIsAdvertised() async throws {
        let transport = try await makeTransport()
        let address = try HostAndPort(parsing: transport.localAddress)
        #expect(address.host == "127.0.0.1")
        #expect(address.port != 0)
        await transport.close()
    }

    @Test("An unspecified address is refused unless an address to advertise is given (hashicorp's errNotAdvertisable)")
    func unspecifiedAddressNeedsAdvertise() async throws {
        for unspecified in ["0.0.0.0:0", "[::]:0", ":0"] as [ServerAddress] {
            await #expect(throws: RaftError(.invalidArgument, "")) {
                _ = try await NetworkTransport.bind(to: unspecified, options: testOptions())
            }
        }
        await #expect(throws: RaftError(.invalidArgument, "")) {
            _ = try await NetworkTransport.bind(to: "127.0.0.1:0", advertise: "0.0.0.0:7000", options: testOptions())
        }
        let advertised = try await NetworkTransport.bind(to: "0.0.0.0:0", advertise: "127.0.0.1:7000", options: testOptions())
        #expect(advertised.localAddress == "127.0.0.1:7000")
        await advertised.close()
    }

    @Test("An address that is not host:port is refused")
    func malformedAddress() async throws {
        for bad in ["localhost", "127.0.0.1:99999", "::1:7000", "[::1]7000"] as [ServerAddress] {
            await #expect(throws: RaftError(.invalidArgument, "")) {
                _ = try await NetworkTransport.bind(to: bad, options: testOptions())
            }
        }
    }

    @Test("close() fails pending calls with transportShutdown, finishes the consumer, and fails later calls")
    func closeEndsEverything() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let target = server.localAddress
        let local = client.localAddress
        let pending = Task { try await client.appendEntries(id: "s", target: target, numberedAppend(1, from: local)) }
        try await peer.waitUntilReceived(1)

        await client.close()
        #expect(try await raftErrorCode { _ = try await pending.value } == .transportShutdown)
        #expect(try await raftErrorCode { _ = try await client.appendEntries(id: "s", target: target, numberedAppend(2, from: local)) }
            == .transportShutdown)
        #expect(try await raftErrorCode { _ = try await client.appendEntriesPipeline(id: "s", target: target) } == .transportShutdown)
        #expect(client.isClosed)

        // The server's side: closing finishes the consumer, and calls to it fail.
        await server.close()
        try await peer.waitUntilFinished()
        let other = try await makeTransport()
        #expect(try await raftErrorCode { _ = try await other.appendEntries(id: "s", target: target, numberedAppend(3, from: "x")) }
            == .unreachable)

        // Closing again, even concurrently, is harmless.
        async let first: Void = client.close()
        async let second: Void = client.close()
        _ = await (first, second)
        await other.close()
    }

    @Test("close() ends open pipelines: their requests fail and later sends throw")
    func closeEndsPipelines() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
        try await pipeline.appendEntries(numberedAppend(1, from: client.localAddress))
        try await peer.waitUntilReceived(1)
        await client.close()
        let results = try await bounded("the pipeline's answers") {
            var results: [AppendPipelineResult] = []
            for await result in pipeline.responses { results.append(result) }
            return results
        }
        #expect(results.count == 1)
        #expect((try? results.first?.result.get()) == nil)
        #expect(try await raftErrorCode { try await pipeline.appendEntries(numberedAppend(2, from: client.localAddress)) } == .pipelineShutdown)
        await server.close()
    }
}
