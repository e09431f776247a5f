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

    @Test("close() fails pending calls with transportShutdown, drops the RPC handler, and fails later calls")
    func closeEndsEverything() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let target = server.localAddress
        let local = client.localAddress
        // A call timeout far beyond the test: the call must end by close(), never by its own
        // timeout (10 s by default, which passed first on a loaded CI machine).
        let pending = Task { try await client.appendEntries(id: "s", target: target, numberedAppend(1, from: local), timeout: .seconds(300)) }
        try await peer.waitUntilReceived(1)

        await client.close()
        #expect(try await raftErrorCode { _ = try await pending.value } == .transportShutdown)
        #expect(try await raftErrorCode { _ = try await client.appendEntries(id: "s", target: target, numberedAppend(2, from: local)) }
            == .transportShutdown)
        #expect(throws: RaftError(.transportShutdown, "")) { _ = try client.appendEntriesPipeline(to: Server(id: "s", address: target)) }
        #expect(try await raftErrorCode {
            let request = InstallSnapshotRequest(header: header(local), term: 1, leader: local, lastLogIndex: 1, lastLogTerm: 1,
                                                 configuration: [0x80], configurationIndex: 1, size: 1)
            _ = try await client.installSnapshot(request, data: ByteSource([1]), to: Server(id: "s", address: target), timeout: .seconds(10))
        } == .transportShutdown)
        #expect(client.isClosed)

        // The server's side: closing drops the handler (the stream it fed finishes), and calls to
        // it fail.
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

    @Test("close() ends open pipelines: their requests fail and later ones fail too")
    func closeEndsPipelines() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
        let recorder = CompletionRecorder<AppendEntriesResponse>()
        pipeline.appendEntries(numberedAppend(1, from: client.localAddress), completion: recorder.completion(0))
        try await peer.waitUntilReceived(1)
        await client.close()
        _ = try await recorder.wait(for: 1)
        #expect(recorder.codes.count == 1 && recorder.codes[0] != nil)
        pipeline.appendEntries(numberedAppend(2, from: client.localAddress), completion: recorder.completion(1))
        _ = try await recorder.wait(for: 2)
        #expect(recorder.codes.last == .pipelineShutdown)
        #expect(client.connections.pipelineCount == 0)
        await server.close()
    }

    @Test("close() ends a pipeline still connecting: its queued requests fail")
    func closeEndsConnectingPipelines() async throws {
        let layer = GatedStreamLayer()
        let client = try await makeTransport { $0.streamLayer = layer }
        let server = try await makeTransport()
        _ = TestServer(server)
        layer.holdDials()
        let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
        let recorder = CompletionRecorder<AppendEntriesResponse>()
        pipeline.appendEntries(numberedAppend(1, from: client.localAddress), completion: recorder.completion(0))
        try await layer.waitForHeldDial()
        await client.close()
        _ = try await recorder.wait(for: 1)
        #expect(recorder.codes == [.pipelineShutdown])
        layer.releaseDials()
        await server.close()
    }

    @Test("close() releases the handlers, so a handler that captures its node does not keep it alive")
    func closeReleasesHandlers() async throws {
        let transport = try await makeTransport()
        weak var weakNode: Witness?
        do {
            let node = Witness()
            weakNode = node
            transport.setRPCHandler { [node] rpc in _ = node; rpc.respond(error: RaftError.shutdown) }
            transport.setHeartbeatHandler { [node] rpc in _ = node; rpc.respond(error: RaftError.shutdown) }
        }
        #expect(weakNode != nil)
        await transport.close()
        #expect(weakNode == nil)
    }

    @Test("With no RPC handler installed, requests are answered with an error, and the connection serves the next request once one is")
    func noHandlerAnswersWithAnError() async throws {
        try await withTransportPair { client, server in
            let request = numberedAppend(1, from: client.localAddress)
            do {
                _ = try await bounded("a call to a transport without a handler") {
                    try await client.appendEntries(id: "s", target: server.localAddress, request)
                }
                Issue.record("a call with no handler on the other side succeeded")
            } catch let error as RaftError {
                #expect(error.message.contains(RPCDispatcher.noHandler.message))
            }
            _ = TestServer(server)
            let response = try await bounded("a call once a handler is installed") {
                try await client.appendEntries(id: "s", target: server.localAddress, request)
            }
            #expect(response == answer(to: request, from: server.localAddress))
            #expect(server.acceptedConnections == 1)
        }
    }
}

/// An object whose lifetime a test watches.
private final class Witness: Sendable {}
