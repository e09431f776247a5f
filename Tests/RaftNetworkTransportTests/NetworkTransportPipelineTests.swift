import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: AppendEntries pipelines")
struct NetworkTransportPipelineTests {
    @Test("10,000 pipelined AppendEntries reach the peer in order, and each answer comes back with its own request")
    func tenThousandInOrder() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let pipeline = try await bounded("opening a pipeline") {
                try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            }
            let count = 10_000
            let requests = (1...count).map { numberedAppend(UInt64($0), from: client.localAddress, entries: 4, size: 32) }
            let reader = Task {
                var results: [AppendPipelineResult] = []
                for await result in pipeline.responses {
                    results.append(result)
                    if results.count == count { break }
                }
                return results
            }
            try await bounded("sending") {
                for request in requests { try await pipeline.appendEntries(request) }
            }
            let results = try await bounded("reading the answers") { await reader.value }
            #expect(results.count == count)
            var mismatches = 0
            for (result, request) in zip(results, requests) {
                guard result.request == request, case .success(let response) = result.result,
                    response == answer(to: request, from: server.localAddress)
                else {
                    mismatches += 1
                    continue
                }
            }
            #expect(mismatches == 0)
            #expect(peer.received.map(\.appendEntries) == requests)
            await pipeline.close()
        }
    }

    @Test("Answers Raft gives out of order still go back in request order")
    func answersGoBackInRequestOrder() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            for request in requests { try await pipeline.appendEntries(request) }
            // Read ahead: all three reach Raft before the first is answered.
            try await peer.waitUntilReceived(3)
            for rpc in peer.held.reversed() {
                rpc.respond(answer(to: rpc.command, from: server.localAddress))
            }
            let results = try await collect(3, from: pipeline)
            #expect(results.map(\.request) == requests)
            for (result, request) in zip(results, requests) {
                #expect((try? result.result.get()) == answer(to: request, from: server.localAddress))
            }
            await pipeline.close()
        }
    }

    @Test("With answers withheld, exactly `pipelineWindow` sends complete before a send suspends")
    func countWindow() async throws {
        try await withTransportPair(client: { $0.pipelineWindow = 7 }) { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...20 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let executor = ThreadExecutor(name: "pipeline-test-sender")
            defer { executor.shutdown() }
            let (stalledAt, sender) = try await sendsBeforeSuspending(requests, on: pipeline, executor: executor)
            #expect(stalledAt == 7)
            try await peer.waitUntilReceived(7)

            peer.release()
            let reader = Task { try await collect(20, from: pipeline) }
            try await bounded("the sends after the answers") { try await sender.value }
            let results = try await reader.value
            #expect(results.map(\.request) == requests)
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            await pipeline.close()
        }
    }

    @Test("With answers withheld, sends stop once `pipelineWindowBytes` of requests are out")
    func byteWindow() async throws {
        let requests = (1...12 as ClosedRange<UInt64>).map { numberedAppend($0, from: "127.0.0.1:1", entries: 8, size: 1000) }
        var encoded = ByteBuffer()
        WireEncoder().encodeRequest(.appendEntries(requests[0]), into: &encoded)
        let size = encoded.readableBytes
        // Room for three requests and a half.
        try await withTransportPair(client: { $0.pipelineWindow = 1000; $0.pipelineWindowBytes = size * 7 / 2 }) { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let executor = ThreadExecutor(name: "pipeline-test-sender")
            defer { executor.shutdown() }
            let (stalledAt, sender) = try await sendsBeforeSuspending(requests, on: pipeline, executor: executor)
            #expect(stalledAt == 3)
            peer.release()
            let reader = Task { try await collect(requests.count, from: pipeline) }
            try await bounded("the sends after the answers") { try await sender.value }
            let results = try await reader.value
            #expect(results.map(\.request) == requests)
            await pipeline.close()
        }
    }

    @Test("A window of one still carries every request, one at a time, in order")
    func windowOfOne() async throws {
        try await withTransportPair(client: { $0.pipelineWindow = 1 }) { client, server in
            _ = TestServer(server)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...50 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let reader = Task { try await collect(50, from: pipeline) }
            try await bounded("sending") { for request in requests { try await pipeline.appendEntries(request) } }
            let results = try await reader.value
            #expect(results.map(\.request) == requests)
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            await pipeline.close()
        }
    }

    @Test("A request larger than the byte window is still sent, alone")
    func oversizedRequestIsSentAlone() async throws {
        try await withTransportPair(client: { $0.pipelineWindowBytes = 100 }) { client, server in
            _ = TestServer(server)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress, entries: 4, size: 500) }
            let reader = Task { try await collect(3, from: pipeline) }
            try await bounded("sending") { for request in requests { try await pipeline.appendEntries(request) } }
            let results = try await reader.value
            #expect(results.map(\.request) == requests)
            await pipeline.close()
        }
    }

    @Test("A broken connection fails every request in flight, in order; the answers end and later sends throw")
    func brokenConnectionFailsInFlight() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
        let requests = (1...5 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
        for request in requests { try await pipeline.appendEntries(request) }
        try await peer.waitUntilReceived(5)

        await server.close()
        let results = try await collect(nil, from: pipeline)
        #expect(results.map(\.request) == requests)
        for result in results {
            guard case .failure(let error) = result.result else {
                Issue.record("a request the peer never answered succeeded")
                continue
            }
            #expect((error as? RaftError)?.code == .unreachable)
        }
        let code = try await raftErrorCode { try await pipeline.appendEntries(numberedAppend(9, from: client.localAddress)) }
        #expect(code == .pipelineShutdown)
        await pipeline.close()
        await client.close()
    }

    @Test("An oldest request unanswered for the timeout breaks the pipeline: it fails with timeout, the rest after it")
    func oldestRequestTimesOut() async throws {
        // The connect timeout is generous: the pipeline's answer deadline is what is tested.
        try await withTransportPair(client: { $0.timeout = .milliseconds(150); $0.connectTimeout = .seconds(20) }) { client, server in
            _ = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            for request in requests { try await pipeline.appendEntries(request) }
            let results = try await collect(nil, from: pipeline)
            #expect(results.map(\.request) == requests)
            let codes = results.map { result -> RaftError.Code? in
                if case .failure(let error) = result.result { return (error as? RaftError)?.code }
                return nil
            }
            #expect(codes == [.timeout, .timeout, .timeout])
            let code = try await raftErrorCode { try await pipeline.appendEntries(numberedAppend(9, from: client.localAddress)) }
            #expect(code == .pipelineShutdown)
        }
    }

    @Test("A peer's error answer fails only its own request; the pipeline carries on")
    func errorAnswerFailsOnlyItsRequest() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            for request in requests { try await pipeline.appendEntries(request) }
            try await peer.waitUntilReceived(3)
            let held = peer.held
            held[0].respond(answer(to: held[0].command, from: server.localAddress))
            held[1].respond(error: TextError(text: "disk on fire"))
            held[2].respond(answer(to: held[2].command, from: server.localAddress))
            let results = try await collect(3, from: pipeline)
            #expect(results.map(\.request) == requests)
            #expect((try? results[0].result.get()) != nil)
            if case .failure(let error) = results[1].result {
                #expect("\(error)".contains("disk on fire"))
            } else {
                Issue.record("the refused request succeeded")
            }
            #expect((try? results[2].result.get()) != nil)
            peer.setMode(.answer)
            try await pipeline.appendEntries(numberedAppend(4, from: client.localAddress))
            #expect((try await collect(1, from: pipeline)).count == 1)
            await pipeline.close()
        }
    }

    @Test("close() answers what is in flight with errors, ends the answers, and makes later sends throw")
    func closeFailsInFlight() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try await client.appendEntriesPipeline(id: "s", target: server.localAddress)
            let requests = (1...4 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            for request in requests { try await pipeline.appendEntries(request) }
            try await peer.waitUntilReceived(4)
            await pipeline.close()
            let results = try await collect(nil, from: pipeline)
            #expect(results.map(\.request) == requests)
            #expect(results.allSatisfy { (try? $0.result.get()) == nil })
            let code = try await raftErrorCode { try await pipeline.appendEntries(numberedAppend(9, from: client.localAddress)) }
            #expect(code == .pipelineShutdown)
        }
    }

    @Test("Opening a pipeline to a peer that is down throws unreachable")
    func openingToADeadPeer() async throws {
        let client = try await makeTransport()
        let gone = try await makeTransport()
        let address = gone.localAddress
        await gone.close()
        #expect(try await raftErrorCode { _ = try await client.appendEntriesPipeline(id: "s", target: address) } == .unreachable)
        await client.close()
    }

    // MARK: Helpers

    /// Sends `requests` from a task alone on a thread of its own, and returns how many sends
    /// had completed once it suspended, and the sending task. A pipeline send suspends only for
    /// window room, so once two jobs queued behind the sender on its thread see the same count,
    /// the sender is stopped by a full window.
    private func sendsBeforeSuspending(
        _ requests: [AppendEntriesRequest],
        on pipeline: any AppendPipeline,
        executor: ThreadExecutor
    ) async throws -> (stalledAt: Int, sender: Task<Void, any Error>) {
        let sent = EventCounter()
        let sender = Task(executorPreference: executor) {
            for request in requests {
                try await pipeline.appendEntries(request)
                sent.increment()
            }
        }
        let look = { @Sendable in await Task(executorPreference: executor) { sent.value }.value }
        var stalledAt = await look()
        while true {
            let again = await look()
            if again == stalledAt { break }
            stalledAt = again
        }
        return (stalledAt, sender)
    }

    /// The next `count` answers, or with nil every answer until the stream ends.
    private func collect(_ count: Int?, from pipeline: any AppendPipeline) async throws -> [AppendPipelineResult] {
        try await bounded("reading \(count.map(String.init) ?? "all") pipelined answers") {
            var results: [AppendPipelineResult] = []
            for await result in pipeline.responses {
                results.append(result)
                if results.count == count { break }
            }
            return results
        }
    }
}
