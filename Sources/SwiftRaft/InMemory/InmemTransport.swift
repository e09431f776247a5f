import DequeModule
import Synchronization

/// A transport between servers in one process (hashicorp/raft's `InmemTransport`), with optional
/// fault injection through a shared ``InmemFaults`` plan.
///
/// Requests are handed over as values, without encoding. A transport reaches only the peers it
/// was explicitly ``connect(_:)``ed to, so tests wire the topology they want. Calls are bounded by
/// the transport's timeout (InstallSnapshot and TimeoutNow by ten times it, as in hashicorp/raft),
/// measured on the injected clock.
///
/// It never starts unstructured tasks and never sleeps except on its clock, so under the test
/// kit's virtual clock and single serial executor a whole cluster's traffic, losses and delays
/// included, replays exactly from the fault plan's seed.
public final class InmemTransport: PreVoteTransport, ClosableTransport {
    /// This server's address, as peers reach it.
    public let localAddress: ServerAddress
    /// The incoming RPCs. Finishes when the transport is closed or the iterating task is cancelled.
    public let consumer: AsyncStream<RPC>

    /// The largest AppendEntries this transport carries, by ``AppendEntriesRequest/encodedSizeBound``
    /// (what it would take on hashicorp/raft's wire); a larger one fails with
    /// ``RaftError/Code/invalidArgument``, as a network transport's peer would refuse the frame.
    public let maxMessageSize: Int?

    private let clock: any RaftClock
    private let timeout: Duration
    private let faults: InmemFaults?
    private let inbox: InmemTransportInbox
    private let state = Mutex(State())

    private struct State {
        var peers: [ServerAddress: InmemTransportInbox] = [:]
        /// Open pipelines, oldest first, so closing them happens in a reproducible order.
        var pipelines: [WeakPipeline] = []
        var closed = false
    }

    /// Weak, so a pipeline its owner dropped without closing does not live as long as the
    /// transport.
    private struct WeakPipeline {
        weak var core: InmemTransportPipelineCore?
    }

