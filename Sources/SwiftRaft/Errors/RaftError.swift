/// The one error type of swift-raft's public API.
///
/// Compare by ``code``: codes mirror hashicorp/raft's sentinel errors, and new ones can be added
/// without breaking anyone's `switch` (the style of swift-service-lifecycle's `ServiceGroupError`).
public struct RaftError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notLeader, leadershipLost, abortedByRestore, shutdown, enqueueTimeout
            case nothingNewToSnapshot, unsupportedProtocol, pipelineReplicationNotSupported
            case transportShutdown, pipelineShutdown, cantBootstrap, leadershipTransferInProgress
            case notVoter, logNotFound, invalidConfig, timeout, unreachable, storage
            case preVoteUnsupported, corrupt, invalidArgument, cancelled, quorumWouldBeLost
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// This server is not the leader (hashicorp's `ErrNotLeader`); ``RaftError/leader`` names
        /// the leader if one is known.
        public static let notLeader = Code(.notLeader)
        /// Leadership was lost before the entry committed; it may or may not commit later
        /// (`ErrLeadershipLost`).
        public static let leadershipLost = Code(.leadershipLost)
        /// A user restore aborted the operation (`ErrAbortedByRestore`).
        public static let abortedByRestore = Code(.abortedByRestore)
        /// Raft was shut down (`ErrRaftShutdown`).
        public static let shutdown = Code(.shutdown)
        /// The request could not be queued within its timeout (`ErrEnqueueTimeout`).
        public static let enqueueTimeout = Code(.enqueueTimeout)
        /// Nothing was applied since the last snapshot (`ErrNothingNewToSnapshot`).
        public static let nothingNewToSnapshot = Code(.nothingNewToSnapshot)
        /// The operation needs a newer protocol version (`ErrUnsupportedProtocol`).
        public static let unsupportedProtocol = Code(.unsupportedProtocol)
        /// The transport has no AppendEntries pipeline (`ErrPipelineReplicationNotSupported`).
        public static let pipelineReplicationNotSupported = Code(.pipelineReplicationNotSupported)
        /// The transport was closed (`ErrTransportShutdown`).
        public static let transportShutdown = Code(.transportShutdown)
        /// The pipeline was closed (`ErrPipelineShutdown`).
        public static let pipelineShutdown = Code(.pipelineShutdown)
        /// Bootstrap is only allowed on a server with no state (`ErrCantBootstrap`).
        public static let cantBootstrap = Code(.cantBootstrap)
        /// A leadership transfer is under way (`ErrLeadershipTransferInProgress`).
        public static let leadershipTransferInProgress = Code(.leadershipTransferInProgress)
        /// The operation needs this server to be a voter (`ErrNotVoter`).
        public static let notVoter = Code(.notVoter)
        /// The log has no entry at the index asked for (`ErrLogNotFound`).
        public static let logNotFound = Code(.logNotFound)
        /// A ``Config`` value breaks a rule; the message names the field.
        public static let invalidConfig = Code(.invalidConfig)
        /// A peer did not answer in time, or a call ran out of its timeout (an `apply` whose
        /// command is already in the log: its message says whether it committed).
        public static let timeout = Code(.timeout)
        /// A peer could not be reached.
        public static let unreachable = Code(.unreachable)
        /// A store failed to read or write.
        public static let storage = Code(.storage)
        /// The peer does not know the RequestPreVote RPC (hashicorp/raft before 1.7).
        public static let preVoteUnsupported = Code(.preVoteUnsupported)
        /// Stored or received data failed a validity check.
        public static let corrupt = Code(.corrupt)
        /// An argument breaks a documented rule.
        public static let invalidArgument = Code(.invalidArgument)
        /// The caller's task was cancelled after its command entered the log: the command may
        /// still commit and be applied (the message says whether it had committed already). A
        /// call cancelled before its command entered the log throws `CancellationError` instead,
        /// and the command is certainly not applied.
        public static let cancelled = Code(.cancelled)
        /// A membership change was refused because the voters of the configuration it would make
        /// that the leader knows reachable are fewer than a quorum of them: committing it would
        /// leave a cluster that cannot elect a leader or commit. The message names the voters
        /// not heard from. swift-raft's addition; hashicorp/raft makes the change.
        public static let quorumWouldBeLost = Code(.quorumWouldBeLost)

        /// The code's name.
        public var description: String { "\(base)" }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence describing this failure.
    public let message: String
    /// For ``Code/notLeader``: the leader, if this server knows one.
    public let leader: Server?

    /// Creates an error.
    public init(_ code: Code, _ message: String, leader: Server? = nil) {
        self.code = code
        self.message = message
        self.leader = leader
    }

    /// Errors are equal when their codes are.
    public static func == (lhs: RaftError, rhs: RaftError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    // MARK: Common errors

    /// This server is not the leader; `leader` is the one it knows of.
    public static func notLeader(_ leader: Server?) -> RaftError {
        RaftError(.notLeader, "node is not the leader" + (leader.map { "; leader is \($0)" } ?? ""), leader: leader)
    }

    /// Raft was shut down.
    public static let shutdown = RaftError(.shutdown, "raft is already shutdown")

    /// Leadership was lost before the entry committed.
    public static let leadershipLost = RaftError(.leadershipLost, "leadership lost while committing log")
}
