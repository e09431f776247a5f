import Dispatch
import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

private let patient = Duration.seconds(10)

/// The in-memory transport's AppendEntries pipeline, a model of one TCP connection: sends never
/// wait, requests reach the peer in send order and complete in send order, and once a request
/// fails (lost, timed out, closed) every request behind it fails too.
@Suite(.timeLimit(.minutes(1)))
struct InmemPipelineTests {
    @Test func sendsNeverWaitAndCompletionsRunInSendOrderWhateverOrderThePeerAnswersIn() throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b, .hold)
        let pipeline = try a.appendEntriesPipeline(to: server("b"))
        let answers = Recorder<AppendEntriesResponse>()
        for number in 1...100 as ClosedRange<UInt64> {
            pipeline.appendEntries(append(number), completion: answers.completion(number))
        }
        // Each send handed its request to b before returning, and none waited for an answer.
        #expect(peerB.received == (1...100).map { "AppendEntries \($0)" })
        #expect(answers.entries.isEmpty)

        let held = peerB.takeHeld()
        for (rpc, response) in held.reversed().prefix(99) { rpc.respond(response) }
        #expect(answers.entries.isEmpty, "99 answers wait behind the first request's")
        held[0].0.respond(held[0].1)
        #expect(answers.tags == Array(1...100))
        #expect(answers.values.map(\.lastLog) == Array(1...100), "each with its own answer")
        pipeline.close()
    }

    @Test func closingAPipelineFailsWhatIsOutstandingEvenAnsweredRequestsAndLaterOnes() throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        a.connect(b)
        // b answers 2 and 3 at once; their answers wait behind 1's, which never comes.
        let peerB = Peer(b, .holdFirst)
        let pipeline = try a.appendEntriesPipeline(to: server("b"))
        let answers = Recorder<AppendEntriesResponse>()
        for number in 1...3 as ClosedRange<UInt64> {
            pipeline.appendEntries(append(number), completion: answers.completion(number))
        }
        #expect(peerB.received == ["AppendEntries 1", "AppendEntries 2", "AppendEntries 3"])
        #expect(answers.entries.isEmpty)

        pipeline.close()
        #expect(answers.tags == [1, 2, 3])
        #expect(answers.codes == [.pipelineShutdown, .pipelineShutdown, .pipelineShutdown])

        // b's late answer goes nowhere, and later sends fail at once.
        for (rpc, response) in peerB.takeHeld() { rpc.respond(response) }
        pipeline.appendEntries(append(4), completion: answers.completion(4))
        #expect(answers.tags == [1, 2, 3, 4])
        #expect(answers.codes.last == .pipelineShutdown)
        pipeline.close()
        #expect(answers.entries.count == 4, "closing twice is harmless")
    }

    @Test func anOversizedRequestFailsWithInvalidArgumentAndBreaksThePipeline() throws {
        let a = InmemTransport(address: "a", timeout: patient, maxMessageSize: 4096)
        let b = InmemTransport(address: "b")
        a.connect(b)
        let peerB = Peer(b, .hold)
        let pipeline = try a.appendEntriesPipeline(to: server("b"))
        let answers = Recorder<AppendEntriesResponse>()
        var tooBig = append(2)
        tooBig.entries = [Log(index: 3, term: 7, data: ArraySlice(repeating: 1, count: 4096))]
        pipeline.appendEntries(append(1), completion: answers.completion(1))
        pipeline.appendEntries(tooBig, completion: answers.completion(2))
        pipeline.appendEntries(append(3), completion: answers.completion(3))
        #expect(answers.tags == [1, 2, 3])
        #expect(answers.codes == [.pipelineShutdown, .invalidArgument, .pipelineShutdown])
        #expect(peerB.received == ["AppendEntries 1"])
    }

    @Test func disconnectingAndClosingTheTransportCloseItsPipelines() async throws {
        let a = InmemTransport(address: "a", timeout: patient)
        let b = InmemTransport(address: "b")
        let c = InmemTransport(address: "c")
        a.connect(b)
        a.connect(c)
        _ = Peer(b, .hold)
        _ = Peer(c, .hold)
        let toB = try a.appendEntriesPipeline(to: server("b"))
        let toC = try a.appendEntriesPipeline(to: server("c"))
        let fromB = Recorder<AppendEntriesResponse>()
        let fromC = Recorder<AppendEntriesResponse>()
        toB.appendEntries(append(1), completion: fromB.completion(1))
        toC.appendEntries(append(1), completion: fromC.completion(1))

        a.disconnect("b")
        #expect(fromB.codes == [.pipelineShutdown])
        #expect(fromC.entries.isEmpty, "only the pipeline to b is closed")
        toB.appendEntries(append(2), completion: fromB.completion(2))
        #expect(fromB.codes == [.pipelineShutdown, .pipelineShutdown])

        await a.close()
        #expect(fromC.codes == [.pipelineShutdown])
    }

    // On the simulator's virtual clock: the delays are the faults' own, and a busy machine cannot
    // stretch them into the timeout.
    @Test func requestsArriveAndCompleteInSendOrderDespiteRandomDelaysThatReorderOtherCalls() async throws {
        try await Simulation.run(seed: 3) { simulation in
            let faults = InmemFaults(seed: simulation.nextSeed())
            faults.delay = .milliseconds(1) ... .milliseconds(30)
            let a = InmemTransport(address: "a", clock: simulation.clock, timeout: patient, faults: faults)
            let b = InmemTransport(address: "b", clock: simulation.clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)

            // Independent calls under these delays overtake one another…
            let calls = Recorder<RaftResponse>()
            for number in 1...50 as ClosedRange<UInt64> {
                a.send(.appendEntries(append(number)), to: server("b"), timeout: patient, completion: calls.completion(number))
            }
            await calls.wait(for: 50)
            let callOrder = peerB.received
            #expect(callOrder.count == 50 && callOrder != (1...50).map { "AppendEntries \($0)" })

            // …but a pipeline's requests do not.
            let pipeline = try a.appendEntriesPipeline(to: server("b"))
            let answers = Recorder<AppendEntriesResponse>()
            for number in 101...150 as ClosedRange<UInt64> {
                pipeline.appendEntries(append(number), completion: answers.completion(number))
            }
            #expect(peerB.received.count == 50, "every pipelined request is still on its way")
            await answers.wait(for: 50)
            #expect(answers.tags == Array(101...150))
            #expect(answers.values.map(\.lastLog) == Array(101...150))
            #expect(peerB.received.dropFirst(50) == (101...150).map { "AppendEntries \($0)" }[...])
            pipeline.close()
        }
    }

    @Test func aLostRequestStallsEverythingBehindItUntilItsTimeoutBreaksThePipeline() async throws {
        try await Simulation.run(seed: 4) { simulation in
            let clock = simulation.clock
            let faults = InmemFaults(seed: 1)
            let a = InmemTransport(address: "a", clock: clock, timeout: .milliseconds(500), faults: faults)
            let b = InmemTransport(address: "b", clock: clock, faults: faults)
            a.connect(b)
            let peerB = Peer(b)
            let pipeline = try a.appendEntriesPipeline(to: server("b"))
            let answers = Recorder<AppendEntriesResponse>()
            pipeline.appendEntries(append(1), completion: answers.completion(1))
            #expect(answers.codes == [nil], "delivered and answered at once")

            faults.block(from: "a", to: "b")
            let lostAt = clock.now
            pipeline.appendEntries(append(2), completion: answers.completion(2))
            faults.unblock(from: "a", to: "b")
            // Not lost itself, but behind a lost request on the same connection.
            pipeline.appendEntries(append(3), completion: answers.completion(3))
            #expect(peerB.received == ["AppendEntries 1"])
            #expect(answers.entries.count == 1)

            await answers.wait(for: 3)
            #expect(clock.now - lostAt == .milliseconds(500))
            #expect(answers.tags == [1, 2, 3])
            #expect(answers.codes == [nil, .timeout, .timeout])
            #expect(peerB.received == ["AppendEntries 1"], "nothing behind the lost request was delivered")

            pipeline.appendEntries(append(4), completion: answers.completion(4))
            #expect(answers.codes.last == .pipelineShutdown, "a broken pipeline refuses further sends")
        }
    }

    @Test func aRequestThatTimesOutFailsEveryRequestBehindItEvenOnesThePeerAnswered() async throws {
        try await Simulation.run(seed: 5) { simulation in
            let clock = simulation.clock
            let a = InmemTransport(address: "a", clock: clock, timeout: .milliseconds(500))
            let b = InmemTransport(address: "b", clock: clock)
            a.connect(b)
            let peerB = Peer(b, .holdFirst)
            let pipeline = try a.appendEntriesPipeline(to: server("b"))
            let answers = Recorder<AppendEntriesResponse>()
            let sentAt = clock.now
            for number in 1...3 as ClosedRange<UInt64> {
                pipeline.appendEntries(append(number), completion: answers.completion(number))
            }
            #expect(peerB.received == ["AppendEntries 1", "AppendEntries 2", "AppendEntries 3"])
            #expect(answers.entries.isEmpty, "the answers to 2 and 3 wait behind 1's")

            await answers.wait(for: 3)
            #expect(clock.now - sentAt == .milliseconds(500))
            #expect(answers.tags == [1, 2, 3])
            #expect(answers.codes == [.timeout, .timeout, .timeout], "once a request fails, every request behind it fails")

            pipeline.appendEntries(append(4), completion: answers.completion(4))
            #expect(answers.codes.last == .pipelineShutdown)
        }
    }

    // A timer of a real clock may fire on any thread, so two requests due at about the same time
    // can be delivered by two threads at once. The pipeline must still hand them to the peer one
    // at a time, in send order, as a connection would. A clock the test fires by hand makes that
    // interleaving happen on purpose: the first delivery is held inside the peer's handler while
    // the second request's timer fires on another thread.
    @Test func requestsDueOnTwoThreadsAtOnceReachThePeerOneAtATimeInSendOrder() async throws {
        let clock = ManualClock()
        let faults = InmemFaults(seed: 1)
        faults.delay = .milliseconds(10) ... .milliseconds(10)
        let a = InmemTransport(address: "a", clock: clock, timeout: patient, faults: faults)
        let b = InmemTransport(address: "b", clock: clock, faults: faults)
        a.connect(b)
        let log = Mutex<[String]>([])
        let firstEntered = Recorder<Void>()
        let releaseFirst = DispatchSemaphore(value: 0)
        b.setRPCHandler { rpc in
            guard case .appendEntries(let request) = rpc.request else { return rpc.respond(error: NotARaftError()) }
            log.withLock { $0.append("enter \(request.prevLogEntry)") }
            if request.prevLogEntry == 1 {
                firstEntered.completion(1)(.success(()))
                releaseFirst.wait()
            }
            log.withLock { $0.append("leave \(request.prevLogEntry)") }
            rpc.respond(.appendEntries(AppendEntriesResponse(header: header("b"), term: 7, lastLog: request.prevLogEntry, success: true)))
        }
        let pipeline = try a.appendEntriesPipeline(to: server("b"))
        let answers = Recorder<AppendEntriesResponse>()
        pipeline.appendEntries(append(1), completion: answers.completion(1))
        clock.advance(to: .milliseconds(5))
        pipeline.appendEntries(append(2), completion: answers.completion(2))
        // Both arrival times are fixed; the answers travel back without delay, so no timer
        // but the two deliveries matters.
        faults.delay = nil

        // Request 1 arrives at 10 ms: deliver it on a thread of its own, where b's handler holds it.
        let firstThread = ThreadExecutor(name: "inmem-timer-1")
        defer { firstThread.shutdown() }
        let firstTimers = clock.advance(to: .milliseconds(10))
        firstThread.execute { for timer in firstTimers { timer() } }
        await firstEntered.wait(for: 1)

        // Request 2 arrives at 15 ms, its timer firing here while request 1 is still being handed over.
        for timer in clock.advance(to: .milliseconds(15)) { timer() }
        #expect(log.withLock { $0 } == ["enter 1"], "request 2 must wait until request 1 has been handed over")

        releaseFirst.signal()
        await answers.wait(for: 2)
        #expect(log.withLock { $0 } == ["enter 1", "leave 1", "enter 2", "leave 2"])
        #expect(answers.tags == [1, 2])
        pipeline.close()
    }
}

