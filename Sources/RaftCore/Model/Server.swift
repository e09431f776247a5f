/// Whether a server's vote counts (hashicorp/raft's `ServerSuffrage`; raw values match its wire form).
public enum ServerSuffrage: Int, Hashable, Sendable, CustomStringConvertible {
    /// Votes in elections and counts toward the commit quorum.
    case voter = 0
    /// Receives the log but does not vote and is not counted toward a quorum.
    case nonvoter = 1
    /// A voter still catching up: treated as a non-voter until a swift-raft leader promotes it
    /// (``ConfigurationChange/addStaging(_:_:)``). hashicorp/raft reserves it but never assigns it.
    case staging = 2

    /// `Voter`, `Nonvoter` or `Staging`, as hashicorp/raft prints them.
    public var description: String {
        switch self {
        case .voter: return "Voter"
        case .nonvoter: return "Nonvoter"
        case .staging: return "Staging"
        }
    }
}

/// One member of a cluster configuration.
public struct Server: Hashable, Sendable, CustomStringConvertible {
    /// Whether this server votes.
    public var suffrage: ServerSuffrage
    /// The server's stable identity.
    public var id: ServerID
    /// Where the transport reaches the server.
    public var address: ServerAddress

    /// Creates a configuration member.
    public init(suffrage: ServerSuffrage = .voter, id: ServerID, address: ServerAddress) {
        self.suffrage = suffrage
        self.id = id
        self.address = address
    }

    /// `id@address (Suffrage)`.
    public var description: String { "\(id)@\(address) (\(suffrage))" }
}
