import DequeModule
import NIOCore
import Synchronization
import SwiftRaft

/// The state a pipeline's senders, its reader and its connection's event loop share: the window,
/// the requests encoded but not yet written, and the answers not yet read.
///
/// A request holds a window slot from the moment it is admitted until its answer is read from
/// `responses`, so back-pressure reaches through to whoever reads the answers, as with
/// hashicorp/raft's bounded channels. Senders hand their encoded requests to an outbox; the first
/// to find it empty asks the event loop to drain it, so a burst of sends becomes one event-loop
/// task, one batch of writes and one flush.
final class PipelineCore: Sendable {
    /// An admitted request, encoded.
    struct Outgoing: Sendable {
        let request: AppendEntriesRequest
        let bytes: ByteBuffer
    }

    /// What ``admit(_:bytes:)`` decided.
    enum Admission {
        /// Queued for writing; if `drain`, the caller must ask the event loop to drain.
        case admitted(drain: Bool)
        /// The window is full; wait for a change after `generation`.
        case full(generation: UInt64)
    }

    private enum ReadStep {
        case result(AppendPipelineResult, wake: [CheckedContinuation<Void, Never>])
        case finished
        case wait
        case waitAndWake([CheckedContinuation<Void, Never>])
    }

    private struct State {
        var outbox: [Outgoing] = []
        var drainScheduled = false
        var inWindow = 0
        var bytesInWindow = 0
        var results: Deque<(result: AppendPipelineResult, bytes: Int)> = []
        /// Set once the pipeline is closed or broken: no more sends.
        var failure: RaftError?
        /// No more results will be added.
        var finished = false
        var readers: Deque<(id: UInt64, continuation: CheckedContinuation<AppendPipelineResult?, Never>)> = []
        var senders: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
    }

    let target: ServerAddress
    private let maxCount: Int
    private let maxBytes: Int
    private let state = Mutex(State())

    init(target: ServerAddress, window: Int, windowBytes: Int) {
        self.target = target
        self.maxCount = max(window, 1)
        self.maxBytes = max(windowBytes, 1)
    }

    // MARK: Senders

    /// The error later sends get, if the pipeline is closed or broken.
    var failure: RaftError? { state.withLock { $0.failure } }

    /// Queues `request` if the window has room. A request larger than the byte window alone is
    /// admitted when nothing else is out, so it cannot wait forever.
    func admit(_ request: AppendEntriesRequest, bytes: ByteBuffer) throws(RaftError) -> Admission {
        let size = bytes.readableBytes
        return try state.withLock { state throws(RaftError) -> Admission in
            if let failure = state.failure { throw Self.closedError(target, failure) }
            let fits = state.inWindow == 0 || (state.inWindow < maxCount && state.bytesInWindow + size <= maxBytes)
            guard fits else { return .full(generation: state.generation) }
            state.inWindow += 1
            state.bytesInWindow += size
            state.outbox.append(Outgoing(request: request, bytes: bytes))
            if state.drainScheduled { return .admitted(drain: false) }
            state.drainScheduled = true
            return .admitted(drain: true)
        }
    }

    /// Returns once the window or the failure may have changed since `generation`; throws if the
    /// waiting task is cancelled.
    func waitForRoom(since generation: UInt64) async throws {
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.senders.append((id, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.senders.firstIndex(where: { $0.id == id }) else { return nil }
                return state.senders.remove(at: index).continuation
            }
            waiter?.resume()
        }
        try Task.checkCancellation()
    }

    // MARK: The event loop

    /// Takes every queued request, to be written in this order.
    func takeOutbox() -> [Outgoing] {
        state.withLock { state in
            state.drainScheduled = false
            defer { state.outbox.removeAll(keepingCapacity: true) }
            return state.outbox
        }
    }

    /// Adds the next answers, in send order.
    func deliver(_ results: [(result: AppendPipelineResult, bytes: Int)]) {
        let (woken, senders) = state.withLock {
            state -> ([(CheckedContinuation<AppendPipelineResult?, Never>, AppendPipelineResult)], [CheckedContinuation<Void, Never>]) in
            state.results.append(contentsOf: results)
            var woken: [(CheckedContinuation<AppendPipelineResult?, Never>, AppendPipelineResult)] = []
            var senders: [CheckedContinuation<Void, Never>] = []
            while !state.readers.isEmpty, let next = state.results.popFirst() {
                woken.append((state.readers.removeFirst().continuation, next.result))
                senders += release(next.bytes, &state)
            }
            return (woken, senders)
        }
        for (reader, result) in woken { reader.resume(returning: result) }
        for sender in senders { sender.resume() }
    }

