/// Sends a snapshot to a follower that is too far behind for the log
/// (hashicorp/raft's `InstallSnapshotRequest`); the snapshot's bytes follow as a stream.
public struct InstallSnapshotRequest: Hashable, Sendable {
    /// Sender identity and protocol version.
    public var header: RPCHeader
    /// The snapshot format version (1).
    public var snapshotVersion: Int
    /// The leader's term.
    public var term: UInt64
    /// The leader's address; deprecated in hashicorp/raft but still sent.
    public var leader: ServerAddress
    /// The last log index the snapshot covers.
    public var lastLogIndex: UInt64
    /// The term of ``lastLogIndex``.
    public var lastLogTerm: UInt64
    /// Legacy peer list (protocol versions below 3).
    public var peers: [UInt8]
    /// The snapshot's cluster configuration, encoded as in a configuration log entry.
    public var configuration: [UInt8]
    /// The log index of that configuration.
    public var configurationIndex: UInt64
    /// The number of snapshot bytes that follow the request.
    public var size: Int64

    /// Creates a request.
    public init(
        header: RPCHeader,
        snapshotVersion: Int = 1,
        term: UInt64,
        leader: ServerAddress,
        lastLogIndex: UInt64,
        lastLogTerm: UInt64,
        peers: [UInt8] = [],
        configuration: [UInt8],
        configurationIndex: UInt64,
        size: Int64
    ) {
        self.header = header
        self.snapshotVersion = snapshotVersion
        self.term = term
        self.leader = leader
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.peers = peers
        self.configuration = configuration
        self.configurationIndex = configurationIndex
        self.size = size
    }
}

/// A follower's answer to ``InstallSnapshotRequest`` (hashicorp/raft's `InstallSnapshotResponse`).
public struct InstallSnapshotResponse: Hashable, Sendable {
    /// Sender identity and protocol version (hashicorp/raft leaves it empty).
    public var header: RPCHeader
    /// The follower's current term.
    public var term: UInt64
    /// Whether the snapshot was installed.
    public var success: Bool

    /// Creates a response.
    public init(header: RPCHeader, term: UInt64, success: Bool) {
        self.header = header
        self.term = term
        self.success = success
    }
}
