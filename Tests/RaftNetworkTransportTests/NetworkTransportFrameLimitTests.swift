@testable import RaftNetworkTransport
import SwiftRaft
import Testing

/// A request that encodes past `maxFrameSize` would make the peer close the connection; the
/// transport refuses to send it instead, with an error naming both sizes, and keeps serving.
@Suite("NetworkTransport: the frame limit on what it sends")
struct NetworkTransportFrameLimitTests {
    @Test("maxMessageSize reports maxFrameSize, the limit Raft sizes its commands and batches by")
    func maxMessageSizeIsTheFrameLimit() async throws {
        let transport = try await makeTransport { $0.maxFrameSize = 123_456 }
        #expect(transport.maxMessageSize == 123_456)
        await transport.close()
    }

    @Test("An oversized call fails with invalidArgument before it is sent, and the next call goes through")
    func oversizedCallIsNotSent() async throws {
        try await withTransportPair(client: { $0.maxFrameSize = 4096 }) { client, server in
            let peer = TestServer(server)
            let tooBig = numberedAppend(1, from: client.localAddress, entries: 1, size: 8192)
            let error = await #expect(throws: RaftError.self) {
                _ = try await client.appendEntries(id: "s", target: server.localAddress, tooBig)
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("over maxFrameSize 4096") == true, "\(String(describing: error))")
            let small = numberedAppend(2, from: client.localAddress)
            let response = try await client.appendEntries(id: "s", target: server.localAddress, small)
            #expect(response == answer(to: small, from: server.localAddress))
            #expect(peer.received.count == 1, "the oversized request never reached the peer")
        }
    }

    @Test("An oversized send fails with invalidArgument before anything is dialed or sent")
    func oversizedSendFailsAtOnce() async throws {
        try await withTransportPair(client: { $0.maxFrameSize = 4096 }) { client, server in
            let peer = TestServer(server)
            let recorder = CompletionRecorder<RaftResponse>()
            let tooBig = numberedAppend(1, from: client.localAddress, entries: 1, size: 8192)
            client.send(.appendEntries(tooBig), to: Server(id: "s", address: server.localAddress), timeout: .seconds(10),
                        completion: recorder.completion(0))
            _ = try await recorder.wait(for: 1)
            #expect(recorder.codes == [.invalidArgument])
            #expect(client.dialedConnections == 0)
            #expect(peer.received.isEmpty)
        }
    }

    @Test("An oversized pipelined request fails alone, in its turn; the pipeline keeps carrying the others")
    func oversizedPipelinedRequestIsNotSent() async throws {
        try await withTransportPair(client: { $0.maxFrameSize = 4096 }, server: { $0.maxFrameSize = 4096 }) { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = CompletionRecorder<AppendEntriesResponse>()
            let first = numberedAppend(1, from: client.localAddress)
            let tooBig = numberedAppend(2, from: client.localAddress, entries: 1, size: 8192)
            let third = numberedAppend(3, from: client.localAddress)
            pipeline.appendEntries(first, completion: recorder.completion(0))
            pipeline.appendEntries(tooBig, completion: recorder.completion(1))
            pipeline.appendEntries(third, completion: recorder.completion(2))
            // The oversized one waits for the one before it: completions keep send order.
            try await peer.waitUntilReceived(2)
            #expect(recorder.results.isEmpty)
            peer.release()
            let results = try await recorder.wait(for: 3)
            #expect(recorder.order == [0, 1, 2])
            #expect(try results[0].result.get() == answer(to: first, from: server.localAddress))
            if case .failure(let error) = results[1].result {
                #expect((error as? RaftError)?.code == .invalidArgument)
                #expect("\(error)".contains("over maxFrameSize 4096"))
            } else {
                Issue.record("the oversized request succeeded")
            }
            #expect(try results[2].result.get() == answer(to: third, from: server.localAddress))
            #expect(peer.received.map(\.appendEntries) == [first, third], "the oversized request never reached the peer")
            pipeline.close()
        }
    }
}
