import DequeModule
import Synchronization

/// An ``InmemTransport``'s AppendEntries pipeline, modelled on one TCP connection: requests reach
/// the peer in send order, one at a time, completions run in send order, and a lost request or
/// answer stalls everything behind it until its timeout breaks the pipeline. Once a request fails
/// for want of an answer (a timeout, a close, a peer gone), every request behind it fails too,
/// even one the peer has answered: on a connection that answer would be stuck behind the missing
/// one.
///
/// Without faults a request is handed to the peer at once, on the sender's thread, and the answer
/// completes it on the peer's; the only per-request cost is a slot in the FIFO and an entry in the
/// transport's deadline table. With delays, a request waits in ``State/undelivered`` until a
/// timer on the clock delivers it and everything due with it, in order. A real clock's timers
/// fire on any thread, so one thread at a time hands requests over (``State/delivering``), and
/// one at a time runs completions (``State/releasing``).
final class InmemPipeline: AppendPipeline {
    typealias Completion = @Sendable (Result<AppendEntriesResponse, any Error>) -> Void

    let target: Server
    private let transport: InmemTransport
    private let peer: InmemEndpoint
    private let state = Mutex(State())

    private struct Slot {
        let number: UInt64
        let completion: Completion
        var deadline: UInt64 = 0
        var result: Result<AppendEntriesResponse, any Error>?
    }

    private struct State {
        /// Every request not yet completed, oldest first.
        var slots: Deque<Slot> = []
        /// Requests not yet handed to the peer, oldest first, with when they arrive.
        var undelivered: Deque<(number: UInt64, request: AppendEntriesRequest, arrival: Duration)> = []
        var nextNumber: UInt64 = 0
        /// The latest arrival scheduled so far: no request may overtake an earlier one.
        var lastArrival: Duration = .zero
        /// A request was lost. A connection delivers nothing after a missing segment, so every
        /// later request is lost with it.
        var requestsStalled = false
        /// An answer was lost; later answers are stuck behind it for the same reason.
        var repliesStalled = false
        /// Set once the pipeline is closed or broken; later requests fail with it.
        var failure: RaftError?
        /// A thread is running completions: others leave theirs to it, so they run in order.
        var releasing = false
        /// A thread is handing requests to the peer: others leave theirs to it, so the peer
        /// gets them one at a time, in order.
        var delivering = false

        /// Breaks the pipeline: from the slot at `start` on (by default the oldest request
        /// still waiting for its answer), every request fails with `error`, answered or not,
        /// and so will every later one. Returns the deadlines that no longer matter.
        mutating func breakOff(_ error: RaftError, from start: Int? = nil) -> [UInt64] {
            if failure == nil { failure = error }
            undelivered.removeAll()
            guard let first = start ?? slots.firstIndex(where: { $0.result == nil }) else { return [] }
            var deadlines: [UInt64] = []
            for index in first..<slots.endIndex {
                if slots[index].result == nil { deadlines.append(slots[index].deadline) }
                slots[index].result = .failure(error)
            }
            return deadlines
        }

        /// Takes the requests due to arrive by `now`, in order.
        mutating func takeDue(at now: Duration) -> [(UInt64, AppendEntriesRequest)] {
            var due: [(UInt64, AppendEntriesRequest)] = []
            while let first = undelivered.first, first.arrival <= now {
                undelivered.removeFirst()
                due.append((first.number, first.request))
            }
            return due
        }
    }

    init(transport: InmemTransport, target: Server, peer: InmemEndpoint) {
        self.transport = transport
        self.target = target
        self.peer = peer
    }

    func appendEntries(_ request: AppendEntriesRequest, completion: @escaping Completion) {
        do {
            try InmemTransport.checkSize(of: request, limit: transport.maxMessageSize, to: target.address)
        } catch {
            refuseOversized(error, completion)
            return
        }
        let now = transport.clock.now
        let travel = InmemTransport.hop(transport.faults, from: transport.localAddress, to: target.address)
        enum Step { case refused, lost(UInt64), sent(UInt64, delay: Duration) }
        let step = state.withLock { state -> Step in
            let number = state.nextNumber
            state.nextNumber += 1
            if let failure = state.failure {
                // Through the FIFO like any other, so it completes after everything before it.
                let refusal = RaftError(.pipelineShutdown, "pipeline to \(target.address) is closed: \(failure.message)")
                state.slots.append(Slot(number: number, completion: completion, result: .failure(refusal)))
                return .refused
            }
            state.slots.append(Slot(number: number, completion: completion))
            guard !state.requestsStalled, let travel else {
                state.requestsStalled = true
                return .lost(number)
            }
            let arrival = max(state.lastArrival, now + travel)
            state.lastArrival = arrival
            state.undelivered.append((number, request, arrival))
            return .sent(number, delay: arrival - now)
        }
        let number: UInt64
        switch step {
        case .refused:
            release()
            return
        case .lost(let sent), .sent(let sent, _):
            number = sent
        }
        let timeout = transport.timeout
        // Strong: a request the peer holds, or one lost on the way, has nothing else to fail it.
        let deadline = transport.deadlines.track(timeout: timeout) { closing in
            // A closing transport fails its pipelines itself.
            if closing == nil { self.timedOut(number, after: timeout) }
        }
        state.withLock { state in
            if let index = state.slots.firstIndex(where: { $0.number == number }) { state.slots[index].deadline = deadline }
        }
        if case .sent(_, let delay) = step {
            if delay > .zero {
                transport.clock.schedule(after: delay) { self.deliverDue() }
            } else {
                deliverDue()
            }
        }
    }

