import NIOCore
import Synchronization
import SwiftRaft

/// One AppendEntries given to a pipeline, in send order: its encoded frame (or why it will not
/// be sent), and its completion.
struct PipelineItem: Sendable {
    enum Payload: Sendable {
        /// The request frame to write.
        case frame(ByteBuffer)
        /// Not to be sent (it encodes past the frame limit): it fails alone, in its turn.
        case refused(RaftError)
    }

    let payload: Payload
    let completion: @Sendable (Result<AppendEntriesResponse, any Error>) -> Void
}

/// AppendEntries to one follower over a connection of its own, without waiting for each answer
/// (hashicorp/raft's `netPipeline`).
///
/// ``appendEntries(_:completion:)`` never waits: it encodes the request on the caller's thread
/// (keeping that work off the event loop) and queues it in an outbox; the first request into an
/// empty outbox asks the event loop to drain it, so a burst of sends becomes one event-loop
/// task, one batch of writes and one flush. Everything after that happens on the pipeline's
/// event loop, in ``PipelineHandler``: writing, pairing each answer with its request, the
/// deadline, and calling the completions, in send order, each exactly once.
///
/// The pipeline exists before its connection does: ``NetworkTransport/appendEntriesPipeline(to:)``
/// returns at once and dials in the background. Requests sent meanwhile wait in the outbox and
/// are written once connected, or fail, in order, if dialing fails.
final class NetworkPipeline: AppendPipeline {
    let target: ServerAddress
    /// The loop the connection is dialed on, and every completion is called on.
    let eventLoop: any EventLoop
    private let maxFrameSize: Int
    private let allocator = ByteBufferAllocator()
    /// Sends are normally made one at a time by one thread, so this lock is uncontended; it only
    /// keeps concurrent senders from sharing the encoder's buffer.
    private let encoder = Mutex(WireEncoder())
    private let shared = Mutex(Shared())
    /// Called once the pipeline has ended, to forget it.
    private let onEnd: @Sendable (NetworkPipeline) -> Void

    private enum Phase {
        /// Dialing; no handler yet.
        case connecting
        /// The connection's handler exists (it writes once the connection is active).
        case ready(NIOLoopBound<PipelineHandler>)
        /// Closed or broken: every later request fails with this.
        case failed(RaftError)
    }

    private struct Shared {
        var phase = Phase.connecting
        var outbox: [PipelineItem] = []
        var drainScheduled = false
    }

    init(target: ServerAddress, eventLoop: any EventLoop, maxFrameSize: Int, onEnd: @escaping @Sendable (NetworkPipeline) -> Void) {
        self.target = target
        self.eventLoop = eventLoop
        self.maxFrameSize = maxFrameSize
        self.onEnd = onEnd
    }

    // MARK: AppendPipeline

