import SwiftRaft

// The checks about calls that cannot be answered: a silent peer, a short snapshot, a peer that
// goes down and comes back, and a transport that is closed. Each must end every call, with an
// error, and none may hang.

extension TransportConformance {
    static func unansweredCallsTimeOut(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: shortTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            let pipeline = try await openPipeline(from: client, to: peer)
            let answered = try await withThrowingTaskGroup(of: String?.self) { group in
                for (name, call) in everyCall(from: client, to: peer) {
                    group.addTask {
                        let threw = try await throwsWithin(timeoutCheckLimit, "\(name) to a peer that never answers") {
                            try await call()
                        }
                        return threw ? nil : name
                    }
                }
                if let pipeline {
                    group.addTask {
                        let request = numberedAppend(1, from: client.localAddress)
                        try await within(timeoutCheckLimit, "sending a pipelined request") {
                            try await pipeline.appendEntries(request)
                        }
                        let results = try await collectResults(
                            of: pipeline,
                            count: 1,
                            within: timeoutCheckLimit,
                            "the answer to a pipelined request the peer never answers"
                        )
                        if case .failure? = results.first?.result { return nil }
                        return "a pipelined AppendEntries"
                    }
                }
                var answered: [String] = []
                for try await name in group { answered += name.map { [$0] } ?? [] }
                return answered
            }
            try conformanceRequire(
                answered.isEmpty,
                "calls to a peer that never answers ended without an error: \(answered.sorted())"
            )
            if let pipeline { try await within(hangLimit, "closing the pipeline") { await pipeline.close() } }

            // The peer now answers everything it held, too late for anyone. A transport that
            // reused a timed-out connection would hand such a late answer to a later call.
            server.release()
            try await within(hangLimit, "a call to the peer after its late answers") {
                var errors: [String] = []
                for attempt in 1...20 as ClosedRange<UInt64> {
                    let request = vote(term: 90_000 + attempt, transfer: attempt.isMultiple(of: 2), from: client.localAddress)
                    let response: RequestVoteResponse
                    do {
                        response = try await client.requestVote(id: id(of: peer), target: peer.localAddress, request)
                    } catch {
                        // Only a loaded machine makes a call miss a 200 ms timeout; try again.
                        errors.append("\(error)")
                        continue
                    }
                    try requireSame(
                        response,
                        answer(to: request, from: peer.localAddress),
                        "answer to a RequestVote sent after the peer's late answers"
                    )
                    return
                }
                throw ConformanceFailure("20 calls in a row failed once the peer answered again: \(errors)")
            }
        }
    }

    /// A transport must not wait for an answer that cannot come: the peer is still waiting for
    /// the rest of the data. So the call must fail well before the (patient) timeout.
    static func shortSnapshotDataThrows(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            _ = network.serve(peer)
            let request = InstallSnapshotRequest(
                header: header(client.localAddress),
                term: 6,
                leader: client.localAddress,
                lastLogIndex: 20,
                lastLogTerm: 6,
                configuration: [0x80],
                configurationIndex: 2,
                size: 100_000
            )
            let threw = try await throwsWithin(hangLimit, "an InstallSnapshot whose data ends early") {
                _ = try await client.installSnapshot(
                    id: id(of: peer),
                    target: peer.localAddress,
                    request,
                    data: ChunkedSource(snapshotBytes(40_000))
                )
            }
            try conformanceRequire(threw, "an InstallSnapshot with 40000 of its 100000 bytes did not throw")
            for (name, call) in everyCall(from: client, to: peer) {
                try await within(hangLimit, "\(name) after an InstallSnapshot whose data ended early") { try await call() }
            }
        }
    }

    static func stoppedPeersFailFastAndReconnect(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            _ = network.serve(client)
            let server = network.serve(peer)
            for (name, call) in everyCall(from: client, to: peer) {
                try await within(hangLimit, "\(name) before the peer stops") { try await call() }
            }

            // Work in flight when the peer goes down: a call and a pipelined request it holds.
            server.setMode(.hold)
            let before = server.received.count
            let pendingVote = vote(term: 77, from: client.localAddress)
            let pending = Task {
                _ = try await client.requestVote(id: id(of: peer), target: peer.localAddress, pendingVote)
            }
            try await server.waitUntilReceived(before + 1)
            let pipeline = try await openPipeline(from: client, to: peer)
            if let pipeline {
                let request = numberedAppend(1, from: client.localAddress)
                try await within(hangLimit, "sending a pipelined request") { try await pipeline.appendEntries(request) }
                try await server.waitUntilReceived(before + 2)
            }

            let stop = network.subject.stop
            try await within(hangLimit, "stopping the peer") { await stop(peer) }

            let pendingThrew = try await throwsWithin(hangLimit, "a call the peer had not answered when it stopped") {
                try await pending.value
            }
            try conformanceRequire(pendingThrew, "a call the peer never answered before it stopped returned normally")
            if let pipeline {
                let results = try await collectResults(
                    of: pipeline,
                    count: 1,
                    "the answer to a pipelined request the peer had not answered when it stopped"
                )
                try requireFailed(results, "a pipelined request the peer had not answered when it stopped")
                try await within(hangLimit, "closing the pipeline") { await pipeline.close() }
            }
            for (name, call) in everyCall(from: client, to: peer) {
                let threw = try await throwsWithin(hangLimit, "\(name) to a stopped peer") { try await call() }
                try conformanceRequire(threw, "\(name) to a stopped peer did not throw")
            }
            try conformanceRequire(
                try await pipelineFails(from: client, to: peer),
                "a pipelined AppendEntries to a stopped peer succeeded"
            )

            let revived = try await network.restart(peer, peers: [client])
            _ = network.serve(revived)
            let calls = everyCall(from: client, to: revived)
            // A connection the peer's crash left behind may fail one call each; a transport
            // must notice and connect anew rather than fail forever.
            let firstCall = calls[0]
            try await within(hangLimit, "the first successful call to the restarted peer") {
                var errors: [String] = []
                for _ in 1...5 {
                    do {
                        try await firstCall.call()
                        return
                    } catch let failure as ConformanceFailure {
                        throw failure
                    } catch {
                        errors.append("\(error)")
                    }
                }
                throw ConformanceFailure("5 calls in a row to the restarted peer failed: \(errors)")
            }
            for (name, call) in calls {
                try await within(hangLimit, "\(name) to the restarted peer") { try await call() }
            }
            if let revivedPipeline = try await openPipeline(from: client, to: revived) {
                let requests = (11...13 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
                try await within(hangLimit, "pipelining to the restarted peer") {
                    for request in requests { try await revivedPipeline.appendEntries(request) }
                }
                let results = try await collectResults(of: revivedPipeline, count: requests.count, "answers from the restarted peer")
                try requireAnswered(results, requests, by: revived.localAddress)
                try await within(hangLimit, "closing the pipeline") { await revivedPipeline.close() }
            }
            for (name, call) in everyCall(from: revived, to: client) {
                try await within(hangLimit, "\(name) from the restarted peer") { try await call() }
            }
        }
    }

    static func closeEndsEverything(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            guard let closable = peer as? any ClosableTransport else { return }
            _ = network.serve(client)
            let server = network.serve(peer, .hold)
            let pendingVote = vote(term: 88, from: client.localAddress)
            let pending = Task {
                _ = try await client.requestVote(id: id(of: peer), target: peer.localAddress, pendingVote)
            }
            try await server.waitUntilReceived(1)

            try await within(hangLimit, "close()") { await closable.close() }
            let pendingThrew = try await throwsWithin(hangLimit, "a call the transport had not answered when it closed") {
                try await pending.value
            }
            try conformanceRequire(pendingThrew, "a call the transport never answered before it closed returned normally")
            try await within(hangLimit, "the consumer of a closed transport finishing") {
                try await server.state.wait { $0.finished }
            }
            for (name, call) in everyCall(from: client, to: peer) {
                let threw = try await throwsWithin(hangLimit, "\(name) to a closed transport") { try await call() }
                try conformanceRequire(threw, "\(name) to a closed transport did not throw")
            }
            for (name, call) in everyCall(from: peer, to: client) {
                let threw = try await throwsWithin(hangLimit, "\(name) from a closed transport") { try await call() }
                try conformanceRequire(threw, "\(name) from a closed transport did not throw")
            }
            try conformanceRequire(
                try await pipelineFails(from: peer, to: client),
                "a pipelined AppendEntries from a closed transport succeeded"
            )
            try await within(hangLimit, "closing a closed transport") { await closable.close() }
        }
    }

    // MARK: Helpers

    /// Throws unless `results` holds one answer, and that answer is a failure.
    static func requireFailed(_ results: [AppendPipelineResult], _ what: String) throws {
        guard let result = results.first else {
            throw ConformanceFailure("\(what): the pipeline's answers finished without answering it")
        }
        if case .success(let response) = result.result {
            throw ConformanceFailure("\(what): succeeded with \(response)")
        }
    }

    /// Whether pipelining one AppendEntries from `client` to `peer` fails, at whichever step:
    /// opening the pipeline, sending, or the answer. True, trivially, if the transport does not
    /// pipeline.
    static func pipelineFails(from client: any Transport, to peer: any Transport) async throws -> Bool {
        let pipeline: any AppendPipeline
        do {
            guard let opened = try await openPipeline(from: client, to: peer) else { return true }
            pipeline = opened
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            return true
        }
        let request = numberedAppend(9, from: client.localAddress)
        var failed = try await throwsWithin(hangLimit, "sending on a pipeline to \(peer.localAddress)") {
            try await pipeline.appendEntries(request)
        }
        if !failed {
            let results = try await collectResults(of: pipeline, count: 1, "the answer from a pipeline to \(peer.localAddress)")
            guard let result = results.first else {
                throw ConformanceFailure("a pipeline's answers finished without answering a request sent on it")
            }
            if case .failure = result.result { failed = true }
        }
        try await within(hangLimit, "closing a pipeline") { await pipeline.close() }
        return failed
    }
}
