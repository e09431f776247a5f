/// An incoming RPC's request, as a transport hands it to Raft.
public enum RPCCommand: Sendable {
    case appendEntries(AppendEntriesRequest)
    case requestVote(RequestVoteRequest)
    case requestPreVote(RequestPreVoteRequest)
    /// The snapshot's ``InstallSnapshotRequest/size`` bytes follow in `data`.
    case installSnapshot(InstallSnapshotRequest, data: any SnapshotSource)
    case timeoutNow(TimeoutNowRequest)
}

/// The answer to an incoming RPC.
public enum RPCResponse: Sendable {
    case appendEntries(AppendEntriesResponse)
    case requestVote(RequestVoteResponse)
    case requestPreVote(RequestPreVoteResponse)
    case installSnapshot(InstallSnapshotResponse)
    case timeoutNow(TimeoutNowResponse)
}

/// One incoming RPC: the request, and the way to answer it exactly once
/// (hashicorp/raft's `RPC` with its `RespChan`).
public struct RPC: Sendable {
    /// The request.
    public let command: RPCCommand
    private let responder: @Sendable (Result<RPCResponse, any Error>) -> Void

    /// Creates an RPC; `responder` receives the one answer.
    public init(command: RPCCommand, responder: @escaping @Sendable (Result<RPCResponse, any Error>) -> Void) {
        self.command = command
        self.responder = responder
    }

    /// Answers the RPC.
    public func respond(_ response: RPCResponse) { responder(.success(response)) }

    /// Answers the RPC with an error, which the caller's transport reports as a failed RPC.
    public func respond(error: any Error) { responder(.failure(error)) }
}

/// Carries RPCs between servers (hashicorp/raft's `Transport`).
///
/// Outgoing calls suspend until the peer answers and throw on failure or timeout; a transport
/// must eventually answer or fail every call, since Raft waits for one or the other. Incoming RPCs
/// arrive on ``consumer``.
public protocol Transport: Sendable {
    /// This server's address, as peers reach it.
    var localAddress: ServerAddress { get }

    /// The incoming RPCs. Raft iterates it once, for its whole life.
    var consumer: AsyncStream<RPC> { get }

    /// Sends an AppendEntries request and waits for its answer.
    func appendEntries(id: ServerID, target: ServerAddress, _ request: AppendEntriesRequest) async throws
        -> AppendEntriesResponse

    /// Sends a RequestVote request and waits for its answer.
    func requestVote(id: ServerID, target: ServerAddress, _ request: RequestVoteRequest) async throws
        -> RequestVoteResponse

    /// Sends an InstallSnapshot request followed by exactly `request.size` bytes read from `data`.
    func installSnapshot(
        id: ServerID,
        target: ServerAddress,
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource
    ) async throws -> InstallSnapshotResponse

    /// Sends a TimeoutNow request and waits for its answer.
    func timeoutNow(id: ServerID, target: ServerAddress, _ request: TimeoutNowRequest) async throws
        -> TimeoutNowResponse

    /// Opens a pipeline that sends AppendEntries without waiting for each answer. Throws
    /// ``RaftError/Code/pipelineReplicationNotSupported`` if the transport cannot, in which case
    /// Raft replicates one request at a time.
    func appendEntriesPipeline(id: ServerID, target: ServerAddress) async throws -> any AppendPipeline

    /// Encodes a peer for legacy fields (hashicorp/raft sends the address bytes).
    func encodePeer(id: ServerID, address: ServerAddress) -> [UInt8]

    /// Decodes what ``encodePeer(id:address:)`` produced.
    func decodePeer(_ bytes: [UInt8]) -> ServerAddress

    /// Installs a handler for bare heartbeats (see ``AppendEntriesRequest/isHeartbeat``), which
    /// the transport may call directly instead of queueing them behind other RPCs on
    /// ``consumer``. Passing nil removes it.
    func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?)

    /// The largest request, in encoded bytes, this transport can deliver to a peer (for a
    /// transport that limits its frames, the peers' limit, assumed the same as its own), or nil
    /// when it sets none. Raft derives from it the largest command ``Raft/apply(_:timeout:)``
    /// accepts and cuts its AppendEntries batches below it (see
    /// ``AppendEntriesRequest/encodedSizeBound``). A transport asked to send more should fail
    /// the call with ``RaftError/Code/invalidArgument`` rather than send it.
    var maxMessageSize: Int? { get }
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
public protocol PreVoteTransport: Transport {
    /// Sends a RequestPreVote request and waits for its answer. A peer that does not know the RPC
    /// must surface as ``RaftError/Code/preVoteUnsupported``.
    func requestPreVote(id: ServerID, target: ServerAddress, _ request: RequestPreVoteRequest) async throws
        -> RequestPreVoteResponse
}

/// A transport with resources to release (hashicorp/raft's `WithClose`).
///
/// ``Raft/shutdown()`` closes the transport it was given, as hashicorp/raft's `Shutdown` does, so
/// a transport serves one node for that node's life. Closing it again is harmless: `close()` must
/// be idempotent.
public protocol ClosableTransport: Transport {
    /// Stops serving and releases connections; later calls fail.
    func close() async
}

/// One answer from an ``AppendPipeline``, delivered in the order requests were sent.
public struct AppendPipelineResult: Sendable {
    /// The request this answers.
    public var request: AppendEntriesRequest
    /// The follower's response, or why there is none.
    public var result: Result<AppendEntriesResponse, any Error>

    /// Creates a result.
    public init(request: AppendEntriesRequest, result: Result<AppendEntriesResponse, any Error>) {
        self.request = request
        self.result = result
    }
}

/// AppendEntries to one follower without waiting for each answer (hashicorp/raft's
/// `AppendPipeline`). Answers arrive on ``responses`` in send order.
public protocol AppendPipeline: Sendable {
    /// Sends `request`. Suspends while the pipeline's window is full (back-pressure); throws if
    /// the pipeline is closed or broken, after which Raft falls back to one request at a time.
    func appendEntries(_ request: AppendEntriesRequest) async throws

    /// The answers, in the order the requests were sent. Finishes when the pipeline closes.
    var responses: AsyncStream<AppendPipelineResult> { get }

    /// Closes the pipeline; requests still in flight are answered with an error.
    func close() async
}
