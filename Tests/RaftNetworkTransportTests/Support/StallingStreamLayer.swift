import NIOCore
import RaftNetworkTransport
import Synchronization

/// TCP whose dialed connections to one port can be stalled silently, as a network partition stalls
/// them: no reset, no close, bytes simply stop moving both ways. What a connection was given to send while
/// stalled moves again only when the stall is lifted *and* a further delay has passed, as TCP
/// resends only on its retransmission timer, which backs off to seconds during a partition.
/// Connections opened after the stall is lifted are not affected.
final class StallingStreamLayer: StreamLayer {
    private let tcp = TCPStreamLayer()
    private let state = Mutex(State())

    private struct State {
        var stalledPorts: Set<Int> = []
        /// When connections to a port held by its last stall may move again.
        var releaseAt: [Int: NIODeadline] = [:]
    }

    /// From now on, every connection this layer dialed to `port` stops moving bytes.
    func stall(port: Int) {
        state.withLock {
            $0.stalledPorts.insert(port)
            $0.releaseAt[port] = .distantFuture
        }
    }

    /// Lifts the stall of `port`: new connections work at once; the ones it held move again after
    /// `delay`.
    func lift(port: Int, heldConnectionsResumeAfter delay: TimeAmount) {
        state.withLock {
            $0.stalledPorts.remove(port)
            $0.releaseAt[port] = .now() + delay
        }
    }

    fileprivate func isStalled(_ port: Int) -> Bool { state.withLock { $0.stalledPorts.contains(port) } }
    fileprivate func releaseAt(_ port: Int) -> NIODeadline { state.withLock { $0.releaseAt[port] ?? .distantPast } }

    func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await tcp.listen(host: host, port: port, group: group, childChannelInitializer: childChannelInitializer)
    }

    func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await tcp.dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(StallHandler(layer: self, port: port))
            }.flatMap { channelInitializer(channel) }
        }
    }
}

/// Holds a connection's bytes, both ways, while its layer is stalled, and lets them go, in order,
/// once the layer's release time has passed.
private final class StallHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let layer: StallingStreamLayer
    private let port: Int
    private var held = false
    private var heldWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var heldReads: [ByteBuffer] = []
    private var check: Scheduled<Void>?

    init(layer: StallingStreamLayer, port: Int) {
        self.layer = layer
        self.port = port
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if layer.isStalled(port) { hold(context) }
        if held {
            heldWrites.append((unwrapOutboundIn(data), nil))
            promise?.succeed()  // taken by the socket, as a send buffer would
        } else {
            context.write(data, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if !held { context.flush() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if layer.isStalled(port) { hold(context) }
        if held {
            heldReads.append(unwrapInboundIn(data))
        } else {
            context.fireChannelRead(data)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
    }

    private func hold(_ context: ChannelHandlerContext) {
        guard !held else { return }
        held = true
        scheduleCheck(context)
    }

    private func scheduleCheck(_ context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: .milliseconds(10)) {
            let (handler, context) = bound.value
            handler.releaseIfDue(context)
        }
    }

    private func releaseIfDue(_ context: ChannelHandlerContext) {
        guard !layer.isStalled(port), NIODeadline.now() >= layer.releaseAt(port) else {
            scheduleCheck(context)
            return
        }
        held = false
        for (buffer, promise) in heldWrites { context.write(wrapOutboundOut(buffer), promise: promise) }
        heldWrites = []
        context.flush()
        for buffer in heldReads { context.fireChannelRead(wrapInboundOut(buffer)) }
        heldReads = []
        context.fireChannelReadComplete()
    }
}
