import DequeModule
import Synchronization

/// An ``InmemTransport``'s AppendEntries pipeline, modelled on one TCP connection: requests reach
/// the peer in send order, completions run in send order, and a lost request or answer stalls
/// everything behind it until its timeout breaks the pipeline.
///
/// Without faults a request is handed to the peer at once, on the sender's thread, and the answer
/// completes it on the peer's; the only per-request cost is a slot in the FIFO and an entry in the
/// transport's deadline table. With delays, a request waits in ``State/undelivered`` until a
/// timer on the clock delivers it and everything due with it, in order.
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
        /// Requests waiting for their (delayed) arrival time, oldest first.
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
    }

    init(transport: InmemTransport, target: Server, peer: InmemEndpoint) {
        self.transport = transport
        self.target = target
        self.peer = peer
    }

    func appendEntries(_ request: AppendEntriesRequest, completion: @escaping Completion) {
        do {
            try InmemTransport.checkSize(of: request, limit: transport.maxMessageSize, to: target.address)
        } catch let error as RaftError {
            // Nothing after this request may overtake it, so the pipeline cannot go on.
            let refused = state.withLock { state -> Bool in
                guard state.failure == nil else { return false }
                state.slots.append(Slot(number: state.nextNumber, completion: completion, result: .failure(error)))
                state.nextNumber += 1
                return true
            }
            if refused { fail(RaftError(.pipelineShutdown, "pipeline to \(target.address) broken: \(error.message)")) }
            release()
            if !refused { completion(.failure(error)) }
            return
        } catch {
            completion(.failure(error))
            return
        }
        let now = transport.clock.now
        let travel = InmemTransport.hop(transport.faults, from: transport.localAddress, to: target.address)
        enum Step { case refuse(RaftError), deliverNow(UInt64), deliverLater(UInt64, Duration), lost(UInt64) }
        let step = state.withLock { state -> Step in
            if let failure = state.failure { return .refuse(failure) }
            let number = state.nextNumber
            state.nextNumber += 1
            state.slots.append(Slot(number: number, completion: completion))
            guard !state.requestsStalled, let travel else {
                state.requestsStalled = true
                return .lost(number)
            }
            let arrival = max(state.lastArrival, now + travel)
            state.lastArrival = arrival
            if arrival <= now && state.undelivered.isEmpty { return .deliverNow(number) }
            state.undelivered.append((number, request, arrival))
            return .deliverLater(number, arrival - now)
        }
        let number: UInt64
        switch step {
        case .refuse(let failure):
            completion(.failure(RaftError(.pipelineShutdown, "pipeline to \(target.address) is closed: \(failure.message)")))
            return
        case .deliverNow(let sent), .lost(let sent), .deliverLater(let sent, _):
            number = sent
        }
        let timeout = transport.timeout
        let deadline = transport.deadlines.track(timeout: timeout) { [weak self] in
            self?.timedOut(number, after: timeout)
        }
        state.withLock { state in
            if let index = state.slots.firstIndex(where: { $0.number == number }) { state.slots[index].deadline = deadline }
        }
        switch step {
        case .deliverNow: deliver(number, request)
        case .deliverLater(_, let delay): transport.clock.schedule(after: delay) { [weak self] in self?.deliverDue() }
        case .lost, .refuse: break
        }
    }

    func close() {
        fail(RaftError(.pipelineShutdown, "pipeline to \(target.address) closed"))
    }

    /// Breaks the pipeline: every request not yet completed fails with `error`, and so does
    /// every later one.
    func fail(_ error: RaftError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
            state.undelivered.removeAll()
            for index in state.slots.indices where state.slots[index].result == nil {
                state.slots[index].result = .failure(error)
            }
        }
        release()
    }

    // MARK: Internals

    private func deliverDue() {
        let now = transport.clock.now
        let due = state.withLock { state -> [(UInt64, AppendEntriesRequest)] in
            var due: [(UInt64, AppendEntriesRequest)] = []
            while let first = state.undelivered.first, first.arrival <= now {
                state.undelivered.removeFirst()
                due.append((first.number, first.request))
            }
            return due
        }
        for (number, request) in due { deliver(number, request) }
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
                clock.schedule(after: travel) { [weak self] in self?.answered(number, answer) }
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

    private func timedOut(_ number: UInt64, after timeout: Duration) {
        let pending = state.withLock { state in
            state.slots.contains { $0.number == number && $0.result == nil }
        }
        guard pending else { return }
        let error = RaftError(.timeout, "AppendEntries from \(transport.localAddress) to \(target.address) timed out after \(timeout)")
        state.withLock { state in
            if let index = state.slots.firstIndex(where: { $0.number == number }) { state.slots[index].result = .failure(error) }
        }
        fail(RaftError(.timeout, "an earlier AppendEntries to \(target.address) timed out"))
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
