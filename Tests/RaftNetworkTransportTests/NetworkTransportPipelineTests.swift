import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

@Suite("NetworkTransport: AppendEntries pipelines")
struct NetworkTransportPipelineTests {
    private typealias Recorder = CompletionRecorder<AppendEntriesResponse>

    @Test("10,000 pipelined AppendEntries reach the peer in order; each completion is called once, in send order, on the event loop, with its own answer")
    func tenThousandInOrder() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let count = 10_000
            let requests = (1...count).map { numberedAppend(UInt64($0), from: client.localAddress, entries: 4, size: 32) }
            let recorder = Recorder(eventLoop: loop(of: pipeline))
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            let results = try await recorder.wait(for: count)
            #expect(results.count == count)
            #expect(recorder.order == Array(0..<count))
            #expect(recorder.offLoop == 0)
            var mismatches = 0
            for (entry, request) in zip(results, requests) {
                guard case .success(let response) = entry.result, response == answer(to: request, from: server.localAddress) else {
                    mismatches += 1
                    continue
                }
            }
            #expect(mismatches == 0)
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("appendEntriesPipeline returns before connecting; requests sent meanwhile are written once connected, in order")
    func requestsBeforeTheConnectionAreQueued() async throws {
        let layer = GatedStreamLayer()
        try await withTransportPair(client: { $0.streamLayer = layer }) { client, server in
            let peer = TestServer(server)
            layer.holdDials()
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let requests = (1...5 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let recorder = Recorder()
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            // The dial is held: nothing can have been written or answered yet.
            try await layer.waitForHeldDial()
            #expect(recorder.results.isEmpty)
            #expect(peer.received.isEmpty)
            layer.releaseDials()
            let results = try await recorder.wait(for: 5)
            #expect(recorder.order == Array(0..<5))
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("A pipeline whose dial fails fails every request queued, in order, and every later one")
    func dialFailureFailsTheQueue() async throws {
        let client = try await makeTransport()
        let gone = try await makeTransport()
        let address = gone.localAddress
        await gone.close()
        let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: address))
        let recorder = Recorder(eventLoop: loop(of: pipeline))
        for index in 0..<3 { pipeline.appendEntries(numberedAppend(UInt64(index), from: client.localAddress), completion: recorder.completion(index)) }
        _ = try await recorder.wait(for: 3)
        #expect(recorder.order == [0, 1, 2])
        #expect(recorder.codes == [.unreachable, .unreachable, .unreachable])
        pipeline.appendEntries(numberedAppend(9, from: client.localAddress), completion: recorder.completion(3))
        _ = try await recorder.wait(for: 4)
        #expect(recorder.codes.last == .pipelineShutdown)
        #expect(recorder.offLoop == 0)
        await client.close()
    }

    @Test("Answers Raft gives out of order still go back in request order")
    func answersGoBackInRequestOrder() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let recorder = Recorder()
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            // Read ahead: all three reach Raft before the first is answered.
            try await peer.waitUntilReceived(3)
            for rpc in peer.held.reversed() {
                rpc.respond(answer(to: rpc.request, from: server.localAddress))
            }
            let results = try await recorder.wait(for: 3)
            #expect(recorder.order == [0, 1, 2])
            for (entry, request) in zip(results, requests) {
                #expect((try? entry.result.get()) == answer(to: request, from: server.localAddress))
            }
            pipeline.close()
        }
    }

    @Test("With answers withheld, exactly `pipelineWindow` requests are written; the rest go out, in order, as answers come")
    func countWindow() async throws {
        try await withTransportPair(client: { $0.pipelineWindow = 7 }) { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let requests = (1...20 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let recorder = Recorder()
            // Sending never waits, window or not.
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            try await peer.waitUntilReceived(7)
            #expect(try await writtenAndWaiting(pipeline) == (7, 13))
            #expect(peer.received.count == 7)

            peer.release()
            let results = try await recorder.wait(for: 20)
            #expect(recorder.order == Array(0..<20))
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("With answers withheld, requests stop being written once `pipelineWindowBytes` of them are out")
    func byteWindow() async throws {
        let requests = (1...12 as ClosedRange<UInt64>).map { numberedAppend($0, from: "127.0.0.1:1", entries: 8, size: 1000) }
        var encoded = ByteBuffer()
        WireEncoder().encodeRequest(.appendEntries(requests[0]), into: &encoded)
        let size = encoded.readableBytes
        // Room for three requests and a half.
        try await withTransportPair(client: { $0.pipelineWindow = 1000; $0.pipelineWindowBytes = size * 7 / 2 }) { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = Recorder()
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            try await peer.waitUntilReceived(3)
            #expect(try await writtenAndWaiting(pipeline) == (3, 9))
            peer.release()
            _ = try await recorder.wait(for: requests.count)
            #expect(recorder.order == Array(0..<requests.count))
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("A window of one still carries every request, one at a time, in order")
    func windowOfOne() async throws {
        try await withTransportPair(client: { $0.pipelineWindow = 1 }) { client, server in
            let peer = TestServer(server)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let requests = (1...50 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let recorder = Recorder()
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            let results = try await recorder.wait(for: 50)
            #expect(recorder.order == Array(0..<50))
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("A request larger than the byte window is still sent, alone")
    func oversizedRequestIsSentAlone() async throws {
        try await withTransportPair(client: { $0.pipelineWindowBytes = 100 }) { client, server in
            let peer = TestServer(server)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress, entries: 4, size: 500) }
            let recorder = Recorder()
            for (index, request) in requests.enumerated() { pipeline.appendEntries(request, completion: recorder.completion(index)) }
            let results = try await recorder.wait(for: 3)
            #expect(recorder.order == [0, 1, 2])
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            #expect(peer.received.map(\.appendEntries) == requests)
            pipeline.close()
        }
    }

    @Test("A completion may send the next request at once, from the event loop")
    func completionsMaySendAtOnce() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = Recorder(eventLoop: loop(of: pipeline))
            let local = client.localAddress
            @Sendable func send(_ index: Int) {
                let record = recorder.completion(index)
                pipeline.appendEntries(numberedAppend(UInt64(index), from: local)) { result in
                    record(result)
                    if index < 99 { send(index + 1) }
                }
            }
            send(0)
            let results = try await recorder.wait(for: 100)
            #expect(recorder.order == Array(0..<100))
            #expect(results.allSatisfy { (try? $0.result.get()) != nil })
            #expect(recorder.offLoop == 0)
            #expect(peer.received.count == 100)
            pipeline.close()
        }
    }

    @Test("A broken connection fails every request in flight, in order; later requests fail too")
    func brokenConnectionFailsInFlight() async throws {
        let client = try await makeTransport()
        let server = try await makeTransport()
        let peer = TestServer(server, .hold)
        let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
        let recorder = Recorder()
        for index in 0..<5 { pipeline.appendEntries(numberedAppend(UInt64(index + 1), from: client.localAddress), completion: recorder.completion(index)) }
        try await peer.waitUntilReceived(5)

        await server.close()
        _ = try await recorder.wait(for: 5)
        #expect(recorder.order == Array(0..<5))
        #expect(recorder.codes == Array(repeating: .unreachable, count: 5))
        pipeline.appendEntries(numberedAppend(9, from: client.localAddress), completion: recorder.completion(5))
        _ = try await recorder.wait(for: 6)
        #expect(recorder.codes.last == .pipelineShutdown)
        pipeline.close()
        await client.close()
    }

    @Test("An oldest request unanswered for the timeout breaks the pipeline: it fails with timeout, the rest after it")
    func oldestRequestTimesOut() async throws {
        // The connect timeout is generous: the pipeline's answer deadline is what is tested.
        try await withTransportPair(client: { $0.timeout = .milliseconds(150); $0.connectTimeout = .seconds(20) }) { client, server in
            _ = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = Recorder()
            for index in 0..<3 { pipeline.appendEntries(numberedAppend(UInt64(index + 1), from: client.localAddress), completion: recorder.completion(index)) }
            _ = try await recorder.wait(for: 3)
            #expect(recorder.order == [0, 1, 2])
            #expect(recorder.codes == [.timeout, .timeout, .timeout])
            pipeline.appendEntries(numberedAppend(9, from: client.localAddress), completion: recorder.completion(3))
            _ = try await recorder.wait(for: 4)
            #expect(recorder.codes.last == .pipelineShutdown)
        }
    }

    @Test("A peer's error answer fails only its own request; the pipeline carries on")
    func errorAnswerFailsOnlyItsRequest() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = Recorder()
            for index in 0..<3 { pipeline.appendEntries(numberedAppend(UInt64(index + 1), from: client.localAddress), completion: recorder.completion(index)) }
            try await peer.waitUntilReceived(3)
            let held = peer.held
            held[0].respond(answer(to: held[0].request, from: server.localAddress))
            held[1].respond(error: TextError(text: "disk on fire"))
            held[2].respond(answer(to: held[2].request, from: server.localAddress))
            let results = try await recorder.wait(for: 3)
            #expect(recorder.order == [0, 1, 2])
            #expect((try? results[0].result.get()) != nil)
            if case .failure(let error) = results[1].result {
                #expect("\(error)".contains("disk on fire"))
            } else {
                Issue.record("the refused request succeeded")
            }
            #expect((try? results[2].result.get()) != nil)
            peer.setMode(.answer)
            pipeline.appendEntries(numberedAppend(4, from: client.localAddress), completion: recorder.completion(3))
            let last = try await recorder.wait(for: 4)
            #expect((try? last[3].result.get()) != nil)
            pipeline.close()
        }
    }

    @Test("close() fails what is in flight, in order, and makes later requests fail")
    func closeFailsInFlight() async throws {
        try await withTransportPair { client, server in
            let peer = TestServer(server, .hold)
            let pipeline = try client.appendEntriesPipeline(to: Server(id: "s", address: server.localAddress))
            let recorder = Recorder()
            for index in 0..<4 { pipeline.appendEntries(numberedAppend(UInt64(index + 1), from: client.localAddress), completion: recorder.completion(index)) }
            try await peer.waitUntilReceived(4)
            pipeline.close()
            let results = try await recorder.wait(for: 4)
            #expect(recorder.order == [0, 1, 2, 3])
            #expect(results.allSatisfy { (try? $0.result.get()) == nil })
            pipeline.appendEntries(numberedAppend(9, from: client.localAddress), completion: recorder.completion(4))
            _ = try await recorder.wait(for: 5)
            #expect(recorder.codes.last == .pipelineShutdown)
            // Each completion exactly once, even after the connection has gone.
            #expect(recorder.results.count == 5)
        }
    }

    @Test("Opening a pipeline on a closed transport throws transportShutdown; a bad address throws invalidArgument")
    func openingFailures() async throws {
        let client = try await makeTransport()
        #expect(throws: RaftError(.invalidArgument, "")) { _ = try client.appendEntriesPipeline(to: Server(id: "s", address: "no-port")) }
        await client.close()
        #expect(throws: RaftError(.transportShutdown, "")) {
            _ = try client.appendEntriesPipeline(to: Server(id: "s", address: "127.0.0.1:1"))
        }
    }

    // MARK: Helpers

    /// The event loop a pipeline calls its completions on.
    private func loop(of pipeline: any AppendPipeline) -> any EventLoop {
        (pipeline as! NetworkPipeline).eventLoop
    }

    /// How many requests the pipeline has written without an answer, and how many wait behind
    /// the window, once its event loop has run everything queued so far.
    private func writtenAndWaiting(_ pipeline: any AppendPipeline) async throws -> (Int, Int) {
        let pipeline = pipeline as! NetworkPipeline
        return try await pipeline.eventLoop.submit { pipeline.counts }.get()
    }
}
