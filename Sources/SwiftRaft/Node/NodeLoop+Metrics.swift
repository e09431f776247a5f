/// The metrics the loop samples rather than records as events happen: replication lag and the
/// leader's quorum contact, refreshed by the clock's ticks while leading.
extension NodeLoop {
    /// The clock's time for this round, read once: every event of a round shares it.
    var roundNow: Duration {
        if let roundTime { return roundTime }
        let now = environment.clock.now
        roundTime = now
        return now
    }

    /// The metrics of replication to `peer`, made the first time they are asked for.
    func metrics(for peer: ServerID) -> PeerMetrics {
        if let existing = peerMetrics[peer] { return existing }
        let made = metrics.peer(peer)
        peerMetrics[peer] = made
        return made
    }

    /// Refreshes each follower's lag gauges, and every heartbeat interval samples how long ago a
    /// quorum answered (`raft.leader.lastContact`). Called after each tick while leading.
    func sampleLeaderMetrics() {
        let now = roundNow
        let lastIndex = core.lastIndex
        let followers = core.replicationState
        let slowest = followers.lazy.map { $0.match }.min() ?? lastIndex
        replicationLag.sample(at: now, lastIndex: lastIndex, slowestMatch: slowest)
        for follower in followers {
            let peer = metrics(for: follower.id)
            peer.lagEntries.record(lastIndex - min(follower.match, lastIndex))
            peer.lagTime.record(Self.seconds(replicationLag.lag(of: follower.match, now: now)))
        }
        if peerMetrics.count > followers.count {
            // A server removed from the configuration is no longer behind: it is gone. Its
            // objects are made afresh (same series) if it comes back.
            for (id, peer) in peerMetrics where !followers.contains(where: { $0.id == id }) {
                peer.lagEntries.record(0)
                peer.lagTime.record(0)
                peerMetrics.removeValue(forKey: id)
            }
        }
        ticksUntilContactSample -= 1
        if ticksUntilContactSample <= 0 {
            ticksUntilContactSample = core.options.heartbeatIntervalTicks
            if let ticks = core.ticksSinceQuorumContact {
                metrics.leaderLastContact.record(config.tickInterval * Int(ticks))
            }
        }
    }

    /// Counts a change of role (`raft.state.*`), and a follower's election timeout
    /// (`raft.transition.heartbeat_timeout`), which a TimeoutNow does not count as.
    func countRoleChange(to role: RaftRole) {
        defer { lastRole = role }
        guard role != lastRole else { return }
        if lastRole == .leader {
            // A follower's lag is a leader's view: a former leader reports none.
            for peer in peerMetrics.values {
                peer.lagEntries.record(0)
                peer.lagTime.record(0)
            }
        }
        switch role {
        case .follower: metrics.stateFollower.increment()
        case .candidate:
            metrics.stateCandidate.increment()
            if lastRole == .follower && !timeoutNowReceived { metrics.heartbeatTimeout.increment() }
        case .leader: metrics.stateLeader.increment()
        }
        timeoutNowReceived = false
        // Proposals of a leadership that ended are not this node's to time any more.
        proposalsToPersist = 0
        // Lag is measured against this leadership's own samples.
        replicationLag.reset()
        ticksUntilContactSample = 0
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
