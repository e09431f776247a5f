/// `async` calls built on ``Transport/send(_:to:timeout:completion:)``, for tools, tests and code
/// that talks to a peer outside a ``Raft`` node. Raft itself uses the callbacks.
extension Transport {
    /// How long the `async` calls wait by default: hashicorp/raft's NetworkTransport timeout.
    public static var defaultCallTimeout: Duration { .seconds(10) }

    /// Sends an AppendEntries request and waits for its answer.
    public func appendEntries(
        id: ServerID,
        target: ServerAddress,
        _ request: AppendEntriesRequest,
        timeout: Duration = defaultCallTimeout
    ) async throws -> AppendEntriesResponse {
        let response = try await call(.appendEntries(request), to: Server(id: id, address: target), timeout: timeout)
        guard case .appendEntries(let answer) = response else { throw Self.mismatch(response, "AppendEntries") }
        return answer
    }

    /// Sends a RequestVote request and waits for its answer.
    public func requestVote(
        id: ServerID,
        target: ServerAddress,
        _ request: RequestVoteRequest,
        timeout: Duration = defaultCallTimeout
    ) async throws -> RequestVoteResponse {
        let response = try await call(.requestVote(request), to: Server(id: id, address: target), timeout: timeout)
        guard case .requestVote(let answer) = response else { throw Self.mismatch(response, "RequestVote") }
        return answer
    }

    /// Sends a RequestPreVote request and waits for its answer; a peer that does not know the RPC
    /// fails it with ``RaftError/Code/preVoteUnsupported``.
    public func requestPreVote(
        id: ServerID,
        target: ServerAddress,
        _ request: RequestPreVoteRequest,
        timeout: Duration = defaultCallTimeout
    ) async throws -> RequestPreVoteResponse {
        let response = try await call(.requestPreVote(request), to: Server(id: id, address: target), timeout: timeout)
        guard case .requestPreVote(let answer) = response else { throw Self.mismatch(response, "RequestPreVote") }
        return answer
    }

    /// Sends a TimeoutNow request and waits for its answer.
    public func timeoutNow(
        id: ServerID,
        target: ServerAddress,
        _ request: TimeoutNowRequest,
        timeout: Duration = defaultCallTimeout
    ) async throws -> TimeoutNowResponse {
        let response = try await call(.timeoutNow(request), to: Server(id: id, address: target), timeout: timeout)
        guard case .timeoutNow(let answer) = response else { throw Self.mismatch(response, "TimeoutNow") }
        return answer
    }

    /// Asks a leader for a read index (swift-raft's own RPC); a peer that does not know it
    /// (hashicorp/raft) fails the call with ``RaftError/Code/unsupportedProtocol``.
    public func readIndex(
        id: ServerID,
        target: ServerAddress,
        _ request: ReadIndexRequest,
        timeout: Duration = defaultCallTimeout
    ) async throws -> ReadIndexResponse {
        let response = try await call(.readIndex(request), to: Server(id: id, address: target), timeout: timeout)
        guard case .readIndex(let answer) = response else { throw Self.mismatch(response, "ReadIndex") }
        return answer
    }

    /// Sends an InstallSnapshot request followed by `request.size` bytes of `data`.
    public func installSnapshot(
        id: ServerID,
        target: ServerAddress,
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource,
        timeout: Duration = defaultCallTimeout
    ) async throws -> InstallSnapshotResponse {
        try await installSnapshot(request, data: data, to: Server(id: id, address: target), timeout: timeout)
    }

    /// Sends `request` and waits for the completion. The transport bounds the wait; cancelling the
    /// calling task does not cut it short (the transport's timeout does).
    public func call(_ request: RaftRequest, to target: Server, timeout: Duration) async throws -> RaftResponse {
        try await withCheckedThrowingContinuation { continuation in
            send(request, to: target, timeout: timeout) { continuation.resume(with: $0) }
        }
    }

    private static func mismatch(_ response: RaftResponse, _ call: String) -> RaftError {
        RaftError(.corrupt, "\(call) was answered with \(response)")
    }
}
