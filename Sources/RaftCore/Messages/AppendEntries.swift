/// Replicates log entries from a leader, and doubles as its heartbeat
/// (hashicorp/raft's `AppendEntriesRequest`).
public struct AppendEntriesRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The leader's term.
    public var term: UInt64
    /// The leader's address; deprecated in hashicorp/raft but still sent for older peers.
    public var leader: ServerAddress
    /// The index of the entry just before ``entries``.
    public var prevLogEntry: UInt64
    /// The term of the entry at ``prevLogEntry``.
    public var prevLogTerm: UInt64
    /// The entries to append, consecutive, starting at `prevLogEntry + 1`.
    public var entries: [Log]
    /// The leader's commit index.
    public var leaderCommitIndex: UInt64

    /// Creates a request.
    public init(
        header: RPCHeader,
        term: UInt64,
        leader: ServerAddress,
        prevLogEntry: UInt64 = 0,
        prevLogTerm: UInt64 = 0,
        entries: [Log] = [],
        leaderCommitIndex: UInt64 = 0
    ) {
        self.header = header
        self.term = term
        self.leader = leader
        self.prevLogEntry = prevLogEntry
        self.prevLogTerm = prevLogTerm
        self.entries = entries
        self.leaderCommitIndex = leaderCommitIndex
    }

    /// Whether this is a bare heartbeat in hashicorp/raft's sense (no log position, no entries, no
    /// commit index), which a receiver may handle on a fast path without touching its disk.
    public var isHeartbeat: Bool {
        term != 0 && prevLogEntry == 0 && prevLogTerm == 0 && entries.isEmpty && leaderCommitIndex == 0
    }
}

extension AppendEntriesRequest {
    /// Bytes an AppendEntries may take on hashicorp/raft's wire (msgpack) beyond its entries and
    /// the strings in its header: field names, integers and framing, about 250 in go-msgpack's
    /// encoding, rounded up generously.
    public static let fixedEncodingOverhead = 512
    /// Bytes one entry may take beyond its data and extensions: its index, term, type, timestamp
    /// and the field names, about 100 in go-msgpack's encoding, rounded up.
    public static let entryEncodingOverhead = 128

    /// An upper bound of this request's encoded size on hashicorp/raft's wire: what a transport
    /// that limits its frames must accept for the request to get through.
    public var encodedSizeBound: Int {
        var size = Self.fixedEncodingOverhead + header.id.rawValue.utf8.count + header.address.rawValue.utf8.count
            + leader.rawValue.utf8.count
        for entry in entries { size += Self.entryEncodingOverhead + entry.data.count + entry.extensions.count }
        return size
    }
}

/// A follower's answer to ``AppendEntriesRequest`` (hashicorp/raft's `AppendEntriesResponse`).
public struct AppendEntriesResponse: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The follower's current term, so a stale leader learns it is stale.
    public var term: UInt64
    /// The follower's last log index: the leader's hint for where to resume after a rejection.
    public var lastLog: UInt64
    /// Whether the entries matched and are now durable on the follower.
    public var success: Bool
    /// Set on a log mismatch so the leader retries at once instead of backing off.
    public var noRetryBackoff: Bool

    /// Creates a response.
    public init(header: RPCHeader, term: UInt64, lastLog: UInt64, success: Bool, noRetryBackoff: Bool = false) {
        self.header = header
        self.term = term
        self.lastLog = lastLog
        self.success = success
        self.noRetryBackoff = noRetryBackoff
    }
}
