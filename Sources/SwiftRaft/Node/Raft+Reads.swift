/// Linearizable reads without a log write.
extension Raft {
    /// Returns an index through which a read of this node's FSM is linearizable, once this
    /// node's FSM has applied through it: read the FSM right after the call returns (ReadIndex,
    /// Raft thesis §6.4).
    ///
    /// On the leader: its commit index, confirmed by a quorum acknowledging a heartbeat sent
    /// after the call (so no other leader can have committed anything newer), and only once an
    /// entry of its own term has committed; with ``Config/leaseReads``, at once while its lease
    /// holds. Nothing is written to the log and nothing is synced to disk; concurrent calls share
    /// one round of heartbeats. Unlike ``barrier(timeout:)``, it costs no log entry; unlike
    /// ``verifyLeader()`` alone, it also waits for the FSM.
    ///
    /// On a follower: the leader's read index, asked for over the transport (a ReadIndex RPC,
    /// swift-raft's own; concurrent calls share requests), then a wait until this node's FSM has
    /// applied through it. So any node serves linearizable reads.
    ///
    /// ```swift
    /// func read(_ raft: Raft, key: String, from store: [String: String]) async throws -> String? {
    ///     try await raft.readIndex(timeout: .seconds(1))
    ///     return store[key]   // the FSM's state, which now includes every write acknowledged before the call
    /// }
    /// ```
    ///
    /// - Parameter timeout: how long to wait for the confirmation and the FSM, to within one tick
    ///   of the node (as `apply`'s); nil waits as long as leadership lasts. Cancelling the calling task does not end the wait sooner: a read
    ///   that must give up at a moment of its own passes a timeout.
    /// - Throws: ``RaftError/Code/notLeader`` when no leader is known, or the server asked
    ///   no longer leads (naming the new leader when known); ``RaftError/Code/leadershipLost``
    ///   when the leader stopped leading before a quorum confirmed it;
    ///   ``RaftError/Code/unreachable`` when a follower's leader did not answer;
    ///   ``RaftError/Code/unsupportedProtocol`` when a follower's leader is not swift-raft
    ///   (hashicorp/raft has no ReadIndex RPC: read on the leader there);
    ///   ``RaftError/Code/timeout``; ``RaftError/Code/shutdown``. None of them leaves anything
    ///   behind: retry.
    @discardableResult
    public func readIndex(timeout: Duration? = nil) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UInt64, any Error>) in
            let posted = loop.mailbox.post(.perform { loop in loop.requestReadIndex(timeout: timeout, continuation: continuation) })
            if !posted { continuation.resume(throwing: RaftError.shutdown) }
        }
    }
}
