/// A follower's request for a read index (swift-raft's own RPC; hashicorp/raft has none).
///
/// The leader answers once a quorum has confirmed it still leads, with its commit index at the
/// time the request arrived (or later): a read of the follower's FSM once it has applied through
/// that index is linearizable. Concurrent reads on one follower share a request.
public struct ReadIndexRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The sender's current term, for the leader's logs; a leader answers whatever it is.
    public var term: UInt64

    /// Creates a request.
    public init(header: RPCHeader, term: UInt64) {
        self.header = header
        self.term = term
    }
}

/// The leader's answer to ``ReadIndexRequest``.
public struct ReadIndexResponse: Hashable, Sendable {
    /// Why a server gave no read index.
    public enum Refusal: UInt8, Hashable, Sendable {
        /// The server asked does not lead (any more).
        case notLeader = 1
        /// The server lost its leadership before a quorum confirmed the read.
        case leadershipLost = 2
    }

    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The answering server's current term.
    public var term: UInt64
    /// The read index: meaningful only when ``refusal`` is nil.
    public var readIndex: UInt64
    /// Why no read index was given; nil on success.
    public var refusal: Refusal?

    /// Creates a response.
    public init(header: RPCHeader, term: UInt64, readIndex: UInt64, refusal: Refusal? = nil) {
        self.header = header
        self.term = term
        self.readIndex = readIndex
        self.refusal = refusal
    }
}