/// A clock whose time moves only when the test says, and whose scheduled work runs only when
/// the test takes it and calls it, on whichever thread the test chooses.
private final class ManualClock: RaftClock {
    private struct Timer {
        let deadline: Duration
        let work: @Sendable () -> Void
    }

    private let state = Mutex<(now: Duration, timers: [Timer])>((.zero, []))

    var now: Duration { state.withLock { $0.now } }
    var wallClockNow: LogTimestamp { LogTimestamp(nanosecondsSinceEpoch: 0) }

    func sleep(for duration: Duration) async throws {
        await withCheckedContinuation { continuation in
            schedule(after: duration) { continuation.resume() }
        }
    }

    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        state.withLock { $0.timers.append(Timer(deadline: $0.now + max(delay, .zero), work: work)) }
    }

    /// Moves time to `instant` and hands over the work due by then, earliest first, for the
    /// caller to run.
    @discardableResult
    func advance(to instant: Duration) -> [@Sendable () -> Void] {
        state.withLock { state in
            state.now = max(state.now, instant)
            let now = state.now
            let due = state.timers.enumerated().filter { $0.element.deadline <= now }
                .sorted { ($0.element.deadline, $0.offset) < ($1.element.deadline, $1.offset) }
            state.timers.removeAll { $0.deadline <= now }
            return due.map(\.element.work)
        }
    }
}
