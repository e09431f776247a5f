import SwiftRaft

// The AppendEntries pipeline checks. A pipeline carries requests to one peer without waiting for
// each answer, as over one TCP connection: the peer sees them in send order and answers them in
// that order, and the caller reads the answers in that order too.

extension TransportConformance {
    /// How many requests the ordering check pipelines.
    static let pipelinedRequests = 200

    /// How many requests the back-pressure check tries to send with no answer coming back. A
    /// transport's pipeline window must be smaller (hashicorp/raft's are 16 in memory and about
    /// 130 over TCP).
    static let backPressureRequests = 500

    /// Opens a pipeline from `client` to `peer`, or returns nil if the transport does not pipeline,
    /// in which case the pipeline rules do not apply.
    static func openPipeline(from client: any Transport, to peer: any Transport) async throws -> (any AppendPipeline)? {
        do {
            return try await within(hangLimit, "opening a pipeline to \(peer.localAddress)") {
                try await client.appendEntriesPipeline(id: id(of: peer), target: peer.localAddress)
            }
        } catch let error as RaftError where error.code == .pipelineReplicationNotSupported {
            return nil
        }
    }

    /// The next `count` answers from `pipeline`, or with `count` nil every answer until
    /// `responses` finishes; fewer if it finishes first.
    static func collectResults(
        of pipeline: any AppendPipeline,
        count: Int?,
        within limit: Duration = hangLimit,
        _ what: String
    ) async throws -> [AppendPipelineResult] {
        try await within(limit, what) {
            var results: [AppendPipelineResult] = []
            if count == 0 { return results }
            for await result in pipeline.responses {
                results.append(result)
                if let count, results.count == count { break }
            }
            return results
        }
    }

    /// Throws unless `results` answer `requests`, in order, each with the test server's answer.
    static func requireAnswered(
        _ results: [AppendPipelineResult],
        _ requests: [AppendEntriesRequest],
        by peer: ServerAddress
    ) throws {
        try conformanceRequireEqual(results.count, requests.count, "number of pipelined answers")
        for (number, (result, request)) in zip(results, requests).enumerated() {
            try requireSame(result.request, request, "request of pipelined answer \(number)")
            switch result.result {
            case .success(let response):
                try requireSame(response, answer(to: request, from: peer), "pipelined answer \(number)")
            case .failure(let error):
                throw ConformanceFailure("pipelined request \(number) failed: \(error)")
            }
        }
    }

    static func pipelineKeepsSendOrder(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            guard let pipeline = try await openPipeline(from: client, to: peer) else { return }
            let requests = (1...pipelinedRequests).map { numberedAppend(UInt64($0), from: client.localAddress) }
            // Raft reads answers while it sends; a pipeline may need that to make room.
            let reader = Task {
                try await collectResults(of: pipeline, count: requests.count, "reading \(requests.count) pipelined answers")
            }
            try await within(hangLimit, "sending \(requests.count) pipelined requests") {
                for request in requests { try await pipeline.appendEntries(request) }
            }
            try requireAnswered(try await reader.value, requests, by: peer.localAddress)
            try requireSame(server.received, requests.map(Received.appendEntries), "requests as the peer received them")
            try await within(hangLimit, "closing the pipeline") { await pipeline.close() }
        }
    }

    static func pipelineAppliesBackPressure(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            guard let pipeline = try await openPipeline(from: client, to: peer) else { return }
            let requests = (1...backPressureRequests).map { numberedAppend(UInt64($0), from: client.localAddress) }
            let reader = Task {
                try await collectResults(of: pipeline, count: requests.count, "reading \(requests.count) pipelined answers")
            }
            let sender = PipelineSender(pipeline, requests)
            defer { sender.shutDown() }
            let stalledAt = await sender.stalled()
            try conformanceRequire(
                stalledAt < requests.count,
                "all \(requests.count) sends completed while the peer answered none: the pipeline applies no back-pressure"
            )
            let sentBeforeAnswers = sender.sent.value
            server.release()
            try await within(hangLimit, "the sends left after the peer started answering") { try await sender.task.value }
            try conformanceRequire(
                sentBeforeAnswers < requests.count,
                "all \(requests.count) sends completed before the peer answered any"
            )
            try requireAnswered(try await reader.value, requests, by: peer.localAddress)
            try await within(hangLimit, "closing the pipeline") { await pipeline.close() }
        }
    }

    static func closingAPipelineFailsWhatIsInFlight(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            guard let pipeline = try await openPipeline(from: client, to: peer) else { return }
            let requests = (1...backPressureRequests).map { numberedAppend(UInt64($0), from: client.localAddress) }
            // Fill the pipeline, so the close finds requests in flight and a send waiting for room.
            let sender = PipelineSender(pipeline, requests)
            defer { sender.shutDown() }
            _ = await sender.stalled()
            try await server.waitUntilReceived(1)

            try await within(hangLimit, "closing the pipeline") { await pipeline.close() }
            // The waiting send must end: by throwing, or by completing, and then it is one more
            // request to answer with an error.
            _ = try await within(hangLimit, "a send waiting for room when the pipeline closed") {
                await sender.task.result
            }
            let sent = Array(requests.prefix(sender.sent.value))
            let results = try await collectResults(of: pipeline, count: nil, "reading a closed pipeline's answers to the end")
            try requireSame(results.map(\.request), sent, "requests answered after the close")
            for (number, result) in results.enumerated() {
                if case .success(let response) = result.result {
                    throw ConformanceFailure("request \(number), never answered by the peer, succeeded with \(response)")
                }
            }
            let late = numberedAppend(UInt64(requests.count + 1), from: client.localAddress)
            let threw = try await throwsWithin(hangLimit, "a send on a closed pipeline") {
                try await pipeline.appendEntries(late)
            }
            try conformanceRequire(threw, "a send on a closed pipeline did not throw")
        }
    }

    /// Sends requests on a pipeline from a task alone on a thread of its own, so a check can see,
    /// without timing anything, when the sends stop making progress.
    ///
    /// A job queued on that thread behind the sender runs only once the sender has suspended;
    /// while the peer answers nothing, that is where a pipeline with a window stops it.
    final class PipelineSender: Sendable {
        /// How many sends have completed.
        let sent: Watched<Int>
        /// The sending; ends once every request is sent, or with the first send that throws.
        let task: Task<Void, any Error>
        private let executor: ThreadExecutor

        /// Starts sending `requests`, in order, each once the previous send has returned.
        init(_ pipeline: any AppendPipeline, _ requests: [AppendEntriesRequest]) {
            let sent = Watched(0)
            let executor = ThreadExecutor(name: "transport-conformance-sender")
            self.sent = sent
            self.executor = executor
            self.task = Task(executorPreference: executor) {
                for request in requests {
                    try await pipeline.appendEntries(request)
                    sent.update { $0 += 1 }
                }
            }
        }

        /// The number of completed sends once the sender has stopped making progress, suspended
        /// or finished. A sender waiting for I/O rather than for room is suspended too, but then
        /// moves on; so it counts as stopped once two looks in a row see the same count.
        func stalled() async -> Int {
            let sent = sent
            let look = { @Sendable in await Task(executorPreference: self.executor) { sent.value }.value }
            var count = await look()
            while true {
                let again = await look()
                if again == count { return count }
                count = again
            }
        }

        /// Lets the thread exit once it has nothing left to run. A sender still suspended then is
        /// abandoned, which only a failed check leaves behind.
        func shutDown() { executor.shutdown() }
    }
}
