/// ReadIndex on the loop: the core confirms the index (on a follower, by asking the leader), then
/// the caller waits until this node's FSM has applied through it.
extension NodeLoop {
    /// Whether this leader's lease holds now (``Config/leaseReads``), by the clock read now: a
    /// read answered from it needs no round of heartbeats.
    var leaseHolds: Bool {
        guard config.leaseReads, let basis = core.leaseBasis, let sent = tickInstants.instant(of: basis) else { return false }
        // Voters count a heartbeat timeout from receipt in whole ticks, so they may stop refusing
        // votes up to a tick early.
        return environment.clock.now < sent + config.heartbeatTimeout - config.tickInterval - config.maxClockDrift
    }

    /// Asks the core for a read index for a caller of ``Raft/readIndex(timeout:)``.
    func requestReadIndex(timeout: Duration?, continuation: CheckedContinuation<UInt64, any Error>) {
        guard !isShutdown else { return continuation.resume(throwing: RaftError.shutdown) }
        nextToken += 1
        let token = nextToken
        readWaiters[token] = continuation
        if let timeout { trackDeadline(environment.clock.now + timeout, of: .read(token: token)) }
        core.requestReadIndex(token, leaseHolds: leaseHolds)
    }

    /// Takes the core's answers: a confirmed index waits for the FSM, a refusal fails the caller.
    func readIndexesAnswered(_ answers: [(token: UInt64, result: Result<UInt64, ReadIndexRejection>)]) {
        guard !answers.isEmpty else { return }
        for (token, result) in answers {
            switch result {
            case .success(let index):
                guard readWaiters[token] != nil else { continue }
                readsAwaitingApply.append((index: index, token: token))
            case .failure(let rejection):
                readWaiters.removeValue(forKey: token)?.resume(throwing: Self.error(for: rejection))
            }
        }
        resumeAppliedReads()
    }

    /// What a caller of ``Raft/readIndex(timeout:)`` is told when no read index was given.
    static func error(for rejection: ReadIndexRejection) -> RaftError {
        switch rejection {
        case .notLeader(let leader):
            return RaftError(
                .notLeader,
                "the server asked for a read index is not the leader" + (leader.map { "; leader is \($0)" } ?? ""),
                leader: leader
            )
        case .noLeader:
            return RaftError(.notLeader, "no leader known to confirm the read; nothing was read")
        case .leadershipLost:
            return RaftError(.leadershipLost, "leadership lost before a quorum confirmed the read; nothing was read")
        case .leaderUnreachable(let leader):
            return RaftError(.unreachable, "the leader \(leader) did not answer the read index request; nothing was read", leader: leader)
        case .unsupportedByLeader(let leader):
            return RaftError(
                .unsupportedProtocol,
                "the leader \(leader) does not know the ReadIndex RPC (it is not swift-raft): read on the leader, or use barrier() there",
                leader: leader
            )
        }
    }

    /// Answers the reads whose index this node's FSM has applied; asks the FSM's thread to wake
    /// the loop when it gets further, if any still wait.
    func resumeAppliedReads() {
        guard !readsAwaitingApply.isEmpty else { return }
        let applied = applier.appliedIndex
        readsAwaitingApply.removeAll { read in
            guard read.index <= applied else { return false }
            readWaiters.removeValue(forKey: read.token)?.resume(returning: read.index)
            return true
        }
        if !readsAwaitingApply.isEmpty { applier.wakeOnProgress(after: applied) }
    }

    /// The read's timeout ran out (``expireCallDeadlines()``); a read answered already is left be.
    func readTimedOut(_ token: UInt64) {
        guard let waiter = readWaiters.removeValue(forKey: token) else { return }
        readsAwaitingApply.removeAll { $0.token == token }
        waiter.resume(throwing: RaftError(.timeout, "read not confirmed and applied within its timeout; nothing was read"))
    }

    /// Fails every read (the node shuts down).
    func failReads(_ error: RaftError) {
        for (_, waiter) in readWaiters.sorted(by: { $0.key < $1.key }) { waiter.resume(throwing: error) }
        readWaiters.removeAll()
        readsAwaitingApply.removeAll()
    }
}
