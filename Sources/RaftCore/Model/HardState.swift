/// The state a server must keep durable before it answers: its term and whom it voted for.
///
/// Stored through the `StableStore` keys hashicorp/raft uses: `CurrentTerm`, `LastVoteTerm`,
/// `LastVoteCand`.
public struct HardState: Hashable, Sendable, CustomStringConvertible {
    /// The latest term this server has seen.
    public var currentTerm: UInt64
    /// The term of the last vote cast, or 0 if none.
    public var lastVoteTerm: UInt64
    /// The candidate voted for in ``lastVoteTerm``.
    public var lastVoteCandidate: ServerID?

    /// Creates a hard state.
    public init(currentTerm: UInt64 = 0, lastVoteTerm: UInt64 = 0, lastVoteCandidate: ServerID? = nil) {
        self.currentTerm = currentTerm
        self.lastVoteTerm = lastVoteTerm
        self.lastVoteCandidate = lastVoteCandidate
    }

    /// `term=… vote=…@…`.
    public var description: String {
        "term=\(currentTerm) vote=\(lastVoteCandidate?.rawValue ?? "none")@\(lastVoteTerm)"
    }
}
