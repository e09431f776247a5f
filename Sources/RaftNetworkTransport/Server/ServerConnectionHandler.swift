import DequeModule
import Logging
import NIOCore
import SwiftRaft

/// Serves one incoming connection: hands each decoded request to the handler Raft installed, as
/// an ``RPC``, and writes the answers back in request order (hashicorp/raft's `handleConn`).
///
/// Unlike hashicorp/raft, which handles one request at a time, it reads ahead: up to
/// ``RPCDispatcher/maxPendingRequests`` requests are handed to Raft before the first is
/// answered, so Raft sees a pipeline's AppendEntries together and can write them to disk at
/// once. Answers that come early wait until those before them are written, since the wire has
/// no other way to match them to requests. When that many wait, when an incoming snapshot's
/// buffer is full, or when the peer is not reading its answers (the channel is not writable),
/// the handler stops the channel's reads, so TCP flow control holds the peer back and memory
/// stays bounded.
///
/// Bare heartbeats go straight to the heartbeat handler if one is installed (hashicorp's fast
/// path), as soon as they are decoded, without waiting for the end of the read.
///
/// A frame that cannot be decoded (unknown type, malformed, too large) ends the connection:
/// answers already owed are written, then it closes without a reply for the bad frame, as
/// hashicorp/raft does. Other connections are not affected.
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = RequestFramePart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A request handed to Raft, and its answer once given.
    private struct Pending {
        let type: RPCType
        var answer: Result<RaftResponse, any Error>?
        /// The data of an InstallSnapshot, dropped once Raft has answered.
        let snapshot: IncomingSnapshotData?
    }

    private let dispatcher: RPCDispatcher
    private let encoder = WireEncoder()
    private var context: ChannelHandlerContext?
    private var inbox: AnswerInbox?
    private var peer = "unknown peer"

    /// Requests handed to Raft whose answers are not yet written, oldest first.
    private var pending: Deque<Pending> = []
    /// The sequence number of `pending.first`.
    private var firstSequence: UInt64 = 0

    /// The snapshot whose data is arriving now, and its number.
    private var snapshot: IncomingSnapshotData?
    private var snapshotNumber = 0
    private var snapshotPaused = false

    /// A read was asked for while reading was paused.
    private var readPending = false
    /// A bad frame arrived: nothing more is read or dispatched, and the connection closes once
    /// the answers already owed are written.
    private var closing = false
    private var flushScheduled = false
    /// RPCs decoded in this read, handed to Raft's handler together at its end: Raft's node
    /// then wakes once per read and finds all of them queued, rather than waking for the first
    /// and racing the loop for each of the others.
    private var decoded: [RPC] = []

    init(dispatcher: RPCDispatcher) {
        self.dispatcher = dispatcher
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        inbox = AnswerInbox(handler: NIOLoopBound(self, eventLoop: context.eventLoop), eventLoop: context.eventLoop)
        if let address = context.channel.remoteAddress { peer = HostAndPort(address)?.description ?? "\(address)" }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        inbox?.close()
        inbox = nil
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .request(let request):
            dispatch(request, context: context)
        case .snapshotData(let bytes):
            if let snapshot, snapshot.append(bytes) { snapshotPaused = true }
        case .snapshotEnd:
            snapshot?.finish()
            snapshot = nil
            snapshotPaused = false
            resumeReadingIfAllowed(context)
        }
    }

    private func dispatch(_ request: RaftRequest, context: ChannelHandlerContext) {
        guard let inbox else { return }
        let sequence = firstSequence &+ UInt64(pending.count)
        let eventLoop = context.eventLoop
        let respond: @Sendable (Result<RaftResponse, any Error>) -> Void = { result in inbox.add(sequence, result) }
        switch request {
        case .appendEntries(let message):
            pending.append(Pending(type: .appendEntries, snapshot: nil))
            let rpc = RPC(request: request, responder: respond)
            // hashicorp's fast-path shape: a bare heartbeat naming its leader (newest: Addr, else
            // Leader). Appended to `pending` first, since the handler may answer synchronously.
            if message.isHeartbeat, !message.header.address.rawValue.isEmpty || !message.leader.rawValue.isEmpty,
                let heartbeat = dispatcher.heartbeat
            {
                heartbeat(rpc)
            } else {
                decoded.append(rpc)
            }
        case .requestVote, .requestPreVote, .timeoutNow, .readIndex:
            pending.append(Pending(type: request.type, snapshot: nil))
            decoded.append(RPC(request: request, responder: respond))
        case .installSnapshot(let message):
            snapshotNumber += 1
            let number = snapshotNumber
            let data = IncomingSnapshotData(
                size: message.size,
                highWatermark: dispatcher.snapshotBufferSize,
                eventLoop: eventLoop,
                resumeReading: { [handler = NIOLoopBound(self, eventLoop: eventLoop)] in
                    eventLoop.execute { handler.value.snapshotDrained(number) }
                }
            )
            snapshot = data
            pending.append(Pending(type: .installSnapshot, snapshot: data))
            decoded.append(RPC(request: request, snapshotData: data, responder: respond))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !decoded.isEmpty {
            for rpc in decoded { dispatcher.deliver(rpc) }
            decoded.removeAll(keepingCapacity: true)
        }
        context.fireChannelReadComplete()
    }

    private func snapshotDrained(_ number: Int) {
        guard number == snapshotNumber, let context else { return }
        snapshotPaused = false
        resumeReadingIfAllowed(context)
    }

    // MARK: Answers

    /// Records the answers waiting in the inbox and writes every answer now in order.
    func takeAnswers() {
        guard let inbox else { return }
        let answers = inbox.take()
        guard let context else { return }
        var headAnswered = false
        for (sequence, result) in answers {
            headAnswered = record(sequence, result) || headAnswered
        }
        if headAnswered { writeAnswers(context) }
    }

    /// Records Raft's answer to request `sequence` and writes every answer now in order.
    func answer(_ sequence: UInt64, _ result: Result<RaftResponse, any Error>) {
        guard let context else { return }
        if record(sequence, result) { writeAnswers(context) }
    }

    /// Records an answer; returns whether it answers the oldest request, so answers can go out.
    private func record(_ sequence: UInt64, _ result: Result<RaftResponse, any Error>) -> Bool {
        guard sequence >= firstSequence else { return false }
        let index = Int(sequence - firstSequence)
        guard index < pending.count, pending[index].answer == nil else { return false }
        pending[index].answer = result
        // Raft is done with the snapshot: the rest of its data is read and dropped.
        pending[index].snapshot?.close()
        return index == 0
    }

    private func writeAnswers(_ context: ChannelHandlerContext) {
        var buffer: ByteBuffer?
        while let first = pending.first, let answer = first.answer {
            pending.removeFirst()
            firstSequence &+= 1
            if buffer == nil { buffer = context.channel.allocator.buffer(capacity: 128) }
            encode(answer, to: first.type, into: &buffer!)
        }
        guard let buffer else { return }
        if closing && pending.isEmpty {
            context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        scheduleFlush(context)
        resumeReadingIfAllowed(context)
    }

    private func encode(_ answer: Result<RaftResponse, any Error>, to type: RPCType, into buffer: inout ByteBuffer) {
        switch answer {
        case .success(let response):
            if response.type == type {
                encoder.encodeResponse(response, into: &buffer)
            } else {
                dispatcher.logger.error("a \(type) request from \(peer) was answered with a \(response.type) response")
                encoder.encodeError("unexpected response type \(response.type) to \(type)", into: &buffer)
            }
        case .failure(let error):
            encoder.encodeError(NetworkTransport.wireText(of: error), into: &buffer)
        }
    }

    /// Flushes once the event loop has run what is already queued, so answers Raft gives in one
    /// go leave in one write, without waiting any longer than that.
    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    // MARK: Reading back-pressure

    func read(context: ChannelHandlerContext) {
        if mayRead(context) {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfAllowed(context)
        context.fireChannelWritabilityChanged()
    }

    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        !closing && !snapshotPaused && pending.count < dispatcher.maxPendingRequests && context.channel.isWritable
    }

    private func resumeReadingIfAllowed(_ context: ChannelHandlerContext) {
        guard readPending, mayRead(context) else { return }
        readPending = false
        context.read()
    }

    // MARK: The end

    func channelInactive(context: ChannelHandlerContext) {
        if let snapshot {
            snapshot.fail(
                RaftError(
                    .unreachable,
                    "connection from \(peer) closed after \(snapshot.receivedCount) of \(snapshot.size) snapshot bytes"
                )
            )
            self.snapshot = nil
        }
        // Answers Raft gives from now on have nowhere to go.
        pending.removeAll()
        decoded.removeAll()
        inbox?.close()
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        switch error {
        case let error as WireError:
            dispatcher.logger.warning(
                "closing connection: \(error)",
                metadata: ["raft.peer": "\(peer)"]
            )
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            dispatcher.logger.debug("connection closed in the middle of a request", metadata: ["raft.peer": "\(peer)"])
        case is IOError, is ChannelError:
            dispatcher.logger.debug("connection failed: \(error)", metadata: ["raft.peer": "\(peer)"])
        default:
            dispatcher.logger.warning("closing connection: \(error)", metadata: ["raft.peer": "\(peer)"])
        }
        closing = true
        if pending.isEmpty {
            context.close(promise: nil)
        } else if !context.channel.isActive {
            pending.removeAll()
        }
    }
}
