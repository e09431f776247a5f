/// An RPC request, as the core sees it and as transports carry it: one representation from the
/// core to the wire.
public enum RaftRequest: Hashable, Sendable {
    case appendEntries(AppendEntriesRequest)
    case requestVote(RequestVoteRequest)
    case requestPreVote(RequestPreVoteRequest)
    case timeoutNow(TimeoutNowRequest)
    /// The snapshot's bytes travel beside the request (the transport streams them); the core
    /// sees only the request.
    case installSnapshot(InstallSnapshotRequest)
    /// A follower asks the leader for a read index (swift-raft only: a hashicorp/raft server
    /// closes the connection on it, which transports report as
    /// ``RequestFailure/unsupportedByPeer``).
    case readIndex(ReadIndexRequest)
}

/// An RPC response, as the core sees it and as transports carry it.
public enum RaftResponse: Hashable, Sendable {
    case appendEntries(AppendEntriesResponse)
    case requestVote(RequestVoteResponse)
    case requestPreVote(RequestPreVoteResponse)
    case timeoutNow(TimeoutNowResponse)
    case installSnapshot(InstallSnapshotResponse)
    case readIndex(ReadIndexResponse)
}

/// Names an incoming request whose reply the core produces, possibly in a later ``Ready``.
///
/// The shell picks the value (any unique number) and uses it to route the reply back to the
/// transport that delivered the request.
public struct RequestToken: Hashable, Sendable, CustomStringConvertible {
    /// The shell's number for the request.
    public var rawValue: UInt64

    /// Creates a token.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `#n`.
    public var description: String { "#\(rawValue)" }
}

/// What the core needs to make sense of the answer to a request it sent. The shell hands it back
/// unchanged with the response (``RaftInstance/receive(response:context:)``) or the failure
/// (``RaftInstance/requestFailed(context:reason:)``).
public struct RequestContext: Hashable, Sendable {
    /// What kind of request was sent.
    public enum Kind: Hashable, Sendable {
        case heartbeat
        case appendEntries
        case requestVote
        case requestPreVote
        case timeoutNow
        case installSnapshot
        case readIndex
    }

    /// The kind of request.
    public var kind: Kind
    /// The peer it went to.
    public var peer: ServerID
    /// The sender's term when it was sent (for a pre-vote: the proposed term).
    public var term: UInt64
    /// For AppendEntries: the index before the first entry sent.
    public var prevLogIndex: UInt64 = 0
    /// For AppendEntries: the index of the last entry sent (or ``prevLogIndex`` when none). For
    /// InstallSnapshot: the snapshot's last index.
    public var lastIndex: UInt64 = 0
    /// For AppendEntries: bytes of entry data sent, for the in-flight byte window.
    public var bytes: Int = 0
    /// The follower's replication epoch when sent.
    public var epoch: UInt64 = 0
    /// The leader's heartbeat round when sent, for ``RaftInstance/verifyLeader(_:)``. For a
    /// read index request: the batch of reads it asks for.
    public var round: UInt64 = 0
    /// The sender's tick count when sent: a leader's lease runs from the sending of the newest
    /// request a quorum acknowledged (``RaftInstance/leaseBasis``).
    public var sentAt: UInt64 = 0
}

/// A request the core wants sent.
public struct OutboundRequest: Hashable, Sendable {
    /// Where to send it.
    public var target: Server
    /// The request.
    public var request: RaftRequest
    /// To be handed back with the answer.
    public var context: RequestContext
}

/// A reply to an earlier incoming request.
public struct OutboundReply: Hashable, Sendable {
    /// The request being answered.
    public var token: RequestToken
    /// The answer.
    public var response: RaftResponse
}

/// Why a request the core asked for got no response.
public enum RequestFailure: Hashable, Sendable {
    /// The peer could not be reached, timed out, or answered with an error.
    case unreachable
    /// The peer does not know the pre-vote RPC (hashicorp/raft before 1.7). It is counted as a
    /// grant, as hashicorp/raft 1.7 does, so a mixed cluster can still elect.
    case preVoteUnsupported
    /// The peer does not know the request at all (a hashicorp/raft server asked for a read
    /// index): a transport reports a request of a kind swift-raft added this way.
    case unsupportedByPeer
}

/// Entries the leader needs from the log store because they are no longer in memory.
public struct EntryLoad: Hashable, Sendable {
    /// The follower they are for.
    public var peer: ServerID
    /// The first index to load (the entry before the ones to send, for its term).
    public var firstIndex: UInt64
    /// The last index to load.
    public var lastIndex: UInt64
    /// The follower's replication epoch when asked.
    public var epoch: UInt64
}

/// A proposal for the leader to append.
public struct Proposal: Hashable, Sendable {
    /// The entry's type: ``LogType/command``, ``LogType/barrier`` or ``LogType/configuration``.
    public var type: LogType
    /// The command bytes.
    public var data: [UInt8]
    /// Opaque application bytes.
    public var extensions: [UInt8]
    /// The leader's wall-clock time, recorded in the entry.
    public var appendedAt: LogTimestamp

    /// Creates a proposal.
    public init(type: LogType = .command, data: [UInt8], extensions: [UInt8] = [], appendedAt: LogTimestamp = .unset) {
        self.type = type
        self.data = data
        self.extensions = extensions
        self.appendedAt = appendedAt
    }
}

/// Why the core refused a proposal.
public enum ProposalRejection: Error, Hashable, Sendable {
    /// This server is not the leader; the known leader, if any, is named.
    case notLeader(leader: Server?)
    /// This leader is handing leadership over (``RaftInstance/transferLeadership(to:)``).
    case leadershipTransferInProgress
}

/// The role a server plays in its current term (hashicorp/raft's `RaftState`, without `Shutdown`,
/// which belongs to the shell).
public enum RaftRole: Hashable, Sendable, CustomStringConvertible {
    case follower
    case candidate
    case leader

    /// `Follower`, `Candidate` or `Leader`.
    public var description: String {
        switch self {
        case .follower: return "Follower"
        case .candidate: return "Candidate"
        case .leader: return "Leader"
        }
    }
}
