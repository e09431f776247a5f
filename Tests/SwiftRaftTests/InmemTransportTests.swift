import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

// Timeouts: a call that must succeed gets a long one, so a loaded machine cannot turn it into a
// failure; a call that must be lost gets a short one, so the test does not wait long for it. A
// transport that must do both uses `mixed`, and runs on the simulator's virtual clock, where a
// timeout cannot fire while the answer is still on its way. No assertion depends on how long
// anything took.
private let patient = Duration.seconds(10)
private let short = Duration.milliseconds(50)
private let mixed = Duration.milliseconds(250)

private func header(_ server: ServerAddress) -> RPCHeader {
    RPCHeader(id: ServerID(server.rawValue), address: server)
}

/// An AppendEntries request told apart from others by `number`, carried as its previous index.
private func append(_ number: UInt64, from leader: ServerAddress = "a") -> AppendEntriesRequest {
    AppendEntriesRequest(
        header: header(leader),
        term: 7,
        leader: leader,
        prevLogEntry: number,
        prevLogTerm: 7,
        leaderCommitIndex: number
    )
}

/// Snapshot bytes to send.
private final class BytesSource: SnapshotSource {
    private let remaining: Mutex<[UInt8]>

    init(_ text: String) { remaining = Mutex(Array(text.utf8)) }

    func read(maxLength: Int) throws -> [UInt8] {
        remaining.withLock { bytes in
            let chunk = Array(bytes.prefix(maxLength))
            bytes.removeFirst(chunk.count)
            return chunk
        }
    }

    func close() {}
}

private struct NotARaftError: Error {}

/// A counter that tasks and callbacks can share.
private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

/// Stands in for Raft on one transport: reads its consumer, records what arrived, in order, and
/// answers as a cooperative server would, holds every RPC unanswered, or fails it.
private final class Peer: Sendable {
    enum Behavior {
        case answer
        case hold
        case fail(any Error)
    }

    let transport: InmemTransport
    private let behavior: Behavior
    private let state = Mutex<(received: [String], held: [(RPC, RPCResponse)])>(([], []))

    init(_ transport: InmemTransport, _ behavior: Behavior = .answer) {
        self.transport = transport
        self.behavior = behavior
    }

    /// Serves until the consumer finishes (transport closed) or the task is cancelled.
    func run() async {
        for await rpc in transport.consumer { handle(rpc) }
    }

    /// What arrived, one line per RPC, e.g. "AppendEntries 3".
    var received: [String] { state.withLock { $0.received } }

    /// The RPCs held so far, each with the answer a cooperative server would give; they are no
    /// longer held afterwards.
    func takeHeld() -> [(RPC, RPCResponse)] {
        state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
    }

    private func handle(_ rpc: RPC) {
        let (line, response) = Self.process(rpc.command, as: transport.localAddress)
        state.withLock { state in
            state.received.append(line)
            if case .hold = behavior { state.held.append((rpc, response)) }
        }
        switch behavior {
        case .answer: rpc.respond(response)
        case .hold: break
        case .fail(let error): rpc.respond(error: error)
        }
    }

    private static func process(_ command: RPCCommand, as server: ServerAddress) -> (String, RPCResponse) {
        let header = header(server)
        switch command {
        case .appendEntries(let request):
            let lastLog = request.prevLogEntry + UInt64(request.entries.count)
            let response = AppendEntriesResponse(header: header, term: request.term, lastLog: lastLog, success: true)
            return ("AppendEntries \(request.prevLogEntry)", .appendEntries(response))
        case .requestVote(let request):
            return (
                "RequestVote \(request.term)",
                .requestVote(RequestVoteResponse(header: header, term: request.term, granted: true))
            )
        case .requestPreVote(let request):
            return (
                "RequestPreVote \(request.term)",
                .requestPreVote(RequestPreVoteResponse(header: header, term: request.term, granted: true))
            )
        case .installSnapshot(let request, let data):
            let bytes = (try? data.readAll()) ?? []
            let complete = Int64(bytes.count) == request.size
            return (
                "InstallSnapshot \(String(decoding: bytes, as: UTF8.self))",
                .installSnapshot(InstallSnapshotResponse(header: header, term: request.term, success: complete))
            )
        case .timeoutNow:
            return ("TimeoutNow", .timeoutNow(TimeoutNowResponse(header: header)))
        }
    }
}

