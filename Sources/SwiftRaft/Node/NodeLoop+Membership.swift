import DequeModule

/// A configuration change a caller is waiting on, queued until the latest configuration is
/// committed (one change at a time, as hashicorp/raft's leader takes them).
struct QueuedConfigurationChange {
    var id: UInt64
    var change: ConfigurationChange
    var prevIndex: UInt64
    var waiter: ApplyWaiter
}

/// Membership changes on the loop: queued while another is uncommitted, proposed to the core,
/// and answered like an `apply` once the entry is applied.
extension NodeLoop {
    /// Queues `change`; its caller holds a ``Config/maxPendingApplies`` slot, released when the
    /// change is answered. `timeout` (what is left of the caller's) bounds the wait for the
    /// queue, as hashicorp/raft's does; once appended, the caller's deadline takes over.
    func requestConfigurationChange(_ change: ConfigurationChange, prevIndex: UInt64, waiter: ApplyWaiter, timeout: Duration?) {
        guard !isShutdown else {
            applyLimiter.release()
            return waiter.resume(with: .failure(RaftError.shutdown))
        }
        guard core.currentRole == .leader else {
            applyLimiter.release()
            return waiter.resume(with: .failure(RaftError.notLeader(core.currentLeader)))
        }
        nextToken += 1
        let id = nextToken
        queuedConfigurationChanges.append(QueuedConfigurationChange(id: id, change: change, prevIndex: prevIndex, waiter: waiter))
        if let timeout {
            let mailbox = mailbox
            environment.clock.schedule(after: timeout) {
                mailbox.post(.perform { loop in loop.configurationChangeTimedOut(id, after: timeout) })
            }
        }
        startQueuedConfigurationChanges()
    }

    /// Proposes queued changes while the latest configuration is committed: the first at once,
    /// the next once that one commits.
    func startQueuedConfigurationChanges() {
        while !isShutdown, core.isConfigurationStable, let next = queuedConfigurationChanges.popFirst() {
            guard next.waiter.beginAppend() else {
                // Its caller was cancelled while it waited.
                applyLimiter.release()
                continue
            }
            switch core.proposeConfigurationChange(next.change, prevIndex: next.prevIndex, appendedAt: environment.clock.wallClockNow) {
            case .success(let index):
                logger.info("configuration change appended", metadata: ["raft.change": "\(next.change)", "raft.index": "\(index)"])
                next.waiter.appended(at: index)
                pendingApplies[index] = PendingApply(term: core.currentTerm, waiter: next.waiter, appendedAt: roundNow)
                trackDeadline(of: next.waiter, index: index)
            case .failure(let rejection):
                applyLimiter.release()
                next.waiter.resume(with: .failure(error(for: rejection, of: next.change)))
            }
        }
    }

    private func configurationChangeTimedOut(_ id: UInt64, after timeout: Duration) {
        guard let position = queuedConfigurationChanges.firstIndex(where: { $0.id == id }) else { return }
        let expired = queuedConfigurationChanges.remove(at: position)
        applyLimiter.release()
        expired.waiter.resume(
            with: .failure(RaftError(.enqueueTimeout, "timed out after \(timeout) waiting for the previous configuration change to commit"))
        )
    }

    /// Fails every queued change with `error` (leadership lost, shutdown).
    func failQueuedConfigurationChanges(_ error: RaftError) {
        while let queued = queuedConfigurationChanges.popFirst() {
            applyLimiter.release()
            queued.waiter.resume(with: .failure(error))
        }
    }

    func error(for rejection: ConfigurationChangeRejection, of change: ConfigurationChange) -> RaftError {
        switch rejection {
        case .notLeader(let leader): return RaftError.notLeader(leader)
        case .changeInProgress(let latest):
            return RaftError(.invalidArgument, "the configuration at \(latest) is not committed yet")
        case .configurationChanged(let prevIndex, let latest):
            return RaftError(.invalidArgument, "configuration changed since \(prevIndex) (latest is \(latest))")
        case .invalid(let problem):
            return RaftError(.invalidArgument, "the change would leave an invalid configuration: \(problem)")
        case .leadershipTransferInProgress:
            return RaftError(.leadershipTransferInProgress, "leadership transfer in progress")
        case .wouldLoseQuorum(let reachable, let required):
            let voters = (try? core.latestConfigurationState.configuration.applying(change))?.voters.map(\.id) ?? []
            let unreachable = voters.filter { !reachable.contains($0) }
            return RaftError(
                .quorumWouldBeLost,
                "refusing \(change): the new configuration needs \(required) of its \(voters.count) voters, "
                    + "but only \(reachable.count) are reachable (\(Self.list(reachable))); "
                    + "not heard from within the leader lease: \(Self.list(unreachable))"
            )
        }
    }

    private static func list(_ ids: [ServerID]) -> String {
        ids.isEmpty ? "none" : ids.map(\.rawValue).joined(separator: ", ")
    }
}

/// Leadership transfer on the loop.
extension NodeLoop {
    func transferLeadership(to target: ServerID?, continuation: CheckedContinuation<Void, any Error>) {
        guard !isShutdown else { return continuation.resume(throwing: RaftError.shutdown) }
        switch core.transferLeadership(to: target) {
        case .success(let chosen):
            logger.info("transferring leadership", metadata: ["raft.target": "\(chosen)"])
            leadershipTransferWaiter = continuation
        case .failure(.notLeader(let leader)):
            continuation.resume(throwing: RaftError.notLeader(leader))
        case .failure(.inProgress):
            continuation.resume(throwing: RaftError(.leadershipTransferInProgress, "a leadership transfer is already in progress"))
        case .failure(.noTarget(let reason)):
            continuation.resume(throwing: RaftError(.invalidArgument, "no server to transfer leadership to: \(reason)"))
        }
    }

    /// Answers the transfer's caller once the core says how it ended.
    func leadershipTransferEnded(succeeded: Bool) {
        guard let waiter = leadershipTransferWaiter else { return }
        leadershipTransferWaiter = nil
        if succeeded {
            waiter.resume()
        } else {
            waiter.resume(throwing: RaftError(.timeout, "leadership transfer timed out after an election timeout; this server still leads"))
        }
    }
}
