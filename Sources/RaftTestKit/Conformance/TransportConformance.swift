public import SwiftRaft

/// The rules every ``Transport`` must follow for Raft to run on it, as checks runnable against
/// any implementation: the in-memory transport, a TCP transport, or one of your own.
///
/// ```swift
/// @Test(arguments: TransportConformance.checks)
/// func conforms(_ check: ConformanceCheck<TransportConformance.Subject>) async throws {
///     try await check.run(TransportConformance.Subject(
///         makeTransports: { count, timeout in try await MyTransport.makeGroup(count, timeout: timeout) },
///         restart: { stopped, _, timeout in try await MyTransport(address: stopped.localAddress, timeout: timeout) }))
/// }
/// ```
///
/// The checks cover what Raft relies on: every RPC and its answer arrive with every field
/// intact, snapshot data arrives exactly and in order, a peer's error reply and a peer's silence
/// both end a call with an error, heartbeats reach Raft exactly once, pipelines keep send order
/// and apply back-pressure, concurrent calls each get their own answer, and calls to a peer that
/// is down or closed fail instead of hanging, and work again once it is back.
///
/// A test server stands in for Raft on the receiving side: it reads the consumer one RPC at a
/// time, as Raft does. No check depends on how long anything takes: waits are ended by what the
/// checks observe, and real time only bounds them, so a transport that hangs fails a check
/// instead of hanging it. A rule that does not apply to a transport passes trivially: the
/// pipeline checks when ``Transport/appendEntriesPipeline(id:target:)`` throws
/// ``RaftError/Code/pipelineReplicationNotSupported``, RequestPreVote unless it is a
/// ``PreVoteTransport``, and the close check unless it is a ``ClosableTransport``.
public enum TransportConformance {
    /// How the checks get transports of the implementation under test, and how they take a peer
    /// down and bring it back.
    ///
    /// For a TCP transport, a transport is a listener plus its outgoing connections:
    /// ``makeTransports`` starts `count` of them listening on free loopback ports, each reaching
    /// the others by dialing their addresses; ``stop`` closes one's listener and every connection
    /// it has (its ``ClosableTransport/close()``), so peers see refused or reset connections, as
    /// from a crashed server; ``restart`` starts a new one listening at the same address, which
    /// peers must reach again through their own dialing, without being told. For
    /// ``InmemTransport``, see the in-memory conformance tests: ``restart`` makes a new transport
    /// with the old address and connects it to and from each peer.
    public struct Subject: Sendable {
        /// Makes `count` fresh transports, with distinct addresses, each able to call every other
        /// at its ``Transport/localAddress``, and each giving up on a call after `rpcTimeout`
        /// (the checks pass a very long timeout unless they test timeouts). Checks use the first
        /// transport as the caller. Each check calls this once.
        public var makeTransports: @Sendable (_ count: Int, _ rpcTimeout: Duration) async throws -> [any Transport]

        /// Takes `transport` down as a crash would: from then on, calls to its address must fail
        /// (promptly, without waiting out their timeout) and its pipelines must break. For TCP:
        /// close the listener and every connection it accepted. Defaults to
        /// ``ClosableTransport/close()``.
        public var stop: @Sendable (_ transport: any Transport) async -> Void

        /// Brings a stopped server back: returns a new transport at `stopped`'s address with
        /// `rpcTimeout`, able to call each of `peers` and reachable by them again. For TCP: listen
        /// again at the same host and port (which must be reusable at once, e.g. with
        /// `SO_REUSEADDR`); the peers have to reconnect by themselves.
        public var restart: @Sendable (
            _ stopped: any Transport,
            _ peers: [any Transport],
            _ rpcTimeout: Duration
        ) async throws -> any Transport

        /// Releases the transports at the end of every check, whether it passed or not. The list
        /// holds every transport the check made, including stopped ones and ones the check closed
        /// itself, so closing twice must be harmless. Defaults to closing each
        /// ``ClosableTransport``.
        public var close: @Sendable (_ transports: [any Transport]) async -> Void

