/// The header every RPC carries (hashicorp/raft's `RPCHeader`, flattened into each message on the
/// wire).
public struct RPCHeader: Hashable, Sendable {
    /// The sender's protocol version; swift-raft sends 3.
    public var protocolVersion: Int
    /// The sender's server ID (empty from hashicorp/raft before 1.3.7).
    public var id: ServerID
    /// The sender's address (empty from hashicorp/raft before 1.3.7).
    public var address: ServerAddress

    /// Creates a header.
    public init(protocolVersion: Int = 3, id: ServerID = "", address: ServerAddress = "") {
        self.protocolVersion = protocolVersion
        self.id = id
        self.address = address
    }
}
