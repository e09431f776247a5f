import DequeModule
import Synchronization

/// A transport between servers in one process (hashicorp/raft's `InmemTransport`), with optional
/// fault injection through a shared ``InmemFaults`` plan.
///
/// Requests are handed over as values, without encoding, straight to the peer's handler on the
/// sender's thread. A transport reaches only the peers it was explicitly ``connect(_:)``ed to, so
/// tests wire the topology they want. Every call is bounded by its timeout, measured on the
/// injected clock by one timer per transport rather than one per call.
///
/// It never starts tasks: delays and timeouts fire through ``RaftClock/schedule(after:_:)``, so
/// under the test kit's virtual clock and single serial executor a whole cluster's traffic,
/// losses and delays included, replays exactly from the fault plan's seed.
public final class InmemTransport: PreVoteTransport, ClosableTransport {
    /// This server's address, as peers reach it.
    public let localAddress: ServerAddress

    /// The largest AppendEntries this transport carries, by `AppendEntriesRequest.encodedSizeBound`
    /// (what it would take on hashicorp/raft's wire); a larger one fails with
    /// ``RaftError/Code/invalidArgument``, as a network transport's peer would refuse the frame.
    public let maxMessageSize: Int?

    let clock: any RaftClock
    /// How long a pipelined AppendEntries waits for its answer.
    let timeout: Duration
    let faults: InmemFaults?
    let deadlines: InmemDeadlines
    private let endpoint: InmemEndpoint
    private let state = Mutex(State())

    private struct State {
        var peers: [ServerAddress: InmemEndpoint] = [:]
        /// Open pipelines, oldest first, so closing them happens in a reproducible order.
        var pipelines: [WeakPipeline] = []
        var closed = false
    }

    /// Weak, so a pipeline its owner dropped without closing does not live as long as the
    /// transport.
    private struct WeakPipeline {
        weak var pipeline: InmemPipeline?
    }

    /// Creates a transport reachable at `address`.
    ///
    /// - Parameters:
    ///   - address: This server's address; any unique name.
    ///   - clock: Measures timeouts and fault delays; the simulator passes its virtual clock.
    ///   - timeout: How long a pipelined AppendEntries waits for its answer (hashicorp/raft's
    ///     default is 500 ms); other calls carry their own timeout.
    ///   - faults: The cluster's shared fault plan, or nil for a perfect network.
    ///   - maxMessageSize: The largest AppendEntries it carries, in encoded bytes; the default is
    ///     ``defaultMaxMessageSize``, the TCP transport's default frame limit, so tests meet the
    ///     limits production does.
    public init(
        address: ServerAddress,
        clock: any RaftClock = SystemClock(),
        timeout: Duration = .milliseconds(500),
        faults: InmemFaults? = nil,
        maxMessageSize: Int = InmemTransport.defaultMaxMessageSize
    ) {
        self.maxMessageSize = maxMessageSize
        self.localAddress = address
        self.clock = clock
        self.timeout = timeout
        self.faults = faults
        self.deadlines = InmemDeadlines(clock: clock)
        self.endpoint = InmemEndpoint(address: address)
    }

    /// 64 MiB, as NetworkTransport's default `maxFrameSize`.
    public static let defaultMaxMessageSize = 64 << 20

    // MARK: Topology

    /// Lets this transport call `peer` at its ``localAddress``, replacing any earlier transport at
    /// that address (a restarted server). One direction only, as in hashicorp/raft: `peer` can
    /// answer these calls, but calling back needs `peer.connect(self)`.
    public func connect(_ peer: InmemTransport) {
        state.withLock { $0.peers[peer.localAddress] = peer.endpoint }
    }

    /// Stops this transport reaching `address`, and closes its pipelines to it.
    public func disconnect(_ address: ServerAddress) {
        let closing = state.withLock { state in
            state.peers[address] = nil
            return Self.takePipelines(from: &state) { $0.target.address == address }
        }
        for pipeline in closing {
            pipeline.fail(RaftError(.pipelineShutdown, "\(localAddress) disconnected from \(address)"))
        }
    }

    /// Stops this transport reaching any peer, and closes all its pipelines.
    public func disconnectAll() {
        let closing = state.withLock { state in
            state.peers = [:]
            return Self.takePipelines(from: &state) { _ in true }
        }
        for pipeline in closing {
            pipeline.fail(RaftError(.pipelineShutdown, "\(localAddress) disconnected from all peers"))
        }
    }

    // MARK: ClosableTransport