        /// Describes the implementation under test.
        public init(
            makeTransports: @escaping @Sendable (_ count: Int, _ rpcTimeout: Duration) async throws -> [any Transport],
            restart: @escaping @Sendable (
                _ stopped: any Transport,
                _ peers: [any Transport],
                _ rpcTimeout: Duration
            ) async throws -> any Transport,
            stop: @escaping @Sendable (_ transport: any Transport) async -> Void = { transport in
                await (transport as? any ClosableTransport)?.close()
            },
            close: @escaping @Sendable (_ transports: [any Transport]) async -> Void = { transports in
                for transport in transports { await (transport as? any ClosableTransport)?.close() }
            }
        ) {
            self.makeTransports = makeTransports
            self.stop = stop
            self.restart = restart
            self.close = close
        }
    }

    /// Every check, each named for its rule.
    public static var checks: [ConformanceCheck<Subject>] {
        [
            ConformanceCheck(
                "AppendEntries requests and their answers arrive with every field intact, heartbeats and entries of every type and size included",
                appendEntriesRoundTrip
            ),
            ConformanceCheck("RequestVote requests and their answers arrive with every field intact", requestVoteRoundTrip),
            ConformanceCheck(
                "RequestPreVote requests and their answers arrive with every field intact",
                requestPreVoteRoundTrip
            ),
            ConformanceCheck(
                "InstallSnapshot delivers its request intact, then exactly size bytes of data in order, and its answer intact",
                installSnapshotRoundTrip
            ),
            ConformanceCheck("TimeoutNow requests and their answers arrive with every field intact", timeoutNowRoundTrip),
            ConformanceCheck(
                "An RPC the peer answers with an error throws at the caller, and the next call to that peer succeeds",
                errorAnswersThrow
            ),
            ConformanceCheck(
                "Each heartbeat reaches the heartbeat handler or the consumer exactly once, and the handler gets nothing but heartbeats",
                heartbeatsReachRaftOnce
            ),
            ConformanceCheck(
                "Concurrent RPCs from many tasks to one peer each get their own answer, even when the peer answers out of order",
                concurrentCallsGetTheirOwnAnswers
            ),
            ConformanceCheck(
                "Pipelined AppendEntries reach the peer in send order and their answers come back in send order, each with its request",
                pipelineKeepsSendOrder
            ),
            ConformanceCheck(
                "A pipeline's send suspends while the peer holds every answer, and resumes once answers arrive",
                pipelineAppliesBackPressure
            ),
            ConformanceCheck(
                "Closing a pipeline ends a send waiting for room, answers its unanswered requests with errors, finishes its answers, and makes later sends throw",
                closingAPipelineFailsWhatIsInFlight
            ),
            ConformanceCheck(
                "A call the peer never answers throws once the RPC timeout has passed, pipelined ones included, and later calls still get their own answers",
                unansweredCallsTimeOut
            ),
            ConformanceCheck(
                "An InstallSnapshot whose data ends before size bytes throws at the caller, and the peer stays usable",
                shortSnapshotDataThrows
            ),
            ConformanceCheck(
                "Calls to a stopped peer throw without waiting out their timeout, and succeed again once it is back at its address",
                stoppedPeersFailFastAndReconnect
            ),
            ConformanceCheck(
                "After close() the consumer finishes, calls to and from the transport throw, calls it had not answered resolve, and closing again is harmless",
                closeEndsEverything
            ),
            ConformanceCheck("decodePeer turns what a peer's encodePeer made back into the address", peerEncodingRoundTrips),
        ]
    }

    // MARK: Round trips

