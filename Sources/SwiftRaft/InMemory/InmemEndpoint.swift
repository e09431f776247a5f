import Synchronization

/// The receiving end of an ``InmemTransport``: the handlers Raft installed, and the answer
/// callbacks of every RPC handed to them and not yet answered (failed when the transport closes,
/// so callers hear at once that the connection is gone).
final class InmemEndpoint: Sendable {
    typealias AnswerHandler = @Sendable (Result<RaftResponse, any Error>) -> Void

    let address: ServerAddress
    private let state = Mutex(State())

    private struct State {
        var handler: Handler?
        var heartbeatHandler: Handler?
        /// Keyed by delivery number; also the exactly-once guard: an answer is forwarded only by
        /// whoever removes its callback.
        var unanswered: [UInt64: AnswerHandler] = [:]
        var nextNumber: UInt64 = 0
        var closed = false
    }

    /// A struct around the function: a bare function stored in a generic container is re-wrapped
    /// in conversion thunks on every access.
    private struct Handler: Sendable {
        let handle: @Sendable (RPC) -> Void
    }

    init(address: ServerAddress) { self.address = address }

    var isClosed: Bool { state.withLock { $0.closed } }

    func setHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        let wrapped = handler.map(Handler.init)
        state.withLock { $0.handler = wrapped }
    }

    func setHeartbeatHandler(_ handler: (@Sendable (RPC) -> Void)?) {
        let wrapped = handler.map(Handler.init)
        state.withLock { $0.heartbeatHandler = wrapped }
    }

    /// Hands `request` to the installed handler, on the caller's thread; `onAnswer` receives its
    /// one answer. Returns false, handing over nothing, if the endpoint is closed.
    func deliver(_ request: RaftRequest, snapshotData: (any SnapshotSource)? = nil, onAnswer: @escaping AnswerHandler) -> Bool {
        var isHeartbeat = false
        if case .appendEntries(let append) = request { isHeartbeat = append.isHeartbeat }
        let delivery = state.withLock { state -> (number: UInt64, handler: Handler?)? in
            guard !state.closed else { return nil }
            let number = state.nextNumber
            state.nextNumber += 1
            state.unanswered[number] = onAnswer
            return (number, (isHeartbeat ? state.heartbeatHandler : nil) ?? state.handler)
        }
        guard let delivery else {
            snapshotData?.close()
            return false
        }
        guard let handler = delivery.handler else {
            snapshotData?.close()
            answer(delivery.number, .failure(RaftError(.unreachable, "\(address) has no RPC handler installed")))
            return true
        }
        // Weak: an RPC kept by a handler must not keep the endpoint alive.
        let number = delivery.number
        handler.handle(RPC(request: request, snapshotData: snapshotData) { [weak self] result in self?.answer(number, result) })
        return true
    }

    /// Fails every RPC handed over and not yet answered, and refuses later deliveries.
    func close() {
        let orphans = state.withLock { state in
            state.closed = true
            state.handler = nil
            state.heartbeatHandler = nil
            // Delivery order, not the dictionary's per-process hash order, keeps replays exact.
            defer { state.unanswered = [:] }
            return state.unanswered.sorted { $0.key < $1.key }.map(\.value)
        }
        let error = RaftError(.unreachable, "\(address) closed its transport")
        for handler in orphans { handler(.failure(error)) }
    }

    private func answer(_ number: UInt64, _ result: Result<RaftResponse, any Error>) {
        let handler = state.withLock { $0.unanswered.removeValue(forKey: number) }
        handler?(result)
    }
}
