import NIOCore
import RaftNetworkTransport
import Synchronization

/// Bytes received, added up across every connection of one listener.
final class ByteCount: Sendable {
    private let total = Atomic<Int>(0)

    var value: Int { total.load(ordering: .relaxed) }

    func add(_ bytes: Int) { total.add(bytes, ordering: .relaxed) }
}

/// Plain TCP whose accepted connections count the bytes they receive.
///
/// Used only on a calibration transport, never in a measured run: the request's size on the
/// wire is measured rather than recomputed from the encoding rules, so it stays right if the
/// encoder changes (the Swift transport sends the newest hashicorp/raft format, which has more
/// fields than 1.1.2's, so the anchor's `wire_bytes_per_rpc` does not apply to it).
struct CountingStreamLayer: StreamLayer {
    let received: ByteCount
    private let tcp = TCPStreamLayer()

    init(received: ByteCount) {
        self.received = received
    }

    func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        let received = self.received
        return try await tcp.listen(host: host, port: port, group: group) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteCounter(received))
            }.flatMap { childChannelInitializer(channel) }
        }
    }

    func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await tcp.dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop, channelInitializer: channelInitializer)
    }
}

/// Counts the bytes passing in and hands them on unchanged.
private final class ByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let received: ByteCount

    init(_ received: ByteCount) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.add(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }
}