    static func appendEntriesRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let requests = appendEntriesRequests(from: client.localAddress)
            for (number, request) in requests.enumerated() {
                let response = try await within(hangLimit, "AppendEntries \(number)") {
                    try await client.appendEntries(id: id(of: peer), target: peer.localAddress, request)
                }
                try requireSame(
                    response,
                    answer(to: request, from: peer.localAddress),
                    "answer to AppendEntries \(number)"
                )
            }
            try requireSame(server.received, requests.map(Received.appendEntries), "requests as the peer received them")
        }
    }

    static func requestVoteRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let requests = requestVoteRequests(from: client.localAddress)
            for (number, request) in requests.enumerated() {
                let response = try await within(hangLimit, "RequestVote \(number)") {
                    try await client.requestVote(id: id(of: peer), target: peer.localAddress, request)
                }
                try requireSame(response, answer(to: request, from: peer.localAddress), "answer to RequestVote \(number)")
            }
            try requireSame(server.received, requests.map(Received.requestVote), "requests as the peer received them")
        }
    }

    static func requestPreVoteRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            guard let client = network.transports[0] as? any PreVoteTransport else { return }
            let peer = network.transports[1]
            let server = network.serve(peer)
            let requests = requestPreVoteRequests(from: client.localAddress)
            for (number, request) in requests.enumerated() {
                let response = try await within(hangLimit, "RequestPreVote \(number)") {
                    try await client.requestPreVote(id: id(of: peer), target: peer.localAddress, request)
                }
                try requireSame(
                    response,
                    answer(to: request, from: peer.localAddress),
                    "answer to RequestPreVote \(number)"
                )
            }
            try requireSame(server.received, requests.map(Received.requestPreVote), "requests as the peer received them")
        }
    }

    static func installSnapshotRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let snapshots = installSnapshotRequests(from: client.localAddress)
            for (number, (request, source)) in snapshots.enumerated() {
                let response = try await within(hangLimit, "InstallSnapshot \(number)") {
                    try await client.installSnapshot(
                        id: id(of: peer),
                        target: peer.localAddress,
                        request,
                        data: ChunkedSource(source)
                    )
                }
                try requireSame(
                    response,
                    answer(to: request, readBytes: Int(request.size), from: peer.localAddress),
                    "answer to InstallSnapshot \(number)"
                )
            }
            let received = server.received
            try conformanceRequireEqual(received.count, snapshots.count, "number of InstallSnapshot requests received")
            for (number, (arrived, sent)) in zip(received, snapshots).enumerated() {
                guard case .installSnapshot(let request, let data) = arrived else {
                    throw ConformanceFailure("InstallSnapshot \(number) arrived as \(arrived)")
                }
                try requireSame(request, sent.request, "InstallSnapshot request \(number) as the peer received it")
                try requireSameBytes(
                    data,
                    Array(sent.source.prefix(Int(sent.request.size))),
                    "snapshot data \(number) as the peer read it"
                )
            }
        }
    }

    static func timeoutNowRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let requests = timeoutNowRequests(from: client.localAddress)
            for (number, request) in requests.enumerated() {
                let response = try await within(hangLimit, "TimeoutNow \(number)") {
                    try await client.timeoutNow(id: id(of: peer), target: peer.localAddress, request)
                }
                try requireSame(response, answer(to: request, from: peer.localAddress), "answer to TimeoutNow \(number)")
            }
            try requireSame(server.received, requests.map(Received.timeoutNow), "requests as the peer received them")
        }
    }

    // MARK: Answers

    static func errorAnswersThrow(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            for (name, call) in everyCall(from: client, to: peer) {
                server.setMode(.refuse)
                let threw = try await throwsWithin(hangLimit, "\(name) answered with an error") { try await call() }
                try conformanceRequire(threw, "\(name) answered with an error returned normally instead of throwing")
                // A TCP connection that carried an error reply is still in step: the next call on it must work.
                server.setMode(.answer)
                try await within(hangLimit, "\(name) after an error answer") { try await call() }
            }
            guard let pipeline = try await openPipeline(from: client, to: peer) else { return }
            server.setMode(.refuse)
            let request = numberedAppend(1, from: client.localAddress)
            try await within(hangLimit, "sending a pipelined AppendEntries") { try await pipeline.appendEntries(request) }
            let results = try await collectResults(of: pipeline, count: 1, "the answer to a refused pipelined request")
            try requireSame(results.map(\.request), [request], "request of the pipelined answer")
            if case .success(let response) = results[0].result {
                throw ConformanceFailure("a pipelined request answered with an error succeeded with \(response)")
            }
            try await within(hangLimit, "closing the pipeline") { await pipeline.close() }
        }
    }

    static func heartbeatsReachRaftOnce(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let handled = Watched<[Received]>([])
            let handlerAnswer = { @Sendable (request: AppendEntriesRequest) in
                // Told apart from the consumer's answer, so the caller's answer shows which path it took.
                AppendEntriesResponse(
                    header: header(peer.localAddress),
                    term: request.term,
                    lastLog: 0xFEED_0000 &+ request.term,
                    success: true,
                    noRetryBackoff: true
                )
            }
            peer.setHeartbeatHandler { rpc in
                // The handler runs on the transport's own path, so it answers at once, as Raft's does.
                guard case .appendEntries(let request) = rpc.command else {
                    handled.update { $0.append(.timeoutNow(TimeoutNowRequest(header: legacyHeader))) }
                    rpc.respond(error: Refusal())
                    return
                }
                handled.update { $0.append(.appendEntries(request)) }
                rpc.respond(.appendEntries(handlerAnswer(request)))
            }

            let heartbeats = (21...25 as ClosedRange<UInt64>).map { heartbeat(from: client.localAddress, term: $0) }
            for request in heartbeats {
                let response = try await within(hangLimit, "heartbeat \(request.term)") {
                    try await client.appendEntries(id: id(of: peer), target: peer.localAddress, request)
                }
                if response == handlerAnswer(request) {
                    try conformanceRequire(
                        handled.value.contains(.appendEntries(request)),
                        "heartbeat \(request.term) was answered by the handler's answer, but the handler never got it"
                    )
                } else {
                    try requireSame(response, answer(to: request, from: peer.localAddress), "answer to heartbeat \(request.term)")
                }
            }

            let notHeartbeat = numberedAppend(3, from: client.localAddress)
            let response = try await within(hangLimit, "a non-heartbeat AppendEntries") {
                try await client.appendEntries(id: id(of: peer), target: peer.localAddress, notHeartbeat)
            }
            try requireSame(
                response,
                answer(to: notHeartbeat, from: peer.localAddress),
                "answer to an AppendEntries with entries while a heartbeat handler is set"
            )

            peer.setHeartbeatHandler(nil)
            let afterRemoval = heartbeat(from: client.localAddress, term: 26)
            let lastResponse = try await within(hangLimit, "a heartbeat after the handler was removed") {
                try await client.appendEntries(id: id(of: peer), target: peer.localAddress, afterRemoval)
            }
            try requireSame(
                lastResponse,
                answer(to: afterRemoval, from: peer.localAddress),
                "answer to a heartbeat after the handler was removed"
            )

            let viaHandler = handled.value
            let viaConsumer = server.received
            try conformanceRequire(
                viaHandler.allSatisfy { $0.appendEntries?.isHeartbeat == true },
                "the heartbeat handler got something other than a heartbeat: \(viaHandler)"
            )
            try conformanceRequire(viaConsumer.contains(.appendEntries(notHeartbeat)), "an AppendEntries with entries did not reach the consumer")
            try conformanceRequire(
                viaConsumer.contains(.appendEntries(afterRemoval)) && !viaHandler.contains(.appendEntries(afterRemoval)),
                "a heartbeat sent after the handler was removed did not reach the consumer (and only it)"
            )
            for request in heartbeats + [afterRemoval] {
                let deliveries = (viaHandler + viaConsumer).filter { $0 == .appendEntries(request) }.count
                try conformanceRequireEqual(deliveries, 1, "deliveries of heartbeat \(request.term) to handler and consumer")
            }
        }
    }

    static func concurrentCallsGetTheirOwnAnswers(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .answerInSwappedPairs)
            let votes = (0..<100).map { vote(term: 5_000 + UInt64($0), transfer: $0.isMultiple(of: 3), from: client.localAddress) }
            let answered = try await within(hangLimit, "100 concurrent RequestVotes (a transport must carry calls to one peer concurrently)") {
                try await withThrowingTaskGroup(of: (RequestVoteRequest, RequestVoteResponse).self) { group in
                    for request in votes {
                        group.addTask {
                            (request, try await client.requestVote(id: id(of: peer), target: peer.localAddress, request))
                        }
                    }
                    var answered: [(RequestVoteRequest, RequestVoteResponse)] = []
                    for try await pair in group { answered.append(pair) }
                    return answered
                }
            }
            for (request, response) in answered {
                try requireSame(response, answer(to: request, from: peer.localAddress), "answer to RequestVote for term \(request.term)")
            }
            try requireSame(
                server.received.sorted { ($0.term ?? 0) < ($1.term ?? 0) },
                votes.map(Received.requestVote),
                "requests as the peer received them, sorted by term"
            )
        }
    }

    static func peerEncodingRoundTrips(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            // Raft puts encoded peers in legacy fields that other servers decode.
            let addresses: [ServerAddress] = [client.localAddress, peer.localAddress, "10.0.0.1:8300", "[::1]:8300", "host-λ:1"]
            for address in addresses {
                let encoded = client.encodePeer(id: serverID(address), address: address)
                try conformanceRequireEqual(peer.decodePeer(encoded), address, "decodePeer(encodePeer(\(address)))")
            }
        }
    }

    // MARK: Calls

    /// One call of every kind from `client` to `peer` (RequestPreVote only if the client is a
    /// ``PreVoteTransport``), each throwing ``ConformanceFailure`` if its answer is not the test
    /// server's answer to its request.
    static func everyCall(
        from client: any Transport,
        to peer: any Transport
    ) -> [(name: String, call: @Sendable () async throws -> Void)] {
        let target = peer.localAddress
        let targetID = id(of: peer)
        let appendEntries = numberedAppend(41, from: client.localAddress)
        let requestVote = vote(term: 42, transfer: true, from: client.localAddress)
        let timeoutNow = TimeoutNowRequest(header: header(client.localAddress))
        let snapshot = smallSnapshot(from: client.localAddress)
        var calls: [(name: String, call: @Sendable () async throws -> Void)] = [
            (
                "AppendEntries",
                {
                    let response = try await client.appendEntries(id: targetID, target: target, appendEntries)
                    try requireSame(response, answer(to: appendEntries, from: target), "answer to AppendEntries")
                }
            ),
            (
                "RequestVote",
                {
                    let response = try await client.requestVote(id: targetID, target: target, requestVote)
                    try requireSame(response, answer(to: requestVote, from: target), "answer to RequestVote")
                }
            ),
            (
                "TimeoutNow",
                {
                    let response = try await client.timeoutNow(id: targetID, target: target, timeoutNow)
                    try requireSame(response, answer(to: timeoutNow, from: target), "answer to TimeoutNow")
                }
            ),
            (
                "InstallSnapshot",
                {
                    let response = try await client.installSnapshot(
                        id: targetID,
                        target: target,
                        snapshot.request,
                        data: ChunkedSource(snapshot.source)
                    )
                    try requireSame(
                        response,
                        answer(to: snapshot.request, readBytes: Int(snapshot.request.size), from: target),
                        "answer to InstallSnapshot"
                    )
                }
            ),
        ]
        if let preVoting = client as? any PreVoteTransport {
            let preVote = RequestPreVoteRequest(header: header(client.localAddress), term: 43, lastLogIndex: 9, lastLogTerm: 4)
            calls.append((
                "RequestPreVote",
                {
                    let response = try await preVoting.requestPreVote(id: targetID, target: target, preVote)
                    try requireSame(response, answer(to: preVote, from: target), "answer to RequestPreVote")
                }
            ))
        }
        return calls
    }
}

extension TransportConformance.Received {
    /// The term of a RequestVote, to sort by.
    fileprivate var term: UInt64? {
        if case .requestVote(let request) = self { return request.term }
        return nil
    }
}