    /// Creates a transport reachable at `address`.
    ///
    /// - Parameters:
    ///   - address: This server's address; any unique name.
    ///   - clock: Measures timeouts and fault delays; the simulator passes its virtual clock.
    ///   - timeout: How long a call waits for its answer (hashicorp/raft's default is 500 ms).
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
        let inbox = InmemTransportInbox(address: address)
        self.maxMessageSize = maxMessageSize
        self.localAddress = address
        self.clock = clock
        self.timeout = timeout
        self.faults = faults
        self.inbox = inbox
        self.consumer = AsyncStream(unfolding: { await inbox.next() })
    }

    /// 64 MiB, as NetworkTransport's default `maxFrameSize`.
    public static let defaultMaxMessageSize = 64 << 20

    // MARK: Topology

    /// Lets this transport call `peer` at its ``localAddress``, replacing any earlier transport at
    /// that address (a restarted server). One direction only, as in hashicorp/raft: `peer` can
    /// answer these calls, but calling back needs `peer.connect(self)`.
    public func connect(_ peer: InmemTransport) {
        state.withLock { $0.peers[peer.localAddress] = peer.inbox }
    }

    /// Stops this transport reaching `address`, and closes its pipelines to it.
    public func disconnect(_ address: ServerAddress) {
        let closing = state.withLock { state in
            state.peers[address] = nil
            return Self.takePipelines(from: &state) { $0.target == address }
        }
        for pipeline in closing {
            pipeline.shutdown(RaftError(.pipelineShutdown, "\(localAddress) disconnected from \(address)"))
        }
    }

    /// Stops this transport reaching any peer, and closes all its pipelines.
    public func disconnectAll() {
        let closing = state.withLock { state in
            state.peers = [:]
            return Self.takePipelines(from: &state) { _ in true }
        }
        for pipeline in closing {
            pipeline.shutdown(RaftError(.pipelineShutdown, "\(localAddress) disconnected from all peers"))
        }
    }

    // MARK: ClosableTransport

    /// Finishes ``consumer``, answers every RPC sent here and not yet answered with an error, makes
    /// this server unreachable for its peers, closes its pipelines, and fails later outgoing calls
    /// with ``RaftError/Code/transportShutdown``.
    public func close() async {
        let closing = state.withLock { state in
            state.closed = true
            state.peers = [:]
            return Self.takePipelines(from: &state) { _ in true }
        }
        inbox.close()
        for pipeline in closing {
            pipeline.shutdown(RaftError(.pipelineShutdown, "transport \(localAddress) closed"))
        }
    }

    // MARK: Transport

    /// Sends an AppendEntries request and waits for its answer.
    public func appendEntries(id: ServerID, target: ServerAddress, _ request: AppendEntriesRequest) async throws
        -> AppendEntriesResponse
    {
        try checkSize(of: request, to: target)
        let response = try await call(.appendEntries(request), to: target, timeout: timeout, "AppendEntries")
        guard case .appendEntries(let answer) = response else { throw Self.mismatch(response, "AppendEntries") }
        return answer
    }

    /// Sends a RequestVote request and waits for its answer.
    public func requestVote(id: ServerID, target: ServerAddress, _ request: RequestVoteRequest) async throws
        -> RequestVoteResponse
    {
        let response = try await call(.requestVote(request), to: target, timeout: timeout, "RequestVote")
        guard case .requestVote(let answer) = response else { throw Self.mismatch(response, "RequestVote") }
        return answer
    }

    /// Sends a RequestPreVote request and waits for its answer.
    public func requestPreVote(id: ServerID, target: ServerAddress, _ request: RequestPreVoteRequest) async throws
        -> RequestPreVoteResponse
    {
        let response = try await call(.requestPreVote(request), to: target, timeout: timeout, "RequestPreVote")
        guard case .requestPreVote(let answer) = response else { throw Self.mismatch(response, "RequestPreVote") }
        return answer
    }

    /// Sends an InstallSnapshot request with exactly `request.size` bytes of `data`, and waits up
    /// to ten times the timeout for its answer. The bytes are read up front: in memory there is no
    /// connection to stream them over, and the receiver gets a source of exactly that size.
    /// `data` is left open for its owner to close.
    public func installSnapshot(
        id: ServerID,
        target: ServerAddress,
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource
    ) async throws -> InstallSnapshotResponse {
        _ = try peerInbox(target)
        let bytes = try Self.read(exactly: request.size, from: data)
        let command = RPCCommand.installSnapshot(request, data: InmemTransportSnapshotData(bytes))
        let response = try await call(command, to: target, timeout: timeout * 10, "InstallSnapshot")
        guard case .installSnapshot(let answer) = response else { throw Self.mismatch(response, "InstallSnapshot") }
        return answer
    }

    /// Sends a TimeoutNow request and waits up to ten times the timeout for its answer.
    public func timeoutNow(id: ServerID, target: ServerAddress, _ request: TimeoutNowRequest) async throws
        -> TimeoutNowResponse
    {
        let response = try await call(.timeoutNow(request), to: target, timeout: timeout * 10, "TimeoutNow")
        guard case .timeoutNow(let answer) = response else { throw Self.mismatch(response, "TimeoutNow") }
        return answer
    }

    /// Opens a pipeline to `target`: requests reach it in send order without waiting for earlier
    /// answers, and the answers come back in the same order on the pipeline's `responses`. A send
    /// suspends while 16 requests have answers not yet read from `responses` (back-pressure, like
    /// hashicorp/raft's 16-deep in-memory pipeline). Each request times out `timeout` after it
    /// was sent.
    ///
    /// A request lost on the way, or whose answer is lost, stalls everything behind it, as on one
    /// TCP connection; when its timeout expires it is answered with a ``RaftError/Code/timeout``
    /// failure, everything behind it with failures too, and the pipeline refuses further sends.
    /// Timeouts and delayed deliveries are carried out while `responses` is being iterated, as
    /// Raft always does while it pipelines.
    public func appendEntriesPipeline(id: ServerID, target: ServerAddress) async throws -> any AppendPipeline {
        let peer = try peerInbox(target)
        let core = InmemTransportPipelineCore(
            local: localAddress,
            target: target,
            peer: peer,
            faults: faults,
            clock: clock,
            timeout: timeout,
            maxMessageSize: maxMessageSize
        )
        let refused = state.withLock { state -> RaftError? in
            if state.closed { return RaftError(.transportShutdown, "transport \(localAddress) is closed") }
            // A disconnect that raced with this call must not leave a pipeline it failed to close.
            guard state.peers[target] === peer else {
                return RaftError(.unreachable, "failed to connect to peer: \(target)")
            }
            state.pipelines.removeAll { $0.core == nil }
            state.pipelines.append(WeakPipeline(core: core))
            return nil
        }
        if let refused { throw refused }
        return InmemTransportPipeline(core: core)
    }

    /// Accepted and ignored, as in hashicorp/raft's in-memory transport: heartbeats arrive on
    /// ``consumer`` like every other RPC, since there is no connection for them to queue behind.
    public func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {}

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

    private func peerInbox(_ target: ServerAddress) throws -> InmemTransportInbox {
        let (closed, peer) = state.withLock { ($0.closed, $0.peers[target]) }
        if closed { throw RaftError(.transportShutdown, "transport \(localAddress) is closed") }
        guard let peer, !peer.isClosed else { throw RaftError(.unreachable, "failed to connect to peer: \(target)") }
        return peer
    }

    private func call(
        _ command: RPCCommand,
        to target: ServerAddress,
        timeout: Duration,
        _ what: String
    ) async throws -> RPCResponse {
        let peer = try peerInbox(target)
        let local = localAddress
        let faults = faults
        let clock = clock
        // The whole exchange, both hops and their delays, runs inside the timeout's task group:
        // its child tasks inherit the caller's executor preference, and a lost hop is simply
        // never answered until the timeout cancels the wait, as on a real network.
        return try await clock.withTimeout(timeout, "\(what) from \(local) to \(target)") {
            try await Self.exchange(command, from: local, to: target, peer: peer, faults: faults, clock: clock)
        }
    }

    private struct Answer: Sendable {
        var result: Result<RPCResponse, any Error>
        /// How long the reply travels back; nil if it is lost.
        var travel: Duration?
    }

    private static func exchange(
        _ command: RPCCommand,
        from local: ServerAddress,
        to target: ServerAddress,
        peer: InmemTransportInbox,
        faults: InmemFaults?,
        clock: any RaftClock
    ) async throws -> RPCResponse {
        guard let outbound = hop(faults, from: local, to: target) else {
            try await InmemTransportReply<Void>.awaitCancellation()
        }
        if outbound > .zero { try await clock.sleep(for: outbound) }
        let reply = InmemTransportReply<Answer>()
        let delivered = peer.deliver(command) { result in
            // The reply's fate is decided when the peer sends it, not when the caller reads it.
            reply.complete(.success(Answer(result: result, travel: hop(faults, from: target, to: local))))
        }
        guard delivered else { throw RaftError(.unreachable, "\(target) closed its transport") }
        let answer = try await reply.value()
        guard let inbound = answer.travel else {
            try await InmemTransportReply<Void>.awaitCancellation()
        }
        if inbound > .zero { try await clock.sleep(for: inbound) }
        switch answer.result {
        case .success(let response): return response
        case .failure(let error): throw surfaced(error, from: target)
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

    private static func mismatch(_ response: RPCResponse, _ what: String) -> RaftError {
        RaftError(.corrupt, "\(what) was answered with \(response)")
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
        where matches: (InmemTransportPipelineCore) -> Bool
    ) -> [InmemTransportPipelineCore] {
        var taken: [InmemTransportPipelineCore] = []
        state.pipelines.removeAll { entry in
            guard let core = entry.core else { return true }
            guard matches(core) else { return false }
            taken.append(core)
            return true
        }
        return taken
    }
}

/// The receiving end of an ``InmemTransport``: RPCs waiting for the consumer, and the answer
/// handlers of every RPC delivered and not yet answered.
final class InmemTransportInbox: Sendable {
    typealias Handler = @Sendable (Result<RPCResponse, any Error>) -> Void

    let address: ServerAddress
    private let state = Mutex(State())

    private struct State {
        var queue: Deque<RPC> = []
        var waiter: CheckedContinuation<RPC?, Never>?
        /// Keyed by delivery number; also the exactly-once guard: an answer is forwarded only by
        /// whoever removes its handler.
        var unanswered: [UInt64: Handler] = [:]
        var nextNumber: UInt64 = 0
        var closed = false
    }

    init(address: ServerAddress) { self.address = address }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Queues `command` for the consumer; `onAnswer` receives its one answer. Returns false,
    /// queueing nothing, if the inbox is closed.
    func deliver(_ command: RPCCommand, onAnswer: @escaping Handler) -> Bool {
        typealias Handoff = (delivered: Bool, waiter: CheckedContinuation<RPC?, Never>?, rpc: RPC?)
        let handoff = state.withLock { state -> Handoff in
            guard !state.closed else { return (false, nil, nil) }
            let number = state.nextNumber
            state.nextNumber += 1
            state.unanswered[number] = onAnswer
            // Weak: an RPC sitting in this inbox's own queue must not keep the inbox alive.
            let rpc = RPC(command: command) { [weak self] result in self?.answer(number, result) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter, rpc)
            }
            state.queue.append(rpc)
            return (true, nil, nil)
        }
        if let waiter = handoff.waiter { waiter.resume(returning: handoff.rpc) }
        return handoff.delivered
    }

    /// The next RPC, or nil once the inbox is closed or the consuming task is cancelled.
    func next() async -> RPC? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RPC?, Never>) in
                let ready = state.withLock { state -> RPC?? in
                    if state.closed || Task.isCancelled { return .some(nil) }
                    if let rpc = state.queue.popFirst() { return .some(rpc) }
                    precondition(state.waiter == nil, "an InmemTransport's consumer must be iterated by one task")
                    state.waiter = continuation
                    return .none
                }
                if case .some(let rpc) = ready { continuation.resume(returning: rpc) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends the consumer's stream and fails every RPC not yet answered, queued or being handled:
    /// the caller hears at once that the connection is gone instead of waiting for its timeout.
    func close() {
        let (waiter, orphans) = state.withLock { state in
            state.closed = true
            state.queue.removeAll()
            let waiter = state.waiter
            state.waiter = nil
            // Delivery order, not the dictionary's per-process hash order, keeps replays exact.
            let orphans = state.unanswered.sorted { $0.key < $1.key }.map(\.value)
            state.unanswered = [:]
            return (waiter, orphans)
        }
        waiter?.resume(returning: nil)
        let error = RaftError(.unreachable, "\(address) closed its transport")
        for handler in orphans { handler(.failure(error)) }
    }

    private func answer(_ number: UInt64, _ result: Result<RPCResponse, any Error>) {
        let handler = state.withLock { $0.unanswered.removeValue(forKey: number) }
        handler?(result)
    }
}

/// A value delivered at most once, awaited by one task; cancelling that task ends the wait with
/// `CancellationError`.
final class InmemTransportReply<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, any Error>)
        case done(Result<Value, any Error>)
    }

    private let state = Mutex(State.empty)

    /// Delivers `result` unless a result was already delivered.
    func complete(_ result: Result<Value, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            switch state {
            case .empty:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .done:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// The delivered value.
    func value() async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    switch state {
                    case .empty:
                        state = .waiting(continuation)
                        return nil
                    case .waiting:
                        preconditionFailure("InmemTransportReply awaited twice")
                    case .done(let result):
                        return result
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            complete(.failure(CancellationError()))
        }
    }
}

extension InmemTransportReply where Value == Void {
    /// Waits until cancelled; used for hops that are lost, which nobody will ever answer.
    static func awaitCancellation() async throws -> Never {
        // Nothing completes this reply, so only cancellation ends the wait, by throwing.
        try await InmemTransportReply<Void>().value()
        throw CancellationError()
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
