/// How the shell feeds the core and carries out its ``Ready``s.
///
/// Every input (a tick, an RPC, an answer, a proposal, a finished write) is fed to the core
/// inside the actor and then *schedules* a flush instead of taking the ``Ready`` at once: the
/// flush runs after whatever inputs are already queued on the actor, so a burst of proposals or
/// answers becomes one ``Ready`` — one disk write, one AppendEntries per follower.
extension Raft {
    // MARK: - Inputs

    func tick() {
        guard !isShutdown else { return }
        core.tick()
        scheduleFlush()
    }

    func handle(_ rpc: RPC) {
        guard !isShutdown else {
            rpc.respond(error: RaftError.shutdown)
            return
        }
        let request: RaftRequest
        switch rpc.command {
        case .appendEntries(let message): request = .appendEntries(message)
        case .requestVote(let message): request = .requestVote(message)
        case .requestPreVote(let message): request = .requestPreVote(message)
        case .timeoutNow(let message): request = .timeoutNow(message)
        case .installSnapshot(let message, let data):
            // Snapshot installation arrives with snapshot support; until then the leader learns
            // that this follower cannot take one, and keeps replicating from the log.
            data.close()
            logger.warning("refusing InstallSnapshot from \(message.leader): snapshots are not supported yet")
            rpc.respond(.installSnapshot(InstallSnapshotResponse(header: RPCHeader(), term: core.currentTerm, success: false)))
            return
        }
        if let problem = protocolVersionProblem(of: request) {
            rpc.respond(error: RaftError(.unsupportedProtocol, problem))
            return
        }
        nextToken += 1
        responders[nextToken] = rpc
        core.receive(request, token: RequestToken(nextToken))
        scheduleFlush()
    }

    /// hashicorp/raft's `checkRPCHeader`: peers must speak protocol version 2 or 3.
    private func protocolVersionProblem(of request: RaftRequest) -> String? {
        let version: Int
        switch request {
        case .appendEntries(let message): version = message.header.protocolVersion
        case .requestVote(let message): version = message.header.protocolVersion
        case .requestPreVote(let message): version = message.header.protocolVersion
        case .timeoutNow(let message): version = message.header.protocolVersion
        }
        guard version < config.protocolVersion - 1 || version > 3 else { return nil }
        return "operation not supported with current protocol version (peer sent \(version))"
    }

    func responseArrived(_ response: RaftResponse, context: RequestContext) {
        guard !isShutdown else { return }
        if context.kind == .appendEntries || context.kind == .heartbeat,
            unreachablePeers.removeValue(forKey: context.peer) != nil
        {
            logger.info("replication to \(context.peer) resumed")
        }
        if context.kind == .heartbeat, let replicator = replicators[context.peer],
            let stalled = replicator.takeStalledPipeline(sentBefore: environment.clock.now - config.heartbeatTimeout)
        {
            // The follower answers heartbeats, yet a pipelined AppendEntries has waited longer
            // than a heartbeat timeout: its connection is stuck, not the follower.
            logger.info("replication to \(context.peer) stalled on its connection: opening a new one")
            spawnQueue.append { await stalled.close() }
        }
        core.receive(response: response, context: context)
        scheduleFlush()
    }

    func requestFailed(context: RequestContext, error: any Error) {
        guard !isShutdown else { return }
        let unsupported = (error as? RaftError)?.code == .preVoteUnsupported
        if context.kind == .appendEntries || context.kind == .heartbeat {
            // A follower that keeps failing is retried (with back-off) forever; say so once, with
            // the reason, when it starts, and once when it recovers, not on every retry.
            if unreachablePeers[context.peer] == nil {
                unreachablePeers[context.peer] = "\(error)"
                logger.error("replication to \(context.peer) failing, will keep retrying: \(error)")
            } else {
                logger.debug("\(context.kind) to \(context.peer) failed: \(error)")
            }
        } else if !unsupported {
            logger.debug("\(context.kind) to \(context.peer) failed: \(error)")
        }
        core.requestFailed(context: context, reason: unsupported ? .preVoteUnsupported : .unreachable)
        scheduleFlush()
    }

    func persistCompleted(through id: UInt64) {
        guard !isShutdown else { return }
        while let job = persistJobs.first, job.id <= id {
            persistJobs.removeFirst()
            send(job.messages)
            deliver(job.replies)
            if let writeID = job.coreWriteID { core.persisted(writeID: writeID) }
            for waiter in job.waiters { waiter.resume() }
        }
        scheduleFlush()
    }

    func entriesLoaded(_ entries: [Log], for load: EntryLoad) {
        guard !isShutdown else { return }
        core.entriesLoaded(entries, for: load)
        scheduleFlush()
    }

    /// A failed write leaves the node unable to keep its promises (an acknowledged entry must be
    /// durable), so it stops rather than risk lying to its peers. Called from the storage loop,
    /// which ``shutdown()`` waits for, so only the part of shutting down that needs no waiting
    /// happens here; the owner's own ``shutdown()`` call releases the rest.
    func storageFailed(_ error: any Error) {
        logger.critical("storage write failed, node stopped: \(error)")
        beginShutdown(reason: "storage write failed: \(error)")
    }

