public import SwiftRaft

/// The rules every `Transport` must follow for Raft to run on it, as checks runnable against
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
/// The checks cover what Raft relies on:
/// - every RPC and its answer arrive with every field intact, and InstallSnapshot delivers
///   exactly `size` bytes of data, in order, leaving the sender's source open;
/// - each incoming RPC reaches the installed handler once, and its answer may be given later,
///   from any thread; bare heartbeats go to the heartbeat handler, once, and nothing else does,
///   and back to the RPC handler once it is removed; with no handler installed, every request is
///   answered with an error rather than dropped;
/// - every completion is called exactly once: with the answer, the peer's error, a failure for a
///   peer that is down, stopped or closed (without waiting out the timeout), or a failure once
///   the timeout has passed for a peer that never answers; a request larger than
///   `Transport.maxMessageSize` fails with `RaftError.Code.invalidArgument` without being
///   sent; concurrent calls each get their own answer;
/// - a pipeline returns from every send at once, delivers in send order and completes in send
///   order, whatever order the peer answers in; a pipeline to a peer that is down fails its
///   requests; after a failure, closing, or a timeout, every request after it fails too;
/// - `ClosableTransport.close()` completes with a failure every call not yet answered, both
///   ways, fails later calls, and may be called twice.
///
/// A test server stands in for Raft on the receiving side: it installs itself as the RPC
/// handler, never blocks in it, and answers at once, later from another thread, or never, as a
/// check needs. No check depends on how long anything takes: waits are ended by what the checks
/// observe, and real time only bounds them, generously, so a transport that hangs fails a check
/// instead of hanging it. A rule that does not apply to a transport passes trivially: the
/// pipeline checks when `Transport.appendEntriesPipeline(to:)` throws
/// `RaftError.Code.pipelineReplicationNotSupported`, RequestPreVote unless it is a
/// `PreVoteTransport`, the size limit when `Transport.maxMessageSize` is nil, and the close
/// check unless it is a `ClosableTransport`. One rule is not checked here, because the suite
/// has no peer that predates RequestPreVote: that such a peer surfaces as
/// `RaftError.Code.preVoteUnsupported` is left to the transport's own tests.
public enum TransportConformance {
    /// How the checks get transports of the implementation under test, and how they take a peer
    /// down and bring it back.
    ///
    /// For a TCP transport, a transport is a listener plus its outgoing connections:
    /// ``makeTransports`` starts `count` of them listening on free loopback ports, each reaching
    /// the others by dialing their addresses; ``stop`` closes one's listener and every connection
    /// it has (its `ClosableTransport.close()`), so peers see refused or reset connections, as
    /// from a crashed server; ``restart`` starts a new one listening at the same address, which
    /// peers must reach again through their own dialing, without being told. For
    /// `InmemTransport`, see the in-memory conformance tests: ``restart`` makes a new transport
    /// with the old address and connects it to and from each peer.
    public struct Subject: Sendable {
        /// Makes `count` fresh transports, with distinct addresses, each able to call every other
        /// at its `Transport.localAddress`, and each giving up on a pipelined request after
        /// `rpcTimeout` (the checks pass a very long timeout unless they test timeouts; other
        /// calls carry their own). Checks use the first transport as the caller. Each check
        /// calls this once.
        public var makeTransports: @Sendable (_ count: Int, _ rpcTimeout: Duration) async throws -> [any Transport]

