/// The operations an application calls: hashicorp/raft's API, spelled the Swift way.
extension Raft {
    // MARK: - Writing

    /// Replicates `command` and applies it to every FSM; returns once the leader's FSM applied it
    /// (hashicorp/raft's `Apply`).
    ///
    /// What bounds the wait: `timeout` bounds the whole call, to within one tick of the node
    /// (50 ms with the default timing): first the wait for room to queue the command
    /// (``Config/maxPendingApplies``, ``RaftError/Code/enqueueTimeout``), then its commit and
    /// apply (``RaftError/Code/timeout``). hashicorp/raft's timeout bounds only the first part.
    /// Without a timeout, the commit is bounded by leadership: a leader that cannot reach a quorum
    /// steps down within ``Config/leaderLeaseTimeout``, one whose disk stalls within
    /// ``Config/maxStorageStall``, and the call fails with ``RaftError/Code/leadershipLost`` —
    /// unless the command had committed on the followers' disks: then it waits for the leader's.
    /// To give up at a moment of your choosing, cancel the calling task.
    ///
    /// What an error means for the command:
    /// - **Certainly not applied** (thrown before the command entered the log):
    ///   ``RaftError/Code/notLeader`` (naming the leader if known), ``RaftError/Code/enqueueTimeout``,
    ///   ``RaftError/Code/invalidArgument`` (larger than ``maxCommandSize``),
    ///   ``RaftError/Code/shutdown`` thrown before the call queued, and `CancellationError`.
    /// - **Outcome unknown** (the command is in the log and may still commit, here or under the
    ///   next leader): ``RaftError/Code/leadershipLost``, ``RaftError/Code/cancelled`` (the task
    ///   was cancelled) and ``RaftError/Code/timeout`` (the timeout ran out) — for these two the
    ///   message gives the command's index and says whether it had committed already (then it
    ///   will be applied) — and ``RaftError/Code/shutdown`` after it queued. The node keeps
    ///   tracking a command whose caller gave up, and it holds its ``Config/maxPendingApplies``
    ///   slot until it commits or leadership is lost. Retry only commands that are safe to apply
    ///   twice, or make them so (a client ID and sequence number the FSM deduplicates).
    ///
    /// - Parameters:
    ///   - command: the bytes handed to ``FSM/apply(_:)`` as `Log.data`.
    ///   - timeout: how long the whole call may take, counted from the call. Nil waits as long
    ///     as needed.
    /// - Returns: the index the command committed at and the leader FSM's response.
    public func apply(_ command: [UInt8], timeout: Duration? = nil) async throws -> ApplyResult {
        try await applyLog(data: command, extensions: [], timeout: timeout)
    }

    /// Like ``apply(_:timeout:)``, with `Log.extensions` as well (hashicorp/raft's `ApplyLog`:
    /// only data and extensions are taken from the caller). `timeout` bounds the whole call, as
    /// ``apply(_:timeout:)``'s does.
    public func applyLog(data: [UInt8], extensions: [UInt8], timeout: Duration? = nil) async throws -> ApplyResult {
        let proposal = Proposal(type: .command, data: data, extensions: extensions, appendedAt: environment.clock.wallClockNow)
        return try await propose(proposal, timeout: timeout).outcome()
    }

    /// Returns once every entry before it has been applied to this leader's FSM (hashicorp/raft's
    /// `Barrier`); use it after winning an election to read an FSM that is up to date. `timeout`
    /// bounds the whole call, and its errors mean what ``apply(_:timeout:)``'s do.
    public func barrier(timeout: Duration? = nil) async throws {
        let proposal = Proposal(type: .barrier, data: [], appendedAt: environment.clock.wallClockNow)
        _ = try await propose(proposal, timeout: timeout).outcome()
    }

    /// Posts `proposal` to the node and returns what its caller waits on. The wait happens in the
    /// caller's own context (``ApplyWaiter/outcome()``): the node appends the proposal, and the
    /// FSM's thread answers the caller directly, without passing through the node again.
    private func propose(_ proposal: Proposal, timeout: Duration?) async throws -> ApplyWaiter {
        let current = observed.leadership
        guard current.state != .shutdown else { throw RaftError.shutdown }
        // Checked here too, so a follower refuses without queueing; the node checks again.
        guard current.state == .leader else { throw RaftError.notLeader(current.leader) }
        if let limit = maxCommandSize, proposal.data.count + proposal.extensions.count > limit {
            throw RaftError(
                .invalidArgument,
                "command of \(proposal.data.count + proposal.extensions.count) bytes exceeds the largest the transport "
                    + "can replicate, \(limit) bytes (its maxMessageSize less an AppendEntries' framing)"
            )
        }
        let clock = environment.clock
        let started = timeout == nil ? .zero : clock.now
        try await loop.applyLimiter.acquire(timeout: timeout, clock: clock)
        if Task.isCancelled {
            loop.applyLimiter.release()
            throw CancellationError()
        }
        let waiter = ApplyWaiter(timeout: timeout, start: started, queuedAt: loop.metrics.timing ? environment.clock.now : .zero)
        guard loop.mailbox.post(.propose(proposal, waiter)) else {
            loop.applyLimiter.release()
            throw RaftError.shutdown
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
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let posted = loop.mailbox.post(
                .perform { loop in
                    guard !loop.isShutdown else { return continuation.resume(throwing: RaftError.shutdown) }
                    loop.nextToken += 1
                    loop.pendingVerifications[loop.nextToken] = continuation
                    loop.core.verifyLeader(loop.nextToken)
                }
            )
            if !posted { continuation.resume(throwing: RaftError.shutdown) }
        }
    }