/// Runs `body` while `peers` serve their transports, then stops them.
private func withPeers<T>(_ peers: [Peer], _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for peer in peers { group.addTask { await peer.run() } }
        defer { group.cancelAll() }
        return try await body()
    }
}

/// Waits, polling, until `condition` holds; records an issue if it never does.
private func eventually(_ what: Comment, _ condition: () -> Bool) async throws {
    for _ in 0..<2_000 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("never happened: \(what)")
}

/// Runs `body` on the simulator's virtual clock. A timeout then fires only once nothing else can
/// run, so a call that must succeed cannot time out however loaded the machine is, while a lost
/// call still times out (tests with `mixed` timeouts need both).
private func onVirtualTime(_ body: @escaping @Sendable (any RaftClock) async throws -> Void) async throws {
    try await Simulation.run(seed: 1) { simulation in try await body(simulation.clock) }
}

/// Connects every pair of `transports`, both ways.
private func mesh(_ transports: InmemTransport...) {
    for from in transports {
        for to in transports where to !== from { from.connect(to) }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct InmemTransportTests {
    // MARK: Round trips

    @Test func everyRPCRoundTripsThroughThePeersConsumer() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b", timeout: patient)
        a.connect(b)
        let peerB = Peer(b)
        try await withPeers([peerB]) {
            let appended = try await a.appendEntries(id: "b", target: "b", append(3))
            #expect(appended.success && appended.lastLog == 3 && appended.header.address == "b")

            let vote = try await a.requestVote(
                id: "b",
                target: "b",
                RequestVoteRequest(header: header("a"), term: 8, candidate: "a", lastLogIndex: 3, lastLogTerm: 7)
            )
            #expect(vote.granted && vote.term == 8)

            let preVote = try await a.requestPreVote(
                id: "b",
                target: "b",
                RequestPreVoteRequest(header: header("a"), term: 9, lastLogIndex: 3, lastLogTerm: 7)
            )
            #expect(preVote.granted && preVote.term == 9)

            let timeoutNow = try await a.timeoutNow(id: "b", target: "b", TimeoutNowRequest(header: header("a")))
            #expect(timeoutNow.header.address == "b")

            // The source holds more than `size`: the receiver must get exactly `size` bytes.
            let snapshot = InstallSnapshotRequest(
                header: header("a"),
                term: 7,
                leader: "a",
                lastLogIndex: 3,
                lastLogTerm: 7,
                configuration: [],
                configurationIndex: 1,
                size: 8
            )
            let installed = try await a.installSnapshot(
                id: "b",
                target: "b",
                snapshot,
                data: BytesSource("SNAPDATA and bytes beyond the snapshot")
            )
            #expect(installed.success)
        }
        #expect(
            peerB.received == [
                "AppendEntries 3", "RequestVote 8", "RequestPreVote 9", "TimeoutNow", "InstallSnapshot SNAPDATA",
            ]
        )
    }

    @Test func aPeersErrorReplySurfacesAsThatErrorOrAsUnreachable() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        let c = InmemTransport(address: "c")
        a.connect(b)
        a.connect(c)
        let peerB = Peer(b, .fail(RaftError(.preVoteUnsupported, "unknown rpc type 4")))
        let peerC = Peer(c, .fail(NotARaftError()))
        try await withPeers([peerB, peerC]) {
            let preVote = RequestPreVoteRequest(header: header("a"), term: 2, lastLogIndex: 0, lastLogTerm: 0)
            let raftError = await #expect(throws: RaftError.self) {
                try await a.requestPreVote(id: "b", target: "b", preVote)
            }
            #expect(raftError?.code == .preVoteUnsupported)
            let otherError = await #expect(throws: RaftError.self) {
                try await a.appendEntries(id: "c", target: "c", append(1))
            }
            #expect(otherError?.code == .unreachable)
        }
    }

    @Test func heartbeatsTravelThroughTheConsumerAndTheHandlerIsIgnored() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        a.connect(b)
        let handlerCalls = Counter()
        b.setHeartbeatHandler { _ in handlerCalls.increment() }
        let peerB = Peer(b)
        let heartbeat = AppendEntriesRequest(header: header("a"), term: 7, leader: "a")
        #expect(heartbeat.isHeartbeat)
        try await withPeers([peerB]) {
            _ = try await a.appendEntries(id: "b", target: "b", heartbeat)
        }
        #expect(peerB.received == ["AppendEntries 0"])
        #expect(handlerCalls.value == 0)
    }

    @Test func peersAreEncodedAsTheirAddressBytes() {
        let a = InmemTransport(address: "a")
        let encoded = a.encodePeer(id: "server-b", address: "b:8300")
        #expect(encoded == Array("b:8300".utf8))
        #expect(a.decodePeer(encoded) == "b:8300")
    }

    // MARK: Reachability

    // Like a network transport whose peers refuse frames past a limit, it refuses, without
    // delivering it, an AppendEntries larger than its maxMessageSize, on calls and pipelines alike.
    @Test func anAppendEntriesLargerThanMaxMessageSizeIsRefusedWithoutBeingDelivered() async throws {
        let a = InmemTransport(address: "a", timeout: patient, maxMessageSize: 4096)
        let b = InmemTransport(address: "b")
        a.connect(b)
        #expect(a.maxMessageSize == 4096)
        let peerB = Peer(b)
        try await withPeers([peerB]) {
            var tooBig = append(1)
            tooBig.entries = [Log(index: 2, term: 7, type: .command, data: ArraySlice(repeating: 1, count: 4096))]
            let call = await #expect(throws: RaftError.self) { _ = try await a.appendEntries(id: "b", target: "b", tooBig) }
            #expect(call?.code == .invalidArgument)
            let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
            let piped = await #expect(throws: RaftError.self) { try await pipeline.appendEntries(tooBig) }
            #expect(piped?.code == .invalidArgument)
            _ = try await a.appendEntries(id: "b", target: "b", append(2))
            #expect(peerB.received == ["AppendEntries 2"])
            await pipeline.close()
        }
    }

    @Test func unreachablePeersFailPromptlyInsteadOfTimingOut() async throws {
        // With a 10 s timeout, waiting for an answer would surface as `.timeout`, not `.unreachable`.
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")

        let neverConnected = await #expect(throws: RaftError.self) {
            try await a.appendEntries(id: "b", target: "b", append(1))
        }
        #expect(neverConnected?.code == .unreachable)

        a.connect(b)
        a.disconnect("b")
        let disconnected = await #expect(throws: RaftError.self) {
            try await a.timeoutNow(id: "b", target: "b", TimeoutNowRequest(header: header("a")))
        }
        #expect(disconnected?.code == .unreachable)

        a.connect(b)
        await b.close()
        let closed = await #expect(throws: RaftError.self) {
            try await a.requestVote(
                id: "b",
                target: "b",
                RequestVoteRequest(header: header("a"), term: 2, candidate: "a", lastLogIndex: 0, lastLogTerm: 0)
            )
        }
        #expect(closed?.code == .unreachable)
        let noPipeline = await #expect(throws: RaftError.self) {
            try await a.appendEntriesPipeline(id: "b", target: "b")
        }
        #expect(noPipeline?.code == .unreachable)
    }

    // On virtual time, where the clock moves only once nothing else can run: after the sleep, a's
    // request has certainly reached b's queue, so it is the queued request that close must fail.
    @Test func closeFinishesTheConsumerFailsQueuedRPCsAndLaterCalls() async throws {
        try await Simulation.run(seed: 5, timeLimit: .seconds(60)) { simulation in
            try await Self.closeFinishesTheConsumer(clock: simulation.clock)
        }
    }

    private static func closeFinishesTheConsumer(clock: SimulatedClock) async throws {
        let a = InmemTransport(address: "a", clock: clock, timeout: patient)
        let b = InmemTransport(address: "b", clock: clock, timeout: patient)
        mesh(a, b)

        // Nobody reads b's consumer, so a's request waits in b's queue until b closes.
        try await withThrowingTaskGroup(of: RaftError?.self) { group in
            group.addTask {
                await #expect(throws: RaftError.self) { try await a.appendEntries(id: "b", target: "b", append(1)) }
            }
            try await clock.sleep(for: .milliseconds(50))
            let queuedAt = clock.now
            await b.close()
            let failure = try await group.next()
            #expect(failure??.code == .unreachable, "answered at once, not after a's 10 s timeout")
            #expect(clock.now == queuedAt, "failed when b closed, without waiting for the call's timeout")
        }

        var handedOut = 0
        for await _ in b.consumer { handedOut += 1 }
        #expect(handedOut == 0, "a request queued to a closed transport is failed, not handed to it")

        let outgoing = await #expect(throws: RaftError.self) {
            try await b.appendEntries(id: "a", target: "a", append(2, from: "b"))
        }
        #expect(outgoing?.code == .transportShutdown)
        let pipeline = await #expect(throws: RaftError.self) {
            try await b.appendEntriesPipeline(id: "a", target: "a")
        }
        #expect(pipeline?.code == .transportShutdown)
        let incoming = await #expect(throws: RaftError.self) {
            try await a.appendEntries(id: "b", target: "b", append(3))
        }
        #expect(incoming?.code == .unreachable)
    }

    // MARK: Fault plans

    @Test func canDeliverFollowsPartitionsIsolationsAndBlocks() {
        let faults = InmemFaults(seed: 1)
        #expect(faults.canDeliver(from: "a", to: "b"))

        faults.partition([["a"], ["b", "c"]])
        #expect(!faults.canDeliver(from: "a", to: "b") && !faults.canDeliver(from: "b", to: "a"))
        #expect(faults.canDeliver(from: "b", to: "c"))
        #expect(faults.canDeliver(from: "d", to: "a") && faults.canDeliver(from: "b", to: "d"), "d is in no group")

        faults.partition([["a", "b"], ["b", "c"]])
        #expect(faults.canDeliver(from: "a", to: "b") && faults.canDeliver(from: "b", to: "c"), "b bridges both")
        #expect(!faults.canDeliver(from: "a", to: "c"), "a new partition replaces the old one")

        faults.heal()
        faults.isolate("c")
        #expect(!faults.canDeliver(from: "a", to: "c") && !faults.canDeliver(from: "c", to: "b"))
        #expect(faults.canDeliver(from: "a", to: "b"))

        faults.heal()
        faults.block(from: "a", to: "b")
        #expect(!faults.canDeliver(from: "a", to: "b"))
        #expect(faults.canDeliver(from: "b", to: "a"))
        faults.unblock(from: "a", to: "b")
        #expect(faults.canDeliver(from: "a", to: "b"))

        faults.partition([["a"], ["b"]])
        faults.isolate("c")
        faults.block(from: "d", to: "e")
        faults.heal()
        #expect(faults.canDeliver(from: "a", to: "b") && faults.canDeliver(from: "c", to: "a"))
        #expect(faults.canDeliver(from: "d", to: "e"))
    }

    @Test func aPartitionBlocksBothDirectionsUntilHealed() async throws {
        try await onVirtualTime { clock in
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, timeout: mixed, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, timeout: mixed, faults: faults)
            let c = InmemTransport(address: "c", clock: clock, timeout: mixed, faults: faults)
            mesh(a, b, c)
            let peers = [Peer(a), Peer(b), Peer(c)]
            try await withPeers(peers) {
                faults.partition([["a"], ["b", "c"]])
                let aToB = await #expect(throws: RaftError.self) {
                    try await a.appendEntries(id: "b", target: "b", append(1))
                }
                #expect(aToB?.code == .timeout)
                let bToA = await #expect(throws: RaftError.self) {
                    try await b.appendEntries(id: "a", target: "a", append(2, from: "b"))
                }
                #expect(bToA?.code == .timeout)
                _ = try await b.appendEntries(id: "c", target: "c", append(3, from: "b"))

                faults.heal()
                _ = try await a.appendEntries(id: "b", target: "b", append(4))
                _ = try await b.appendEntries(id: "a", target: "a", append(5, from: "b"))
            }
            #expect(peers[0].received == ["AppendEntries 5"])
            #expect(peers[1].received == ["AppendEntries 4"])
            #expect(peers[2].received == ["AppendEntries 3"])
        }
    }

    @Test func aOneWayBlockLosesOnlyMessagesTravellingThatWay() async throws {
        try await onVirtualTime { clock in
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, timeout: mixed, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, timeout: mixed, faults: faults)
            mesh(a, b)
            let peerA = Peer(a)
            let peerB = Peer(b)
            try await withPeers([peerA, peerB]) {
                faults.block(from: "a", to: "b")

                // a's request never reaches b.
                let request = await #expect(throws: RaftError.self) {
                    try await a.appendEntries(id: "b", target: "b", append(1))
                }
                #expect(request?.code == .timeout)
                #expect(peerB.received.isEmpty)

                // b's request reaches a and a answers, but the answer travels a -> b and is lost.
                let reply = await #expect(throws: RaftError.self) {
                    try await b.appendEntries(id: "a", target: "a", append(2, from: "b"))
                }
                #expect(reply?.code == .timeout)
                #expect(peerA.received == ["AppendEntries 2"])

                faults.unblock(from: "a", to: "b")
                _ = try await a.appendEntries(id: "b", target: "b", append(3))
                _ = try await b.appendEntries(id: "a", target: "a", append(4, from: "b"))
            }
            #expect(peerA.received == ["AppendEntries 2", "AppendEntries 4"])
            #expect(peerB.received == ["AppendEntries 3"])
        }
    }

    @Test func dropProbabilityOneLosesEveryMessageAndZeroNone() async throws {
        try await onVirtualTime { clock in
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, timeout: mixed, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            try await withPeers([peerB]) {
                faults.dropProbability = 1
                for number in 1...3 as ClosedRange<UInt64> {
                    let lost = await #expect(throws: RaftError.self) {
                        try await a.appendEntries(id: "b", target: "b", append(number))
                    }
                    #expect(lost?.code == .timeout)
                }
                faults.dropProbability = 0
                _ = try await a.appendEntries(id: "b", target: "b", append(4))
            }
            #expect(peerB.received == ["AppendEntries 4"])
        }
    }

    @Test func healRestoresIsolatedServersButKeepsRandomLoss() async throws {
        try await onVirtualTime { clock in
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, timeout: mixed, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            try await withPeers([peerB]) {
                faults.isolate("b")
                let isolated = await #expect(throws: RaftError.self) {
                    try await a.appendEntries(id: "b", target: "b", append(1))
                }
                #expect(isolated?.code == .timeout)

                faults.heal()
                _ = try await a.appendEntries(id: "b", target: "b", append(2))

                faults.dropProbability = 1
                faults.heal()
                let dropped = await #expect(throws: RaftError.self) {
                    try await a.appendEntries(id: "b", target: "b", append(3))
                }
                #expect(dropped?.code == .timeout)
            }
            #expect(peerB.received == ["AppendEntries 2"])
        }
    }

    @Test func theSameSeedLosesAndDelaysTheSameHops() {
        func fates(seed: UInt64) -> [Duration?] {
            let faults = InmemFaults(seed: seed)
            faults.dropProbability = 0.3
            faults.delay = .milliseconds(1) ... .milliseconds(20)
            return (0..<64).map { hop in
                hop.isMultiple(of: 2)
                    ? faults.deliveryDelay(from: "a", to: "b") : faults.deliveryDelay(from: "b", to: "a")
            }
        }
        let first = fates(seed: 42)
        #expect(first == fates(seed: 42))
        #expect(first != fates(seed: 43))
        #expect(first.contains(nil) && first.contains { $0 != nil })
        #expect(first.allSatisfy { $0 == nil || (.milliseconds(1) ... .milliseconds(20)).contains($0!) })
    }

    @Test func theSameSeedDropsTheSameRequestsEndToEnd() async throws {
        /// Which of 12 requests reach b with half of all hops lost. b never answers, so each call
        /// draws exactly once, for its request, and the calls run one after another.
        func delivered(seed: UInt64) async throws -> [String] {
            let faults = InmemFaults(seed: seed)
            let a = InmemTransport(address: "a", timeout: short, faults: faults)
            let b = InmemTransport(address: "b", faults: faults)
            a.connect(b)
            let peerB = Peer(b, .hold)
            return try await withPeers([peerB]) {
                faults.dropProbability = 0.5
                for number in 1...12 as ClosedRange<UInt64> {
                    _ = try? await a.appendEntries(id: "b", target: "b", append(number))
                }
                // A final request that cannot be lost: once b has it, b has everything before it.
                faults.dropProbability = 0
                _ = try? await a.appendEntries(id: "b", target: "b", append(99))
                try await eventually("b received the final request") { peerB.received.last == "AppendEntries 99" }
                return peerB.received.dropLast()
            }
        }
        async let first = delivered(seed: 7)
        async let again = delivered(seed: 7)
        async let other = delivered(seed: 8)
        let (pattern, repeated, different) = try await (first, again, other)
        #expect(pattern == repeated)
        #expect(pattern != different)
        #expect(!pattern.isEmpty && pattern.count < 12, "some requests are lost, some arrive: \(pattern)")
    }

    // MARK: Pipelines

    @Test func pipelineAnswersArriveInSendOrderWhateverOrderThePeerAnswersIn() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b, .hold)
        try await withPeers([peerB]) {
            let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
            // None of these waits for an answer: b holds them all.
            for number in 1...5 as ClosedRange<UInt64> { try await pipeline.appendEntries(append(number)) }
            try await eventually("b holds five requests") { peerB.received.count == 5 }
            #expect(peerB.received == (1...5).map { "AppendEntries \($0)" })

            for (rpc, response) in peerB.takeHeld().reversed() { rpc.respond(response) }
            var answers = pipeline.responses.makeAsyncIterator()
            for number in 1...5 as ClosedRange<UInt64> {
                let answer = await answers.next()
                #expect(answer?.request.prevLogEntry == number)
                #expect((try? answer?.result.get())?.lastLog == number)
            }

            await pipeline.close()
            #expect(await answers.next() == nil)
            let closed = await #expect(throws: RaftError.self) { try await pipeline.appendEntries(append(6)) }
            #expect(closed?.code == .pipelineShutdown)
        }
    }

    // On virtual time: the clock moves only once nothing else can run, so after each sleep every
    // task has gone as far as it can, and the absence of the seventeenth request is a fact, not
    // a guess about how fast this machine runs.
    @Test func aPipelineHoldsTheSeventeenthRequestUntilAnAnswerIsRead() async throws {
        try await Simulation.run(seed: 17, timeLimit: .seconds(60)) { simulation in
            try await Self.pipelineHoldsTheSeventeenthRequest(clock: simulation.clock)
        }
    }

    private static func pipelineHoldsTheSeventeenthRequest(clock: SimulatedClock) async throws {
        let a = InmemTransport(address: "a", clock: clock, timeout: patient)
        let b = InmemTransport(address: "b", clock: clock)
        a.connect(b)
        let peerB = Peer(b, .hold)
        try await withPeers([peerB]) {
            let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
            for number in 1...16 as ClosedRange<UInt64> { try await pipeline.appendEntries(append(number)) }
            try await clock.sleep(for: .milliseconds(1))
            #expect(peerB.received.count == 16)

            let seventeenthSent = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await pipeline.appendEntries(append(17))
                    seventeenthSent.increment()
                }
                // Answered but not yet read: the window is still full.
                for (rpc, response) in peerB.takeHeld() { rpc.respond(response) }
                try await clock.sleep(for: .milliseconds(100))
                #expect(seventeenthSent.value == 0)
                #expect(peerB.received.count == 16)

                var answers = pipeline.responses.makeAsyncIterator()
                #expect(await answers.next()?.request.prevLogEntry == 1)
                try await group.next()
                #expect(seventeenthSent.value == 1)
                try await eventually("b receives the seventeenth request") { peerB.received.count == 17 }
                for (rpc, response) in peerB.takeHeld() { rpc.respond(response) }
                for number in 2...17 as ClosedRange<UInt64> {
                    let answer = await answers.next()
                    #expect(answer?.request.prevLogEntry == number)
                    #expect((try? answer?.result.get())?.success == true)
                }
            }
            await pipeline.close()
        }
    }

    @Test func aLostPipelinedRequestTimesOutAndBreaksThePipeline() async throws {
        let faults = InmemFaults(seed: 1)
        let a = InmemTransport(address: "a", timeout: short, faults: faults)
        let b = InmemTransport(address: "b", faults: faults)
        a.connect(b)
        let peerB = Peer(b)
        try await withPeers([peerB]) {
            let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
            faults.dropProbability = 1
            try await pipeline.appendEntries(append(1))
            try await pipeline.appendEntries(append(2))

            var answers = pipeline.responses.makeAsyncIterator()
            let first = await answers.next()
            #expect(first?.request.prevLogEntry == 1)
            #expect(Self.code(of: first) == .timeout)
            let second = await answers.next()
            #expect(second?.request.prevLogEntry == 2)
            #expect(Self.code(of: second) != nil, "everything behind a lost request fails with it")
            #expect(await answers.next() == nil)

            let broken = await #expect(throws: RaftError.self) { try await pipeline.appendEntries(append(3)) }
            #expect(broken?.code == .pipelineShutdown)
        }
        #expect(peerB.received.isEmpty)
    }

    @Test func closingAPipelineFailsItsOutstandingRequestsThenFinishes() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b, .hold)
        try await withPeers([peerB]) {
            let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
            for number in 1...3 as ClosedRange<UInt64> { try await pipeline.appendEntries(append(number)) }
            try await eventually("b holds three requests") { peerB.received.count == 3 }

            await pipeline.close()
            var answers = pipeline.responses.makeAsyncIterator()
            for number in 1...3 as ClosedRange<UInt64> {
                let answer = await answers.next()
                #expect(answer?.request.prevLogEntry == number)
                #expect(Self.code(of: answer) == .pipelineShutdown)
            }
            #expect(await answers.next() == nil)

            // b's late answers go nowhere.
            for (rpc, response) in peerB.takeHeld() { rpc.respond(response) }
            #expect(await answers.next() == nil)
        }
    }

    @Test func disconnectingAndClosingTheTransportCloseItsPipelines() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        let c = InmemTransport(address: "c")
        a.connect(b)
        a.connect(c)
        let peers = [Peer(b, .hold), Peer(c, .hold)]
        try await withPeers(peers) {
            let toB = try await a.appendEntriesPipeline(id: "b", target: "b")
            let toC = try await a.appendEntriesPipeline(id: "c", target: "c")
            try await toB.appendEntries(append(1))
            try await toC.appendEntries(append(1))

            a.disconnect("b")
            var fromB = toB.responses.makeAsyncIterator()
            #expect(Self.code(of: await fromB.next()) == .pipelineShutdown)
            #expect(await fromB.next() == nil)
            let sendToB = await #expect(throws: RaftError.self) { try await toB.appendEntries(append(2)) }
            #expect(sendToB?.code == .pipelineShutdown)

            await a.close()
            var fromC = toC.responses.makeAsyncIterator()
            #expect(Self.code(of: await fromC.next()) == .pipelineShutdown)
            #expect(await fromC.next() == nil)
        }
    }

    // On the simulator's virtual clock: the delays are the faults' own, and a busy machine cannot
    // stretch them into the call timeout.
    @Test func aPipelineDeliversAndAnswersInSendOrderDespiteRandomDelays() async throws {
        try await Simulation.run(seed: 3, timeLimit: .seconds(60)) { simulation in
            let faults = InmemFaults(seed: simulation.nextSeed())
            faults.delay = .milliseconds(1) ... .milliseconds(30)
            let a = InmemTransport(address: "a", clock: simulation.clock, timeout: patient, faults: faults)
            let b = InmemTransport(address: "b", clock: simulation.clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            try await withPeers([peerB]) {
                let pipeline = try await a.appendEntriesPipeline(id: "b", target: "b")
                // Raft reads answers while it sends; reading is also what carries delayed requests.
                async let answered: [UInt64] = {
                    var numbers: [UInt64] = []
                    for await answer in pipeline.responses {
                        if (try? answer.result.get())?.success == true { numbers.append(answer.request.prevLogEntry) }
                        if numbers.count == 10 { break }
                    }
                    return numbers
                }()
                for number in 1...10 as ClosedRange<UInt64> { try await pipeline.appendEntries(append(number)) }
                #expect(await answered == Array(1...10))
                #expect(peerB.received == (1...10).map { "AppendEntries \($0)" })
                await pipeline.close()
            }
        }
    }

    // MARK: Determinism

    @Test func aSimulatedClusterReplaysExactlyFromItsSeed() async throws {
        let first = try await Self.simulatedTraffic(seed: 11)
        #expect(first == (try await Self.simulatedTraffic(seed: 11)))
        #expect(first != (try await Self.simulatedTraffic(seed: 12)))
        #expect(first.contains { $0.contains("timeout") } && first.contains { $0.contains(" ok") })
    }

    /// Three servers on a lossy, jittery network, all calling each other at once and one of them
    /// pipelining, on the simulator's virtual clock and single executor. Returns what happened,
    /// each line stamped with virtual time.
    private static func simulatedTraffic(seed: UInt64) async throws -> [String] {
        try await Simulation.run(seed: seed, timeLimit: .seconds(60)) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: simulation.nextSeed())
            faults.dropProbability = 0.2
            faults.delay = .milliseconds(1) ... .milliseconds(20)
            let transports = ["a", "b", "c"].map {
                InmemTransport(address: ServerAddress($0), clock: clock, timeout: .milliseconds(100), faults: faults)
            }
            mesh(transports[0], transports[1], transports[2])
            let peers = transports.map { Peer($0) }
            let trace = Mutex<[String]>([])
            let log: @Sendable (String) -> Void = { line in trace.withLock { $0.append("\(clock.now) \(line)") } }

            try await withPeers(peers) {
                await withTaskGroup(of: Void.self) { group in
                    for from in transports {
                        for to in transports where to !== from {
                            group.addTask {
                                for number in 1...10 as ClosedRange<UInt64> {
                                    let what = "\(from.localAddress)->\(to.localAddress) #\(number)"
                                    do {
                                        _ = try await from.appendEntries(
                                            id: ServerID(to.localAddress.rawValue),
                                            target: to.localAddress,
                                            append(number, from: from.localAddress)
                                        )
                                        log("\(what) ok")
                                    } catch {
                                        log("\(what) \((error as? RaftError)?.code.description ?? "\(error)")")
                                    }
                                }
                            }
                        }
                    }
                    group.addTask {
                        guard let pipeline = try? await transports[0].appendEntriesPipeline(id: "c", target: "c") else {
                            return log("pipeline refused")
                        }
                        await withTaskGroup(of: Void.self) { pipelining in
                            pipelining.addTask {
                                for await answer in pipeline.responses {
                                    let outcome = (try? answer.result.get()).map { _ in "ok" } ?? "failed"
                                    log("pipeline #\(answer.request.prevLogEntry) \(outcome)")
                                }
                            }
                            for number in 1...30 as ClosedRange<UInt64> {
                                do { try await pipeline.appendEntries(append(number)) } catch { break }
                            }
                            await pipeline.close()
                        }
                    }
                }
            }
            return trace.withLock { $0 } + peers.flatMap(\.received)
        }
    }

    private static func code(of answer: AppendPipelineResult?) -> RaftError.Code? {
        guard case .failure(let error)? = answer?.result else { return nil }
        return (error as? RaftError)?.code
    }
}
