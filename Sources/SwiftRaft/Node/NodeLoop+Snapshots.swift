/// Who waits for a snapshot: a ``Raft/snapshot()`` caller.
typealias SnapshotRequester = @Sendable (Result<SnapshotMeta, any Error>) -> Void

/// Snapshots on the loop: taking them (by timer or on request), sending them to followers the
/// log can no longer catch up, installing the ones a leader sends, and a user's restore. The
/// slow parts run elsewhere — the FSM's `snapshot()` on the FSM's executor, store I/O on the
/// snapshot executor — and report back through the mailbox.
extension NodeLoop {
    // MARK: - Taking snapshots

    /// Schedules the next check, after a random interval between ``Config/snapshotInterval`` and
    /// twice it, so the servers of a cluster do not all snapshot at once.
    func armSnapshotTimer() {
        guard !isShutdown else { return }
        let interval = config.snapshotInterval
        let delay = interval + interval * Double.random(in: 0..<1, using: &random)
        let mailbox = mailbox
        environment.clock.schedule(after: delay) {
            mailbox.post(.perform { loop in loop.snapshotTimerFired() })
        }
    }

    private func snapshotTimerFired() {
        guard !isShutdown else { return }
        armSnapshotTimer()
        let applied = observed.current.appliedIndex
        let last = core.lastSnapshot.index
        guard !snapshotInProgress, applied > last, applied - last >= config.snapshotThreshold else { return }
        takeSnapshot(requester: nil)
    }

    /// Starts a snapshot, or, if one is being taken, queues `requester` for the next.
    func takeSnapshot(requester: SnapshotRequester?) {
        guard !isShutdown else {
            requester?(.failure(RaftError.shutdown))
            return
        }
        guard !snapshotInProgress else {
            if let requester { queuedSnapshotRequesters.append(requester) }
            return
        }
        snapshotInProgress = true
        if let requester { snapshotRequesters.append(requester) }
        let since = core.lastSnapshot.index
        let started = environment.clock.now
        let mailbox = mailbox, worker = snapshots, snapshotMailbox = snapshotMailbox
        // If the node is gone by then, its requesters were answered at shutdown.
        let finish: @Sendable (Result<SnapshotMeta, any Error>) -> Void = { result in
            mailbox.post(.perform { loop in loop.snapshotFinished(result, started: started) })
        }
        let work = ApplyWork.snapshot(newerThan: since) { captured in
            switch captured {
            case .failure(let error): finish(.failure(error))
            case .success(let captured):
                // The FSM goes on applying while the snapshot is written.
                let posted = snapshotMailbox.post(SnapshotJob { finish(Result { try worker.persist(captured) }) })
                if !posted {
                    captured.snapshot.release()
                    finish(.failure(RaftError.shutdown))
                }
            }
        }
        logger.info("starting snapshot", metadata: ["raft.applied_index": "\(observed.current.appliedIndex)"])
        if let applyMailbox {
            applyMailbox.post(work)
        } else {
            applier.process([work])
        }
    }

    private func snapshotFinished(_ result: Result<SnapshotMeta, any Error>, started: Duration) {
        snapshotInProgress = false
        let requesters = snapshotRequesters
        snapshotRequesters = []
        guard !isShutdown else {
            for requester in requesters { requester(.failure(RaftError.shutdown)) }
            return
        }
        switch result {
        case .success(let meta):
            core.snapshotTaken(
                SnapshotPoint(index: meta.index, term: meta.term, configuration: meta.configuration, configurationIndex: meta.configurationIndex)
            )
            // Before the caller hears of it: `stats()` must already report it.
            publishStatus()
            observers.notify(.snapshotTaken(meta), node: config.localID)
            let took = environment.clock.now - started
            metrics.snapshotTakeSnapshot.record(took)
            logger.info(
                "snapshot complete",
                metadata: [
                    "raft.snapshot.id": "\(meta.id)", "raft.snapshot.index": "\(meta.index)",
                    "raft.snapshot.bytes": "\(meta.size)", "raft.snapshot.duration": "\(took)",
                ]
            )
        case .failure(let error as RaftError) where error.code == .nothingNewToSnapshot:
            logger.debug("no snapshot: \(error.message)")
        case .failure(let error):
            logger.error("failed to take snapshot: \(error)")
        }
        for requester in requesters { requester(result) }
        if !queuedSnapshotRequesters.isEmpty {
            let next = queuedSnapshotRequesters
            queuedSnapshotRequesters = []
            for requester in next { takeSnapshot(requester: requester) }
        }
    }

