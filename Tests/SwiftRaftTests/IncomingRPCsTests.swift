import RaftTestKit
import SwiftRaft
import Testing

/// The test kit's `incomingRPCs()`: a transport's incoming RPCs as a stream, for tools and tests.
@Suite(.timeLimit(.minutes(1)))
struct IncomingRPCsTests {
    @Test func rpcsArriveOnTheStreamInOrderAndTheirAnswersReachTheCallers() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let incoming = b.incomingRPCs()
        let answers = Recorder<RaftResponse>()
        for term in 1...3 as ClosedRange<UInt64> {
            a.send(.requestVote(vote(term)), to: server("b"), timeout: .seconds(10), completion: answers.completion(term))
        }
        var terms: [UInt64] = []
        for await rpc in incoming {
            guard case .requestVote(let request) = rpc.request else { continue }
            terms.append(request.term)
            rpc.respond(.requestVote(RequestVoteResponse(header: header("b"), term: request.term, granted: true)))
            if terms.count == 3 { break }
        }
        #expect(terms == [1, 2, 3])
        await answers.wait(for: 3)
        #expect(answers.tags == [1, 2, 3])
        #expect(answers.values.map { response -> UInt64? in
            if case .requestVote(let vote) = response { return vote.term }
            return nil
        } == [1, 2, 3])
    }

    @Test func anRPCArrivingOnceNothingReadsTheStreamIsAnsweredWithAnErrorAtOnce() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let reader = Task {
            for await rpc in b.incomingRPCs() { rpc.respond(error: NotARaftError()) }
        }
        reader.cancel()
        await reader.value

        let answers = Recorder<RaftResponse>()
        a.send(.requestVote(vote(1)), to: server("b"), timeout: .seconds(10), completion: answers.completion(1))
        // The in-memory transport hands the request over before `send` returns, so the answer
        // is already there: not left to the 10 s timeout.
        #expect(answers.codes == [.shutdown])
    }

    @Test func theStreamFinishesOnceTheTransportLetsGoOfItsHandler() async throws {
        let b = InmemTransport(address: "b")
        var replaced = b.incomingRPCs().makeAsyncIterator()
        b.setRPCHandler { rpc in rpc.respond(error: NotARaftError()) }
        #expect(await replaced.next() == nil, "replaced by another handler")

        var removed = b.incomingRPCs().makeAsyncIterator()
        b.setRPCHandler(nil)
        #expect(await removed.next() == nil, "removed")

        var closed = b.incomingRPCs().makeAsyncIterator()
        await b.close()
        #expect(await closed.next() == nil, "the transport closed")
    }
}
