@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: RequestPreVote to peers that predate it")
struct NetworkTransportPreVoteTests {
    private func preVote(from address: ServerAddress) -> RequestPreVoteRequest {
        RequestPreVoteRequest(header: header(address), term: 5, lastLogIndex: 10, lastLogTerm: 4)
    }

    @Test("A peer that closes the connection on type 4 (hashicorp/raft before 1.7) surfaces as preVoteUnsupported")
    func peerClosesOnTypeFour() async throws {
        let old = try await RawServer { CloseOnType(4) }
        let client = try await makeTransport()
        let request = preVote(from: client.localAddress)
        let code = try await raftErrorCode { _ = try await client.requestPreVote(id: "old", target: old.address, request) }
        #expect(code == .preVoteUnsupported)
        await client.close()
        await old.close()
    }

    @Test("A peer that answers \"unexpected command\" surfaces as preVoteUnsupported")
    func peerAnswersUnexpectedCommand() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server, .refuse("unexpected command"))
            let request = preVote(from: client.localAddress)
            let code = try await raftErrorCode { _ = try await client.requestPreVote(id: "s", target: server.localAddress, request) }
            #expect(code == .preVoteUnsupported)
        }
    }

    @Test("Other RPCs to a peer that closes the connection fail with unreachable, not preVoteUnsupported")
    func otherRPCsAreUnreachable() async throws {
        let old = try await RawServer { CloseOnType(1) }
        let client = try await makeTransport()
        let vote = RequestVoteRequest(header: header(client.localAddress), term: 5, candidate: client.localAddress, lastLogIndex: 1, lastLogTerm: 1)
        let code = try await raftErrorCode { _ = try await client.requestVote(id: "old", target: old.address, vote) }
        #expect(code == .unreachable)
        await client.close()
        await old.close()
    }

    @Test("A pooled connection the peer dropped is not taken for a peer without pre-vote")
    func stalePooledConnectionIsRetried() async throws {
        let client = try await makeTransport()
        var server = try await makeTransport()
        let address = server.localAddress
        _ = TestServer(server)
        _ = try await bounded("a call that pools a connection") {
            try await client.appendEntries(id: "s", target: address, numberedAppend(1, from: client.localAddress))
        }
        await server.close()
        server = try await NetworkTransport.bind(to: address, options: testOptions())
        _ = TestServer(server)
        let request = preVote(from: client.localAddress)
        let response = try await bounded("a pre-vote after the peer restarted") {
            try await client.requestPreVote(id: "s", target: address, request)
        }
        #expect(response.granted)
        await client.close()
        await server.close()
    }
}
