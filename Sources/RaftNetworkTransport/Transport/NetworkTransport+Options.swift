public import Logging
public import NIOCore
public import NIOPosix

private let sharedTransportEventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

extension NetworkTransport {
    /// The event loop every ``NetworkTransport`` uses unless told otherwise: one thread, shared
    /// by the whole process and never shut down. One thread keeps a request on one thread from
    /// decoding to answer, without cross-core wake-ups, which on small machines cost about as
    /// much as the work itself.
    public static var sharedEventLoopGroup: any EventLoopGroup { sharedTransportEventLoopGroup }

    /// How a ``NetworkTransport`` behaves; every default is hashicorp/raft's where it has one.
    public struct Options: Sendable {
        /// How many idle connections to keep per peer for later calls (hashicorp's `maxPool`).
        /// Concurrent calls open as many connections as they need; beyond this many, a
        /// connection is closed once its call is done.
        public var maxPool: Int
        /// How long a connection may sit idle in the pool and still be reused; an older one is
        /// closed and the call dials afresh. nil: no bound (hashicorp/raft has none). Default
        /// 5 s.
        ///
        /// A leader talks to each follower at least every heartbeat interval (a fraction of a
        /// second), so its connections never idle that long while the network works. One that
        /// did sat through a partition, a peer's restart or an election, and may be dead without
        /// this side knowing: the reset was lost, or a firewall or NAT forgot the connection.
        /// Reusing it costs a whole request timeout if it is; dialing costs one round trip. A
        /// few seconds is far above any heartbeat interval and far below the minutes after which
        /// middleboxes drop idle connections.
        public var maxIdleTime: Duration?
        /// For a pipeline, the longest wait for the next answer (hashicorp's read deadline); also
        /// the dial timeout unless ``connectTimeout`` is set. Zero or less means no limit.
        /// hashicorp/raft's default is 10 s. Calls made with
        /// `Transport.send(_:to:timeout:completion:)` and InstallSnapshot carry
        /// their own timeout; the `async` conveniences pass
        /// `Transport.defaultCallTimeout`.
        public var timeout: Duration
        /// How long dialing a peer may take; nil means ``timeout`` (as hashicorp/raft), and so
        /// does anything not positive when ``timeout`` is. A refused connection fails at once
        /// either way; this bounds only a peer that does not answer at all.
        public var connectTimeout: Duration?
        /// For ``installSnapshotTimeout(size:)``: InstallSnapshot may take ``timeout`` once per
        /// this many bytes of snapshot, and at least ``timeout`` (hashicorp's `TimeoutScale`,
        /// 256 KiB).
        public var timeoutScale: Int64
        /// The largest request or response accepted from a peer, snapshot data excepted; a
        /// larger one closes the connection. hashicorp/raft has no limit; this bounds the memory
        /// a peer can make this process spend. Default 64 MiB.
        ///
        /// It is also this transport's ``maxMessageSize``: it refuses to send a frame larger
        /// than this, and Raft keeps every command below it (`Raft.maxCommandSize`)
        /// and cuts its batches to fit, on the assumption that every peer uses the same limit.
        public var maxFrameSize: Int
        /// How many AppendEntries a pipeline writes to its connection without an answer
        /// (hashicorp/raft 1.1.2 keeps about 128 in flight). Beyond that, requests wait in the
        /// pipeline, in order, and go out as answers come back; the sender never waits. Raft
        /// bounds its own in-flight requests (`Config.maxInflightAppends`), so with a window at
        /// least that large none ever waits.
        public var pipelineWindow: Int
        /// How many encoded bytes of AppendEntries a pipeline may have written without an
        /// answer, as for ``pipelineWindow``. A single request larger than this is still sent,
        /// alone.
        public var pipelineWindowBytes: Int
        /// How many requests on one incoming connection are handed to Raft before the first of
        /// them is answered. Answers still go out in request order; reading ahead lets Raft see
        /// a pipeline's batches together and write them to disk at once. When this many wait,
        /// the connection stops being read until one is answered. 1 is hashicorp's strictly
        /// sequential server.
        public var maxPendingRequestsPerConnection: Int
        /// How many bytes of an incoming snapshot may wait for Raft to read them; beyond this
        /// the connection stops being read until Raft catches up, so a snapshot of any size
        /// streams through in bounded memory.
        public var snapshotBufferSize: Int
        /// The size of the pieces an outgoing snapshot is read and sent in.
        public var snapshotChunkSize: Int
        /// The event loops connections run on. The default is one thread shared by every
        /// transport of the process; a group of more threads spreads connections over them.
        public var eventLoopGroup: any EventLoopGroup
        /// Where blocking reads of an outgoing snapshot's data run, off the event loop.
        public var blockingPool: NIOThreadPool
        /// How connections are opened; TLS would plug in here.
        public var streamLayer: any StreamLayer
        /// Where connection problems (a malformed frame, an unknown RPC type) are reported.
        public var logger: Logger

