/// Membership changes: hashicorp/raft's `AddVoter`, `AddNonvoter`, `DemoteVoter` and
/// `RemoveServer`, called on the leader.
///
/// Each appends a configuration entry that takes effect on every server as soon as it is
/// appended there, and returns its log index once it is committed here. One change is in flight
/// at a time: a call made while another change is uncommitted waits for it. `timeout` bounds the
/// whole call, as ``apply(_:timeout:)``'s does: ``RaftError/Code/enqueueTimeout`` while the
/// change waits its turn (it is then never appended), ``RaftError/Code/timeout`` once it is in
/// the log (it may still commit). `prevIndex`, when not 0, makes the call fail unless the latest
/// configuration is still the one at that index (see ``getConfiguration()``), so two operators
/// cannot undo each other's change unseen. Errors mean what ``apply(_:timeout:)``'s do; a change
/// that would leave no voter, or a `prevIndex` that no longer matches, throws
/// ``RaftError/Code/invalidArgument``.
/// A leader whose removal (or demotion) commits steps down, and with ``Config/shutdownOnRemove``
/// shuts down.
extension Raft {
    /// Adds `id` at `address` as a voter, or promotes it if it is a non-voter (hashicorp/raft's
    /// `AddVoter`). Returns the configuration entry's index.
    @discardableResult
    public func addVoter(id: ServerID, address: ServerAddress, prevIndex: UInt64 = 0, timeout: Duration? = nil) async throws -> UInt64 {
        try await changeConfiguration(.addVoter(id, address), prevIndex: prevIndex, timeout: timeout)
    }

    /// Adds `id` at `address` as a non-voter, which receives the log but neither votes nor
    /// campaigns; a server already in the configuration keeps its suffrage and takes the address
    /// (hashicorp/raft's `AddNonvoter`).
    @discardableResult
    public func addNonvoter(id: ServerID, address: ServerAddress, prevIndex: UInt64 = 0, timeout: Duration? = nil) async throws -> UInt64 {
        try await changeConfiguration(.addNonvoter(id, address), prevIndex: prevIndex, timeout: timeout)
    }

    /// Makes voter `id` a non-voter (hashicorp/raft's `DemoteVoter`).
    @discardableResult
    public func demoteVoter(id: ServerID, prevIndex: UInt64 = 0, timeout: Duration? = nil) async throws -> UInt64 {
        try await changeConfiguration(.demoteVoter(id), prevIndex: prevIndex, timeout: timeout)
    }

    /// Removes `id` from the cluster (hashicorp/raft's `RemoveServer`); removing the leader
    /// itself makes it step down once the change commits.
    @discardableResult
    public func removeServer(id: ServerID, prevIndex: UInt64 = 0, timeout: Duration? = nil) async throws -> UInt64 {
        try await changeConfiguration(.removeServer(id), prevIndex: prevIndex, timeout: timeout)
    }

    private func changeConfiguration(_ change: ConfigurationChange, prevIndex: UInt64, timeout: Duration?) async throws -> UInt64 {
        let current = observed.leadership
        guard current.state != .shutdown else { throw RaftError.shutdown }
        guard current.state == .leader else { throw RaftError.notLeader(current.leader) }
        let clock = environment.clock
        let started = clock.now
        try await loop.applyLimiter.acquire(timeout: timeout, clock: clock)
        let remaining = timeout.map { max($0 - (clock.now - started), .zero) }
        let waiter = ApplyWaiter(timeout: timeout, start: started)
        let posted = loop.mailbox.post(
            .perform { loop in loop.requestConfigurationChange(change, prevIndex: prevIndex, waiter: waiter, timeout: remaining) }
        )
        guard posted else {
            loop.applyLimiter.release()
            throw RaftError.shutdown
        }
        return try await waiter.outcome().index
    }
}

/// Leadership transfer: hashicorp/raft's `LeadershipTransfer` and `LeadershipTransferToServer`.
extension Raft {
    /// Hands leadership to the voter whose log is most up to date. See
    /// ``leadershipTransfer(to:)``.
    public func leadershipTransfer() async throws {
        try await transferLeadership(to: nil)
    }

    /// Hands leadership to voter `id`: this leader stops taking applies and membership changes
    /// (they fail with ``RaftError/Code/leadershipTransferInProgress``), brings `id` up to date,
    /// and sends it TimeoutNow, on which it campaigns at once, skipping pre-vote. Returns when this
    /// server has stepped down.
    ///
    /// - Throws: ``RaftError/Code/timeout`` when no other server took over within an election
    ///   timeout (this one leads on, and takes applies again); ``RaftError/Code/notLeader``;
    ///   ``RaftError/Code/leadershipTransferInProgress`` while another transfer runs;
    ///   ``RaftError/Code/invalidArgument`` when `id` is not a voter.
    public func leadershipTransfer(to id: ServerID) async throws {
        try await transferLeadership(to: id)
    }

    private func transferLeadership(to target: ServerID?) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let posted = loop.mailbox.post(.perform { loop in loop.transferLeadership(to: target, continuation: continuation) })
            if !posted { continuation.resume(throwing: RaftError.shutdown) }
        }
    }
}
