import HeapModule

/// Starting a cluster and stopping the node, on the loop.
extension NodeLoop {
    /// The live bootstrap (``Raft/bootstrapCluster(_:)``): answers once the configuration entry
    /// is durable.
    func bootstrap(_ configuration: Configuration, continuation: CheckedContinuation<Void, any Error>) {
        guard !isShutdown else { return continuation.resume(throwing: RaftError.shutdown) }
        guard core.currentRole == .follower else {
            return continuation.resume(
                throwing: RaftError(.cantBootstrap, "bootstrap only works on a follower, this node is \(core.currentRole)")
            )
        }
        do {
            try core.bootstrap(configuration)
        } catch .existingState {
            return continuation.resume(throwing: RaftError(.cantBootstrap, "bootstrap only works on new clusters: this node already has state"))
        } catch .notVoter {
            return continuation.resume(
                throwing: RaftError(.notVoter, "\(config.localID) is not a voter in the bootstrap configuration \(configuration)")
            )
        } catch {
            // .invalidConfiguration: the compiler does not see the typed catch as exhaustive.
            return continuation.resume(throwing: RaftError(.invalidArgument, "invalid bootstrap configuration: \(error)"))
        }
        bootstrapWaiters.append(continuation)
    }

    /// Everything of shutting down that the loop itself does: from here on the node accepts
    /// nothing, every pending call has failed, and no tick is scheduled. ``Raft/shutdown()``
    /// then waits for the storage and FSM executors and closes the transport.
    func beginShutdown(reason: String) {
        guard !isShutdown else { return }
        isShutdown = true
        observed.update { $0.state = .shutdown }
        observers.notify(.stateChanged(.shutdown), node: config.localID)
        logger.info("raft node shutting down: \(reason)")
        environment.tracer?(.shutdown(node: config.localID))
        transport.setRPCHandler(nil)
        transport.setHeartbeatHandler(nil)
        applier.stop()

        applyLimiter.close()
        // Everything below is resolved in a fixed order (by index, token, ID), never in
        // Dictionary order, which Swift seeds per process: a simulated run must replay the same.
        for (_, pending) in pendingApplies.sorted(by: { $0.key < $1.key }) {
            pending.waiter.resume(with: .failure(RaftError.shutdown))
        }
        pendingApplies.removeAll()
        callDeadlines = Heap()
        for (_, waiter) in pendingVerifications.sorted(by: { $0.key < $1.key }) { waiter.resume(throwing: RaftError.shutdown) }
        pendingVerifications.removeAll()
        failReads(RaftError.shutdown)
        for waiter in bootstrapWaiters { waiter.resume(throwing: RaftError.shutdown) }
        bootstrapWaiters.removeAll()
        for job in persistJobs {
            for waiter in job.waiters { waiter.resume(throwing: RaftError.shutdown) }
        }
        persistJobs.removeAll()
        failQueuedConfigurationChanges(RaftError.shutdown)
        failPromotionWatches { _ in RaftError.shutdown }
        leadershipTransferWaiter?.resume(throwing: RaftError.shutdown)
        leadershipTransferWaiter = nil
        for requester in snapshotRequesters + queuedSnapshotRequesters { requester(.failure(RaftError.shutdown)) }
        snapshotRequesters.removeAll()
        queuedSnapshotRequesters.removeAll()
        for (_, data) in incomingSnapshotData.sorted(by: { $0.key < $1.key }) { data.close() }
        incomingSnapshotData.removeAll()
        for (_, rpc) in responders.sorted(by: { $0.key < $1.key }) { rpc.respond(error: RaftError.shutdown) }
        responders.removeAll()
        closeAllLanes()
    }
}
