import DequeModule
import Synchronization

/// An ``InmemTransport``'s AppendEntries pipeline: a thin ``AppendPipeline`` face over
/// ``InmemTransportPipelineCore``, which the transport also holds (weakly) to close it on
/// disconnect.
final class InmemTransportPipeline: AppendPipeline {
    let responses: AsyncStream<AppendPipelineResult>
    private let core: InmemTransportPipelineCore

    init(core: InmemTransportPipelineCore) {
        self.core = core
        self.responses = AsyncStream(unfolding: { await core.nextResult() })
    }

    func appendEntries(_ request: AppendEntriesRequest) async throws {
        try await core.send(request)
    }

    func close() async {
        core.shutdown(RaftError(.pipelineShutdown, "pipeline to \(core.target) closed"))
    }
}

/// The state of one pipeline, modelled on a TCP connection carrying requests in order.
///
/// There is no background task. Every request occupies a slot in a FIFO from the moment it is
/// sent until its result is read from `responses`, which bounds the slots to the window. The
/// sender delivers a request itself when it may arrive at once; a request with a random delay is
/// delivered by whoever iterates `responses` once its arrival time has come, and that same
/// iterator waits on the clock for the oldest slot's answer, its reply delay, or its deadline.
/// All of it therefore runs inside the callers' own tasks, on their preferred executors, which is
/// what lets the simulator replay it exactly.
final class InmemTransportPipelineCore: Sendable {
    /// How many requests may be sent and not yet read from `responses` (hashicorp/raft's
    /// in-memory pipeline buffers 16).
    static let window = 16

    let target: ServerAddress
    private let local: ServerAddress
    private let peer: InmemTransportInbox
    private let faults: InmemFaults?
    private let clock: any RaftClock
    private let timeout: Duration
    private let maxMessageSize: Int?
    private let state = Mutex(State())

    private struct Slot {
        let number: UInt64
        let request: AppendEntriesRequest
        let deadline: Duration
        /// When the request reaches the peer; nil if it is lost.
        let arrival: Duration?
        var delivered = false
        var answer: Result<AppendEntriesResponse, any Error>?
        /// When ``answer`` has travelled back and may be read.
        var visibleAt: Duration = .zero
    }

    private struct State {
        var slots: Deque<Slot> = []
        var nextNumber: UInt64 = 0
        /// The latest arrival scheduled so far: no request may overtake an earlier one.
        var lastArrival: Duration = .zero
        /// A request was lost. A connection delivers nothing after a missing segment, so every
        /// later request is lost with it.
        var requestsStalled = false
        /// An answer was lost; later answers are stuck behind it for the same reason.
        var repliesStalled = false
        /// Set once the pipeline is closed or broken; no more sends.
        var failure: RaftError?
        /// Bumped on every change a waiting sender or reader might care about.
        var generation: UInt64 = 0
        var waiters: [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextToken: UInt64 = 0
    }

    private enum SendStep {
        case sent(wake: [CheckedContinuation<Void, Never>])
        case full(generation: UInt64)
    }

    private enum ReadStep {
        case result(AppendPipelineResult, wake: [CheckedContinuation<Void, Never>])
        case wait(generation: UInt64, until: Duration?)
        case finished
    }

    init(
        local: ServerAddress,
        target: ServerAddress,
        peer: InmemTransportInbox,
        faults: InmemFaults?,
        clock: any RaftClock,
        timeout: Duration,
        maxMessageSize: Int?
    ) {
        self.maxMessageSize = maxMessageSize
        self.local = local
        self.target = target
        self.peer = peer
        self.faults = faults
        self.clock = clock
        self.timeout = timeout
    }

    // MARK: Sending

    /// Sends `request`, waiting for room in the window first. Throws, without sending, once the
    /// pipeline is closed or broken, or if the caller is cancelled while waiting.
    func send(_ request: AppendEntriesRequest) async throws {
        try InmemTransport.checkSize(of: request, limit: maxMessageSize, to: target)
        while true {
            try Task.checkCancellation()
            let now = clock.now
            let step = try state.withLock { state throws -> SendStep in
                if let failure = state.failure {
                    throw RaftError(.pipelineShutdown, "pipeline to \(target) is closed: \(failure.message)")
                }
                guard state.slots.count < Self.window else { return .full(generation: state.generation) }
                var arrival: Duration?
                if !state.requestsStalled, let travel = InmemTransport.hop(faults, from: local, to: target) {
                    let arriving = max(state.lastArrival, now + travel)
                    state.lastArrival = arriving
                    arrival = arriving
                } else {
                    state.requestsStalled = true
                }
                state.slots.append(
                    Slot(number: state.nextNumber, request: request, deadline: now + timeout, arrival: arrival)
                )
                state.nextNumber += 1
                deliverDue(now: now, &state)
                return .sent(wake: Self.bump(&state))
            }
            switch step {
            case .sent(let wake):
                for waiter in wake { waiter.resume() }
                return
            case .full(let generation):
                await waitForChange(since: generation)
            }
        }
    }

