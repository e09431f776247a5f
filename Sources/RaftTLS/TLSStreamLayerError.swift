/// Why a ``TLSStreamLayer`` could not be set up, or refused or failed a connection.
///
/// A failed dial reaches Raft as `RaftError(.unreachable)` whose message carries this error's
/// description, so the reason a peer was refused is in the node's logs and in the call's error.
public struct TLSStreamLayerError: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure.
    public enum Code: Sendable, Hashable {
        /// A certificate, key or trust root file could not be read.
        case unreadableFile
        /// The configuration or its PEM material is unusable: no certificate in a chain, a key
        /// that does not parse or does not match its certificate, an unsupported TLS version.
        case invalidConfiguration
        /// The TLS handshake failed: the peer's certificate did not verify (another authority,
        /// expired, not naming the address dialed, missing), or the peer does not speak TLS.
        case handshakeFailed
        /// The handshake did not finish within ``TLSStreamLayer/Configuration/handshakeTimeout``.
        case handshakeTimedOut
        /// The peer's certificate verified, but names none of
        /// ``TLSStreamLayer/Configuration/allowedPeerNames``.
        case peerNotAllowed
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, for people.
    public let message: String

    /// An error of kind `code`, explained by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