    // MARK: - Sending snapshots

    /// Sends the newest stored snapshot to a follower (hashicorp/raft's `sendLatestSnapshot`): the
    /// store is opened on the snapshot executor, the data streams through the transport, and the
    /// answer comes back to the core like any other.
    func sendSnapshot(_ transfer: SnapshotTransfer) {
        let mailbox = mailbox, worker = snapshots, transport = transport, logger = logger
        let clock = environment.clock, baseTimeout = config.rpcTimeout, taskExecutor = snapshotTaskExecutor
        let target = transfer.target
        let posted = snapshotMailbox.post(
            SnapshotJob {
                var context = transfer.context
                let opened: (meta: SnapshotMeta, source: any SnapshotSource)
                do {
                    guard let newest = try worker.openNewest() else {
                        throw RaftError(.storage, "the snapshot store holds no snapshot that opens")
                    }
                    opened = newest
                } catch {
                    logger.error("cannot send a snapshot to \(target.id): \(error)")
                    mailbox.post(.failed(context, error))
                    return
                }
                var request = transfer.request
                request.lastLogIndex = opened.meta.index
                request.lastLogTerm = opened.meta.term
                request.configuration = ConfigurationCodec.encode(opened.meta.configuration)
                request.configurationIndex = opened.meta.configurationIndex
                request.peers = opened.meta.peers
                request.size = opened.meta.size
                context.lastIndex = opened.meta.index
                let timeout = Self.installSnapshotTimeout(base: baseTimeout, size: opened.meta.size)
                logger.info(
                    "sending snapshot",
                    metadata: [
                        "raft.peer": "\(target.id)", "raft.snapshot.id": "\(opened.meta.id)",
                        "raft.snapshot.index": "\(opened.meta.index)", "raft.snapshot.bytes": "\(opened.meta.size)",
                    ]
                )
                let started = clock.now
                let send: @Sendable () async -> Void = { [request, context] in
                    defer { opened.source.close() }
                    do {
                        let response = try await transport.installSnapshot(request, data: opened.source, to: target, timeout: timeout)
                        logger.info(
                            "snapshot sent",
                            metadata: [
                                "raft.peer": "\(target.id)", "raft.snapshot.index": "\(opened.meta.index)",
                                "raft.snapshot.installed": "\(response.success)",
                                "raft.snapshot.duration": "\(clock.now - started)",
                            ]
                        )
                        mailbox.post(.response(.installSnapshot(response), context))
                    } catch {
                        // Logged by the loop, once per outage, as replication failures are.
                        mailbox.post(.failed(context, error))
                    }
                }
                if let taskExecutor {
                    Task(executorPreference: taskExecutor) { await send() }
                } else {
                    Task { await send() }
                }
            }
        )
        if !posted { mailbox.post(.failed(transfer.context, RaftError.shutdown)) }
    }

    /// hashicorp/raft's InstallSnapshot deadline: the RPC timeout once per 256 KiB, never less
    /// than once.
    static func installSnapshotTimeout(base: Duration, size: Int64) -> Duration {
        base * Int(max(1, size / Int64(256 << 10)))
    }

    // MARK: - Installing snapshots

    /// Streams an incoming snapshot into the store on the snapshot executor, then lets the core
    /// decide what it means for the log and the FSM.
    func writeInstalledSnapshot(_ install: SnapshotInstall) {
        let token = install.token
        guard let data = incomingSnapshotData.removeValue(forKey: token.rawValue) else {
            core.snapshotInstallFailed(token: token, reason: "its data is gone")
            return
        }
        let mailbox = mailbox, worker = snapshots
        let posted = snapshotMailbox.post(
            SnapshotJob {
                let result = Result { try worker.install(install.request, data: data) }
                mailbox.post(.perform { loop in loop.installedSnapshotWritten(result, token: token) })
            }
        )
        if !posted {
            data.close()
            core.snapshotInstallFailed(token: token, reason: "shutting down")
        }
    }