    // MARK: - Flushing

    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        flushSignal.append(())
    }

    /// Takes the core's ``Ready`` and carries it out.
    func flush() {
        flushScheduled = false
        guard !isShutdown else { return }
        let ready = core.takeReady()
        guard !ready.isEmpty else { return }
        for warning in ready.warnings { logger.warning("\(warning)") }
        let leadershipChange = ready.stateChange.flatMap { stateChanged($0) }

        send(ready.messages)
        deliver(ready.replies)

        let waitsForDisk = !ready.messagesAfterPersist.isEmpty || !ready.repliesAfterPersist.isEmpty || !bootstrapWaiters.isEmpty
        // What waits for "this Ready is durable" also waits for earlier writes still in flight.
        if ready.needsPersistence || (waitsForDisk && !persistJobs.isEmpty) {
            nextPersistID += 1
            persistJobs.append(
                InFlightPersist(
                    id: nextPersistID,
                    coreWriteID: ready.writeID,
                    messages: ready.messagesAfterPersist,
                    replies: ready.repliesAfterPersist,
                    waiters: bootstrapWaiters
                )
            )
            bootstrapWaiters.removeAll()
            let job = PersistJob(
                id: nextPersistID,
                hardState: ready.hardState,
                truncateFrom: ready.truncateFrom,
                entries: ready.entriesToPersist
            )
            if let inline = inlineStorage {
                do {
                    try inline.write([job])
                    persistCompleted(through: job.id)
                } catch {
                    storageFailed(error)
                    return
                }
            } else {
                storageQueue.append(.persist(job))
            }
        } else {
            // Nothing is being written, so nothing can be waited for.
            send(ready.messagesAfterPersist)
            deliver(ready.repliesAfterPersist)
        }

        if !ready.committedEntries.isEmpty { handOut(ready.committedEntries) }
        for load in ready.entryLoads {
            if let inline = inlineStorage {
                core.entriesLoaded(inline.load(load), for: load)
                scheduleFlush()
            } else {
                storageQueue.append(.load(load))
            }
        }
        for (token, stillLeader) in ready.verifications {
            guard let waiter = pendingVerifications.removeValue(forKey: token) else { continue }
            if stillLeader {
                waiter.resume()
            } else {
                waiter.resume(throwing: RaftError.notLeader(core.currentLeader))
            }
        }
        publishStatus()
        // After the status: whoever hears of the change must find `state` and `leader` agreeing.
        if let leadershipChange { observed.publish(leadershipChange) }
    }

    /// Logs and traces a change of role, term or leader, fails a deposed leader's uncommitted
    /// proposals, and returns the leadership change to announce, if any.
    private func stateChanged(_ change: Ready.StateChange) -> LeadershipChange? {
        let wasLeader = observed.current.state == .leader
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
        if change.role != .leader { unreachablePeers.removeAll() }
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

    /// Passes committed entries to the FSM thread with the callers waiting for them.
    private func handOut(_ entries: [Log]) {
        var waiters: [UInt64: ApplyWaiter] = [:]
        for entry in entries {
            environment.tracer?(.committed(node: config.localID, index: entry.index, term: entry.term))
            guard let pending = pendingApplies.removeValue(forKey: entry.index) else { continue }
            applyLimiter.release()
            if pending.term == entry.term {
                pending.waiter.markCommitted()
                waiters[entry.index] = pending.waiter
            } else {
                pending.waiter.resume(with: .failure(RaftError.leadershipLost))
            }
        }
        if let last = entries.last { observed.update { $0.handedOutIndex = last.index } }
        applyQueue.append(ApplyBatch(entries: entries, waiters: waiters))
    }

    // MARK: - Sending

    func send(_ requests: [OutboundRequest]) {
        for outbound in requests {
            switch outbound.context.kind {
            case .appendEntries:
                replicator(for: outbound.target).send(outbound)
            case .heartbeat, .requestVote, .requestPreVote, .timeoutNow:
                spawnRPC(outbound)
            }
        }
    }

    private func replicator(for peer: Server) -> PeerReplicator {
        if let existing = replicators[peer.id], existing.peer == peer { return existing }
        replicators[peer.id]?.finish()
        let replicator = PeerReplicator(peer: peer, clock: environment.clock)
        replicators[peer.id] = replicator
        let transport = transport, timeout = config.rpcTimeout
        let pipelining = config.maxInflightAppends > 1
        spawnQueue.append { await replicator.run(transport: transport, node: self, pipelining: pipelining, rpcTimeout: timeout) }
        return replicator
    }

    /// Sends one RPC on a task of its own, so it waits behind nothing.
    private func spawnRPC(_ outbound: OutboundRequest) {
        let transport = transport, clock = environment.clock, timeout = config.rpcTimeout
        let target = outbound.target
        spawnQueue.append {
            do {
                let response: RaftResponse = try await clock.withTimeout(timeout, "\(outbound.context.kind) to \(target.id)") {
                    switch outbound.request {
                    case .appendEntries(let request):
                        return .appendEntries(try await transport.appendEntries(id: target.id, target: target.address, request))
                    case .requestVote(let request):
                        return .requestVote(try await transport.requestVote(id: target.id, target: target.address, request))
                    case .requestPreVote(let request):
                        guard let preVote = transport as? any PreVoteTransport else {
                            throw RaftError(.preVoteUnsupported, "transport cannot send RequestPreVote")
                        }
                        return .requestPreVote(try await preVote.requestPreVote(id: target.id, target: target.address, request))
                    case .timeoutNow(let request):
                        return .timeoutNow(try await transport.timeoutNow(id: target.id, target: target.address, request))
                    }
                }
                await self.responseArrived(response, context: outbound.context)
            } catch {
                await self.requestFailed(context: outbound.context, error: error)
            }
        }
    }

    func deliver(_ replies: [OutboundReply]) {
        for reply in replies {
            guard let rpc = responders.removeValue(forKey: reply.token.rawValue) else { continue }
            switch reply.response {
            case .appendEntries(let response): rpc.respond(.appendEntries(response))
            case .requestVote(let response): rpc.respond(.requestVote(response))
            case .requestPreVote(let response): rpc.respond(.requestPreVote(response))
            case .timeoutNow(let response): rpc.respond(.timeoutNow(response))
            }
        }
    }
}
