import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

// Timeouts: a call that must succeed gets a long one, so a loaded machine cannot turn it into a
// failure. A call that must time out runs on the simulator's virtual clock, where a timeout
// fires exactly when it is due and only once nothing else can run, so the tests can say when it
// fired without measuring real time. No assertion depends on how long anything took.
private let patient = Duration.seconds(10)
private let short = Duration.milliseconds(250)

@Suite(.timeLimit(.minutes(1)))
struct InmemTransportTests {
    // MARK: Round trips

    @Test func everyRPCRoundTripsThroughThePeersHandler() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b)
        let appended = try await a.appendEntries(id: "b", target: "b", append(3))
        #expect(appended.success && appended.lastLog == 3 && appended.header.address == "b")

        let granted = try await a.requestVote(id: "b", target: "b", vote(8))
        #expect(granted.granted && granted.term == 8)

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
        #expect(
            peerB.received == ["AppendEntries 3", "RequestVote 8", "RequestPreVote 9", "TimeoutNow", "InstallSnapshot SNAPDATA"]
        )
    }

    @Test func aPeersErrorReplySurfacesAsThatErrorOrAsUnreachable() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        let c = InmemTransport(address: "c")
        a.connect(b)
        a.connect(c)
        _ = Peer(b, .fail(RaftError(.preVoteUnsupported, "unknown rpc type 4")))
        _ = Peer(c, .fail(NotARaftError()))
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

    @Test func aRequestReachesThePeersHandlerBeforeSendReturnsAndItsAnswerMayComeLaterFromAnotherThread() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b, .hold)
        let outcomes = Recorder<RaftResponse>()
        a.send(.requestVote(vote(5)), to: server("b"), timeout: patient, completion: outcomes.completion(5))
        #expect(peerB.received == ["RequestVote 5"], "delivered on the sender's thread")
        #expect(outcomes.entries.isEmpty, "not answered yet")

        let held = peerB.takeHeld()
        try #require(held.count == 1)
        let (rpc, response) = held[0]
        let answerer = ThreadExecutor(name: "inmem-answerer")
        defer { answerer.shutdown() }
        answerer.execute { rpc.respond(response) }
        await outcomes.wait(for: 1)
        #expect(outcomes.entries.count == 1)
        #expect((try? outcomes.entries.first?.result.get()) == response)
    }

    @Test func heartbeatsGoToTheHeartbeatHandlerAndBackToTheRPCHandlerOnceItIsRemoved() async throws {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b)
        let viaHeartbeatHandler = Mutex<[UInt64]>([])
        b.setHeartbeatHandler { rpc in
            guard case .appendEntries(let request) = rpc.request else { return rpc.respond(error: NotARaftError()) }
            viaHeartbeatHandler.withLock { $0.append(request.term) }
            rpc.respond(.appendEntries(AppendEntriesResponse(header: header("b"), term: request.term, lastLog: 99, success: true)))
        }
        let heartbeat = AppendEntriesRequest(header: header("a"), term: 7, leader: "a")
        #expect(heartbeat.isHeartbeat)

        let fast = try await a.appendEntries(id: "b", target: "b", heartbeat)
        #expect(fast.lastLog == 99, "answered by the heartbeat handler")
        _ = try await a.appendEntries(id: "b", target: "b", append(4))
        _ = try await a.requestVote(id: "b", target: "b", vote(8))
        #expect(viaHeartbeatHandler.withLock { $0 } == [7])
        #expect(peerB.received == ["AppendEntries 4", "RequestVote 8"], "everything but the heartbeat")

        b.setHeartbeatHandler(nil)
        let slow = try await a.appendEntries(id: "b", target: "b", heartbeat)
        #expect(slow.lastLog == 0, "answered by the RPC handler")
        #expect(peerB.received == ["AppendEntries 4", "RequestVote 8", "AppendEntries 0"])
        #expect(viaHeartbeatHandler.withLock { $0 } == [7])
    }

    @Test func aRequestArrivingWithNoHandlerInstalledFailsBeforeSendReturns() {
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")
        a.connect(b)
        let outcomes = Recorder<RaftResponse>()
        a.send(.requestVote(vote(1)), to: server("b"), timeout: patient, completion: outcomes.completion(1))
        #expect(outcomes.codes == [.unreachable], "answered at once with an error, not left to its 10 s timeout")

        let peerB = Peer(b)
        a.send(.requestVote(vote(2)), to: server("b"), timeout: patient, completion: outcomes.completion(2))
        b.setRPCHandler(nil)
        a.send(.requestVote(vote(3)), to: server("b"), timeout: patient, completion: outcomes.completion(3))
        #expect(outcomes.tags == [1, 2, 3])
        #expect(outcomes.codes == [.unreachable, nil, .unreachable])
        #expect(peerB.received == ["RequestVote 2"])
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
        let a = InmemTransport(address: "a", maxMessageSize: 4096)
        let b = InmemTransport(address: "b")
        a.connect(b)
        #expect(a.maxMessageSize == 4096)
        let peerB = Peer(b)
        var tooBig = append(1)
        tooBig.entries = [Log(index: 2, term: 7, type: .command, data: ArraySlice(repeating: 1, count: 4096))]
        let call = await #expect(throws: RaftError.self) { _ = try await a.appendEntries(id: "b", target: "b", tooBig) }
        #expect(call?.code == .invalidArgument)
        let pipeline = try a.appendEntriesPipeline(to: server("b"))
        let piped = Recorder<AppendEntriesResponse>()
        pipeline.appendEntries(tooBig, completion: piped.completion(1))
        #expect(piped.codes == [.invalidArgument])
        _ = try await a.appendEntries(id: "b", target: "b", append(2))
        #expect(peerB.received == ["AppendEntries 2"])
        pipeline.close()
    }

    @Test func unreachablePeersFailPromptlyInsteadOfTimingOut() async throws {
        // With a 10 s timeout, waiting for an answer would surface as `.timeout`, not `.unreachable`.
        let a = InmemTransport(address: "a")
        let b = InmemTransport(address: "b")

        let neverConnected = await #expect(throws: RaftError.self) {
            try await a.appendEntries(id: "b", target: "b", append(1), timeout: patient)
        }
        #expect(neverConnected?.code == .unreachable)

        a.connect(b)
        a.disconnect("b")
        let disconnected = await #expect(throws: RaftError.self) {
            try await a.timeoutNow(id: "b", target: "b", TimeoutNowRequest(header: header("a")), timeout: patient)
        }
        #expect(disconnected?.code == .unreachable)

        a.connect(b)
        await b.close()
        let closed = await #expect(throws: RaftError.self) {
            try await a.requestVote(id: "b", target: "b", vote(2), timeout: patient)
        }
        #expect(closed?.code == .unreachable)
        let noPipeline = #expect(throws: RaftError.self) { try a.appendEntriesPipeline(to: server("b")) }
        #expect(noPipeline?.code == .unreachable)
    }

    // Every step is synchronous on the in-memory transport: a request reaches the peer's handler
    // before `send` returns, and `close` fails what it must before it returns. So each check
    // below follows from the steps before it, with no sleep and no race to order.
    @Test func closeFailsUnansweredCallsBothWaysAndLaterCallsWithoutWaitingForTheirTimeouts() async throws {
        try await Simulation.run(seed: 5) { simulation in
            let clock = simulation.clock
            let a = InmemTransport(address: "a", clock: clock)
            let b = InmemTransport(address: "b", clock: clock)
            mesh(a, b)
            let peerA = Peer(a, .hold)
            let peerB = Peer(b, .hold)
            let outcomes = Recorder<RaftResponse>()
            a.send(.appendEntries(append(1)), to: server("b"), timeout: patient, completion: outcomes.completion(1))
            b.send(.appendEntries(append(2, from: "b")), to: server("a"), timeout: patient, completion: outcomes.completion(2))
            let pipeline = try b.appendEntriesPipeline(to: server("a"))
            let piped = Recorder<AppendEntriesResponse>()
            pipeline.appendEntries(append(3, from: "b"), completion: piped.completion(3))
            #expect(peerB.received == ["AppendEntries 1"])
            #expect(peerA.received == ["AppendEntries 2", "AppendEntries 3"])
            #expect(outcomes.entries.isEmpty && piped.entries.isEmpty, "nothing is answered yet")

            let closedAt = clock.now
            await b.close()
            #expect(outcomes.tags == [1, 2], "both calls completed before close returned")
            #expect(outcomes.codes == [.unreachable, .transportShutdown])
            #expect(piped.codes == [.pipelineShutdown])
            #expect(clock.now == closedAt, "without waiting for any timeout")

            // Late answers go nowhere: each completion ran once.
            for (rpc, response) in peerA.takeHeld() + peerB.takeHeld() { rpc.respond(response) }
            #expect(outcomes.entries.count == 2 && piped.entries.count == 1)

            b.send(.appendEntries(append(4, from: "b")), to: server("a"), timeout: patient, completion: outcomes.completion(4))
            a.send(.appendEntries(append(5)), to: server("b"), timeout: patient, completion: outcomes.completion(5))
            pipeline.appendEntries(append(6, from: "b"), completion: piped.completion(6))
            #expect(outcomes.codes.suffix(2) == [.transportShutdown, .unreachable])
            #expect(piped.codes == [.pipelineShutdown, .pipelineShutdown])
            let reopened = #expect(throws: RaftError.self) { try b.appendEntriesPipeline(to: server("a")) }
            #expect(reopened?.code == .transportShutdown)
            #expect(peerB.received == ["AppendEntries 1"], "a closed transport's handler gets nothing more")
            #expect(peerA.received == ["AppendEntries 2", "AppendEntries 3"])

            await b.close()
            #expect(outcomes.entries.count == 4, "closing twice is harmless")
        }
    }

    // MARK: Deadlines

    @Test func aCallThePeerNeverAnswersFailsWithTimeoutExactlyWhenItsTimeoutExpires() async throws {
        try await Simulation.run(seed: 1) { simulation in
            let clock = simulation.clock
            let a = InmemTransport(address: "a", clock: clock)
            let b = InmemTransport(address: "b", clock: clock)
            a.connect(b)
            let peerB = Peer(b, .hold)
            let sentAt = clock.now
            let timedOut = await #expect(throws: RaftError.self) {
                try await a.requestVote(id: "b", target: "b", vote(2), timeout: .milliseconds(300))
            }
            #expect(timedOut?.code == .timeout)
            #expect(clock.now - sentAt == .milliseconds(300))
            #expect(peerB.received == ["RequestVote 2"])
        }
    }

    @Test func oneTimerServesEveryCallOfATransport() async throws {
        try await Simulation.run(seed: 2) { simulation in
            let clock = CountingClock(simulation.clock)
            let a = InmemTransport(address: "a", clock: clock)
            let b = InmemTransport(address: "b", clock: clock)
            let c = InmemTransport(address: "c", clock: clock)
            a.connect(b)
            a.connect(c)
            _ = Peer(b)
            _ = Peer(c, .hold)
            let answered = Recorder<RaftResponse>()
            for term in 1...100 as ClosedRange<UInt64> {
                a.send(.requestVote(vote(term)), to: server("b"), timeout: short, completion: answered.completion(term))
            }
            #expect(answered.entries.count == 100 && answered.codes.allSatisfy { $0 == nil })
            #expect(clock.scheduled == 1, "a hundred calls, one timer")

            let unanswered = Recorder<RaftResponse>()
            let sentAt = clock.now
            for term in 1...100 as ClosedRange<UInt64> {
                a.send(.requestVote(vote(term)), to: server("c"), timeout: short, completion: unanswered.completion(term))
            }
            #expect(clock.scheduled == 1, "later deadlines than the armed timer's arm nothing")
            await unanswered.wait(for: 100)
            #expect(clock.now - sentAt == short)
            #expect(unanswered.tags == Array(1...100), "expired in the order they were sent")
            #expect(unanswered.codes.allSatisfy { $0 == .timeout })
            #expect(clock.scheduled == 1, "all expired by the one timer")
        }
    }

    @Test func aShorterTimeoutThanTheArmedTimerFiresOnTime() async throws {
        try await Simulation.run(seed: 3) { simulation in
            let clock = simulation.clock
            let a = InmemTransport(address: "a", clock: clock)
            let b = InmemTransport(address: "b", clock: clock)
            a.connect(b)
            _ = Peer(b, .hold)
            let outcomes = Recorder<RaftResponse>()
            let sentAt = clock.now
            a.send(.requestVote(vote(1)), to: server("b"), timeout: .milliseconds(500), completion: outcomes.completion(1))
            a.send(.requestVote(vote(2)), to: server("b"), timeout: .milliseconds(100), completion: outcomes.completion(2))
            await outcomes.wait(for: 1)
            #expect(outcomes.tags == [2])
            #expect(clock.now - sentAt == .milliseconds(100))
            await outcomes.wait(for: 2)
            #expect(outcomes.tags == [2, 1])
            #expect(clock.now - sentAt == .milliseconds(500))
            #expect(outcomes.codes == [.timeout, .timeout])
        }
    }

    @Test func aCallStillTimesOutWhenItsTransportIsReleasedFirst() async throws {
        try await Simulation.run(seed: 6) { simulation in
            let clock = simulation.clock
            let b = InmemTransport(address: "b", clock: clock)
            let peerB = Peer(b, .hold)
            let outcomes = Recorder<RaftResponse>()
            do {
                let a = InmemTransport(address: "a", clock: clock)
                a.connect(b)
                a.send(.requestVote(vote(1)), to: server("b"), timeout: short, completion: outcomes.completion(1))
            }
            // Nothing holds `a` any more; the call's deadline must still fail it.
            await outcomes.wait(for: 1)
            #expect(outcomes.codes == [.timeout])
            #expect(peerB.received == ["RequestVote 1"])
        }
    }

    @Test func anRPCLeftUnansweredDoesNotKeepATransportDroppedWithoutClosingAlive() async throws {
        let handler = WeakReference()
        try await Simulation.run(seed: 7) { simulation in
            let outcomes = Recorder<RaftResponse>()
            do {
                let a = InmemTransport(address: "a", clock: simulation.clock)
                let b = InmemTransport(address: "b", clock: simulation.clock)
                a.connect(b)
                let peerB = Peer(b, .hold)
                handler.watch(peerB)
                a.send(.requestVote(vote(1)), to: server("b"), timeout: short, completion: outcomes.completion(1))
                await outcomes.wait(for: 1)
                #expect(peerB.received == ["RequestVote 1"] && outcomes.codes == [.timeout])
            }
            // Neither transport was closed, and b's handler still holds the RPC it never
            // answered: nothing else holds b's side any more, so it is gone, handler and all.
            #expect(handler.isReleased)
        }
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
        try await Simulation.run(seed: 1) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            let c = InmemTransport(address: "c", clock: clock, faults: faults)
            mesh(a, b, c)
            let peers = [Peer(a), Peer(b), Peer(c)]
            faults.partition([["a"], ["b", "c"]])
            let aToB = await #expect(throws: RaftError.self) {
                try await a.appendEntries(id: "b", target: "b", append(1), timeout: short)
            }
            #expect(aToB?.code == .timeout)
            let bToA = await #expect(throws: RaftError.self) {
                try await b.appendEntries(id: "a", target: "a", append(2, from: "b"), timeout: short)
            }
            #expect(bToA?.code == .timeout)
            _ = try await b.appendEntries(id: "c", target: "c", append(3, from: "b"), timeout: short)

            faults.heal()
            _ = try await a.appendEntries(id: "b", target: "b", append(4), timeout: short)
            _ = try await b.appendEntries(id: "a", target: "a", append(5, from: "b"), timeout: short)
            #expect(peers[0].received == ["AppendEntries 5"])
            #expect(peers[1].received == ["AppendEntries 4"])
            #expect(peers[2].received == ["AppendEntries 3"])
        }
    }

    @Test func aOneWayBlockLosesOnlyMessagesTravellingThatWay() async throws {
        try await Simulation.run(seed: 1) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            mesh(a, b)
            let peerA = Peer(a)
            let peerB = Peer(b)
            faults.block(from: "a", to: "b")

            // a's request never reaches b.
            let request = await #expect(throws: RaftError.self) {
                try await a.appendEntries(id: "b", target: "b", append(1), timeout: short)
            }
            #expect(request?.code == .timeout)
            #expect(peerB.received.isEmpty)

            // b's request reaches a and a answers, but the answer travels a -> b and is lost.
            let reply = await #expect(throws: RaftError.self) {
                try await b.appendEntries(id: "a", target: "a", append(2, from: "b"), timeout: short)
            }
            #expect(reply?.code == .timeout)
            #expect(peerA.received == ["AppendEntries 2"])

            faults.unblock(from: "a", to: "b")
            _ = try await a.appendEntries(id: "b", target: "b", append(3), timeout: short)
            _ = try await b.appendEntries(id: "a", target: "a", append(4, from: "b"), timeout: short)
            #expect(peerA.received == ["AppendEntries 2", "AppendEntries 4"])
            #expect(peerB.received == ["AppendEntries 3"])
        }
    }

    @Test func dropProbabilityOneLosesEveryMessageAndZeroNone() async throws {
        try await Simulation.run(seed: 1) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            faults.dropProbability = 1
            for number in 1...3 as ClosedRange<UInt64> {
                let lost = await #expect(throws: RaftError.self) {
                    try await a.appendEntries(id: "b", target: "b", append(number), timeout: short)
                }
                #expect(lost?.code == .timeout)
            }
            faults.dropProbability = 0
            _ = try await a.appendEntries(id: "b", target: "b", append(4), timeout: short)
            #expect(peerB.received == ["AppendEntries 4"])
        }
    }

    @Test func healRestoresIsolatedServersButKeepsRandomLoss() async throws {
        try await Simulation.run(seed: 1) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            faults.isolate("b")
            let isolated = await #expect(throws: RaftError.self) {
                try await a.appendEntries(id: "b", target: "b", append(1), timeout: short)
            }
            #expect(isolated?.code == .timeout)

            faults.heal()
            _ = try await a.appendEntries(id: "b", target: "b", append(2), timeout: short)

            faults.dropProbability = 1
            faults.heal()
            let dropped = await #expect(throws: RaftError.self) {
                try await a.appendEntries(id: "b", target: "b", append(3), timeout: short)
            }
            #expect(dropped?.code == .timeout)
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
        /// draws exactly once, for its request; without delays, a request that is not lost
        /// reaches b before `send` returns.
        func delivered(seed: UInt64) -> [String] {
            let faults = InmemFaults(seed: seed)
            let a = InmemTransport(address: "a", faults: faults)
            let b = InmemTransport(address: "b", faults: faults)
            a.connect(b)
            let peerB = Peer(b, .hold)
            faults.dropProbability = 0.5
            for number in 1...12 as ClosedRange<UInt64> {
                a.send(.appendEntries(append(number)), to: server("b"), timeout: patient) { _ in }
            }
            return peerB.received
        }
        let pattern = delivered(seed: 7)
        #expect(pattern == delivered(seed: 7))
        #expect(pattern != delivered(seed: 8))
        #expect(!pattern.isEmpty && pattern.count < 12, "some requests are lost, some arrive: \(pattern)")
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
            let timeout = Duration.milliseconds(100)
            let transports = ["a", "b", "c"].map {
                InmemTransport(address: ServerAddress($0), clock: clock, timeout: timeout, faults: faults)
            }
            mesh(transports[0], transports[1], transports[2])
            let peers = transports.map { Peer($0) }
            let trace = Mutex<[String]>([])
            let log: @Sendable (String) -> Void = { line in trace.withLock { $0.append("\(clock.now) \(line)") } }

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
                                        append(number, from: from.localAddress),
                                        timeout: timeout
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
                    guard let pipeline = try? transports[0].appendEntriesPipeline(to: server("c")) else {
                        return log("pipeline refused")
                    }
                    let answers = Recorder<AppendEntriesResponse>()
                    for number in 1...30 as ClosedRange<UInt64> {
                        pipeline.appendEntries(append(number)) { result in
                            log("pipeline #\(number) \((try? result.get()) == nil ? "failed" : "ok")")
                            answers.completion(number)(result)
                        }
                    }
                    await answers.wait(for: 30)
                    pipeline.close()
                }
            }
            return trace.withLock { $0 } + peers.flatMap(\.received)
        }
    }
}