        /// Creates options; see each property for its meaning.
        public init(
            maxPool: Int = 3,
            maxIdleTime: Duration? = .seconds(5),
            timeout: Duration = .seconds(10),
            connectTimeout: Duration? = nil,
            timeoutScale: Int64 = 256 << 10,
            maxFrameSize: Int = 64 << 20,
            pipelineWindow: Int = 128,
            pipelineWindowBytes: Int = 8 << 20,
            maxPendingRequestsPerConnection: Int = 128,
            snapshotBufferSize: Int = 1 << 20,
            snapshotChunkSize: Int = 256 << 10,
            eventLoopGroup: any EventLoopGroup = NetworkTransport.sharedEventLoopGroup,
            blockingPool: NIOThreadPool = .singleton,
            streamLayer: any StreamLayer = TCPStreamLayer(),
            logger: Logger = Logger(label: "swift-raft.network-transport")
        ) {
            self.maxPool = maxPool
            self.maxIdleTime = maxIdleTime
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.timeoutScale = timeoutScale
            self.maxFrameSize = maxFrameSize
            self.pipelineWindow = pipelineWindow
            self.pipelineWindowBytes = pipelineWindowBytes
            self.maxPendingRequestsPerConnection = maxPendingRequestsPerConnection
            self.snapshotBufferSize = snapshotBufferSize
            self.snapshotChunkSize = snapshotChunkSize
            self.eventLoopGroup = eventLoopGroup
            self.blockingPool = blockingPool
            self.streamLayer = streamLayer
            self.logger = logger
        }

        /// hashicorp/raft's deadline for an InstallSnapshot of `size` bytes, for a caller to pass
        /// to ``NetworkTransport/installSnapshot(_:data:to:timeout:)``: ``timeout`` once per
        /// ``timeoutScale`` bytes (integer division, as hashicorp/raft), never less than
        /// ``timeout``; nil when ``timeout`` means no limit.
        public func installSnapshotTimeout(size: Int64) -> Duration? {
            guard timeout > .zero else { return nil }
            let scale = max(timeoutScale, 1)
            // Capped so no snapshot size overflows the deadline's arithmetic: a year is never.
            let multiple = min(max(size / scale, 1), 1 << 20)
            return min(timeout * multiple, .seconds(365 * 24 * 3600))
        }
    }
}

extension NetworkTransport.Options {
    /// The dial timeout NIO gets: ``connectTimeout``, else ``timeout``, else NIO's usual 10 s.
    var dialTimeout: TimeAmount {
        connectTimeout?.timeLimit ?? timeout.timeLimit ?? .seconds(10)
    }
}

extension Duration {
    /// This duration as NIO's `TimeAmount`, or nil for "no limit" (zero or less).
    var timeLimit: TimeAmount? {
        self > .zero ? TimeAmount(self) : nil
    }
}
