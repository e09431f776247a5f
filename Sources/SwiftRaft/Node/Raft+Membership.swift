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
/// A change of the voters that fewer than a quorum of the new voters could carry (the leader,
/// the voters that answered it within ``Config/leaderLeaseTimeout``, and voters not yet in the
/// configuration) throws ``RaftError/Code/quorumWouldBeLost`` and changes nothing.
/// A leader whose removal (or demotion) commits steps down, and with ``Config/shutdownOnRemove``
/// shuts down. See Docs/membership.md.
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

    /// Adds `id` at `address` as a staged voter, and returns once the leader has made it a voter:
    /// the index of the committed configuration entry in which it votes. swift-raft's addition
    /// to hashicorp/raft's calls; ``addVoter(id:address:prevIndex:timeout:)`` keeps hashicorp/raft's
    /// meaning.
    ///
    /// ``addVoter(id:address:prevIndex:timeout:)`` makes a new server count toward the quorum at
    /// once, before it holds any of the log: until it has copied everything, one more failure
    /// among the old voters can stop commits. Here the server first receives the log as a
    /// non-voter (`ServerSuffrage.staging`); the leader appends `AddVoter` for it by itself once
    /// it has stayed within ``Config/stagingCatchUpEntries`` of the leader's last entry, and
    /// answered within ``Config/leaderLeaseTimeout``, for ``Config/stagingStabilityWindow``. A
    /// server already a voter stays one (the call returns once the staging entry commits); a
    /// non-voter is staged. The staging is in the replicated configuration, so if leadership
    /// changes, the next leader promotes the server.
    ///
    /// - Parameters:
    ///   - id: the server's ID.
    ///   - address: the server's address, as its transport reaches it.
    ///   - prevIndex: as for ``addVoter(id:address:prevIndex:timeout:)``, applied to the staging
    ///     entry.
    ///   - timeout: bounds the whole wait, queueing, catching up and promotion included.
    /// - Throws: ``RaftError/Code/timeout`` when the server is not a voter by then (it stays
    ///   staged and is still promoted once caught up); ``RaftError/Code/leadershipLost`` when this
    ///   server stops leading first (the staging entry, once committed, stays, and the next leader
    ///   promotes the server); and the errors of ``addVoter(id:address:prevIndex:timeout:)`` for
    ///   the staging entry itself (``RaftError/Code/enqueueTimeout`` when it could not even be
    ///   appended in time: then nothing changed).
    @discardableResult
    public func addVoterWhenCaughtUp(id: ServerID, address: ServerAddress, prevIndex: UInt64 = 0, timeout: Duration? = nil) async throws -> UInt64 {
        let clock = environment.clock
        let started = clock.now
        // Watch before staging: the mailbox is FIFO, so the watch sees every commit from the
        // staging entry on.
        let promotion = ApplyWaiter()
        guard loop.mailbox.post(.perform { loop in loop.watchPromotion(of: id, waiter: promotion, timeout: timeout) }) else {
            throw RaftError.shutdown
        }
        let stagingIndex: UInt64
        do {
            let remaining = timeout.map { max($0 - (clock.now - started), .zero) }
            stagingIndex = try await changeConfiguration(.addStaging(id, address), prevIndex: prevIndex, timeout: remaining)
        } catch {
            var failure = error
            if let raftError = error as? RaftError, raftError.code == .leadershipLost {
                failure = RaftError(
                    .leadershipLost,
                    "leadership lost before the staging entry for \(id) committed: if it commits under the next leader, "
                        + "that leader promotes \(id) once it has caught up"
                )
            }
            let reported = failure
            _ = loop.mailbox.post(.perform { loop in loop.endPromotionWatch(of: promotion, with: reported) })
            throw failure
        }
        do {
            return try await promotion.outcome().index
        } catch is CancellationError {
            throw RaftError(
                .cancelled,
                "cancelled while \(id) was staged (at index \(stagingIndex)): it stays staged, and the leader promotes it once it has caught up"
            )
        }
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