        /// Takes `transport` down as a crash would: from then on, calls to its address must fail
        /// (promptly, without waiting out their timeout) and its pipelines must break. For TCP:
        /// close the listener and every connection it accepted. Defaults to
        /// `ClosableTransport.close()`.
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
        /// `ClosableTransport`.
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
                "InstallSnapshot delivers its request intact, then exactly size bytes of data in order, and its answer intact, and leaves the sender's data open",
                installSnapshotRoundTrip
            ),
            ConformanceCheck("TimeoutNow requests and their answers arrive with every field intact", timeoutNowRoundTrip),
            ConformanceCheck("ReadIndex requests and their answers arrive with every field intact", readIndexRoundTrip),
            ConformanceCheck(
                "Each RPC reaches the handler once; an answer given later, from another thread, reaches its caller, and no call completes before its answer",
                answersMayComeLaterFromAnyThread
            ),
            ConformanceCheck(
                "Each bare heartbeat reaches the heartbeat handler exactly once, nothing else reaches it, and once it is removed heartbeats go to the RPC handler",
                heartbeatsGoToTheHeartbeatHandler
            ),
            ConformanceCheck(
                "With no RPC handler installed, or after it is removed, every request is answered with an error, none dropped or left hanging",
                requestsWithoutAHandlerFail
            ),
            ConformanceCheck(
                "Concurrent RPCs from many tasks to one peer each get their own answer, even when the peer answers out of order",
                concurrentCallsGetTheirOwnAnswers
            ),
            ConformanceCheck(
                "An RPC the peer answers with an error fails at the caller, pipelined ones included, and the next call to that peer succeeds",
                errorAnswersFail
            ),
            ConformanceCheck(
                "A call the peer never answers fails once its timeout has passed, not before, and later calls get their own answers, not the late ones",
                unansweredCallsTimeOut
            ),
            ConformanceCheck(
                "A request larger than maxMessageSize fails with invalidArgument without being sent, called or pipelined, and the peer stays reachable",
                oversizedRequestsFailWithoutBeingSent
            ),
            ConformanceCheck(
                "An InstallSnapshot whose data ends before size bytes fails at the caller, and the peer stays usable",
                shortSnapshotDataFails
            ),
            ConformanceCheck(
                "Pipelined AppendEntries return at once, many in flight, reach the peer in send order and complete in send order, each with its own answer, whatever order the peer answers in",
                pipelineKeepsSendOrder
            ),
            ConformanceCheck(
                "Closing a pipeline fails its unanswered requests, in order, and every request sent on it afterwards",
                closingAPipelineFailsWhatIsInFlight
            ),
            ConformanceCheck(
                "A pipelined request that times out fails, and so does every request after it, answered or not, sent before the failure or after",
                aPipelineFailureFailsEverythingAfterIt
            ),
            ConformanceCheck(
                "A pipeline to a peer that is down fails its requests promptly, whether opened before or after the peer went down",
                pipelinesToAStoppedPeerFail
            ),
            ConformanceCheck(
                "Calls to a stopped peer fail without waiting out their timeout, and succeed again once it is back at its address",
                stoppedPeersFailFastAndReconnect
            ),
            ConformanceCheck(
                "close() fails every call not yet answered, to and from the transport, pipelined ones included, fails later calls, and closing again is harmless",
                closeEndsEverything
            ),
            ConformanceCheck("decodePeer turns what a peer's encodePeer made back into the address", peerEncodingRoundTrips),
        ]
    }

    // MARK: Round trips

    static func appendEntriesRoundTrip(_ subject: Subject) async throws {
        try await roundTrip(subject) { client in appendEntriesRequests(from: client.localAddress).map(RaftRequest.appendEntries) }
    }

    static func requestVoteRoundTrip(_ subject: Subject) async throws {
        try await roundTrip(subject) { client in requestVoteRequests(from: client.localAddress).map(RaftRequest.requestVote) }
    }

    static func requestPreVoteRoundTrip(_ subject: Subject) async throws {
        try await roundTrip(subject) { client in
            guard client is any PreVoteTransport else { return [] }
            return requestPreVoteRequests(from: client.localAddress).map(RaftRequest.requestPreVote)
        }
    }

    static func timeoutNowRoundTrip(_ subject: Subject) async throws {
        try await roundTrip(subject) { client in timeoutNowRequests(from: client.localAddress).map(RaftRequest.timeoutNow) }
    }

    static func readIndexRoundTrip(_ subject: Subject) async throws {
        try await roundTrip(subject) { client in readIndexRequests(from: client.localAddress).map(RaftRequest.readIndex) }
    }

    /// Sends each of `requests` in turn through `send` and checks each answer, then that the peer
    /// received exactly the requests, in order.
    private static func roundTrip(_ subject: Subject, _ requests: @escaping (any Transport) -> [RaftRequest]) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let requests = requests(client)
            for (number, request) in requests.enumerated() {
                let result = try await within(hangLimit, "\(name(of: request)) \(number)") {
                    await network.call(request, from: client, to: peer.localAddress)
                }
                try requireAnswer(result, to: Received(request), from: peer.localAddress, "answer to \(name(of: request)) \(number)")
            }
            try requireSame(server.received, requests.map(Received.init), "requests as the peer received them")
        }
    }

    static func installSnapshotRoundTrip(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let snapshots = installSnapshotRequests(from: client.localAddress)
            for (number, (request, bytes)) in snapshots.enumerated() {
                let source = ChunkedSource(bytes)
                let result = try await within(hangLimit, "InstallSnapshot \(number)") {
                    await network.installSnapshot(request, data: source, from: client, to: peer.localAddress)
                }
                let sent = Received.installSnapshot(request, data: Array(bytes.prefix(Int(request.size))))
                try requireAnswer(result, to: sent, from: peer.localAddress, "answer to InstallSnapshot \(number)")
                try conformanceRequire(!source.isClosed, "the transport closed InstallSnapshot \(number)'s data, which belongs to the caller")
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

    // MARK: Handlers

    static func answersMayComeLaterFromAnyThread(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .hold)
            let calls = everyCall(from: client, to: peer.localAddress, in: network)
            let finished = Watched(0)
            let tasks = calls.map { call in
                Task {
                    let result = await call.run(nil)
                    finished.update { $0 += 1 }
                    return result
                }
            }
            try await server.waitUntilReceived(calls.count)
            // The server holds everything and the timeout is a minute away: a call that has
            // completed already completed without an answer.
            try conformanceRequireEqual(finished.value, 0, "calls completed while the peer had answered none")

            // Answered from another thread, long after the handler returned, newest first.
            server.release(reversed: true)
            for (call, task) in zip(calls, tasks) {
                let result = try await within(hangLimit, "\(call.name), answered later from another thread") { await task.value }
                try requireAnswer(result, to: call.received, from: peer.localAddress, "answer to \(call.name)")
            }
            try requireSameElements(server.received, calls.map(\.received), "requests as the peer received them")
        }
    }

    static func heartbeatsGoToTheHeartbeatHandler(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer)
            let handled = Watched<[RaftRequest]>([])
            let answerer = network.answerer
            let handlerAnswer = { @Sendable (request: AppendEntriesRequest) in
                // Told apart from the test server's answer, so the caller's answer shows which
                // handler answered.
                AppendEntriesResponse(
                    header: header(peer.localAddress),
                    term: request.term,
                    lastLog: 0xFEED_0000 &+ request.term,
                    success: true,
                    noRetryBackoff: true
                )
            }
            peer.setHeartbeatHandler { rpc in
                handled.update { $0.append(rpc.request) }
                guard case .appendEntries(let request) = rpc.request else {
                    rpc.snapshotData?.close()
                    rpc.respond(error: Refusal())
                    return
                }
                // Raft's handler may answer at once, or later from its loop's thread.
                let answer = RaftResponse.appendEntries(handlerAnswer(request))
                if request.term.isMultiple(of: 2) {
                    rpc.respond(answer)
                } else {
                    answerer.execute { rpc.respond(answer) }
                }
            }

            let heartbeats = (21...25 as ClosedRange<UInt64>).map { heartbeat(from: client.localAddress, term: $0) }
            for request in heartbeats {
                let result = try await within(hangLimit, "heartbeat \(request.term)") {
                    await network.call(.appendEntries(request), from: client, to: peer.localAddress)
                }
                guard case .success(let response) = result else {
                    throw ConformanceFailure("heartbeat \(request.term) failed: \(result)")
                }
                try requireSame(
                    response,
                    .appendEntries(handlerAnswer(request)),
                    "answer to heartbeat \(request.term) (it must come from the heartbeat handler)"
                )
            }

            // Everything else goes to the RPC handler, even while a heartbeat handler is set.
            let others = everyCall(from: client, to: peer.localAddress, in: network).filter { $0.name != "heartbeat" }
            for call in others {
                try await expectAnswer(call, from: peer.localAddress, "\(call.name) while a heartbeat handler is set")
            }

            peer.setHeartbeatHandler(nil)
            let afterRemoval = heartbeat(from: client.localAddress, term: 26)
            let lastResult = try await within(hangLimit, "a heartbeat after the heartbeat handler was removed") {
                await network.call(.appendEntries(afterRemoval), from: client, to: peer.localAddress)
            }
            try requireAnswer(
                lastResult,
                to: .appendEntries(afterRemoval),
                from: peer.localAddress,
                "answer to a heartbeat after the heartbeat handler was removed"
            )

            try requireSame(
                handled.value,
                heartbeats.map(RaftRequest.appendEntries),
                "what the heartbeat handler received: each heartbeat once, and nothing else"
            )
            try requireSame(
                server.received,
                others.map(\.received) + [.appendEntries(afterRemoval)],
                "what the RPC handler received: everything but the heartbeats sent while the heartbeat handler was set"
            )
        }
    }

    static func requestsWithoutAHandlerFail(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let calls = everyCall(from: client, to: peer.localAddress, in: network)
            // The timeout is a minute: only an error answer ends these calls within the limit.
            for call in calls {
                try await expectFailure(call, "\(call.name) to a peer with no RPC handler installed")
            }
            if let probe = try await network.openPipeline(from: client, to: peer.localAddress) {
                try await probe.send([numberedAppend(1, from: client.localAddress)], "one request")
                let completions = try await probe.waitForCompletions(1, "a pipelined AppendEntries to a peer with no RPC handler")
                try probe.requireAllFailed(completions, "a pipelined AppendEntries to a peer with no RPC handler")
                probe.pipeline.close()
            }

            let server = network.serve(peer)
            for call in calls {
                try await expectAnswer(call, from: peer.localAddress, "\(call.name) once a handler is installed")
            }

            server.stop()
            for call in calls {
                try await expectFailure(call, "\(call.name) after the RPC handler was removed")
            }
            try requireSame(server.received, calls.map(\.received), "requests the handler received while it was installed")
        }
    }

    static func concurrentCallsGetTheirOwnAnswers(_ subject: Subject) async throws {
        try await withNetwork(subject, count: 2, rpcTimeout: patientTimeout) { network in
            let (client, peer) = (network.transports[0], network.transports[1])
            let server = network.serve(peer, .answerInSwappedPairs)
            let votes = (0..<100).map { vote(term: 5_000 + UInt64($0), transfer: $0.isMultiple(of: 3), from: client.localAddress) }
            let answered = try await within(hangLimit, "100 concurrent RequestVotes (a transport must carry calls to one peer concurrently)") {
                await withTaskGroup(of: (RequestVoteRequest, Result<RaftResponse, any Error>).self) { group in
                    for request in votes {
                        group.addTask { (request, await network.call(.requestVote(request), from: client, to: peer.localAddress)) }
                    }
                    var answered: [(RequestVoteRequest, Result<RaftResponse, any Error>)] = []
                    for await pair in group { answered.append(pair) }
                    return answered
                }
            }
            for (request, result) in answered {
                try requireAnswer(result, to: .requestVote(request), from: peer.localAddress, "answer to RequestVote for term \(request.term)")
            }
            try requireSameElements(server.received, votes.map(Received.requestVote), "requests as the peer received them")
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

    /// One kind of call from a client to a peer, repeatable: each run sends the same request
    /// afresh (an InstallSnapshot with a fresh source).
    struct Call: Sendable {
        /// The RPC's name, for messages.
        let name: String
        /// What the peer receives, from which its answer follows.
        let received: Received
        /// Sends the request with `timeout` (the network's RPC timeout if nil) and returns its
        /// result; unbounded, so run it under ``within(_:_:fileID:line:_:)``.
        let run: @Sendable (_ timeout: Duration?) async -> Result<RaftResponse, any Error>
    }

    /// One call of every kind from `client` to `peer`: AppendEntries with entries, a bare
    /// heartbeat, RequestVote, TimeoutNow, InstallSnapshot, and RequestPreVote if the client is a
    /// ``PreVoteTransport``.
    static func everyCall(from client: any Transport, to peer: ServerAddress, in network: Network) -> [Call] {
        var requests: [RaftRequest] = [
            .appendEntries(numberedAppend(41, from: client.localAddress)),
            .appendEntries(heartbeat(from: client.localAddress, term: 41)),
            .requestVote(vote(term: 42, transfer: true, from: client.localAddress)),
            .timeoutNow(TimeoutNowRequest(header: header(client.localAddress))),
        ]
        if client is any PreVoteTransport {
            requests.append(
                .requestPreVote(RequestPreVoteRequest(header: header(client.localAddress), term: 43, lastLogIndex: 9, lastLogTerm: 4))
            )
        }
        var calls = requests.map { request in
            Call(name: name(of: request), received: Received(request)) { timeout in
                await network.call(request, from: client, to: peer, timeout: timeout)
            }
        }
        let snapshot = smallSnapshot(from: client.localAddress)
        calls.append(
            Call(
                name: "InstallSnapshot",
                received: .installSnapshot(snapshot.request, data: Array(snapshot.source.prefix(Int(snapshot.request.size))))
            ) { timeout in
                await network.installSnapshot(snapshot.request, data: ChunkedSource(snapshot.source), from: client, to: peer, timeout: timeout)
            }
        )
        return calls
    }

    /// Runs `call` and throws unless it gets the test server at `peer`'s answer in time.
    static func expectAnswer(_ call: Call, from peer: ServerAddress, _ what: String) async throws {
        let result = try await within(hangLimit, what) { await call.run(nil) }
        try requireAnswer(result, to: call.received, from: peer, what)
    }

    /// Runs `call` and throws unless it fails within `limit`.
    static func expectFailure(
        _ call: Call,
        timeout: Duration? = nil,
        within limit: Duration = hangLimit,
        _ what: String
    ) async throws {
        let result = try await within(limit, what) { await call.run(timeout) }
        try requireFailure(result, what)
    }

    /// Throws unless `actual` holds the same elements as `expected`, each as often, in any order.
    static func requireSameElements(_ actual: [Received], _ expected: [Received], _ what: String) throws {
        let counts = { (list: [Received]) in Dictionary(list.map { ($0, 1) }, uniquingKeysWith: +) }
        let (got, wanted) = (counts(actual), counts(expected))
        guard got != wanted else { return }
        let missing = wanted.filter { got[$0.key, default: 0] < $0.value }.count
        let extra = got.filter { wanted[$0.key, default: 0] < $0.value }.count
        throw ConformanceFailure(
            "\(what): \(actual.count) requests, expected \(expected.count); \(missing) missing or short, \(extra) unexpected or repeated"
        )
    }
}
