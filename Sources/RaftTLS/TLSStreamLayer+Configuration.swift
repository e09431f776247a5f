extension TLSStreamLayer {
    /// What a node presents and whom it trusts.
    ///
    /// The defaults are those of a cluster that trusts only its own authority: every connection
    /// is mutually authenticated (a node presents its certificate when it dials, and a server
    /// refuses a client without one), a dialed server's certificate must name the address
    /// dialed, and nothing older than TLS 1.2 is spoken.
    public struct Configuration: Sendable {
        /// This node's certificate, then any intermediates, presented both when it accepts and
        /// when it dials (a node is a server and a client of its peers).
        public var certificateChain: PEMSource
        /// The private key of the first certificate of ``certificateChain``.
        public var privateKey: PEMSource
        /// The authorities a peer's certificate must chain to (usually the cluster's own CA,
        /// not the system's roots).
        public var trustRoots: PEMSource
        /// Whether a server refuses clients that present no certificate chaining to
        /// ``trustRoots`` (mutual TLS). On by default: without it any process that can reach
        /// the port can send Raft RPCs.
        public var requireClientCertificates: Bool
        /// Whether a dialed server's certificate must name the host dialed, as a DNS name or an
        /// IP address in its subject alternative names (so peers' addresses must be in their
        /// certificates). On by default.
        public var verifyServerAddress: Bool
        /// When not empty, a peer (server or client) is accepted only if its certificate names
        /// one of these, as a DNS or IP subject alternative name: a cluster's allow-list, on top
        /// of the authority's signature. Empty by default (any certificate from ``trustRoots``).
        public var allowedPeerNames: Set<String>
        /// The oldest TLS version spoken.
        public var minimumVersion: MinimumVersion
        /// How long a connection may take to finish its handshake before it is closed: a peer
        /// that connects and says nothing costs a file descriptor, not a hung dial.
        public var handshakeTimeout: Duration

        /// The oldest TLS version a ``TLSStreamLayer`` speaks. There is no value for anything
        /// older than TLS 1.2.
        public enum MinimumVersion: Sendable, Hashable {
            /// TLS 1.2 and 1.3.
            case tls12
            /// TLS 1.3 only.
            case tls13
        }

        /// A configuration with this node's certificate chain and key and the authorities it
        /// trusts; mutual authentication, server address checks and TLS 1.2+ by default.
        public init(
            certificateChain: PEMSource,
            privateKey: PEMSource,
            trustRoots: PEMSource,
            requireClientCertificates: Bool = true,
            verifyServerAddress: Bool = true,
            allowedPeerNames: Set<String> = [],
            minimumVersion: MinimumVersion = .tls12,
            handshakeTimeout: Duration = .seconds(10)
        ) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.trustRoots = trustRoots
            self.requireClientCertificates = requireClientCertificates
            self.verifyServerAddress = verifyServerAddress
            self.allowedPeerNames = allowedPeerNames
            self.minimumVersion = minimumVersion
            self.handshakeTimeout = handshakeTimeout
        }
    }
}