    /// Hands the peer, in order, every request whose arrival time has come. Delivery happens with
    /// the lock held so that two tasks delivering at once cannot swap two requests.
    private func deliverDue(now: Duration, _ state: inout State) {
        for index in state.slots.indices where !state.slots[index].delivered {
            guard let arrival = state.slots[index].arrival else { continue }
            if arrival > now { return }
            let number = state.slots[index].number
            state.slots[index].delivered = true
            let accepted = peer.deliver(.appendEntries(state.slots[index].request)) { [weak self] result in
                self?.answered(number, result)
            }
            if !accepted {
                fail(RaftError(.unreachable, "\(target) closed its transport"), now: now, &state)
                return
            }
        }
    }

    // MARK: Answers

    private func answered(_ number: UInt64, _ result: Result<RPCResponse, any Error>) {
        let now = clock.now
        // The reply's fate is drawn when the peer sends it, whether or not anyone still waits.
        let travel = InmemTransport.hop(faults, from: target, to: local)
        let wake = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let first = state.slots.first?.number, number >= first, number - first < state.slots.count else {
                return []
            }
            let index = Int(number - first)
            guard state.slots[index].answer == nil else { return [] }
            guard !state.repliesStalled, let travel else {
                state.repliesStalled = true
                return []
            }
            state.slots[index].answer = Self.appendEntriesResult(result, from: target)
            state.slots[index].visibleAt = now + travel
            return Self.bump(&state)
        }
        for waiter in wake { waiter.resume() }
    }

    /// The next result in send order, or nil once the pipeline is closed and every result has
    /// been read (or the reading task is cancelled).
    func nextResult() async -> AppendPipelineResult? {
        while !Task.isCancelled {
            let now = clock.now
            let step = state.withLock { state -> ReadStep in
                deliverDue(now: now, &state)
                guard let head = state.slots.first else {
                    return state.failure == nil ? .wait(generation: state.generation, until: nil) : .finished
                }
                if let answer = head.answer, head.visibleAt <= now {
                    state.slots.removeFirst()
                    return .result(AppendPipelineResult(request: head.request, result: answer), wake: Self.bump(&state))
                }
                if head.deadline <= now {
                    state.slots.removeFirst()
                    let timedOut = RaftError(
                        .timeout,
                        "AppendEntries from \(local) to \(target) timed out after \(timeout)"
                    )
                    // Everything behind a lost message is stuck behind it: the connection is dead.
                    fail(RaftError(.timeout, "an earlier AppendEntries to \(target) timed out"), now: now, &state)
                    return .result(
                        AppendPipelineResult(request: head.request, result: .failure(timedOut)),
                        wake: Self.bump(&state)
                    )
                }
                var until = head.deadline
                if head.answer != nil { until = min(until, head.visibleAt) }
                if let arrival = state.slots.first(where: { !$0.delivered && $0.arrival != nil })?.arrival {
                    until = min(until, arrival)
                }
                return .wait(generation: state.generation, until: until)
            }
            switch step {
            case .result(let result, let wake):
                for waiter in wake { waiter.resume() }
                return result
            case .finished:
                return nil
            case .wait(let generation, nil):
                await waitForChange(since: generation)
            case .wait(let generation, let until?):
                // Either something changes or the clock reaches `until`; the loop re-examines
                // the state in both cases, so the timeout is expected and carries no meaning.
                _ = try? await clock.withTimeout(until - now, "pipeline to \(target) idle") {
                    await self.waitForChange(since: generation)
                }
            }
        }
        return nil
    }

    // MARK: Closing

    /// Closes the pipeline: refuses further sends and fails every request whose answer is not
    /// already readable; `responses` hands out those failures, then finishes.
    func shutdown(_ error: RaftError) {
        let now = clock.now
        let wake = state.withLock { state in
            fail(error, now: now, &state)
            return Self.bump(&state)
        }
        for waiter in wake { waiter.resume() }
    }

    private func fail(_ error: RaftError, now: Duration, _ state: inout State) {
        if state.failure == nil { state.failure = error }
        for index in state.slots.indices {
            if state.slots[index].answer != nil && state.slots[index].visibleAt <= now { continue }
            state.slots[index].answer = .failure(error)
            state.slots[index].visibleAt = now
            state.slots[index].delivered = true
        }
    }

    // MARK: Waiting

    private static func bump(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.generation &+= 1
        defer { state.waiters.removeAll() }
        return state.waiters.map(\.continuation)
    }

    /// Returns once the state has changed since `generation` was read, or the task is cancelled.
    private func waitForChange(since generation: UInt64) async {
        let token = state.withLock { state in
            defer { state.nextToken &+= 1 }
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters.append((token, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
    }

    private static func appendEntriesResult(
        _ result: Result<RPCResponse, any Error>,
        from target: ServerAddress
    ) -> Result<AppendEntriesResponse, any Error> {
        switch result {
        case .success(.appendEntries(let response)):
            return .success(response)
        case .success(let other):
            return .failure(RaftError(.corrupt, "AppendEntries was answered with \(other)"))
        case .failure(let error):
            return .failure(InmemTransport.surfaced(error, from: target))
        }
    }
}
