/// The body of `POST /servers`: a server to add to the cluster.
public struct KVServerJoin: Codable, Sendable, Equatable {
    /// The new server's id.
    public var id: String
    /// Its Raft (transport) address, `host:port`.
    public var raft: String
    /// Its HTTP address, `host:port`, recorded so others can send clients to it when it leads.
    public var http: String
    /// Whether it votes (`addVoter`) or only receives the log (`addNonvoter`); absent means true.
    public var voter: Bool?

    /// Creates a join request.
    public init(id: String, raft: String, http: String, voter: Bool? = nil) {
        self.id = id
        self.raft = raft
        self.http = http
        self.voter = voter
    }
}
