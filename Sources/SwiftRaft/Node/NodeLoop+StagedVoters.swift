/// A caller of ``Raft/addVoterWhenCaughtUp(id:address:prevIndex:timeout:)`` waiting for its
/// server to be a voter in a committed configuration.
struct PromotionWatch {
    var id: UInt64
    var server: ServerID
    var waiter: ApplyWaiter
}

/// Staged voters on the loop: the leader's promotions are logged, and the callers waiting for a
/// promotion are answered when a committed configuration makes their server a voter.
extension NodeLoop {
    /// Starts waiting for `server` to be a voter in a configuration committed from now on. Posted
    /// before the staging change itself, so no commit can slip in between.
    func watchPromotion(of server: ServerID, waiter: ApplyWaiter, timeout: Duration?) {
        guard !isShutdown else { return waiter.resume(with: .failure(RaftError.shutdown)) }
        guard core.currentRole == .leader else { return waiter.resume(with: .failure(RaftError.notLeader(core.currentLeader))) }
        nextToken += 1
        let id = nextToken
        promotionWatches.append(PromotionWatch(id: id, server: server, waiter: waiter))
        guard let timeout else { return }
        let mailbox = mailbox
        environment.clock.schedule(after: timeout) {
            mailbox.post(.perform { loop in loop.promotionWatchTimedOut(id, after: timeout) })
        }
    }

    /// Stops the watch that `waiter` belongs to (its staging change failed), answering it with
    /// `error`.
    func endPromotionWatch(of waiter: ApplyWaiter, with error: any Error) {
        promotionWatches.removeAll { $0.waiter === waiter }
        waiter.resume(with: .failure(error))
    }

    private func promotionWatchTimedOut(_ id: UInt64, after timeout: Duration) {
        guard let position = promotionWatches.firstIndex(where: { $0.id == id }) else { return }
        let expired = promotionWatches.remove(at: position)
        expired.waiter.resume(
            with: .failure(
                RaftError(
                    .timeout,
                    "timed out after \(timeout) waiting for \(expired.server) to catch up and become a voter; "
                        + "it stays staged, and the leader still promotes it once it has caught up"
                )
            )
        )
    }

    /// The configuration `entry` committed: answers the watches of the servers it makes voters,
    /// with its index.
    func configurationCommitted(_ entry: Log) {
        guard !promotionWatches.isEmpty, let configuration = try? ConfigurationCodec.decode(entry.data) else { return }
        let (promoted, waiting) = (
            promotionWatches.filter { configuration.isVoter($0.server) },
            promotionWatches.filter { !configuration.isVoter($0.server) }
        )
        promotionWatches = waiting
        for watch in promoted {
            watch.waiter.resume(with: .success(ApplyResult(index: entry.index, response: nil)))
        }
    }

    /// Fails every watch: this server no longer leads (or shuts down). What was staged stays in
    /// the log, and whichever server leads next promotes it.
    func failPromotionWatches(_ error: (ServerID) -> RaftError) {
        let watches = promotionWatches
        promotionWatches.removeAll()
        for watch in watches { watch.waiter.resume(with: .failure(error(watch.server))) }
    }

    /// Logs the promotions the core made.
    func logPromotions(_ promotions: [Ready.StagedVoterPromotion]) {
        for promotion in promotions {
            logger.info(
                "promoting caught-up server",
                metadata: [
                    "raft.id": "\(promotion.id)", "raft.match": "\(promotion.match)",
                    "raft.lastIndex": "\(promotion.lastIndex)", "raft.index": "\(promotion.configurationIndex)",
                ]
            )
        }
    }

    /// The error a watch fails with when leadership is lost.
    static func promotionLeadershipLost(_ server: ServerID) -> RaftError {
        RaftError(
            .leadershipLost,
            "leadership lost while \(server) was staged: the staging entry stays in the log, "
                + "and the next leader promotes \(server) once it has caught up"
        )
    }
}
