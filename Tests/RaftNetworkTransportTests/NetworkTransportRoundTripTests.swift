import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: every RPC round trip over loopback TCP")
struct NetworkTransportRoundTripTests {
    @Test("AppendEntries arrives with every field, entries of every type included, and its answer comes back intact")
    func appendEntries() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let entries = [
                Log(index: 11, term: 4, type: .command, data: [1, 2, 3], extensions: [9],
                    appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_700_000_000_123_456_789)),
                Log(index: 12, term: 4, type: .noop, data: []),
                Log(index: 13, term: 5, type: .configuration, data: ArraySlice(snapshotBytes(70_000))),
                Log(index: 14, term: 5, type: .barrier, data: [0xFF]),
            ]
            let requests = [
                AppendEntriesRequest(header: header(client.localAddress), term: 5, leader: client.localAddress,
                                     prevLogEntry: 10, prevLogTerm: 4, entries: entries, leaderCommitIndex: UInt64.max),
                AppendEntriesRequest(header: RPCHeader(protocolVersion: 2), term: 300, leader: client.localAddress,
                                     prevLogEntry: 70_000, prevLogTerm: 1 << 40),
                AppendEntriesRequest(header: header(client.localAddress), term: 9, leader: client.localAddress),
            ]
            for request in requests {
                let response = try await bounded("AppendEntries") {
                    try await client.appendEntries(id: "server", target: server.localAddress, request)
                }
                #expect(response == answer(to: request, from: server.localAddress))
            }
            #expect(peer.received.map(\.appendEntries) == requests)
        }
    }

    @Test("RequestVote, RequestPreVote and TimeoutNow arrive with every field and are answered intact")
    func votesAndTimeoutNow() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let vote = RequestVoteRequest(header: header(client.localAddress), term: 1 << 33, candidate: client.localAddress,
                                          lastLogIndex: 65_536, lastLogTerm: 255, leadershipTransfer: true)
            let preVote = RequestPreVoteRequest(header: header(client.localAddress), term: 44, lastLogIndex: 1 << 20, lastLogTerm: 43)
            let timeoutNow = TimeoutNowRequest(header: header(client.localAddress))
            let target = server.localAddress

            let voteResponse = try await bounded("RequestVote") { try await client.requestVote(id: "s", target: target, vote) }
            #expect(answer(to: .requestVote(vote), from: target).requestVote == voteResponse)
            let preVoteResponse = try await bounded("RequestPreVote") { try await client.requestPreVote(id: "s", target: target, preVote) }
            #expect(answer(to: .requestPreVote(preVote), from: target).requestPreVote == preVoteResponse)
            let timeoutNowResponse = try await bounded("TimeoutNow") { try await client.timeoutNow(id: "s", target: target, timeoutNow) }
            #expect(answer(to: .timeoutNow(timeoutNow), from: target).timeoutNow == timeoutNowResponse)

            let received = peer.received
            #expect(received.count == 3)
            if received.count == 3 {
                #expect(received[0].requestVote == vote)
                #expect(received[1].requestPreVote == preVote)
                #expect(received[2].timeoutNow == timeoutNow)
            }
        }
    }

    @Test("InstallSnapshot streams a few megabytes after the request, and the receiver reads exactly those bytes")
    func installSnapshotStreamsExactBytes() async throws {
        try await withTransportPair(client: { $0.snapshotChunkSize = 64 << 10 }, server: { $0.snapshotBufferSize = 256 << 10 }) {
            client, server in
            let peer = TestServer(server)
            let size = 5 * 1024 * 1024 + 17
            // The source holds more than `size`: exactly `size` bytes must be sent.
            let source = snapshotBytes(size + 1000)
            let request = InstallSnapshotRequest(
                header: header(client.localAddress), term: 12, leader: client.localAddress, lastLogIndex: 1_000,
                lastLogTerm: 11, peers: [1, 2], configuration: [0x81, 0xA1, 0x41], configurationIndex: 900, size: Int64(size)
            )
            // hashicorp/raft's deadline for this size, as Raft passes it (10 s per 256 KiB): the
            // 10 s of a plain call is too short for 5 MiB on a slow or busy machine (under
            // ThreadSanitizer the transfer took longer than that).
            let deadline = try #require(client.options.installSnapshotTimeout(size: Int64(size)))
            let response = try await bounded("InstallSnapshot", limit: deadline + hangLimit) {
                try await client.installSnapshot(
                    id: "s", target: server.localAddress, request, data: ByteSource(source, chunk: 10_000), timeout: deadline
                )
            }
            let expected = answer(to: .installSnapshot(request), from: server.localAddress, snapshotBytes: size)
            #expect(expected.installSnapshot == response)
            #expect(peer.received.first?.installSnapshot == request)
            let received = peer.snapshots.first ?? nil
            #expect(received?.count == size)
            #expect(received == Array(source.prefix(size)))
        }
    }

    @Test("An InstallSnapshot of zero bytes carries only its request")
    func emptySnapshot() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let request = InstallSnapshotRequest(header: header(client.localAddress), term: 3, leader: client.localAddress,
                                                 lastLogIndex: 5, lastLogTerm: 3, configuration: [0x80], configurationIndex: 1, size: 0)
            _ = try await bounded("InstallSnapshot") {
                try await client.installSnapshot(id: "s", target: server.localAddress, request, data: ByteSource([]))
            }
            #expect(peer.snapshots == [[]])
        }
    }

    @Test("send() calls each completion exactly once, on the connection's event loop, with its own answer; a completion may send the next request at once")
    func sendCompletesOnceOnTheLoop() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let target = Server(id: "s", address: server.localAddress)
            let recorder = CompletionRecorder<RaftResponse>(eventLoop: client.taskExecutor.eventLoop)
            let local = client.localAddress
            @Sendable func send(_ index: Int) {
                let record = recorder.completion(index)
                client.send(.appendEntries(numberedAppend(UInt64(index), from: local)), to: target, timeout: .seconds(10)) { result in
                    record(result)
                    if index < 199 { send(index + 1) }
                }
            }
            send(0)
            let results = try await recorder.wait(for: 200)
            #expect(recorder.order == Array(0..<200))
            #expect(recorder.offLoop == 0)
            for entry in results {
                let expected = answer(to: numberedAppend(UInt64(entry.index), from: local), from: server.localAddress)
                #expect((try? entry.result.get()) == .appendEntries(expected))
            }
            #expect(peer.received.count == 200)
            // One after the other, so one connection served them all.
            #expect(client.dialedConnections == 1)
            #expect(recorder.results.count == 200)
        }
    }

    @Test("send() refuses InstallSnapshot, which carries data, with invalidArgument")
    func sendRefusesInstallSnapshot() async throws {
        try await withTransportPair { client, server in
            let recorder = CompletionRecorder<RaftResponse>()
            let request = InstallSnapshotRequest(header: header(client.localAddress), term: 1, leader: client.localAddress,
                                                 lastLogIndex: 1, lastLogTerm: 1, configuration: [0x80], configurationIndex: 1, size: 0)
            client.send(.installSnapshot(request), to: Server(id: "s", address: server.localAddress), timeout: .seconds(10),
                        completion: recorder.completion(0))
            _ = try await recorder.wait(for: 1)
            #expect(recorder.codes == [.invalidArgument])
            #expect(client.dialedConnections == 0)
        }
    }

    @Test("An RPC the peer answers with an error throws a RaftError carrying the peer's text; the next call succeeds")
    func errorAnswers() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .refuse("the peer says no"))
            let request = numberedAppend(1, from: client.localAddress)
            do {
                _ = try await bounded("refused AppendEntries") {
                    try await client.appendEntries(id: "s", target: server.localAddress, request)
                }
                Issue.record("a refused call returned normally")
            } catch let error as RaftError {
                #expect(error.message.contains("the peer says no"))
            }
            peer.setMode(.answer)
            let response = try await bounded("AppendEntries after an error") {
                try await client.appendEntries(id: "s", target: server.localAddress, request)
            }
            #expect(response == answer(to: request, from: server.localAddress))
            // The error answer left the connection in step, so it was reused.
            #expect(server.acceptedConnections == 1)
        }
    }

    @Test("Raft's own errors travel as hashicorp/raft's texts and come back with their codes")
    func errorCodesSurviveTheWire() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server, .refuse(RaftError.shutdown.message))
            let code = try await raftErrorCode {
                _ = try await client.requestVote(id: "s", target: server.localAddress,
                                                 RequestVoteRequest(header: header(client.localAddress), term: 1, candidate: client.localAddress,
                                                                    lastLogIndex: 0, lastLogTerm: 0))
            }
            #expect(code == .shutdown)
            #expect(NetworkTransport.wireText(of: RaftError.shutdown) == "raft is already shutdown")
        }
    }

    @Test("Bare heartbeats go to the heartbeat handler when one is set; everything else goes to the RPC handler")
    func heartbeatFastPath() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let handled = EventCounter()
            server.setHeartbeatHandler { rpc in
                handled.increment()
                guard case .appendEntries(let request) = rpc.request else { return }
                rpc.respond(.appendEntries(AppendEntriesResponse(header: RPCHeader(), term: request.term, lastLog: 999, success: true)))
            }
            let heartbeat = AppendEntriesRequest(header: header(client.localAddress), term: 8, leader: client.localAddress)
            let fromHandler = try await bounded("heartbeat") { try await client.appendEntries(id: "s", target: server.localAddress, heartbeat) }
            #expect(fromHandler.lastLog == 999)
            #expect(handled.value == 1)

            // Without any leader address it is not hashicorp's fast-path shape.
            let anonymous = AppendEntriesRequest(header: RPCHeader(), term: 8, leader: "")
            let fromRPCHandler = try await bounded("anonymous heartbeat") {
                try await client.appendEntries(id: "s", target: server.localAddress, anonymous)
            }
            #expect(fromRPCHandler == answer(to: anonymous, from: server.localAddress))

            let entries = numberedAppend(4, from: client.localAddress)
            _ = try await bounded("AppendEntries") { try await client.appendEntries(id: "s", target: server.localAddress, entries) }

            server.setHeartbeatHandler(nil)
            let later = try await bounded("heartbeat after removal") {
                try await client.appendEntries(id: "s", target: server.localAddress, heartbeat)
            }
            #expect(later == answer(to: heartbeat, from: server.localAddress))
            #expect(handled.value == 1)
            #expect(peer.received.map(\.appendEntries) == [anonymous, entries, heartbeat])
        }
    }
}

extension RaftRequest {
    var appendEntries: AppendEntriesRequest? {
        if case .appendEntries(let request) = self { return request }
        return nil
    }
    var requestVote: RequestVoteRequest? {
        if case .requestVote(let request) = self { return request }
        return nil
    }
    var requestPreVote: RequestPreVoteRequest? {
        if case .requestPreVote(let request) = self { return request }
        return nil
    }
    var timeoutNow: TimeoutNowRequest? {
        if case .timeoutNow(let request) = self { return request }
        return nil
    }
    var installSnapshot: InstallSnapshotRequest? {
        if case .installSnapshot(let request) = self { return request }
        return nil
    }
}

extension RaftResponse {
    var requestVote: RequestVoteResponse? {
        if case .requestVote(let response) = self { return response }
        return nil
    }
    var requestPreVote: RequestPreVoteResponse? {
        if case .requestPreVote(let response) = self { return response }
        return nil
    }
    var timeoutNow: TimeoutNowResponse? {
        if case .timeoutNow(let response) = self { return response }
        return nil
    }
    var installSnapshot: InstallSnapshotResponse? {
        if case .installSnapshot(let response) = self { return response }
        return nil
    }
}
