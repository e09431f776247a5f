import DequeModule
import NIOCore
import SwiftRaft

/// The event-loop side of an AppendEntries pipeline (hashicorp/raft's `netPipeline` with its
/// `decodeResponses` goroutine): writes what senders queued, decodes the answers in order and
/// pairs each with its request, and watches the deadline.
///
/// The deadline is hashicorp's read deadline: the oldest request in flight must be answered
/// within the timeout of the later of its sending and the previous answer. One timer serves
/// the whole pipeline and is rescheduled at most once per timeout, not per request.
///
/// Any failure but a peer's error answer (which fails only its request, the connection staying
/// in step) breaks the pipeline: every request still out is answered with an error, in order,
/// `responses` finishes, later sends throw, and the connection closes.
final class PipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ResponseFrame
    typealias OutboundOut = ByteBuffer

    private struct InFlight {
        let request: AppendEntriesRequest
        let bytes: Int
    }

    private let core: PipelineCore
    private let decoder: WireDecoder
    private let timeout: TimeAmount?
    private var context: ChannelHandlerContext?
    private var inFlight: Deque<InFlight> = []
    /// When the oldest request in flight started waiting: its sending or the previous answer.
    private var lastProgress = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var failed = false
    /// Answers decoded in this read, handed over together at its end: one wake-up of the reader
    /// and one lock per read rather than per answer.
    private var decoded: [(result: AppendPipelineResult, bytes: Int)] = []

    init(core: PipelineCore, timeout: TimeAmount?, limits: WireLimits) {
        self.core = core
        self.timeout = timeout
        self.decoder = WireDecoder(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Sending

    /// Writes every request queued so far, in order, and flushes once.
    func drain() {
        let outgoing = core.takeOutbox()
        guard !outgoing.isEmpty else { return }
        guard let context, !failed else {
            // Admitted in a race with the failure; answered like everything else still out.
            finishFailed(outgoing.map { InFlight(request: $0.request, bytes: $0.bytes.readableBytes) }, core.failure)
            return
        }
        if inFlight.isEmpty { lastProgress = .now() }
        for item in outgoing {
            inFlight.append(InFlight(request: item.request, bytes: item.bytes.readableBytes))
            context.write(wrapOutboundOut(item.bytes), promise: nil)
        }
        context.flush()
        armTimer(context)
    }

    // MARK: Answers

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard let head = inFlight.popFirst() else {
            fail(RaftError(.corrupt, "an answer arrived on the pipeline to \(core.target) with no request out"))
            return
        }
        lastProgress = .now()
        if !frame.error.isEmpty {
            let error = NetworkTransport.remoteError(frame.error, rpc: .appendEntries, target: core.target)
            decoded.append((AppendPipelineResult(request: head.request, result: .failure(error)), head.bytes))
            return
        }
        do {
            guard case .appendEntries(let response) = try decoder.decodeResponse(.appendEntries, from: frame.body) else {
                throw WireError.malformed("an AppendEntries answer decoded as another type")
            }
            decoded.append((AppendPipelineResult(request: head.request, result: .success(response)), head.bytes))
        } catch {
            inFlight.prepend(head)
            fail(RaftError(.corrupt, "malformed AppendEntries answer from \(core.target): \(error)"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliverDecoded()
        context.fireChannelReadComplete()
    }

    private func deliverDecoded() {
        guard !decoded.isEmpty else { return }
        core.deliver(decoded)
        decoded.removeAll(keepingCapacity: true)
    }

    // MARK: Deadline

    private func armTimer(_ context: ChannelHandlerContext) {
        guard let timeout, timer == nil, !inFlight.isEmpty else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastProgress + timeout) {
            self.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        guard let timeout, !failed, !inFlight.isEmpty, let context else { return }
        guard NIODeadline.now() >= lastProgress + timeout else {
            armTimer(context)
            return
        }
        fail(
            RaftError(.timeout, "AppendEntries to \(core.target) timed out after \(timeout)"),
            rest: RaftError(.timeout, "an earlier AppendEntries to \(core.target) timed out")
        )
    }

    // MARK: Failure

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            break  // the connection is ending; channelInactive follows
        case let error as WireError:
            fail(RaftError(.corrupt, "malformed answer on the pipeline to \(core.target): \(error)"))
        default:
            fail(RaftError(.unreachable, "pipeline connection to \(core.target) failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RaftError(.unreachable, "pipeline connection to \(core.target) closed"))
        context.fireChannelInactive()
    }

    /// Breaks the pipeline: the oldest request in flight fails with `error`, the others with
    /// `rest` (or `error`), in order; then `responses` ends and the connection closes.
    func fail(_ error: RaftError, rest: RaftError? = nil) {
        guard !failed else { return }
        failed = true
        timer?.cancel()
        timer = nil
        // Answers already decoded come first: they precede the failures in send order.
        deliverDecoded()
        let unwritten = core.fail(error).map { InFlight(request: $0.request, bytes: $0.bytes.readableBytes) }
        let out = Array(inFlight) + unwritten
        inFlight.removeAll()
        var results: [(result: AppendPipelineResult, bytes: Int)] = []
        results.reserveCapacity(out.count)
        for (index, item) in out.enumerated() {
            let reason = index == 0 ? error : (rest ?? error)
            results.append((AppendPipelineResult(request: item.request, result: .failure(reason)), item.bytes))
        }
        core.finish(with: results)
        context?.close(promise: nil)
    }

    private func finishFailed(_ items: [InFlight], _ failure: RaftError?) {
        let error = failure ?? RaftError(.pipelineShutdown, "pipeline to \(core.target) is closed")
        core.finish(with: items.map { (AppendPipelineResult(request: $0.request, result: .failure(error)), $0.bytes) })
    }
}
