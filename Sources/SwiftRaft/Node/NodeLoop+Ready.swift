/// Carrying out the core's ``Ready``: send, persist (here or on the storage executor), apply
/// (here or on the FSM executor), answer.
extension NodeLoop {
    /// Takes the core's ``Ready`` and carries it out; returns false if there was nothing to do.
    /// Carrying it out may feed the core again (inline storage, inline loads), so the loop calls
    /// this until it returns false.
    func carryOutReady() -> Bool {
        let applied = applier.appliedIndex
        core.applied(through: applied)
        resumeAppliedReads()
        let ready = core.takeReady()
        if core.isWaitingForApplies { applier.wakeOnProgress(after: applied) }
        guard !ready.isEmpty else { return false }
        for warning in ready.warnings { logger.warning("\(warning)") }
        logPromotions(ready.stagedVoterPromotions)
        let leadershipChange = ready.stateChange.flatMap { stateChanged($0) }

        send(ready.messages)
        deliver(ready.replies)

        let waitsForDisk = !ready.messagesAfterPersist.isEmpty || !ready.repliesAfterPersist.isEmpty || !bootstrapWaiters.isEmpty
        // What waits for "this Ready is durable" also waits for earlier writes still in flight.
        if ready.needsPersistence || (waitsForDisk && !persistJobs.isEmpty) {
            persist(ready)
        } else {
            // Nothing is being written, so nothing can be waited for.
            send(ready.messagesAfterPersist)
            deliver(ready.repliesAfterPersist)
        }

        if !ready.committedEntries.isEmpty { handOut(ready.committedEntries) }
        for load in ready.entryLoads {
            if let storageMailbox {
                storageMailbox.post(.load(load))
            } else {
                core.entriesLoaded(storage.load(load), for: load)
            }
        }
        if let through = ready.compactThrough {
            if let storageMailbox {
                storageMailbox.post(.compact(through: through))
            } else {
                storage.compact(through: through)
            }
        }
        for transfer in ready.snapshotTransfers { sendSnapshot(transfer) }
        for install in ready.snapshotInstalls { writeInstalledSnapshot(install) }
        for (token, stillLeader) in ready.verifications {
            guard let waiter = pendingVerifications.removeValue(forKey: token) else { continue }
            if stillLeader {
                waiter.resume()
            } else {
                waiter.resume(throwing: RaftError.notLeader(core.currentLeader))
            }
        }
        readIndexesAnswered(ready.readIndexes)
        if ready.stateChange != nil || core.latestConfigurationState.index != observedPeersConfigurationIndex {
            observePeers()
        }
        publishStatus()
        // After the status: whoever hears of the change must find `state` and `leader` agreeing.
        if let leadershipChange { observed.publish(leadershipChange) }
        if let succeeded = ready.leadershipTransferSucceeded { leadershipTransferEnded(succeeded: succeeded) }
        if ready.removedFromConfiguration && config.shutdownOnRemove {
            logger.warning("removed from the configuration: shutting down (shutdownOnRemove)")
            beginShutdown(reason: "removed from the configuration")
        }
        return true
    }

    /// Queues this Ready's write with the answers that wait for it; the storage executor sends
    /// those answers itself once the write is durable.
    private func persist(_ ready: Ready) {
        nextPersistID += 1
        var inFlight = InFlightPersist(
            id: nextPersistID,
            coreWriteID: ready.writeID,
            messages: ready.messagesAfterPersist,
            waiters: bootstrapWaiters,
            queuedAt: storageMailbox == nil ? .zero : environment.clock.now
        )
        if proposalsToPersist > 0 && !ready.entriesToPersist.isEmpty {
            inFlight.proposals = proposalsToPersist
            inFlight.appendedAt = metrics.timing ? roundNow : .zero
            proposalsToPersist = 0
        }
        persistJobs.append(inFlight)
        bootstrapWaiters.removeAll()
        let replies = ready.repliesAfterPersist.compactMap { reply -> (rpc: RPC, response: RaftResponse)? in
            responders.removeValue(forKey: reply.token.rawValue).map { ($0, reply.response) }
        }
        let job = PersistJob(
            id: nextPersistID,
            hardState: ready.hardState,
            truncateFrom: ready.truncateFrom,
            entries: ready.entriesToPersist,
            replies: replies,
            asLeader: core.currentRole == .leader
        )
        if let storageMailbox {
            storageMailbox.post(.persist(job))
            return
        }
        do {
            try storage.write([job])
        } catch {
            for (rpc, _) in replies { rpc.respond(error: RaftError(.shutdown, "storage write failed: \(error)")) }
            logger.critical("storage write failed, node stopped: \(error)")
            beginShutdown(reason: "storage write failed: \(error)")
            return
        }
        for (rpc, response) in replies { rpc.respond(response) }
        persistCompleted(through: job.id)
    }

