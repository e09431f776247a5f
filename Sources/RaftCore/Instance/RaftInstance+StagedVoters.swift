/// Staged voters (``ServerSuffrage/staging``, added with ``ConfigurationChange/addStaging(_:_:)``):
/// the leader makes a staged server a voter by itself once it has caught up.
///
/// A server added straight as a voter counts toward the quorum before it holds the log: growing
/// three voters to four with a new, empty server makes the quorum three, so one more failure
/// among the old voters stops commits until the newcomer has copied everything. Staged, it
/// replicates like a non-voter and counts for nothing until it is in step.
///
/// The staging suffrage is in the replicated configuration, so a new leader goes on promoting
/// after a failover, and a snapshot carries it like any configuration.
extension RaftInstance {
    /// The stability window in ticks: ``Options/stagingStabilityTicks``, or the election timeout.
    var stagingStabilityTicks: UInt64 {
        UInt64(max(options.stagingStabilityTicks ?? options.electionTimeoutTicks, 0))
    }

    /// On a leader's tick: notes which staged servers are caught up (see
    /// ``Options/stagingCatchUpEntries``), restarting a server's window whenever it falls behind
    /// or goes silent, and promotes the first whose window has lasted
    /// ``Options/stagingStabilityTicks``, by appending `AddVoter` for it.
    ///
    /// Only while the configuration is stable (one change at a time, so several staged servers
    /// are promoted one after another) and no leadership transfer runs. No reachable-quorum
    /// check: the server was heard from within the lease, and the others' reachability is what
    /// it was.
    mutating func promoteCaughtUpStagedServers() {
        guard role == .leader else { return }
        let lease = UInt64(options.leaderLeaseTicks)
        let lastIndex = window.lastIndex
        for index in peers.indices {
            let peer = peers[index]
            // `.replicate`: a probe succeeded this term, so `match` is real, not a new leader's 0.
            let caughtUp = peer.server.suffrage == .staging && peer.mode == .replicate
                && lastIndex - min(peer.match, lastIndex) <= options.stagingCatchUpEntries
                && now - peer.lastContact <= lease
            if !caughtUp {
                peers[index].caughtUpSince = nil
            } else if peer.caughtUpSince == nil {
                peers[index].caughtUpSince = now
            }
        }
        guard isConfigurationStable, leadershipTransfer == nil else { return }
        let stability = stagingStabilityTicks
        guard let stable = peers.first(where: { peer in peer.caughtUpSince.map { now - $0 >= stability } ?? false }),
            let next = try? latestConfiguration.applying(.addVoter(stable.server.id, stable.server.address))
        else { return }
        let configurationIndex = appendConfiguration(next, appendedAt: .unset)
        ready.stagedVoterPromotions.append(
            Ready.StagedVoterPromotion(id: stable.server.id, match: stable.match, lastIndex: lastIndex, configurationIndex: configurationIndex)
        )
    }
}
