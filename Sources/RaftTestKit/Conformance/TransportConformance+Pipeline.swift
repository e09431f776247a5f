import SwiftRaft

// The AppendEntries pipeline checks. A pipeline carries requests to one peer without waiting for
// each answer, as over one TCP connection: sends return at once, the peer sees the requests in
// send order, and the completions run in that order too, whatever order the peer answers in.
// Once a request fails for want of an answer (a timeout, a closed pipeline, a peer that is
// gone), every request after it fails as well.

extension TransportConformance {
    /// How many requests the ordering check pipelines.
    static let pipelinedRequests = 200

    static func pipelineKeepsSendOrder(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            guard let probe = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
            let requests = (1...pipelinedRequests).map { numberedAppend(UInt64($0), from: client.localAddress) }
            // Raft bounds what is in flight itself; a send never waits for an answer or for room.
            try await probe.send(requests, "\(requests.count) requests while the peer answers none")
            try await server.waitUntilReceived(1)
            try conformanceRequire(
                probe.completions.value.isEmpty,
                "pipelined requests completed while the peer had answered none: \(probe.completions.value.count)"
            )

            // Answer whatever has arrived, newest first, until everything is answered: a transport
            // may deliver a few requests at a time, but the answers to those it does deliver
            // together come back in reverse order.
            try await within(hangLimit, "the peer answering \(requests.count) pipelined requests (it has \(server.received.count))") {
                var answered = 0
                while answered < requests.count {
                    let taken = answered
                    try await server.state.wait { $0.received.count > taken }
                    answered += server.answerHeldNewestFirst()
                }
            }
            let completions = try await probe.waitForCompletions(requests.count, "the answers to \(requests.count) pipelined requests")
            try probe.requireAnswered(completions, requests, "pipelined requests answered out of order")
            try requireSame(server.received, requests.map(Received.appendEntries), "requests as the peer received them")
            probe.pipeline.close()
        }
    }

    static func closingAPipelineFailsWhatIsInFlight(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            guard let probe = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
            let requests = (1...5 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            try await probe.send(requests, "requests the peer holds")
            try await server.waitUntilReceived(1)

            try await within(hangLimit, "closing the pipeline") { probe.pipeline.close() }
            let completions = try await probe.waitForCompletions(requests.count, "the unanswered requests of a closed pipeline")
            try probe.requireAllFailed(completions, "requests unanswered when their pipeline closed")

            try await probe.send([numberedAppend(6, from: client.localAddress)], "a request on a closed pipeline")
            let all = try await probe.waitForCompletions(requests.count + 1, "a request sent on a closed pipeline")
            try probe.requireAllFailed(all, "a request sent on a closed pipeline")
            try await within(hangLimit, "closing the pipeline again") { probe.pipeline.close() }
            // The peer's late answers go nowhere; were a completion called again, the ledger
            // would say so when the check ends.
            server.release()
        }
    }

    static func aPipelineFailureFailsEverythingAfterIt(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: shortTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            // The first request is never answered; every later one the peer receives, it
            // answers at once.
            let server = network.serve(peer, .holdOne)
            guard let probe = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
            let requests = (1...5 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            let start = ContinuousClock.now
            try await probe.send(requests, "five requests, the first of which the peer never answers")
            let completions = try await probe.waitForCompletions(
                requests.count,
                within: timeoutCheckLimit,
                "requests behind one that times out after \(shortTimeout)"
            )
            let elapsed = ContinuousClock.now - start
            try probe.requireAllFailed(completions, "requests from the one that timed out on")
            // As for calls: load delays timers, it never fires them early.
            try conformanceRequire(
                elapsed >= shortTimeout / 2,
                "the pipeline failed after \(elapsed), well before its timeout of \(shortTimeout), while the peer was still handling the request"
            )

            try await probe.send([numberedAppend(6, from: client.localAddress)], "a request after the failure")
            let all = try await probe.waitForCompletions(requests.count + 1, "a request sent after the pipeline failed")
            try probe.requireAllFailed(all, "a request sent after the pipeline failed")
            probe.pipeline.close()
            server.release()
        }
    }

    static func pipelinesToAStoppedPeerFail(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            _ = network.serve(peer)
            // Opened while the peer is up, idle when it goes down.
            guard let early = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
            let warmUp = numberedAppend(1, from: client.localAddress)
            try await early.send([warmUp], "a request before the peer stops")
            try early.requireAnswered(
                try await early.waitForCompletions(1, "the answer before the peer stops"),
                [warmUp],
                "a pipelined request before the peer stops"
            )

            let stop = network.subject.stop
            try await within(hangLimit, "stopping the peer") { await stop(peer) }

            let requests = (2...4 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
            try await early.send(requests, "requests after the peer stopped")
            let completions = try await early.waitForCompletions(1 + requests.count, "requests on a pipeline whose peer stopped")
            try early.requireAllFailed(Array(completions.dropFirst()), startingAt: 1, "requests on a pipeline whose peer stopped")
            early.pipeline.close()

            // Opened after: it may refuse at once, or open and fail its requests, never hang.
            let late: PipelineProbe
            do {
                guard let opened = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
                late = opened
            } catch let failure as ConformanceFailure {
                throw failure
            } catch {
                return
            }
            try await late.send(requests, "requests on a pipeline opened to a stopped peer")
            let lateCompletions = try await late.waitForCompletions(requests.count, "requests on a pipeline opened to a stopped peer")
            try late.requireAllFailed(lateCompletions, "requests on a pipeline opened to a stopped peer")
            late.pipeline.close()
        }
    }
}