    /// Logs and traces a change of role, term or leader, fails a deposed leader's uncommitted
    /// proposals, and returns the leadership change to announce, if any.
    private func stateChanged(_ change: Ready.StateChange) -> LeadershipChange? {
        let previous = observed.leadership
        let wasLeader = previous.state == .leader
        if RaftState(change.role) != previous.state {
            observers.notify(.stateChanged(RaftState(change.role)), node: config.localID)
        }
        if change.leader?.id != previous.leader?.id || change.leader?.address != previous.leader?.address {
            observers.notify(.leaderChanged(leader: change.leader, term: change.term), node: config.localID)
        }
        countRoleChange(to: change.role)
        logger.info(
            "raft state changed",
            metadata: [
                "raft.state": "\(change.role)", "raft.term": "\(change.term)",
                "raft.leader": "\(change.leader?.id.rawValue ?? "none")",
            ]
        )
        environment.tracer?(
            .stateChanged(node: config.localID, role: change.role, term: change.term, leader: change.leader?.id)
        )
        if change.role != .leader {
            unreachablePeers.removeAll()
            closeAllLanes()
            failQueuedConfigurationChanges(RaftError.notLeader(change.leader))
            failPromotionWatches(Self.promotionLeadershipLost)
        }
        if wasLeader && change.role != .leader {
            // Proposals not yet committed may or may not commit under the next leader: their
            // outcome is unknown (hashicorp/raft's ErrLeadershipLost). Committed ones still apply.
            for (index, pending) in pendingApplies.sorted(by: { $0.key < $1.key }) where index > change.commitIndex {
                pendingApplies.removeValue(forKey: index)
                pending.waiter.resume(with: .failure(RaftError.leadershipLost))
                applyLimiter.release()
            }
        }
        let isLeader = change.role == .leader
        guard isLeader != wasLeader || observed.current.leader != change.leader else { return nil }
        return LeadershipChange(isLeader: isLeader, leader: change.leader, term: change.term)
    }

    /// Passes committed entries to the FSM with the callers waiting for them.
    private func handOut(_ entries: [Log]) {
        var waiters: [UInt64: ApplyWaiter] = [:]
        // Read only when a proposal of this leader's is among the entries.
        var committedAt: Duration?
        var lastAppendedAt: Duration?
        for entry in entries {
            environment.tracer?(.committed(node: config.localID, index: entry.index, term: entry.term))
            if entry.type == .configuration { configurationCommitted(entry) }
            guard let pending = pendingApplies.removeValue(forKey: entry.index) else { continue }
            applyLimiter.release()
            let now = committedAt ?? (metrics.timing ? environment.clock.now : .zero)
            committedAt = now
            lastAppendedAt = pending.appendedAt
            metrics.proposalCommitted.record(now - pending.appendedAt)
            if pending.term == entry.term && entry.type == .configuration {
                // A membership change is done when it commits (as hashicorp/raft answers it),
                // not when the FSM sees it: a leader that removed itself shuts down right after.
                pending.waiter.resume(with: .success(ApplyResult(index: entry.index, response: nil)))
            } else if pending.term == entry.term {
                pending.waiter.markCommitted()
                waiters[entry.index] = pending.waiter
            } else {
                pending.waiter.resume(with: .failure(RaftError.leadershipLost))
            }
        }
        if let committedAt, let lastAppendedAt { metrics.commitTime.record(committedAt - lastAppendedAt) }
        if let last = entries.last { observed.update { $0.handedOutIndex = last.index } }
        let batch = ApplyBatch(entries: entries, waiters: waiters, committedAt: committedAt ?? .zero)
        if let applyMailbox {
            applyMailbox.post(.apply(batch))
        } else {
            applier.apply(batch)
        }
    }

    func deliver(_ replies: [OutboundReply]) {
        for reply in replies {
            responders.removeValue(forKey: reply.token.rawValue)?.respond(reply.response)
        }
    }

    /// Tells observers which servers this leader started or stopped replicating to, after a
    /// change of role or configuration (hashicorp/raft's `PeerObservation`s).
    private func observePeers() {
        let latest = core.latestConfigurationState
        observedPeersConfigurationIndex = latest.index
        guard core.currentRole == .leader else {
            observedPeers.removeAll()
            return
        }
        var current: [ServerID: Server] = [:]
        for server in latest.configuration.servers where server.id != config.localID { current[server.id] = server }
        for server in latest.configuration.servers where observedPeers[server.id] == nil && current[server.id] != nil {
            observers.notify(.peerAdded(server), node: config.localID)
        }
        for (id, server) in observedPeers.sorted(by: { $0.key < $1.key }) where current[id] == nil {
            observers.notify(.peerRemoved(server), node: config.localID)
        }
        observedPeers = current
    }

    /// Copies the core's observable state to ``observed`` for the lock-free getters.
    func publishStatus() {
        let latest = core.latestConfigurationState
        let lastContact: Duration? = core.ticksSinceLeaderContact.map { config.tickInterval * Int($0) }
        observed.update { snapshot in
            if snapshot.state != .shutdown { snapshot.state = RaftState(core.currentRole) }
            snapshot.term = core.currentTerm
            snapshot.leader = core.currentLeader
            snapshot.commitIndex = core.currentCommitIndex
            snapshot.lastLogIndex = core.lastIndex
            snapshot.lastLogTerm = core.lastTerm
            snapshot.latestConfiguration = latest.configuration
            snapshot.latestConfigurationIndex = latest.index
            snapshot.lastSnapshotIndex = core.lastSnapshot.index
            snapshot.lastSnapshotTerm = core.lastSnapshot.term
            snapshot.lastContact = core.currentRole == .leader ? .zero : lastContact
        }
    }
}
