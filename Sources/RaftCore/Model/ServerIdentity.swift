/// The stable, unique identity of a server in a Raft cluster (hashicorp/raft's `ServerID`).
///
/// An ID never changes for the life of a server, even when its network address does.
public struct ServerID: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The identifier's text.
    public var rawValue: String

    /// Creates an ID from its text.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates an ID from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// The identifier's text.
    public var description: String { rawValue }

    /// Orders IDs by their text, so that iteration over servers can be made deterministic.
    public static func < (lhs: ServerID, rhs: ServerID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The network address at which a transport reaches a server (hashicorp/raft's `ServerAddress`).
///
/// Its meaning belongs to the transport: `host:port` for TCP, any unique name for the in-memory
/// transport.
public struct ServerAddress: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The address's text.
    public var rawValue: String

    /// Creates an address from its text.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates an address from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// The address's text.
    public var description: String { rawValue }

    /// Orders addresses by their text.
    public static func < (lhs: ServerAddress, rhs: ServerAddress) -> Bool { lhs.rawValue < rhs.rawValue }
}
