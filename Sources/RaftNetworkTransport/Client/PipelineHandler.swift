import DequeModule
import NIOCore
import SwiftRaft

/// The event-loop side of an AppendEntries pipeline (hashicorp/raft's `netPipeline` with its
/// `decodeResponses` goroutine): writes what senders queued, within the window, decodes the
/// answers in order and hands each to its request's completion, and watches the deadline.
///
/// The window (``NetworkTransport/Options/pipelineWindow`` requests and
/// ``NetworkTransport/Options/pipelineWindowBytes`` bytes written and not yet answered) never
/// makes a sender wait: requests beyond it wait here, in order, and go out as answers free room.
/// Raft bounds what it has in flight itself, so they rarely do.
///
/// The deadline is hashicorp's read deadline: the oldest request written must be answered
/// within the timeout of the later of its writing and the previous answer. One timer serves the
/// whole pipeline and is rescheduled at most once per timeout, not per request.
///
/// Any failure but a peer's error answer (which fails only its request, the connection staying
/// in step) breaks the pipeline: every request still out or queued fails, in order, later ones
/// fail too, and the connection closes.
final class PipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ResponseFrame
    typealias OutboundOut = ByteBuffer

    /// A request written and not yet answered, or one refused that waits for those before it
    /// to be answered, so its completion keeps its place in send order.
    private struct InFlight {
        let completion: @Sendable (Result<AppendEntriesResponse, any Error>) -> Void
        /// Its frame's size; 0 when refused.
        let bytes: Int
        /// Why it was not sent, if it was not.
        let refusal: RaftError?
    }

    private let pipeline: NetworkPipeline
    private let decoder: WireDecoder
    private let timeout: TimeAmount?
    private let maxCount: Int
    private let maxBytes: Int
    private var context: ChannelHandlerContext?
    /// Written (or refused behind written ones), oldest first. Its head is always a written
    /// request: refused ones at the head are completed at once.
    private var inFlight: Deque<InFlight> = []
    /// Given to the pipeline but not yet written: the connection is not up yet, or the window
    /// is full.
    private var waiting: Deque<PipelineItem> = []
    /// How many requests, and bytes, are written and not answered.
    private var sentCount = 0
    private var sentBytes = 0
    /// When the oldest request in flight started waiting: its writing or the previous answer.
    private var lastProgress = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var failed: Bool { failure != nil }
    /// Why the pipeline broke or closed, once it has.
    private var failure: RaftError?
    /// Requests were written in this read and not yet flushed.
    private var flushPending = false

    init(pipeline: NetworkPipeline, timeout: TimeAmount?, limits: WireLimits, window: Int, windowBytes: Int) {
        self.pipeline = pipeline
        self.timeout = timeout
        self.decoder = WireDecoder(limits: limits)
        self.maxCount = max(window, 1)
        self.maxBytes = max(windowBytes, 1)
    }

    private var target: ServerAddress { pipeline.target }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { drain() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        drain()
        context.fireChannelActive()
    }

    // MARK: Sending

    /// Takes what senders queued and writes as much as the window allows, flushing once.
    func drain() {
        let items = pipeline.takeOutbox()
        if let failure {
            // Queued in a race with the failure; answered like everything else after it.
            for item in items { item.fail(NetworkPipeline.closedError(target, failure)) }
            return
        }
        waiting.append(contentsOf: items)
        if write() { flush() }
    }

    /// Writes waiting requests while the window has room; returns whether it wrote any. A
    /// request larger than the byte window alone still goes, alone.
    private func write() -> Bool {
        guard let context, context.channel.isActive, !failed else { return false }
        var wrote = false
        while let next = waiting.first {
            switch next.payload {
            case .refused(let error):
                waiting.removeFirst()
                if inFlight.isEmpty {
                    next.completion(.failure(error))
                } else {
                    inFlight.append(InFlight(completion: next.completion, bytes: 0, refusal: error))
                }
            case .frame(let bytes):
                let size = bytes.readableBytes
                guard sentCount == 0 || (sentCount < maxCount && sentBytes + size <= maxBytes) else { return wrote }
                waiting.removeFirst()
                if sentCount == 0 { lastProgress = .now() }
                inFlight.append(InFlight(completion: next.completion, bytes: size, refusal: nil))
                sentCount += 1
                sentBytes += size
                context.write(wrapOutboundOut(bytes), promise: nil)
                wrote = true
            }
        }
        return wrote
    }

    private func flush() {
        guard let context else { return }
        context.flush()
        armTimer(context)
    }

    /// How many requests are written without an answer, and how many wait to be written.
    var counts: (Int, Int) { (sentCount, waiting.count) }

    // MARK: Answers

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard let head = inFlight.first, head.refusal == nil else {
            fail(RaftError(.corrupt, "an answer arrived on the pipeline to \(target) with no request out"))
            return
        }
        let result: Result<AppendEntriesResponse, any Error>
        if !frame.error.isEmpty {
            result = .failure(NetworkTransport.remoteError(frame.error, rpc: .appendEntries, target: target))
        } else {
            do {
                guard case .appendEntries(let response) = try decoder.decodeResponse(.appendEntries, from: frame.body) else {
                    throw WireError.malformed("an AppendEntries answer decoded as another type")
                }
                result = .success(response)
            } catch {
                fail(RaftError(.corrupt, "malformed AppendEntries answer from \(target): \(error)"))
                return
            }
        }
        inFlight.removeFirst()
        sentCount -= 1
        sentBytes -= head.bytes
        lastProgress = .now()
        head.completion(result)
        completeRefusedAtHead()
        // Room in the window: what waits goes out, flushed at the end of the read.
        if !waiting.isEmpty, write() { flushPending = true }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if flushPending {
            flushPending = false
            flush()
        }
        context.fireChannelReadComplete()
    }

    /// Completes refused requests that no written one precedes any more.
    private func completeRefusedAtHead() {
        while let head = inFlight.first, let refusal = head.refusal {
            inFlight.removeFirst()
            head.completion(.failure(refusal))
        }
    }

    // MARK: Deadline

    private func armTimer(_ context: ChannelHandlerContext) {
        guard let timeout, timer == nil, sentCount > 0 else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastProgress + timeout) {
            self.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        guard let timeout, !failed, sentCount > 0, let context else { return }
        guard NIODeadline.now() >= lastProgress + timeout else {
            armTimer(context)
            return
        }
        fail(
            RaftError(.timeout, "AppendEntries to \(target) timed out after \(timeout)"),
            rest: RaftError(.timeout, "an earlier AppendEntries to \(target) timed out")
        )
    }

    // MARK: Failure

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            break  // the connection is ending; channelInactive follows
        case let error as WireError:
            fail(RaftError(.corrupt, "malformed answer on the pipeline to \(target): \(error)"))
        default:
            fail(RaftError(.unreachable, "pipeline connection to \(target) failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RaftError(.unreachable, "pipeline connection to \(target) closed"))
        context.fireChannelInactive()
    }

    /// Breaks the pipeline: the oldest request out fails with `error`, every other one written
    /// or waiting with `rest` (or `error`), in order, refused ones with their refusal; later
    /// requests fail too, and the connection closes.
    func fail(_ error: RaftError, rest: RaftError? = nil) {
        guard !failed else { return }
        failure = error
        timer?.cancel()
        timer = nil
        let out = inFlight
        let queued = Array(waiting) + pipeline.markFailed(error)
        inFlight.removeAll()
        waiting.removeAll()
        sentCount = 0
        sentBytes = 0
        var first = true
        for item in out {
            if let refusal = item.refusal {
                item.completion(.failure(refusal))
            } else {
                item.completion(.failure(first ? error : (rest ?? error)))
                first = false
            }
        }
        for item in queued {
            item.fail(first ? error : (rest ?? error))
            if case .frame = item.payload { first = false }
        }
        context?.close(promise: nil)
    }
}
