@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: malformed input closes only the connection it came on")
struct NetworkTransportMalformedInputTests {
    /// Sends `bytes` on a raw connection, expects the server to close it without a reply, and
    /// expects a well-formed peer, connected before and after, to be served throughout.
    private func expectClosedWithoutReply(_ bytes: [UInt8], maxFrameSize: Int = 64 << 20) async throws {
        try await withTransportPair(server: { $0.maxFrameSize = maxFrameSize }) { client, server in
            _ = TestServer(server)
            let before = numberedAppend(1, from: client.localAddress)
            _ = try await bounded("a call before the bad peer") { try await client.appendEntries(id: "s", target: server.localAddress, before) }

            let raw = try await RawPeer.connect(to: server.localAddress)
            try await raw.send(bytes)
            try await raw.waitUntilClosed()
            #expect(try await raw.waitForBytes(0).isEmpty)

            let after = numberedAppend(2, from: client.localAddress)
            let response = try await bounded("a call after the bad peer") {
                try await client.appendEntries(id: "s", target: server.localAddress, after)
            }
            #expect(response == answer(to: after, from: server.localAddress))
            // The good peer's pooled connection was never disturbed.
            #expect(client.dialedConnections == 1)
        }
    }

    @Test("An unknown RPC type closes the connection without a reply, as hashicorp/raft does")
    func unknownType() async throws {
        try await expectClosedWithoutReply([9, 0x80])
    }

    @Test("The reason is logged as a warning naming the peer")
    func reasonIsLogged() async throws {
        let logs = CapturedLogs()
        let server = try await NetworkTransport.bind(to: "127.0.0.1:0", options: testOptions { $0.logger = logs.logger })
        let raw = try await RawPeer.connect(to: server.localAddress)
        let local = raw.channel.localAddress.flatMap(HostAndPort.init)?.description
        try await raw.send([42])
        try await raw.waitUntilClosed()
        await server.close()
        let warnings = logs.all.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("unknown rpc type 42") == true)
        #expect(warnings.first?.metadata["raft.peer"] == local)
    }

    @Test("Garbage where a msgpack value should be closes the connection")
    func garbage() async throws {
        try await expectClosedWithoutReply([0, 0xC1, 0xC1, 0xC1, 0xC1])
    }

    @Test("A value that is not the request's map closes the connection")
    func wrongShape() async throws {
        // A RequestVote whose value is an array of strings.
        try await expectClosedWithoutReply([1, 0x92, 0xA1, 0x41, 0xA1, 0x42])
    }

    @Test("A frame declaring more bytes than the limit closes the connection before they arrive")
    func oversizedLength() async throws {
        // AppendEntries: a one-entry map whose key is a 4 GiB raw string.
        try await expectClosedWithoutReply([0, 0x81, 0xDB, 0xFF, 0xFF, 0xFF, 0xF0], maxFrameSize: 1 << 20)
    }

    @Test("Answers owed for requests before a bad frame are written before the connection closes")
    func answersBeforeTheBadFrameAreWritten() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server)
            let raw = try await RawPeer.connect(to: server.localAddress)
            let vote = RequestVoteRequest(header: header("raw"), term: 3, candidate: "raw", lastLogIndex: 1, lastLogTerm: 1)
            let good = requestFrame(.requestVote(vote))
            try await raw.send(good + [7])
            try await raw.waitUntilClosed()
            let expected = responseFrame(.requestVote(answer(to: .requestVote(vote), from: server.localAddress).requestVote!))
            #expect(try await raw.waitForBytes(expected.count) == expected)
        }
    }

    @Test("A connection that ends in the middle of a request is closed quietly")
    func truncatedRequest() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server)
            let raw = try await RawPeer.connect(to: server.localAddress)
            let frame = requestFrame(.appendEntries(numberedAppend(1, from: "raw")))
            try await raw.send(Array(frame.prefix(frame.count / 2)))
            await raw.close()
            let after = numberedAppend(2, from: client.localAddress)
            _ = try await bounded("a call after the truncated peer") {
                try await client.appendEntries(id: "s", target: server.localAddress, after)
            }
        }
    }
}
