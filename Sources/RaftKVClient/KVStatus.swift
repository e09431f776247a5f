/// A raftkv node's `GET /status`, decoded.
public struct KVStatus: Codable, Sendable, Equatable {
    /// One member of the cluster's latest configuration.
    public struct Server: Codable, Sendable, Equatable {
        /// The server's id.
        public var id: String
        /// Its Raft (transport) address.
        public var address: String
        /// "Voter", "Nonvoter" or "Staging".
        public var suffrage: String

        /// Creates a member.
        public init(id: String, address: String, suffrage: String) {
            self.id = id
            self.address = address
            self.suffrage = suffrage
        }
    }

    /// The node's id.
    public var id: String
    /// "Leader", "Follower", "Candidate" or "Shutdown".
    public var role: String
    /// The node's current term.
    public var term: UInt64
    /// The leader's HTTP address (`host:port`), "" when unknown.
    public var leader: String
    /// The leader's id, "" when unknown.
    public var leaderID: String
    /// The node's commit index.
    public var commit: UInt64
    /// The index its key-value store has applied.
    public var applied: UInt64
    /// The index of the last entry in its log.
    public var lastIndex: UInt64
    /// The address its Raft transport advertises.
    public var raftAddress: String
    /// The address its HTTP server listens on.
    public var httpAddress: String
    /// The members of the latest configuration it knows.
    public var servers: [Server]

    /// Creates a status.
    public init(
        id: String, role: String, term: UInt64, leader: String, leaderID: String, commit: UInt64,
        applied: UInt64, lastIndex: UInt64, raftAddress: String, httpAddress: String, servers: [Server]
    ) {
        self.id = id
        self.role = role
        self.term = term
        self.leader = leader
        self.leaderID = leaderID
        self.commit = commit
        self.applied = applied
        self.lastIndex = lastIndex
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.servers = servers
    }

    /// Whether the node is the leader.
    public var isLeader: Bool { role == "Leader" }

    enum CodingKeys: String, CodingKey {
        case id, role, term, leader, commit, applied, servers
        case leaderID = "leader_id"
        case lastIndex = "last_index"
        case raftAddress = "raft_address"
        case httpAddress = "http_address"
    }
}
