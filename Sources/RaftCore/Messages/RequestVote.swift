/// A candidate's request for a vote (hashicorp/raft's `RequestVoteRequest`).
public struct RequestVoteRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The candidate's new term.
    public var term: UInt64
    /// The candidate's address; deprecated in hashicorp/raft but still sent for older peers.
    public var candidate: ServerAddress
    /// The index of the candidate's last log entry.
    public var lastLogIndex: UInt64
    /// The term of the candidate's last log entry.
    public var lastLogTerm: UInt64
    /// Set when a leader handed over leadership, so voters ignore their current leader.
    public var leadershipTransfer: Bool

    /// Creates a request.
    public init(
        header: RPCHeader,
        term: UInt64,
        candidate: ServerAddress,
        lastLogIndex: UInt64,
        lastLogTerm: UInt64,
        leadershipTransfer: Bool = false
    ) {
        self.header = header
        self.term = term
        self.candidate = candidate
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.leadershipTransfer = leadershipTransfer
    }
}

/// A voter's answer to ``RequestVoteRequest`` (hashicorp/raft's `RequestVoteResponse`).
public struct RequestVoteResponse: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The voter's current term.
    public var term: UInt64
    /// Legacy peer list of protocol versions below 2; empty from swift-raft.
    public var peers: [UInt8]
    /// Whether the vote was granted.
    public var granted: Bool

    /// Creates a response.
    public init(header: RPCHeader, term: UInt64, peers: [UInt8] = [], granted: Bool) {
        self.header = header
        self.term = term
        self.peers = peers
        self.granted = granted
    }
}

/// Asks whether a server *would* vote, without anyone changing term (hashicorp/raft's
/// `RequestPreVoteRequest`, protocol type 4).
public struct RequestPreVoteRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The term the candidate would campaign in: its current term plus one.
    public var term: UInt64
    /// The index of the candidate's last log entry.
    public var lastLogIndex: UInt64
    /// The term of the candidate's last log entry.
    public var lastLogTerm: UInt64

    /// Creates a request.
    public init(header: RPCHeader, term: UInt64, lastLogIndex: UInt64, lastLogTerm: UInt64) {
        self.header = header
        self.term = term
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
    }
}

/// A voter's answer to ``RequestPreVoteRequest`` (hashicorp/raft's `RequestPreVoteResponse`).
public struct RequestPreVoteResponse: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The voter's current term (unchanged by the pre-vote).
    public var term: UInt64
    /// Whether the voter would grant a real vote.
    public var granted: Bool

    /// Creates a response.
    public init(header: RPCHeader, term: UInt64, granted: Bool) {
        self.header = header
        self.term = term
        self.granted = granted
    }
}
