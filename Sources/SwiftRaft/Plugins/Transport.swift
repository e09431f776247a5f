/// One incoming RPC: the request, and the way to answer it exactly once (hashicorp/raft's `RPC`
/// with its `RespChan`).
///
/// A transport builds one per request it receives and hands it to the handler Raft installed
/// (``Transport/setRPCHandler(_:)``). The answer may be given from any thread, at any later time,
/// exactly once; the transport writes it back to the peer.
public struct RPC: Sendable {
    /// The request, in the same type the core and every transport use.
    public let request: RaftRequest
    /// For `RaftRequest.installSnapshot(_:)`: the snapshot's `InstallSnapshotRequest.size`
    /// bytes, streamed after the request. Whoever handles the RPC closes it.
    public let snapshotData: (any SnapshotSource)?
    private let responder: @Sendable (Result<RaftResponse, any Error>) -> Void

    /// Creates an RPC; `responder` receives the one answer.
    public init(
        request: RaftRequest,
        snapshotData: (any SnapshotSource)? = nil,
        responder: @escaping @Sendable (Result<RaftResponse, any Error>) -> Void
    ) {
        self.request = request
        self.snapshotData = snapshotData
        self.responder = responder
    }

    /// Answers the RPC.
    public func respond(_ response: RaftResponse) { responder(.success(response)) }

    /// Answers the RPC with an error, which the caller's transport reports as a failed RPC.
    public func respond(error: any Error) { responder(.failure(error)) }
}

/// Carries RPCs between servers (hashicorp/raft's `Transport`), pushing rather than pulling.
///
/// **Incoming**: the transport calls the handler Raft installs with ``setRPCHandler(_:)`` on its
/// own thread (an event loop, say) as soon as a request is decoded. The handler never blocks: it
/// queues the request for the node and returns. Bare heartbeats may go to a separate handler
/// (``setHeartbeatHandler(_:)``) that answers without waiting behind disk writes.
///
/// **Outgoing**: ``send(_:to:timeout:completion:)`` and ``AppendPipeline`` never suspend and never
/// block; each request's completion is called exactly once — with the answer, the peer's error,
/// or a failure when nothing came back within the timeout — from any thread, possibly before
/// `send` returns. The transport owns the one timer a request needs.
///
/// Writing a transport: implement the five requirements without `async` on the hot path, and run
/// the test kit's `TransportConformance` suite against it; it checks every rule above. The
/// `async` conveniences in the extension (``appendEntries(id:target:_:timeout:)`` and friends)
/// come for free.
public protocol Transport: Sendable {
    /// This server's address, as peers reach it.
    var localAddress: ServerAddress { get }

    /// Installs the handler for incoming RPCs (nil removes it). Until one is installed, incoming
    /// requests are answered with an error. Raft installs its handler when it starts and removes
    /// it when it shuts down.
    func setRPCHandler(_ handler: (@Sendable (RPC) -> Void)?)

