import NIOCore
import NIOPosix
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: streaming snapshot data")
struct NetworkTransportSnapshotTests {
    @Test("If Raft answers before reading all the data, the rest is drained and the connection serves the next request")
    func earlyAnswerDrainsTheRest() async throws {
        let server = try await makeTransport { $0.snapshotBufferSize = 64 << 10 }
        let rpcs = incomingRPCs(of: server)
        let serving = Task {
            for await rpc in rpcs {
                if case .installSnapshot(let request) = rpc.request, let data = rpc.snapshotData {
                    // Reads a little, then answers and closes, as a follower refusing the snapshot does.
                    _ = try? await NIOThreadPool.singleton.runIfActive { try data.read(maxLength: 10) }
                    data.close()
                    rpc.respond(.installSnapshot(InstallSnapshotResponse(header: RPCHeader(), term: request.term, success: false)))
                } else {
                    rpc.respond(answer(to: rpc.request, from: server.localAddress))
                }
            }
        }
        let size = 3 << 20
        let snapshot = InstallSnapshotRequest(header: header("raw"), term: 4, leader: "raw", lastLogIndex: 9, lastLogTerm: 4,
                                              configuration: [0x80], configurationIndex: 2, size: Int64(size))
        let vote = RequestVoteRequest(header: header("raw"), term: 5, candidate: "raw", lastLogIndex: 9, lastLogTerm: 4)
        let raw = try await RawPeer.connect(to: server.localAddress)
        // A client that keeps the connection after a snapshot (hashicorp's closes it, but need not).
        try await raw.send(requestFrame(.installSnapshot(snapshot)) + snapshotBytes(size) + requestFrame(.requestVote(vote)))
        let expected = responseFrame(.installSnapshot(InstallSnapshotResponse(header: RPCHeader(), term: 4, success: false)))
            + responseFrame(.requestVote(answer(to: .requestVote(vote), from: server.localAddress).requestVote!))
        #expect(try await raw.waitForBytes(expected.count) == expected)
        await raw.close()
        await server.close()
        serving.cancel()
    }

    @Test("A snapshot source that ends early fails the call with a storage error; the receiver's read fails")
    func shortSource() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let request = InstallSnapshotRequest(header: header(client.localAddress), term: 4, leader: client.localAddress,
                                                 lastLogIndex: 9, lastLogTerm: 4, configuration: [0x80], configurationIndex: 2,
                                                 size: 500_000)
            let code = try await raftErrorCode {
                _ = try await client.installSnapshot(request, data: ByteSource(snapshotBytes(200_000)),
                                                     to: Server(id: "s", address: server.localAddress), timeout: .seconds(10))
            }
            #expect(code == .storage)
            try await peer.waitUntilReceived(1)
            // Once the peer is done with the broken snapshot it serves the next call.
            _ = try await bounded("a call after the short snapshot") {
                try await client.appendEntries(id: "s", target: server.localAddress, numberedAppend(1, from: client.localAddress))
            }
            #expect(peer.snapshots == [nil])
        }
    }

    @Test("Incoming data asks the connection to pause beyond its buffer and to resume once half is read")
    func receiveBackPressure() async throws {
        let eventLoop = NetworkTransport.sharedEventLoopGroup.next()
        let resumed = EventCounter()
        let data = IncomingSnapshotData(size: 1000, highWatermark: 100, eventLoop: eventLoop) { resumed.increment() }
        #expect(data.append(ByteBuffer(bytes: [UInt8](repeating: 1, count: 60))) == false)
        #expect(data.append(ByteBuffer(bytes: [UInt8](repeating: 2, count: 60))) == true)
        #expect(try data.read(maxLength: 50).count == 50)
        #expect(resumed.value == 0)  // 70 still buffered: more than half
        #expect(try data.read(maxLength: 50) == [UInt8](repeating: 1, count: 10) + [UInt8](repeating: 2, count: 40))
        #expect(resumed.value == 1)
        #expect(data.receivedCount == 120)
        #expect(!data.isComplete)
    }

    @Test("Incoming data that ends early makes the reader fail after what did arrive")
    func incomingFailure() async throws {
        let eventLoop = NetworkTransport.sharedEventLoopGroup.next()
        let data = IncomingSnapshotData(size: 10, highWatermark: 100, eventLoop: eventLoop) {}
        _ = data.append(ByteBuffer(bytes: [1, 2, 3]))
        data.fail(RaftError(.unreachable, "connection closed"))
        #expect(try data.read(maxLength: 10) == [1, 2, 3])
        #expect(throws: RaftError(.unreachable, "")) { _ = try data.read(maxLength: 10) }
    }

    @Test("A reader blocked on incoming data wakes when it arrives, and sees the end after the last byte")
    func blockedReaderWakes() async throws {
        let eventLoop = NetworkTransport.sharedEventLoopGroup.next()
        let data = IncomingSnapshotData(size: 4, highWatermark: 100, eventLoop: eventLoop) {}
        let reader = NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { try data.readAll(chunkSize: 3) }
        _ = data.append(ByteBuffer(bytes: [1, 2]))
        _ = data.append(ByteBuffer(bytes: [3, 4]))
        data.finish()
        let bytes = try await bounded("the blocked reader") { try await reader.get() }
        #expect(bytes == [1, 2, 3, 4])
    }

    @Test("Reading incoming data on the event loop that delivers it throws instead of deadlocking; closing discards it")
    func readingOnTheEventLoopThrows() async throws {
        let eventLoop = NetworkTransport.sharedEventLoopGroup.next()
        let data = IncomingSnapshotData(size: 4, highWatermark: 100, eventLoop: eventLoop) {}
        let threw = try await eventLoop.submit { (try? data.read(maxLength: 4)) == nil }.get()
        #expect(threw)
        _ = data.append(ByteBuffer(bytes: [1, 2]))
        data.close()
        #expect(try data.read(maxLength: 4).isEmpty)
        #expect(data.append(ByteBuffer(bytes: [3, 4])) == false)
    }
}
