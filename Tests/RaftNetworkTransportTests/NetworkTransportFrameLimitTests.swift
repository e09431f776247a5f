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

    @Test("An oversized pipelined request fails alone; the pipeline keeps carrying the others")
    func oversizedPipelinedRequestIsNotSent() async throws {
        try await withTransportPair(client: { $0.maxFrameSize = 4096 }) { client, server in
            _ = TestServer(server)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let tooBig = numberedAppend(1, from: client.localAddress, entries: 1, size: 8192)
            let error = await #expect(throws: RaftError.self) { try await pipeline.appendEntries(tooBig) }
            #expect(error?.code == .invalidArgument)
            let small = numberedAppend(2, from: client.localAddress)
            try await pipeline.appendEntries(small)
            var answers = pipeline.responses.makeAsyncIterator()
            let first = try #require(await answers.next())
            #expect(try first.result.get() == answer(to: small, from: server.localAddress))
            await pipeline.close()
        }
    }
}
