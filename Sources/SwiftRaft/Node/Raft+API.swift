/// The operations an application calls: hashicorp/raft's API, spelled the Swift way.
extension Raft {
    // MARK: - Writing

    /// Replicates `command` and applies it to every FSM; returns once the leader's FSM applied it
    /// (hashicorp/raft's `Apply`).
    ///
    /// What bounds the wait: `timeout` bounds only the wait for room to queue the command, as in
    /// hashicorp/raft. The commit itself is bounded by leadership: a leader that cannot reach a
    /// quorum steps down within ``Config/leaderLeaseTimeout`` and the call fails with
    /// ``RaftError/Code/leadershipLost``. To give up sooner, cancel the calling task.
    ///
    /// What an error means for the command:
    /// - **Certainly not applied** (thrown before the command entered the log):
    ///   ``RaftError/Code/notLeader`` (naming the leader if known), ``RaftError/Code/enqueueTimeout``,
    ///   ``RaftError/Code/invalidArgument`` (larger than ``maxCommandSize``),
    ///   ``RaftError/Code/shutdown`` thrown before the call queued, and `CancellationError`.
    /// - **Outcome unknown** (the command is in the log and may still commit, here or under the
    ///   next leader): ``RaftError/Code/leadershipLost``, ``RaftError/Code/cancelled`` (the task
    ///   was cancelled; the message says whether the command had committed already) and
    ///   ``RaftError/Code/shutdown`` after it queued. Retry only commands that are safe to apply
    ///   twice, or make them so (a client ID and sequence number the FSM deduplicates).
    ///
    /// - Parameters:
    ///   - command: the bytes handed to ``FSM/apply(_:)`` as ``Log/data``.
    ///   - timeout: how long to wait for room to queue the command (``Config/maxPendingApplies``).
    ///     Nil waits as long as needed.
    /// - Returns: the index the command committed at and the leader FSM's response.
    public nonisolated func apply(_ command: [UInt8], timeout: Duration? = nil) async throws -> ApplyResult {
        try await applyLog(data: command, extensions: [], timeout: timeout)
    }

    /// Like ``apply(_:timeout:)``, with ``Log/extensions`` as well (hashicorp/raft's `ApplyLog`:
    /// only data and extensions are taken from the caller).
    public nonisolated func applyLog(data: [UInt8], extensions: [UInt8], timeout: Duration? = nil) async throws -> ApplyResult {
        let proposal = Proposal(type: .command, data: data, extensions: extensions, appendedAt: environment.clock.wallClockNow)
        return try await propose(proposal, timeout: timeout).outcome()
    }

    /// Returns once every entry before it has been applied to this leader's FSM (hashicorp/raft's
    /// `Barrier`); use it after winning an election to read an FSM that is up to date. Its errors
    /// mean what ``apply(_:timeout:)``'s do.
    public nonisolated func barrier(timeout: Duration? = nil) async throws {
        let proposal = Proposal(type: .barrier, data: [], appendedAt: environment.clock.wallClockNow)
        _ = try await propose(proposal, timeout: timeout).outcome()
    }

    /// Appends `proposal` to the log and returns what its caller waits on. The wait itself happens
    /// off the node, in the caller's own context (``ApplyWaiter/outcome()``), so the FSM thread's
    /// answer goes straight to the caller without passing through the node again.
    private func propose(_ proposal: Proposal, timeout: Duration?) async throws -> ApplyWaiter {
        guard !isShutdown else { throw RaftError.shutdown }
        guard core.currentRole == .leader else { throw RaftError.notLeader(core.currentLeader) }
        if let limit = maxCommandSize, proposal.data.count + proposal.extensions.count > limit {
            throw RaftError(
                .invalidArgument,
                "command of \(proposal.data.count + proposal.extensions.count) bytes exceeds the largest the transport "
                    + "can replicate, \(limit) bytes (its maxMessageSize less an AppendEntries' framing)"
            )
        }
        try await applyLimiter.acquire(timeout: timeout, clock: environment.clock)
        // The wait above may have suspended: everything is checked again.
        guard !isShutdown else {
            applyLimiter.release()
            throw RaftError.shutdown
        }
        if Task.isCancelled {
            applyLimiter.release()
            throw CancellationError()
        }
        let waiter: ApplyWaiter
        switch core.propose([proposal]) {
        case .success(let indexes):
            waiter = ApplyWaiter(index: indexes.lowerBound)
            pendingApplies[indexes.lowerBound] = PendingApply(term: core.currentTerm, waiter: waiter)
            scheduleFlush()
        case .failure(.notLeader(let leader)):
            applyLimiter.release()
            throw RaftError.notLeader(leader)
        }
        return waiter
    }

