import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: timeouts")
struct NetworkTransportTimeoutTests {
    @Test("A call the peer never answers fails with timeout, and its connection is closed, not pooled")
    func unansweredCallTimesOut() async throws {
        // A generous connect timeout: this tests the call's deadline.
        try await withTransportPair(client: { $0.connectTimeout = .seconds(20) }) { client, server in
            let peer = TestServer(server, .hold)
            let request = numberedAppend(1, from: client.localAddress)
            let code = try await raftErrorCode {
                _ = try await client.appendEntries(id: "s", target: server.localAddress, request, timeout: .milliseconds(200))
            }
            #expect(code == .timeout)
            #expect(client.idleConnections(to: server.localAddress) == 0)

            // The late answer goes to a closed connection; the next call gets its own answer, on
            // a connection of its own.
            peer.release()
            let next = numberedAppend(2, from: client.localAddress)
            let response = try await bounded("the next call") { try await client.appendEntries(id: "s", target: server.localAddress, next) }
            #expect(response == answer(to: next, from: server.localAddress))
            #expect(client.dialedConnections == 2)
        }
    }

    @Test("Each request carries its own timeout: a short one times out while a long one on another connection is answered")
    func timeoutsArePerRequest() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let target = Server(id: "s", address: server.localAddress)
            let recorder = CompletionRecorder<RaftResponse>()
            client.send(.appendEntries(numberedAppend(1, from: client.localAddress)), to: target, timeout: .seconds(600),
                        completion: recorder.completion(0))
            client.send(.appendEntries(numberedAppend(2, from: client.localAddress)), to: target, timeout: .milliseconds(100),
                        completion: recorder.completion(1))
            let first = try await recorder.wait(for: 1)
            #expect(first.map(\.index) == [1])
            #expect(recorder.codes == [.timeout])
            try await peer.waitUntilReceived(1)
            peer.release()
            let both = try await recorder.wait(for: 2)
            #expect(both.map(\.index) == [1, 0])
            #expect((try? both[1].result.get()) == .appendEntries(answer(to: numberedAppend(1, from: client.localAddress), from: server.localAddress)))
        }
    }

    @Test("A call whose connection is still being dialed times out within its own timeout, not the connect timeout")
    func dialIsBoundedByTheRequestTimeout() async throws {
        let layer = GatedStreamLayer()
        try await withTransportPair(client: { $0.streamLayer = layer; $0.connectTimeout = .seconds(600) }) { client, server in
            _ = TestServer(server)
            layer.holdDials()
            let code = try await raftErrorCode {
                _ = try await client.appendEntries(id: "s", target: server.localAddress, numberedAppend(1, from: client.localAddress),
                                                   timeout: .milliseconds(100))
            }
            #expect(code == .timeout)
            layer.releaseDials()
            // The next call dials afresh and is answered.
            let next = numberedAppend(2, from: client.localAddress)
            let response = try await bounded("the next call") { try await client.appendEntries(id: "s", target: server.localAddress, next) }
            #expect(response == answer(to: next, from: server.localAddress))
        }
    }

    @Test("A raw server that reads but never answers makes every kind of call time out")
    func silentRawServer() async throws {
        let server = try await RawServer { NeverAnswer() }
        let client = try await makeTransport { $0.connectTimeout = .seconds(20) }
        let target = server.address
        let local = client.localAddress
        let timeout = Duration.milliseconds(150)
        #expect(try await raftErrorCode {
            _ = try await client.requestVote(id: "s", target: target,
                                             RequestVoteRequest(header: header(local), term: 1, candidate: local, lastLogIndex: 0, lastLogTerm: 0),
                                             timeout: timeout)
        } == .timeout)
        #expect(try await raftErrorCode {
            _ = try await client.timeoutNow(id: "s", target: target, TimeoutNowRequest(header: header(local)), timeout: timeout)
        } == .timeout)
        #expect(try await raftErrorCode {
            _ = try await client.requestPreVote(id: "s", target: target,
                                                RequestPreVoteRequest(header: header(local), term: 5, lastLogIndex: 1, lastLogTerm: 1),
                                                timeout: timeout)
        } == .timeout)
        #expect(try await raftErrorCode {
            let request = InstallSnapshotRequest(header: header(local), term: 1, leader: local, lastLogIndex: 1, lastLogTerm: 1,
                                                 configuration: [0x80], configurationIndex: 1, size: 1000)
            _ = try await client.installSnapshot(request, data: ByteSource(snapshotBytes(1000)), to: Server(id: "s", address: target),
                                                 timeout: timeout)
        } == .timeout)
        await client.close()
        await server.close()
    }

    @Test("InstallSnapshot may take the timeout once per 256 KiB of snapshot, and never less than the timeout")
    func installSnapshotTimeoutScalesWithSize() {
        let options = testOptions { $0.timeout = .seconds(10) }
        #expect(options.installSnapshotTimeout(size: 0) == .seconds(10))
        #expect(options.installSnapshotTimeout(size: -5) == .seconds(10))
        #expect(options.installSnapshotTimeout(size: 256 * 1024 - 1) == .seconds(10))
        #expect(options.installSnapshotTimeout(size: 256 * 1024) == .seconds(10))
        #expect(options.installSnapshotTimeout(size: 2 * 256 * 1024 - 1) == .seconds(10))
        #expect(options.installSnapshotTimeout(size: 2 * 256 * 1024) == .seconds(20))
        #expect(options.installSnapshotTimeout(size: 100 * 1024 * 1024) == .seconds(4000))
        #expect(options.installSnapshotTimeout(size: .max) != nil)

        let scaled = testOptions { $0.timeout = .milliseconds(500); $0.timeoutScale = 1000 }
        #expect(scaled.installSnapshotTimeout(size: 10_500) == .seconds(5))
        #expect(testOptions { $0.timeout = .zero }.installSnapshotTimeout(size: 1 << 30) == nil)
    }
}

@Suite("NetworkTransport: cancellation")
struct NetworkTransportCancellationTests {
    @Test("An InstallSnapshot whose task is cancelled ends at once, whatever its timeout")
    func cancelledInstallSnapshotEndsAtOnce() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server, .hold)
            let target = server.localAddress
            let snapshot = InstallSnapshotRequest(header: header(client.localAddress), term: 1, leader: client.localAddress,
                                                  lastLogIndex: 1, lastLogTerm: 1, configuration: [0x80], configurationIndex: 1,
                                                  size: 10)
            // Raft bounds such calls with its clock's withTimeout, which cancels the call and then
            // waits for it to end.
            let snapshotCode = try await raftErrorCode {
                _ = try await SystemClock().withTimeout(.milliseconds(50), "InstallSnapshot") {
                    try await client.installSnapshot(snapshot, data: ByteSource(snapshotBytes(10)), to: Server(id: "s", address: target),
                                                     timeout: .seconds(600))
                }
            }
            #expect(snapshotCode == .timeout)
        }
    }
}
