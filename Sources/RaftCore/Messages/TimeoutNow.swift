/// Tells a follower to start an election at once, as the last step of a leadership transfer
/// (hashicorp/raft's `TimeoutNowRequest`).
public struct TimeoutNowRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader

    /// Creates a request.
    public init(header: RPCHeader) { self.header = header }
}

/// The answer to ``TimeoutNowRequest`` (hashicorp/raft's `TimeoutNowResponse`).
public struct TimeoutNowResponse: Hashable, Sendable {
    /// Sender identity and protocol version (hashicorp/raft leaves it empty).
    public var header: RPCHeader

    /// Creates a response.
    public init(header: RPCHeader) { self.header = header }
}
