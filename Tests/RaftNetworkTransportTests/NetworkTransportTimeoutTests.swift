@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: timeouts")
struct NetworkTransportTimeoutTests {
    @Test("A call the peer never answers throws timeout, and its connection is not reused")
    func unansweredCallTimesOut() async throws {
        // A generous connect timeout: this tests the call's deadline, and a loaded machine can take
        // longer than 200 ms to finish a loopback connect.
        try await withTransportPair(client: { $0.timeout = .milliseconds(200); $0.connectTimeout = .seconds(20) }) { client, server in
            let peer = TestServer(server, .hold)
            let request = numberedAppend(1, from: client.localAddress)
            let code = try await raftErrorCode {
                _ = try await client.appendEntries(id: "s", target: server.localAddress, request)
            }
            #expect(code == .timeout)
            #expect(client.idleConnections(to: server.localAddress) == 0)

            // The late answer goes to a closed connection; the next call gets its own answer.
            peer.release()
            let next = numberedAppend(2, from: client.localAddress)
            let response = try await bounded("the next call") { try await client.appendEntries(id: "s", target: server.localAddress, next) }
            #expect(response == answer(to: next, from: server.localAddress))
        }
    }

    @Test("A raw server that reads but never answers makes every kind of call time out")
    func silentRawServer() async throws {
        let server = try await RawServer { NeverAnswer() }
        let client = try await makeTransport { $0.timeout = .milliseconds(150); $0.connectTimeout = .seconds(20) }
        let target = server.address
        let local = client.localAddress
        #expect(try await raftErrorCode {
            _ = try await client.requestVote(id: "s", target: target,
                                             RequestVoteRequest(header: header(local), term: 1, candidate: local, lastLogIndex: 0, lastLogTerm: 0))
        } == .timeout)
        #expect(try await raftErrorCode {
            _ = try await client.timeoutNow(id: "s", target: target, TimeoutNowRequest(header: header(local)))
        } == .timeout)
        #expect(try await raftErrorCode {
            let request = InstallSnapshotRequest(header: header(local), term: 1, leader: local, lastLogIndex: 1, lastLogTerm: 1,
                                                 configuration: [0x80], configurationIndex: 1, size: 1000)
            _ = try await client.installSnapshot(id: "s", target: target, request, data: ByteSource(snapshotBytes(1000)))
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
    @Test("A call whose task is cancelled ends at once, as Raft's own timeouts need, whatever the transport's timeout")
    func cancelledCallEndsAtOnce() async throws {
        try await withTransportPair(client: { $0.timeout = .seconds(600) }) { client, server in
            _ = TestServer(server, .hold)
            let target = server.localAddress
            let request = numberedAppend(1, from: client.localAddress)
            // Raft bounds calls with its clock's withTimeout, which cancels the call and then
            // waits for it to end.
            let code = try await raftErrorCode {
                _ = try await SystemClock().withTimeout(.milliseconds(50), "AppendEntries") {
                    try await client.appendEntries(id: "s", target: target, request)
                }
            }
            #expect(code == .timeout)
            #expect(client.idleConnections(to: target) == 0)

            let snapshot = InstallSnapshotRequest(header: header(client.localAddress), term: 1, leader: client.localAddress,
                                                  lastLogIndex: 1, lastLogTerm: 1, configuration: [0x80], configurationIndex: 1,
                                                  size: 10)
            let snapshotCode = try await raftErrorCode {
                _ = try await SystemClock().withTimeout(.milliseconds(50), "InstallSnapshot") {
                    try await client.installSnapshot(id: "s", target: target, snapshot, data: ByteSource(snapshotBytes(10)))
                }
            }
            #expect(snapshotCode == .timeout)
        }
    }
}