    private func installedSnapshotWritten(
        _ result: Result<(meta: SnapshotMeta, point: SnapshotPoint), any Error>,
        token: RequestToken
    ) {
        guard !isShutdown else { return }
        switch result {
        case .failure(let error):
            core.snapshotInstallFailed(token: token, reason: "\(error)")
        case .success(let written):
            let outcome = core.snapshotInstalled(token: token, point: written.point)
            observers.notify(.snapshotInstalled(written.meta), node: config.localID)
            switch outcome {
            case .restoreFSM:
                logger.info("restoring the FSM from the leader's snapshot", metadata: ["raft.snapshot.index": "\(written.point.index)"])
                restoreFSM(from: written.meta.id, point: written.point)
            case .keepFSM:
                logger.info(
                    "kept the FSM: it has applied everything the leader's snapshot holds",
                    metadata: ["raft.snapshot.index": "\(written.point.index)"]
                )
            }
        }
    }

    /// Replaces the FSM's state with a stored snapshot, before anything handed out later is
    /// applied. A failure stops the node: its FSM no longer matches its log.
    func restoreFSM(from id: String, point: SnapshotPoint, then done: (@Sendable (Result<Void, any Error>) -> Void)? = nil) {
        let mailbox = mailbox, clock = environment.clock
        let started = clock.now
        let work = ApplyWork.restore(id: id, point: point) { result in
            switch result {
            case .success:
                mailbox.post(
                    .perform { loop in
                        loop.logger.info(
                            "FSM restored from snapshot",
                            metadata: ["raft.snapshot.id": "\(id)", "raft.snapshot.duration": "\(clock.now - started)"]
                        )
                        done?(.success(()))
                    }
                )
            case .failure(let error):
                mailbox.post(
                    .perform { loop in
                        loop.logger.critical("restoring the FSM from snapshot \(id) failed, node stopped: \(error)")
                        loop.beginShutdown(reason: "FSM restore failed: \(error)")
                        done?(.failure(error))
                    }
                )
            }
        }
        if let applyMailbox {
            applyMailbox.post(work)
        } else {
            applier.process([work])
        }
    }

    // MARK: - A user's restore

    /// hashicorp/raft's `Restore`, up to the point where only the barrier is left to wait for:
    /// the user's snapshot is written to the store (on the loop: nothing may change leadership
    /// between the check and the swap), the log replaced by it, and the FSM restored from it.
    func restoreUserSnapshot(
        meta: SnapshotMeta,
        source: any SnapshotSource,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        guard !isShutdown else { return completion(.failure(RaftError.shutdown)) }
        guard core.currentRole == .leader else { return completion(.failure(RaftError.notLeader(core.currentLeader))) }
        guard let point = core.userRestorePoint(snapshotIndex: meta.index) else {
            return completion(
                .failure(RaftError(.invalidArgument, "cannot restore while a configuration change is uncommitted"))
            )
        }
        // Whatever was proposed before is superseded by the snapshot (hashicorp/raft's
        // ErrAbortedByRestore): it may commit, but the restored state replaces its effect.
        for (_, pending) in pendingApplies.sorted(by: { $0.key < $1.key }) {
            pending.waiter.resume(with: .failure(RaftError(.abortedByRestore, "abort requested by a snapshot restore")))
            applyLimiter.release()
        }
        pendingApplies.removeAll()
        let started = environment.clock.now
        let stored: SnapshotMeta
        do {
            stored = try snapshots.write(point, size: meta.size, from: source) { copied in
                RaftError(.invalidArgument, "the snapshot ended after \(copied) of the \(meta.size) bytes its metadata announces")
            }
        } catch {
            return completion(.failure(error))
        }
        guard core.snapshotRestoredAsLeader(point) else {
            return completion(.failure(RaftError.leadershipLost))
        }
        logger.info(
            "restored user snapshot",
            metadata: [
                "raft.snapshot.id": "\(stored.id)", "raft.snapshot.index": "\(point.index)",
                "raft.snapshot.bytes": "\(meta.size)", "raft.snapshot.duration": "\(environment.clock.now - started)",
            ]
        )
        restoreFSM(from: stored.id, point: point, then: completion)
    }
}