    /// A stream of this node's leadership changes (hashicorp/raft's `LeaderCh`, with the leader's
    /// identity). Each call returns a new stream; a stream that falls far behind loses its oldest
    /// changes, never the latest. Streams finish at ``shutdown()``.
    public func leadershipChanges() -> AsyncStream<LeadershipChange> { observed.subscribe() }

    // MARK: - Membership

    /// The newest cluster configuration this node knows, committed or not, and its log index
    /// (hashicorp/raft's `GetConfiguration`).
    public func getConfiguration() -> (configuration: Configuration, index: UInt64) {
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
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let posted = loop.mailbox.post(.perform { loop in loop.bootstrap(configuration, continuation: continuation) })
            if !posted { continuation.resume(throwing: RaftError.shutdown) }
        }
    }

    // MARK: - State

    /// What this node is doing now.
    public var state: RaftState { observed.current.state }

    /// The leader this node knows of, if any (hashicorp/raft's `LeaderWithID`).
    public var leader: Server? { observed.current.leader }

    /// How long ago this node last heard from a leader: zero while it leads, nil if never
    /// (hashicorp/raft's `LastContact`, as an age instead of a time).
    public var lastContact: Duration? { observed.current.lastContact }

    /// The current term.
    public var currentTerm: UInt64 { observed.current.term }

    /// The highest log index known to be committed.
    public var commitIndex: UInt64 { observed.current.commitIndex }

    /// The highest log index applied to the FSM.
    public var appliedIndex: UInt64 { observed.current.appliedIndex }

    /// The index of the last log entry (hashicorp/raft's `LastIndex`).
    public var lastIndex: UInt64 { observed.current.lastLogIndex }

    /// Diagnostics under hashicorp/raft's `Stats()` keys.
    public func stats() -> [String: String] {
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
            "last_snapshot_index": "\(current.lastSnapshotIndex)",
            "last_snapshot_term": "\(current.lastSnapshotTerm)",
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

    /// Stops the node (hashicorp/raft's `Shutdown`). Idempotent: a second call waits for the
    /// first. Every pending call resolves with ``RaftError/Code/shutdown`` (committed-but-unapplied
    /// ones included: their outcome is not known to the caller), the node's threads have finished
    /// their work when this returns, and the transport is closed if it is a ``ClosableTransport``.
    public func shutdown() async {
        enum Part { case first, waiter, none }
        let part = shutdownState.withLock { state -> Part in
            switch state {
            case .running:
                state = .stopping([])
                return .first
            case .stopping: return .waiter
            case .stopped: return .none
            }
        }
        switch part {
        case .none: return
        case .waiter:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = shutdownState.withLock { state -> Bool in
                    guard case .stopping(var waiters) = state else { return true }
                    waiters.append(continuation)
                    state = .stopping(waiters)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            return
        case .first: break
        }

        // 1. The loop fails every pending call and stops taking inputs.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.mailbox.post(
                .perform { loop in
                    loop.beginShutdown(reason: "shutdown requested")
                    continuation.resume()
                }
            )
        }
        // 2. The transport stops calling in; what it had in flight completes with failures.
        if let closable = transport as? any ClosableTransport { await closable.close() }
        // 3. Storage and FSM finish what they were given (the FSM fails it: it is stopped).
        if let storageMailbox = loop.storageMailbox {
            await withCheckedContinuation { continuation in storageMailbox.post(.marker { continuation.resume() }) }
        }
        if let applyMailbox = loop.applyMailbox {
            await withCheckedContinuation { continuation in applyMailbox.post(.marker { continuation.resume() }) }
        }
        // A snapshot being written or sent finishes or fails (the transport is closed, so a
        // transfer or an install in progress ends with an error).
        await withCheckedContinuation { continuation in
            if !loop.snapshotMailbox.post(SnapshotJob { continuation.resume() }) { continuation.resume() }
        }
        // 4. Whatever those posted back reaches a loop that only refuses it. Then the mailboxes
        //    close (later posts are refused and answered by their senders), and only then may the
        //    threads end: nothing can be handed to them any more.
        await withCheckedContinuation { continuation in
            if !loop.mailbox.post(.perform { _ in continuation.resume() }) { continuation.resume() }
        }
        for mailbox in [loop.storageMailbox?.close, loop.applyMailbox?.close, loop.snapshotMailbox.close, loop.mailbox.close] {
            mailbox?()
        }
        for executor in executors.all { executor.shutdown() }
        observed.finishSubscribers()
        let waiters = shutdownState.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state = .stopped }
            if case .stopping(let waiters) = state { return waiters }
            return []
        }
        for waiter in waiters { waiter.resume() }
    }
}