    /// Installs a handler for bare heartbeats (see `AppendEntriesRequest.isHeartbeat`), which
    /// the transport calls instead of the RPC handler, so a heartbeat never queues behind other
    /// RPCs (hashicorp/raft's `SetHeartbeatHandler`). Passing nil sends heartbeats to the RPC
    /// handler again.
    func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?)

    /// Sends `request` to `target` and calls `completion` exactly once with the answer, or with
    /// a failure if there is none within `timeout`. Carries every `RaftRequest` except
    /// `RaftRequest.installSnapshot(_:)` (which has ``installSnapshot(_:data:to:timeout:)``).
    /// A peer that does not know RequestPreVote must surface as
    /// ``RaftError/Code/preVoteUnsupported``, and one that does not know ReadIndex (swift-raft's
    /// own RPC) as ``RaftError/Code/unsupportedProtocol``; a request larger than ``maxMessageSize`` fails
    /// with ``RaftError/Code/invalidArgument`` without being sent.
    ///
    /// A request that times out must not delay the next one: a connection-based transport drops
    /// the connection the late answer would arrive on, so the next request dials afresh.
    func send(
        _ request: RaftRequest,
        to target: Server,
        timeout: Duration,
        completion: @escaping @Sendable (Result<RaftResponse, any Error>) -> Void
    )

    /// Sends an InstallSnapshot request followed by exactly `request.size` bytes read from `data`,
    /// and waits up to `timeout` for the answer. `data` stays open for its owner to close.
    func installSnapshot(
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource,
        to target: Server,
        timeout: Duration
    ) async throws -> InstallSnapshotResponse

    /// Opens a pipeline to `target` that sends AppendEntries without waiting for each answer.
    /// Returns at once: a connection-based transport connects in the background and fails the
    /// pipeline's requests if it cannot. Throws ``RaftError/Code/pipelineReplicationNotSupported``
    /// if the transport cannot pipeline, in which case Raft sends one request at a time.
    func appendEntriesPipeline(to target: Server) throws -> any AppendPipeline

    /// The largest request, in encoded bytes, this transport can deliver to a peer (for a
    /// transport that limits its frames, the peers' limit, assumed the same as its own), or nil
    /// when it sets none. Raft derives from it the largest command ``Raft/apply(_:timeout:)``
    /// accepts and cuts its AppendEntries batches below it (see
    /// `AppendEntriesRequest.encodedSizeBound`).
    var maxMessageSize: Int? { get }

    /// Encodes a peer for legacy fields (hashicorp/raft sends the address bytes).
    func encodePeer(id: ServerID, address: ServerAddress) -> [UInt8]

    /// Decodes what ``encodePeer(id:address:)`` produced.
    func decodePeer(_ bytes: [UInt8]) -> ServerAddress
}

extension Transport {
    /// No limit, unless the transport says otherwise.
    public var maxMessageSize: Int? { nil }

    /// hashicorp/raft's encoding: the address's bytes.
    public func encodePeer(id: ServerID, address: ServerAddress) -> [UInt8] { Array(address.rawValue.utf8) }

    /// hashicorp/raft's decoding: the bytes are the address.
    public func decodePeer(_ bytes: [UInt8]) -> ServerAddress { ServerAddress(String(decoding: bytes, as: UTF8.self)) }
}

/// A transport that can carry hashicorp/raft 1.7's RequestPreVote RPC (its `WithPreVote`).
/// Raft runs pre-vote only when the transport conforms and the config does not disable it.
public protocol PreVoteTransport: Transport {}

/// A transport with resources to release (hashicorp/raft's `WithClose`).
///
/// ``Raft/shutdown()`` closes the transport it was given, as hashicorp/raft's `Shutdown` does, so
/// a transport serves one node for that node's life. Closing it again is harmless: `close()` must
/// be idempotent.
public protocol ClosableTransport: Transport {
    /// Stops serving and releases connections; later calls fail, and calls not yet answered
    /// complete with a failure.
    func close() async
}

/// AppendEntries to one follower without waiting for each answer (hashicorp/raft's
/// `AppendPipeline`).
///
/// Requests go out in the order given; their completions are called in the same order, each
/// exactly once, from any thread. A request that cannot be sent (the pipeline is closed, broken
/// or could not connect) completes with a failure, and so does everything sent after it: Raft
/// then closes the pipeline and falls back to one request at a time. The transport bounds each
/// request's wait with its own timeout; Raft bounds how many are in flight
/// (``Config/maxInflightAppends``), so `appendEntries` never needs to wait for room.
public protocol AppendPipeline: Sendable {
    /// Sends `request`; `completion` gets the follower's answer or the reason there is none.
    func appendEntries(
        _ request: AppendEntriesRequest,
        completion: @escaping @Sendable (Result<AppendEntriesResponse, any Error>) -> Void
    )

    /// Closes the pipeline; requests still in flight complete with a failure.
    func close()
}
