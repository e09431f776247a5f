/// The membership of a cluster: which servers exist and which of them vote.
///
/// A configuration travels through the log as a ``LogType/configuration`` entry and takes effect on
/// each server as soon as that entry is appended to its log, before it commits (as in hashicorp/raft).
public struct Configuration: Hashable, Sendable, CustomStringConvertible {
    /// The members, in the order they were listed.
    public var servers: [Server]

    /// Creates a configuration from its members.
    public init(servers: [Server] = []) { self.servers = servers }

    /// The members that vote.
    public var voters: [Server] { servers.filter { $0.suffrage == .voter } }

    /// The member with `id`, if any.
    public func server(withID id: ServerID) -> Server? { servers.first { $0.id == id } }

    /// The member reached at `address`, if any.
    public func server(withAddress address: ServerAddress) -> Server? { servers.first { $0.address == address } }

    /// Whether `id` is a member at all.
    public func contains(_ id: ServerID) -> Bool { server(withID: id) != nil }

    /// Whether `id` is a voting member.
    public func isVoter(_ id: ServerID) -> Bool { server(withID: id)?.suffrage == .voter }

    /// Checks hashicorp/raft's rules for a usable configuration: IDs and addresses non-empty and
    /// unique, and at least one voter.
    public func validate() throws(ConfigurationError) {
        var ids = Set<ServerID>()
        var addresses = Set<ServerAddress>()
        var voters = 0
        for server in servers {
            if server.id.rawValue.isEmpty { throw .emptyID(server) }
            if server.address.rawValue.isEmpty { throw .emptyAddress(server) }
            if !ids.insert(server.id).inserted { throw .duplicateID(server.id) }
            if !addresses.insert(server.address).inserted { throw .duplicateAddress(server.address) }
            if server.suffrage == .voter { voters += 1 }
        }
        if voters == 0 { throw .noVoters }
    }

    /// The members, comma separated.
    public var description: String { "[" + servers.map(\.description).joined(separator: ", ") + "]" }
}

/// Why a ``Configuration`` is not usable.
public enum ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A member has an empty ID.
    case emptyID(Server)
    /// A member has an empty address.
    case emptyAddress(Server)
    /// Two members share an ID.
    case duplicateID(ServerID)
    /// Two members share an address.
    case duplicateAddress(ServerAddress)
    /// No member votes, so no leader could ever be elected.
    case noVoters
    /// A configuration entry's bytes could not be decoded.
    case malformed(String)

    /// A sentence naming the problem.
    public var description: String {
        switch self {
        case .emptyID(let server): return "configuration has a server with an empty ID: \(server)"
        case .emptyAddress(let server): return "configuration has a server with an empty address: \(server)"
        case .duplicateID(let id): return "configuration lists the server ID \(id) more than once"
        case .duplicateAddress(let address): return "configuration lists the address \(address) more than once"
        case .noVoters: return "configuration has no voter"
        case .malformed(let why): return "malformed configuration entry: \(why)"
        }
    }
}
