/// ReadIndex on the loop: the core confirms the index, then the caller waits until this node's
/// FSM has applied through it.
extension NodeLoop {
    /// Asks the core for a read index for a caller of ``Raft/readIndex(timeout:)``.
    func requestReadIndex(timeout: Duration?, continuation: CheckedContinuation<UInt64, any Error>) {
        guard !isShutdown else { return continuation.resume(throwing: RaftError.shutdown) }
        nextToken += 1
        let token = nextToken
        readWaiters[token] = continuation
        if let timeout { trackDeadline(environment.clock.now + timeout, of: .read(token: token)) }
        core.requestReadIndex(token)
    }

    /// Takes the core's answers: a confirmed index waits for the FSM, a refusal fails the caller.
    func readIndexesAnswered(_ answers: [(token: UInt64, result: Result<UInt64, ReadIndexRejection>)]) {
        guard !answers.isEmpty else { return }
        for (token, result) in answers {
            switch result {
            case .success(let index):
                guard readWaiters[token] != nil else { continue }
                readsAwaitingApply.append((index: index, token: token))
            case .failure(.notLeader(let leader)):
                readWaiters.removeValue(forKey: token)?.resume(throwing: RaftError.notLeader(leader))
            case .failure(.leadershipLost):
                readWaiters.removeValue(forKey: token)?.resume(
                    throwing: RaftError(.leadershipLost, "leadership lost before a quorum confirmed the read; nothing was read")
                )
            }
        }
        resumeAppliedReads()
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