    func appendEntries(
        _ request: AppendEntriesRequest,
        completion: @escaping @Sendable (Result<AppendEntriesResponse, any Error>) -> Void
    ) {
        // Empty: the encoder sizes it exactly once, when it copies the frame in.
        var bytes = allocator.buffer(capacity: 0)
        encoder.withLock { encoder in encoder.encodeRequest(.appendEntries(request), into: &bytes) }
        let item: PipelineItem
        if bytes.readableBytes <= maxFrameSize {
            item = PipelineItem(payload: .frame(bytes), completion: completion)
        } else {
            // Not sent, so the pipeline stays in step: only this request fails.
            let error = NetworkTransport.tooLarge(.appendEntries, size: bytes.readableBytes, limit: maxFrameSize, target: target)
            item = PipelineItem(payload: .refused(error), completion: completion)
        }
        let schedule = shared.withLock { shared in
            shared.outbox.append(item)
            if case .connecting = shared.phase { return false }  // drained once connected
            if shared.drainScheduled { return false }
            shared.drainScheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.drain() } }
    }

    func close() {
        shutdown(RaftError(.pipelineShutdown, "pipeline to \(target) closed"))
    }

    // MARK: The transport's side

    /// Fails what is in flight and queued with `error`, and closes the connection. Any thread.
    func shutdown(_ error: RaftError) {
        eventLoop.execute { self.end(error) }
    }

    /// Sets the connection's handler up: called on the event loop by the channel initializer.
    /// Throws if the pipeline ended while dialing, so the new connection is closed at once.
    func makeHandler(timeout: TimeAmount?, limits: WireLimits, window: Int, windowBytes: Int) throws -> PipelineHandler {
        let handler = PipelineHandler(pipeline: self, timeout: timeout, limits: limits, window: window, windowBytes: windowBytes)
        let bound = NIOLoopBound(handler, eventLoop: eventLoop)
        try shared.withLock { shared throws(RaftError) in
            if case .failed(let error) = shared.phase { throw error }
            shared.phase = .ready(bound)
        }
        return handler
    }

    /// Dialing failed: every request so far fails with `error`, and so will later ones.
    func connectFailed(_ error: RaftError) {
        eventLoop.execute { self.end(error) }
    }

    // MARK: The event loop

    /// Hands the outbox to the handler, or, once the pipeline has ended, fails what is in it.
    private func drain() {
        let (phase, items) = shared.withLock { shared -> (Phase, [PipelineItem]) in
            shared.drainScheduled = false
            if case .ready = shared.phase { return (shared.phase, []) }  // the handler takes them
            defer { shared.outbox.removeAll() }
            return (shared.phase, shared.outbox)
        }
        switch phase {
        case .ready(let handler):
            handler.value.drain()
        case .failed(let error):
            let closed = Self.closedError(target, error)
            for item in items { item.fail(closed) }
        case .connecting:
            break
        }
    }

    /// Takes every queued request, to be written in this order. Event loop only.
    func takeOutbox() -> [PipelineItem] {
        shared.withLock { shared in
            shared.drainScheduled = false
            defer { shared.outbox.removeAll(keepingCapacity: true) }
            return shared.outbox
        }
    }

    /// Marks the pipeline ended with `error` and returns the requests still queued, which the
    /// caller fails. Event loop only. Later requests fail through ``drain()``, behind these.
    func markFailed(_ error: RaftError) -> [PipelineItem] {
        let items = shared.withLock { shared -> [PipelineItem]? in
            if case .failed = shared.phase { return nil }
            shared.phase = .failed(error)
            defer { shared.outbox.removeAll() }
            return shared.outbox
        }
        guard let items else { return [] }
        onEnd(self)
        return items
    }

    /// Ends the pipeline with `error`, through its handler if it has one. Event loop only.
    private func end(_ error: RaftError) {
        let handler = shared.withLock { shared -> NIOLoopBound<PipelineHandler>? in
            if case .ready(let handler) = shared.phase { return handler }
            return nil
        }
        if let handler {
            handler.value.fail(error)
        } else {
            for item in markFailed(error) { item.fail(error) }
        }
    }

    /// For tests: how many requests are written without an answer, and how many wait to be
    /// written (queued before the connection is up, or beyond the window). Event loop only.
    var counts: (Int, Int) {
        let (phase, queued) = shared.withLock { ($0.phase, $0.outbox.count) }
        guard case .ready(let handler) = phase else { return (0, queued) }
        let (written, waiting) = handler.value.counts
        return (written, waiting + queued)
    }

    /// The error a request gets once the pipeline has ended.
    static func closedError(_ target: ServerAddress, _ failure: RaftError) -> RaftError {
        return RaftError(.pipelineShutdown, "pipeline to \(target) is closed: \(failure.message)")
    }
}

extension PipelineItem {
    /// Fails the request: with its own refusal if it was never to be sent, else with `error`.
    func fail(_ error: RaftError) {
        switch payload {
        case .refused(let refusal): completion(.failure(refusal))
        case .frame: completion(.failure(error))
        }
    }
}