    /// Marks the pipeline broken or closed: later sends throw, and waiting senders wake to throw.
    /// Returns the requests admitted but not yet written, which the caller must answer.
    func fail(_ error: RaftError) -> [Outgoing] {
        let (outgoing, senders) = state.withLock { state -> ([Outgoing], [CheckedContinuation<Void, Never>]) in
            if state.failure == nil { state.failure = error }
            defer { state.outbox.removeAll() }
            state.generation &+= 1
            defer { state.senders.removeAll() }
            return (state.outbox, state.senders.map(\.continuation))
        }
        for sender in senders { sender.resume() }
        return outgoing
    }

    /// Adds the last answers (the failures of everything still out) and ends `responses` after
    /// them.
    func finish(with results: [(result: AppendPipelineResult, bytes: Int)]) {
        let readers = state.withLock { state -> [(CheckedContinuation<AppendPipelineResult?, Never>, AppendPipelineResult?)] in
            state.results.append(contentsOf: results)
            state.finished = true
            var woken: [(CheckedContinuation<AppendPipelineResult?, Never>, AppendPipelineResult?)] = []
            while let reader = state.readers.popFirst() {
                if let next = state.results.popFirst() {
                    _ = release(next.bytes, &state)
                    woken.append((reader.continuation, next.result))
                } else {
                    woken.append((reader.continuation, nil))
                }
            }
            return woken
        }
        for (reader, result) in readers { reader.resume(returning: result) }
    }

    // MARK: The reader

    /// The next answer in send order, or nil once the pipeline has ended and every answer has
    /// been read (or the reading task is cancelled).
    func nextResult() async -> AppendPipelineResult? {
        // Usually an answer is already waiting while Raft reads: no continuation needed then.
        let (first, id) = state.withLock { state -> (ReadStep, UInt64) in
            if let next = state.results.popFirst() {
                return (.result(next.result, wake: release(next.bytes, &state)), 0)
            }
            if state.finished { return (.finished, 0) }
            defer { state.nextID &+= 1 }
            return (.wait, state.nextID)
        }
        switch first {
        case .result(let result, let wake):
            for sender in wake { sender.resume() }
            return result
        case .finished:
            return nil
        case .wait, .waitAndWake:
            break
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<AppendPipelineResult?, Never>) in
                let step = state.withLock { state -> ReadStep in
                    if let next = state.results.popFirst() {
                        return .result(next.result, wake: release(next.bytes, &state))
                    }
                    if state.finished || Task.isCancelled { return .finished }
                    state.readers.append((id, continuation))
                    // Every answer so far is read: whatever room there is, senders may use it.
                    if state.inWindow < maxCount { return .waitAndWake(Self.wakeSenders(&state)) }
                    return .wait
                }
                switch step {
                case .result(let result, let wake):
                    continuation.resume(returning: result)
                    for sender in wake { sender.resume() }
                case .finished:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                case .waitAndWake(let wake):
                    for sender in wake { sender.resume() }
                }
            }
        } onCancel: {
            let reader = state.withLock { state -> CheckedContinuation<AppendPipelineResult?, Never>? in
                guard let index = state.readers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.readers.remove(at: index).continuation
            }
            reader?.resume(returning: nil)
        }
    }

    /// Frees the window slot of an answer just read, and returns the senders to wake: only once
    /// the window has drained to half, so a blocked sender resumes to send a burst rather than
    /// one request per answer (each wake-up of a thread costs about as much as the send itself).
    private func release(_ bytes: Int, _ state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.inWindow -= 1
        state.bytesInWindow -= bytes
        guard state.inWindow <= maxCount / 2, state.bytesInWindow <= maxBytes / 2 else { return [] }
        return Self.wakeSenders(&state)
    }

    /// Wakes every waiting sender to look at the window again.
    private static func wakeSenders(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.generation &+= 1
        guard !state.senders.isEmpty else { return [] }
        defer { state.senders.removeAll(keepingCapacity: true) }
        return state.senders.map(\.continuation)
    }

    static func closedError(_ target: ServerAddress, _ failure: RaftError) -> RaftError {
        RaftError(.pipelineShutdown, "pipeline to \(target) is closed: \(failure.message)")
    }
}