    /// Fails every RPC sent here and not yet answered, makes this server unreachable for its
    /// peers, closes its pipelines, fails its own calls not yet answered, and fails later
    /// outgoing calls, all with ``RaftError/Code/transportShutdown`` (pipelined requests with
    /// ``RaftError/Code/pipelineShutdown``). Closing again does nothing more.
    public func close() async {
        let closing = state.withLock { state in
            state.closed = true
            state.peers = [:]
            return Self.takePipelines(from: &state) { _ in true }
        }
        endpoint.close()
        for pipeline in closing {
            pipeline.fail(RaftError(.pipelineShutdown, "transport \(localAddress) closed"))
        }
        // Every call still waiting for an answer has a deadline: end them all now.
        deadlines.closeAll(RaftError(.transportShutdown, "transport \(localAddress) closed"))
    }

    // MARK: Transport

    /// Installs the handler incoming RPCs are handed to, on the sender's thread.
    public func setRPCHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        endpoint.setHandler(handler)
    }

    /// Installs the handler bare heartbeats are handed to instead of the RPC handler.
    public func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        endpoint.setHeartbeatHandler(handler)
    }

    /// Hands `request` to `target`'s handler (after the fault plan's delay, if any) and completes
    /// with its answer, or with ``RaftError/Code/timeout`` if none arrives within `timeout`.
    public func send(
        _ request: RaftRequest,
        to target: Server,
        timeout: Duration,
        completion: @escaping @Sendable (Result<RaftResponse, any Error>) -> Void
    ) {
        let peer: InmemEndpoint
        do {
            if case .installSnapshot = request {
                throw RaftError(.invalidArgument, "InstallSnapshot goes through installSnapshot(_:data:to:timeout:)")
            }
            if case .appendEntries(let append) = request { try checkSize(of: append, to: target.address) }
            peer = try peerEndpoint(target.address)
        } catch {
            completion(.failure(error))
            return
        }
        let call = InmemCompletion(completion)
        let local = localAddress
        call.expire(after: timeout, in: deadlines) {
            RaftError(.timeout, "\(Self.name(of: request)) from \(local) to \(target.address) timed out after \(timeout)")
        }
        exchange(request, snapshotData: nil, with: peer, call: call)
    }

    /// Sends an InstallSnapshot request with exactly `request.size` bytes of `data`, and waits up
    /// to `timeout` for its answer. The bytes are read up front: in memory there is no connection
    /// to stream them over, and the receiver gets a source of exactly that size. `data` is left
    /// open for its owner to close.
    public func installSnapshot(
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource,
        to target: Server,
        timeout: Duration
    ) async throws -> InstallSnapshotResponse {
        let peer = try peerEndpoint(target.address)
        let bytes = try Self.read(exactly: request.size, from: data)
        let response: RaftResponse = try await withCheckedThrowingContinuation { continuation in
            let call = InmemCompletion<RaftResponse> { continuation.resume(with: $0) }
            let local = localAddress
            call.expire(after: timeout, in: deadlines) {
                RaftError(.timeout, "InstallSnapshot from \(local) to \(target.address) timed out after \(timeout)")
            }
            exchange(.installSnapshot(request), snapshotData: InmemTransportSnapshotData(bytes), with: peer, call: call)
        }
        guard case .installSnapshot(let answer) = response else {
            throw RaftError(.corrupt, "InstallSnapshot was answered with \(response)")
        }
        return answer
    }

    /// Opens a pipeline to `target`: requests reach it in send order without waiting for earlier
    /// answers, and their completions run in the same order. Each request times out `timeout`
    /// after it was sent.
    ///
    /// A request lost on the way, or whose answer is lost, stalls everything behind it, as on one
    /// TCP connection; when its timeout expires it completes with a ``RaftError/Code/timeout``
    /// failure, everything behind it with failures too, and the pipeline refuses further sends.
    public func appendEntriesPipeline(to target: Server) throws -> any AppendPipeline {
        let peer = try peerEndpoint(target.address)
        let pipeline = InmemPipeline(transport: self, target: target, peer: peer)
        let refused = state.withLock { state -> RaftError? in
            if state.closed { return RaftError(.transportShutdown, "transport \(localAddress) is closed") }
            // A disconnect that raced with this call must not leave a pipeline it failed to close.
            guard state.peers[target.address] === peer else {
                return RaftError(.unreachable, "failed to connect to peer: \(target.address)")
            }
            state.pipelines.removeAll { $0.pipeline == nil }
            state.pipelines.append(WeakPipeline(pipeline: pipeline))
            return nil
        }
        if let refused { throw refused }
        return pipeline
    }

    // MARK: Internals

    private func checkSize(of request: AppendEntriesRequest, to target: ServerAddress) throws {
        try Self.checkSize(of: request, limit: maxMessageSize, to: target)
    }

    static func checkSize(of request: AppendEntriesRequest, limit: Int?, to target: ServerAddress) throws {
        guard let limit else { return }
        let size = request.encodedSizeBound
        guard size > limit else { return }
        throw RaftError(
            .invalidArgument,
            "AppendEntries to \(target) of up to \(size) bytes (\(request.entries.count) entries) exceeds the transport's maxMessageSize of \(limit) bytes"
        )
    }

    private func peerEndpoint(_ target: ServerAddress) throws -> InmemEndpoint {
        let (closed, peer) = state.withLock { ($0.closed, $0.peers[target]) }
        if closed { throw RaftError(.transportShutdown, "transport \(localAddress) is closed") }
        guard let peer, !peer.isClosed else { throw RaftError(.unreachable, "failed to connect to peer: \(target)") }
        return peer
    }

    /// Carries `request` to `peer` and its answer back, each hop lost or delayed as the fault plan
    /// says. A lost hop is simply never answered; the call's deadline then fails it.
    private func exchange(
        _ request: RaftRequest,
        snapshotData: (any SnapshotSource)?,
        with peer: InmemEndpoint,
        call: InmemCompletion<RaftResponse>
    ) {
        let local = localAddress, faults = faults, clock = clock
        // The answer callback names the peer by address only: the peer's endpoint keeps the
        // callback until the RPC is answered, and a callback holding the endpoint would keep it
        // (and its handler, a whole node) alive for good once an RPC went unanswered.
        let from = peer.address
        let deliver: @Sendable () -> Void = {
            let delivered = peer.deliver(request, snapshotData: snapshotData) { result in
                // The reply's fate is decided when the peer sends it, not when the caller reads it.
                guard let travel = Self.hop(faults, from: from, to: local) else { return }
                let surfaced = result.mapError { Self.surfaced($0, from: from) as any Error }
                if travel > .zero {
                    clock.schedule(after: travel) { call.complete(surfaced) }
                } else {
                    call.complete(surfaced)
                }
            }
            if !delivered { call.complete(.failure(RaftError(.unreachable, "\(peer.address) closed its transport"))) }
        }
        guard let travel = Self.hop(faults, from: local, to: peer.address) else {
            snapshotData?.close()
            return
        }
        if travel > .zero {
            clock.schedule(after: travel, deliver)
        } else {
            deliver()
        }
    }

    static func name(of request: RaftRequest) -> String {
        switch request {
        case .appendEntries: return "AppendEntries"
        case .requestVote: return "RequestVote"
        case .requestPreVote: return "RequestPreVote"
        case .timeoutNow: return "TimeoutNow"
        case .installSnapshot: return "InstallSnapshot"
        case .readIndex: return "ReadIndex"
        }
    }

    /// The fate of one hop: how long it travels, or nil if it is lost.
    static func hop(_ faults: InmemFaults?, from: ServerAddress, to: ServerAddress) -> Duration? {
        guard let faults else { return .zero }
        return faults.deliveryDelay(from: from, to: to)
    }

    /// A peer's `respond(error:)` reaches the caller as a ``RaftError``: unchanged if it is one
    /// (so codes such as ``RaftError/Code/preVoteUnsupported`` survive), else as a failed RPC.
    static func surfaced(_ error: any Error, from target: ServerAddress) -> RaftError {
        if let error = error as? RaftError { return error }
        return RaftError(.unreachable, "\(target) failed the RPC: \(error)")
    }

    private static func read(exactly size: Int64, from data: any SnapshotSource) throws -> [UInt8] {
        guard size >= 0 else { throw RaftError(.invalidArgument, "snapshot size \(size) is negative") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(min(size, 64 << 20)))
        while bytes.count < size {
            let wanted = Int(min(size - Int64(bytes.count), 64 << 10))
            let chunk = try data.read(maxLength: wanted)
            guard !chunk.isEmpty else {
                throw RaftError(.invalidArgument, "snapshot data ended after \(bytes.count) of \(size) bytes")
            }
            bytes.append(contentsOf: chunk.prefix(wanted))
        }
        return bytes
    }

    private static func takePipelines(
        from state: inout State,
        where matches: (InmemPipeline) -> Bool
    ) -> [InmemPipeline] {
        var taken: [InmemPipeline] = []
        state.pipelines.removeAll { entry in
            guard let pipeline = entry.pipeline else { return true }
            guard matches(pipeline) else { return false }
            taken.append(pipeline)
            return true
        }
        return taken
    }
}

/// The bytes of an InstallSnapshot, as the receiving server reads them.
private final class InmemTransportSnapshotData: SnapshotSource {
    private let bytes: [UInt8]
    private let offset = Mutex(0)

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(maxLength: Int) throws -> [UInt8] {
        offset.withLock { offset in
            let end = min(bytes.count, offset + max(0, maxLength))
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    func close() {}
}
