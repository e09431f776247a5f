import SwiftRaft

// The checks about calls that cannot be answered as asked: a peer's error, a silent peer, a
// request too large to send, a short snapshot, a peer that goes down and comes back, and a
// transport that is closed. Each must end every call, with an error, and none may hang.

extension TransportConformance {
    static func errorAnswersFail(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            for call in everyCall(from: client, to: peer.localAddress, in: network) {
                server.setMode(.refuse)
                try await expectFailure(call, "\(call.name) answered with an error")
                // A TCP connection that carried an error reply is still in step: the next call on it must work.
                server.setMode(.answer)
                try await expectAnswer(call, from: peer.localAddress, "\(call.name) after an error answer")
            }
            guard let probe = try await network.openPipeline(from: client, to: peer.localAddress) else { return }
            server.setMode(.refuse)
            try await probe.send([numberedAppend(1, from: client.localAddress)], "a request the peer refuses")
            let completions = try await probe.waitForCompletions(1, "the answer to a refused pipelined request")
            try probe.requireAllFailed(completions, "a pipelined request answered with an error")
            probe.pipeline.close()
        }
    }

    static func unansweredCallsTimeOut(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: shortTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            let calls = everyCall(from: client, to: peer.localAddress, in: network)
            let outcomes = try await withThrowingTaskGroup(of: (String, Result<RaftResponse, any Error>, Duration).self) { group in
                for call in calls {
                    group.addTask {
                        let start = ContinuousClock.now
                        let result = try await within(timeoutCheckLimit, "\(call.name) to a peer that never answers, with a timeout of \(shortTimeout)") {
                            await call.run(shortTimeout)
                        }
                        return (call.name, result, ContinuousClock.now - start)
                    }
                }
                var outcomes: [(String, Result<RaftResponse, any Error>, Duration)] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            for (name, result, elapsed) in outcomes {
                try requireFailure(result, "\(name) to a peer that never answers")
                // A machine's load only delays a timer, so this bound cannot fail a correct
                // transport; it fails one that gives up on a call the peer is still handling.
                try conformanceRequire(
                    elapsed >= shortTimeout / 2,
                    "\(name) failed after \(elapsed), well before its timeout of \(shortTimeout), while the peer was still handling it: \(result)"
                )
            }

            // The peer now answers everything it held, too late for anyone. A transport that
            // reused a timed-out connection would hand such a late answer to a later call; each
            // of these has its own answer, unlike the late ones.
            server.release()
            for number in 1...5 as ClosedRange<UInt64> {
                let requests: [RaftRequest] = [
                    .requestVote(vote(term: 90_000 + number, transfer: number.isMultiple(of: 2), from: client.localAddress)),
                    .appendEntries(numberedAppend(90_000 + number, from: client.localAddress)),
                ]
                for request in requests {
                    let result = try await within(hangLimit, "\(name(of: request)) \(number) after the peer's late answers") {
                        await network.call(request, from: client, to: peer.localAddress, timeout: patientTimeout)
                    }
                    try requireAnswer(
                        result,
                        to: Received(request),
                        from: peer.localAddress,
                        "answer to \(name(of: request)) \(number), sent after the peer's late answers"
                    )
                }
            }
        }
    }

    static func oversizedRequestsFailWithoutBeingSent(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            guard let limit = client.maxMessageSize else { return }
            let server = network.serve(peer)
            let tooLarge = oversizedAppend(limit: limit, from: client.localAddress)
            let result = try await within(hangLimit, "an AppendEntries larger than maxMessageSize (\(limit) bytes)") {
                await network.call(.appendEntries(tooLarge), from: client, to: peer.localAddress)
            }
            guard case .failure(let error) = result else {
                throw ConformanceFailure("an AppendEntries larger than maxMessageSize (\(limit) bytes) succeeded: \(result)")
            }
            try conformanceRequireEqual(
                (error as? RaftError)?.code,
                .invalidArgument,
                "the error code of an AppendEntries larger than maxMessageSize (it failed with \(error))"
            )
            if let probe = try await network.openPipeline(from: client, to: peer.localAddress) {
                try await probe.send([tooLarge], "an AppendEntries larger than maxMessageSize")
                let completions = try await probe.waitForCompletions(1, "a pipelined AppendEntries larger than maxMessageSize")
                try probe.requireAllFailed(completions, "a pipelined AppendEntries larger than maxMessageSize")
                probe.pipeline.close()
            }

            // The peer is still reachable, and has seen nothing but this.
            let small = numberedAppend(1, from: client.localAddress)
            let answer = try await within(hangLimit, "an AppendEntries within the limit") {
                await network.call(.appendEntries(small), from: client, to: peer.localAddress)
            }
            try requireAnswer(answer, to: .appendEntries(small), from: peer.localAddress, "answer to an AppendEntries within the limit")
            try requireSame(
                server.received,
                [.appendEntries(small)],
                "requests the peer received (one larger than maxMessageSize must not be sent)"
            )
        }
    }

    /// A transport must not wait for an answer that cannot come: the peer is still waiting for
    /// the rest of the data. So the call must fail well before the (patient) timeout.
    static func shortSnapshotDataFails(_ subject: Subject) async throws {
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
            let result = try await within(hangLimit, "an InstallSnapshot whose data ends early") {
                await network.installSnapshot(request, data: ChunkedSource(snapshotBytes(40_000)), from: client, to: peer.localAddress)
            }
            try requireFailure(result, "an InstallSnapshot with 40000 of its 100000 bytes")
            for call in everyCall(from: client, to: peer.localAddress, in: network) {
                try await expectAnswer(call, from: peer.localAddress, "\(call.name) after an InstallSnapshot whose data ended early")
            }
        }
    }

    static func stoppedPeersFailFastAndReconnect(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            _ = network.serve(client)
            let server = network.serve(peer)
            for call in everyCall(from: client, to: peer.localAddress, in: network) {
                try await expectAnswer(call, from: peer.localAddress, "\(call.name) before the peer stops")
            }

            // Work in flight when the peer goes down: a call and a pipelined request it holds.
            server.setMode(.hold)
            let before = server.received.count
            let pendingVote = vote(term: 77, from: client.localAddress)
            let pending = Task { await network.call(.requestVote(pendingVote), from: client, to: peer.localAddress) }
            try await server.waitUntilReceived(before + 1)
            let probe = try await network.openPipeline(from: client, to: peer.localAddress)
            if let probe {
                try await probe.send([numberedAppend(1, from: client.localAddress)], "a request the peer holds")
                try await server.waitUntilReceived(before + 2)
            }

            let stop = network.subject.stop
            try await within(hangLimit, "stopping the peer") { await stop(peer) }

            let pendingResult = try await within(hangLimit, "a call the peer had not answered when it stopped") { await pending.value }
            try requireFailure(pendingResult, "a call the peer had not answered when it stopped")
            if let probe {
                let completions = try await probe.waitForCompletions(
                    1,
                    "the pipelined request the peer had not answered when it stopped"
                )
                try probe.requireAllFailed(completions, "a pipelined request the peer had not answered when it stopped")
                probe.pipeline.close()
            }
            for call in everyCall(from: client, to: peer.localAddress, in: network) {
                try await expectFailure(call, "\(call.name) to a stopped peer")
            }
            try await requirePipelineFails(from: client, to: peer.localAddress, in: network, "a pipeline to a stopped peer")

            let revived = try await network.restart(peer, peers: [client])
            _ = network.serve(revived)
            let calls = everyCall(from: client, to: revived.localAddress, in: network)
            // A connection the peer's crash left behind may fail one call each; a transport
            // must notice and connect anew rather than fail forever.
            let firstCall = calls[0]
            try await within(hangLimit, "the first successful call to the restarted peer") {
                var errors: [String] = []
                for _ in 1...5 {
                    switch await firstCall.run(nil) {
                    case .success(let response):
                        try requireSame(
                            response,
                            answer(to: firstCall.received, from: revived.localAddress),
                            "answer to \(firstCall.name) from the restarted peer"
                        )
                        return
                    case .failure(let error):
                        errors.append("\(error)")
                    }
                }
                throw ConformanceFailure("5 calls in a row to the restarted peer failed: \(errors)")
            }
            for call in calls {
                try await expectAnswer(call, from: revived.localAddress, "\(call.name) to the restarted peer")
            }
            if let revivedProbe = try await network.openPipeline(from: client, to: revived.localAddress) {
                let requests = (11...13 as ClosedRange<UInt64>).map { numberedAppend($0, from: client.localAddress) }
                try await revivedProbe.send(requests, "requests to the restarted peer")
                let completions = try await revivedProbe.waitForCompletions(requests.count, "answers from the restarted peer")
                try revivedProbe.requireAnswered(completions, requests, "pipelined requests to the restarted peer")
                revivedProbe.pipeline.close()
            }
            for call in everyCall(from: revived, to: client.localAddress, in: network) {
                try await expectAnswer(call, from: client.localAddress, "\(call.name) from the restarted peer")
            }
        }
    }

    static func closeEndsEverything(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            guard let closable = peer as? any ClosableTransport else { return }
            let clientServer = network.serve(client, .hold)
            let peerServer = network.serve(peer, .hold)

            // Unanswered when the peer closes: a call to it, a call from it, and pipelined
            // requests from it, all held by their receivers.
            let incoming = Task {
                await network.call(.requestVote(vote(term: 88, from: client.localAddress)), from: client, to: peer.localAddress)
            }
            try await peerServer.waitUntilReceived(1)
            let outgoing = Task {
                await network.call(.requestVote(vote(term: 89, from: peer.localAddress)), from: peer, to: client.localAddress)
            }
            try await clientServer.waitUntilReceived(1)
            let probe = try await network.openPipeline(from: peer, to: client.localAddress)
            if let probe {
                let requests = (1...3 as ClosedRange<UInt64>).map { numberedAppend($0, from: peer.localAddress) }
                try await probe.send(requests, "requests the client holds")
                try await clientServer.waitUntilReceived(2)
            }

            try await within(hangLimit, "close()") { await closable.close() }

            let incomingResult = try await within(hangLimit, "a call to the transport that it had not answered when it closed") {
                await incoming.value
            }
            try requireFailure(incomingResult, "a call to the transport that it had not answered when it closed")
            let outgoingResult = try await within(hangLimit, "a call from the transport, not yet answered when it closed") {
                await outgoing.value
            }
            try requireFailure(outgoingResult, "a call from the transport, not yet answered when it closed")
            if let probe {
                let completions = try await probe.waitForCompletions(3, "pipelined requests from the transport, not yet answered when it closed")
                try probe.requireAllFailed(completions, "pipelined requests from the transport, not yet answered when it closed")
                try await probe.send([numberedAppend(4, from: peer.localAddress)], "a request on a pipeline of a closed transport")
                let all = try await probe.waitForCompletions(4, "a request on a pipeline of a closed transport")
                try probe.requireAllFailed(all, "a request on a pipeline of a closed transport")
            }

            // From here the client answers at once: a call from the closed transport can fail
            // only because it is closed.
            _ = network.serve(client)
            for call in everyCall(from: client, to: peer.localAddress, in: network) {
                try await expectFailure(call, "\(call.name) to a closed transport")
            }
            for call in everyCall(from: peer, to: client.localAddress, in: network) {
                try await expectFailure(call, "\(call.name) from a closed transport")
            }
            try await requirePipelineFails(from: peer, to: client.localAddress, in: network, "a pipeline from a closed transport")
            try await within(hangLimit, "closing a closed transport") { await closable.close() }
            // The client answers what it held, too late: the completions must not run again
            // (the ledger checks that when the check ends).
            clientServer.release()
        }
    }

    // MARK: Helpers

    /// Throws unless pipelining one AppendEntries from `client` to `peer` fails promptly, at
    /// whichever step: opening the pipeline (which must then throw at once), or the request's
    /// completion. Passes, trivially, if the transport does not pipeline.
    static func requirePipelineFails(
        from client: any Transport,
        to peer: ServerAddress,
        in network: Network,
        _ what: String
    ) async throws {
        let probe: PipelineProbe
        do {
            guard let opened = try await network.openPipeline(from: client, to: peer) else { return }
            probe = opened
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            return
        }
        try await probe.send([numberedAppend(9, from: client.localAddress)], what)
        let completions = try await probe.waitForCompletions(1, what)
        try probe.requireAllFailed(completions, what)
        probe.pipeline.close()
    }
}