    // MARK: - Leadership

    /// Confirms this node is still the leader by hearing from a quorum after the call
    /// (hashicorp/raft's `VerifyLeader`). Use before serving a read that must be linearizable.
    /// It writes nothing, so no error leaves anything behind; it waits at most about one
    /// ``Config/leaderLeaseTimeout``, after which a leader that heard from no quorum steps down.
    ///
    /// - Throws: ``RaftError/Code/notLeader`` if it is not, or stops being, the leader;
    ///   ``RaftError/Code/shutdown``.
    public func verifyLeader() async throws {
        guard !isShutdown else { throw RaftError.shutdown }
        nextToken += 1
        let token = nextToken
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pendingVerifications[token] = continuation
            core.verifyLeader(token)
            scheduleFlush()
        }
    }

    /// A stream of this node's leadership changes (hashicorp/raft's `LeaderCh`, with the leader's
    /// identity). Each call returns a new stream; a stream that falls far behind loses its oldest
    /// changes, never the latest. Streams finish at ``shutdown()``.
    public nonisolated func leadershipChanges() -> AsyncStream<LeadershipChange> { observed.subscribe() }

    // MARK: - Membership

    /// The newest cluster configuration this node knows, committed or not, and its log index
    /// (hashicorp/raft's `GetConfiguration`).
    public nonisolated func getConfiguration() -> (configuration: Configuration, index: UInt64) {
        let current = observed.current
        return (current.latestConfiguration, current.latestConfigurationIndex)
    }

    /// Bootstraps a brand-new cluster through this running node (hashicorp/raft's live
    /// `BootstrapCluster`): writes `configuration` as the first log entry. Call it on one server,
    /// or on every server with the identical configuration.
    ///
    /// - Throws: ``RaftError/Code/cantBootstrap`` if the node has any state or is not a follower,
    ///   ``RaftError/Code/notVoter`` if this node is not a voter in `configuration`, and
    ///   ``RaftError/Code/invalidArgument`` for an invalid configuration.
    public func bootstrapCluster(_ configuration: Configuration) async throws {
        guard !isShutdown else { throw RaftError.shutdown }
        guard core.currentRole == .follower else {
            throw RaftError(.cantBootstrap, "bootstrap only works on a follower, this node is \(core.currentRole)")
        }
        do {
            try core.bootstrap(configuration)
        } catch .existingState {
            throw RaftError(.cantBootstrap, "bootstrap only works on new clusters: this node already has state")
        } catch .notVoter {
            throw RaftError(.notVoter, "\(config.localID) is not a voter in the bootstrap configuration \(configuration)")
        } catch .invalidConfiguration(let problem) {
            throw RaftError(.invalidArgument, "invalid bootstrap configuration: \(problem)")
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            bootstrapWaiters.append(continuation)
            scheduleFlush()
        }
    }

    // MARK: - State

    /// What this node is doing now.
    public nonisolated var state: RaftState { observed.current.state }

    /// The leader this node knows of, if any (hashicorp/raft's `LeaderWithID`).
    public nonisolated var leader: Server? { observed.current.leader }

    /// How long ago this node last heard from a leader: zero while it leads, nil if never
    /// (hashicorp/raft's `LastContact`, as an age instead of a time).
    public nonisolated var lastContact: Duration? { observed.current.lastContact }

    /// The current term.
    public nonisolated var currentTerm: UInt64 { observed.current.term }

    /// The highest log index known to be committed.
    public nonisolated var commitIndex: UInt64 { observed.current.commitIndex }

    /// The highest log index applied to the FSM.
    public nonisolated var appliedIndex: UInt64 { observed.current.appliedIndex }

    /// The index of the last log entry (hashicorp/raft's `LastIndex`).
    public nonisolated var lastIndex: UInt64 { observed.current.lastLogIndex }

    /// Diagnostics under hashicorp/raft's `Stats()` keys.
    public nonisolated func stats() -> [String: String] {
        let current = observed.current
        let configuration = current.latestConfiguration
        let peers = configuration.voters.filter { $0.id != config.localID }.count
        let lastContact: String
        switch (current.state, current.lastContact) {
        case (.leader, _): lastContact = "0"
        case (_, nil): lastContact = "never"
        case (_, let age?): lastContact = "\(age)"
        }
        return [
            "state": current.state.description,
            "term": "\(current.term)",
            "last_log_index": "\(current.lastLogIndex)",
            "last_log_term": "\(current.lastLogTerm)",
            "commit_index": "\(current.commitIndex)",
            "applied_index": "\(current.appliedIndex)",
            "fsm_pending": "\(current.handedOutIndex - min(current.appliedIndex, current.handedOutIndex))",
            "last_snapshot_index": "0",
            "last_snapshot_term": "0",
            "protocol_version": "\(config.protocolVersion)",
            "protocol_version_min": "\(Config.supportedProtocolVersions.lowerBound)",
            "protocol_version_max": "\(Config.supportedProtocolVersions.upperBound)",
            "snapshot_version_min": "0",
            "snapshot_version_max": "1",
            "latest_configuration": configuration.description,
            "latest_configuration_index": "\(current.latestConfigurationIndex)",
            "num_peers": "\(peers)",
            "last_contact": lastContact,
        ]
    }

    // MARK: - Shutdown

    /// Stops the node (hashicorp/raft's `Shutdown`). Idempotent. Every pending call resolves with
    /// ``RaftError/Code/shutdown`` (committed-but-unapplied ones included: their outcome is not
    /// known to the caller), every task the node started has ended when this returns, and the
    /// transport is closed if it is a ``ClosableTransport``.
    public func shutdown() async {
        beginShutdown(reason: "shutdown requested")
        if !transportClosed, let closable = transport as? any ClosableTransport {
            transportClosed = true
            await closable.close()
        }
        await backgroundTask?.value

        // The FSM loop has stopped: whatever it had not taken is failed, never dropped.
        for batch in applyQueue.drain() {
            for (_, waiter) in batch.waiters.sorted(by: { $0.key < $1.key }) { waiter.resume(with: .failure(RaftError.shutdown)) }
        }
        for executor in [storageExecutor, fsmExecutor] {
            (executor as? ThreadExecutor)?.shutdown()
        }
        observed.finishSubscribers()
    }

    /// Everything of shutting down that needs no waiting: from here on the node accepts nothing,
    /// every pending call has failed, and its tasks are cancelled. Safe to call from the node's own
    /// tasks, which ``shutdown()`` (awaiting those tasks) is not.
    func beginShutdown(reason: String) {
        guard !isShutdown else { return }
        isShutdown = true
        observed.update { $0.state = .shutdown }
        logger.info("raft node shutting down: \(reason)")
        environment.tracer?(.shutdown(node: config.localID))

        applyLimiter.close()
        // Everything below is resolved in a fixed order (by index, token, ID), never in
        // Dictionary order, which Swift seeds per process: a simulated run must replay the same.
        for (_, pending) in pendingApplies.sorted(by: { $0.key < $1.key }) {
            pending.waiter.resume(with: .failure(RaftError.shutdown))
        }
        pendingApplies.removeAll()
        for (_, waiter) in pendingVerifications.sorted(by: { $0.key < $1.key }) { waiter.resume(throwing: RaftError.shutdown) }
        pendingVerifications.removeAll()
        for waiter in bootstrapWaiters { waiter.resume(throwing: RaftError.shutdown) }
        bootstrapWaiters.removeAll()
        for job in persistJobs {
            for waiter in job.waiters { waiter.resume(throwing: RaftError.shutdown) }
        }
        persistJobs.removeAll()
        for (_, rpc) in responders.sorted(by: { $0.key < $1.key }) { rpc.respond(error: RaftError.shutdown) }
        responders.removeAll()
        for (_, replicator) in replicators.sorted(by: { $0.key < $1.key }) { replicator.finish() }
        backgroundTask?.cancel()
    }
}