    func close() {
        fail(RaftError(.pipelineShutdown, "pipeline to \(target.address) closed"))
    }

    /// Breaks the pipeline: every request not yet completed fails with `error` (see
    /// ``State/breakOff(_:)``), and so does every later one.
    func fail(_ error: RaftError) {
        let deadlines = state.withLock { $0.breakOff(error) }
        for deadline in deadlines { transport.deadlines.finish(deadline) }
        release()
    }

    // MARK: Internals

    /// A request over the size limit fails with that reason, and breaks the pipeline: nothing
    /// after it may overtake it.
    private func refuseOversized(_ error: any Error, _ completion: @escaping Completion) {
        let reason = (error as? RaftError)?.message ?? "\(error)"
        let deadlines = state.withLock { state -> [UInt64] in
            let number = state.nextNumber
            state.nextNumber += 1
            let deadlines = state.failure == nil
                ? state.breakOff(RaftError(.pipelineShutdown, "pipeline to \(target.address) broken: \(reason)")) : []
            state.slots.append(Slot(number: number, completion: completion, result: .failure(error)))
            return deadlines
        }
        for deadline in deadlines { transport.deadlines.finish(deadline) }
        release()
    }

    /// Hands every request due by now to the peer, in order, unless another thread is doing so
    /// already, in which case that thread takes these too before it stops.
    private func deliverDue() {
        let now = transport.clock.now
        var batch = state.withLock { state -> [(UInt64, AppendEntriesRequest)] in
            guard !state.delivering else { return [] }
            let due = state.takeDue(at: now)
            if !due.isEmpty { state.delivering = true }
            return due
        }
        let clock = transport.clock
        while !batch.isEmpty {
            for (number, request) in batch { deliver(number, request) }
            batch = state.withLock { state in
                // The time is read under the lock: a request another thread queued as due
                // before this check must be due by this time too, or nobody would deliver it.
                let due = state.takeDue(at: clock.now)
                if due.isEmpty { state.delivering = false }
                return due
            }
        }
    }

    private func deliver(_ number: UInt64, _ request: AppendEntriesRequest) {
        let faults = transport.faults, local = transport.localAddress, clock = transport.clock
        let from = peer.address
        let delivered = peer.deliver(.appendEntries(request)) { [weak self] result in
            guard let self else { return }
            let travel: Duration? = state.withLock { state in
                guard !state.repliesStalled, let travel = InmemTransport.hop(faults, from: from, to: local) else {
                    state.repliesStalled = true
                    return nil
                }
                return travel
            }
            guard let travel else { return }
            let answer = Self.answer(from: result, target: from)
            if travel > .zero {
                clock.schedule(after: travel) { self.answered(number, answer) }
            } else {
                answered(number, answer)
            }
        }
        if !delivered { fail(RaftError(.unreachable, "\(peer.address) closed its transport")) }
    }

    private func answered(_ number: UInt64, _ result: Result<AppendEntriesResponse, any Error>) {
        let deadline = state.withLock { state -> UInt64? in
            guard let index = state.slots.firstIndex(where: { $0.number == number }), state.slots[index].result == nil else {
                return nil
            }
            state.slots[index].result = result
            return state.slots[index].deadline
        }
        guard let deadline else { return }
        transport.deadlines.finish(deadline)
        release()
    }

    /// The request's answer did not come in time: it fails, and so does everything behind it.
    private func timedOut(_ number: UInt64, after timeout: Duration) {
        let local = transport.localAddress, address = target.address
        let deadlines = state.withLock { state -> [UInt64]? in
            guard let index = state.slots.firstIndex(where: { $0.number == number }), state.slots[index].result == nil else {
                return nil
            }
            state.slots[index].result = .failure(
                RaftError(.timeout, "AppendEntries from \(local) to \(address) timed out after \(timeout)")
            )
            return state.breakOff(RaftError(.timeout, "an earlier AppendEntries to \(address) timed out"), from: index + 1)
        }
        guard let deadlines else { return }
        for deadline in deadlines { transport.deadlines.finish(deadline) }
        release()
    }

    /// Runs the completions of the oldest requests that have a result, in order, on one thread
    /// at a time.
    private func release() {
        while true {
            let ready = state.withLock { state -> [Slot]? in
                guard !state.releasing else { return nil }
                var ready: [Slot] = []
                while let first = state.slots.first, first.result != nil {
                    ready.append(state.slots.removeFirst())
                }
                if ready.isEmpty { return nil }
                state.releasing = true
                return ready
            }
            guard let ready else { return }
            for slot in ready {
                if let result = slot.result { slot.completion(result) }
            }
            state.withLock { $0.releasing = false }
        }
    }

    private static func answer(from result: Result<RaftResponse, any Error>, target: ServerAddress)
        -> Result<AppendEntriesResponse, any Error>
    {
        switch result {
        case .success(.appendEntries(let response)): return .success(response)
        case .success(let other): return .failure(RaftError(.corrupt, "AppendEntries was answered with \(other)"))
        case .failure(let error): return .failure(InmemTransport.surfaced(error, from: target))
        }
    }
}
