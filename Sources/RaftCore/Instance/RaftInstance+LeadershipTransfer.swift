/// Why the core refused a leadership transfer.
public enum LeadershipTransferRejection: Error, Hashable, Sendable {
    /// This server is not the leader; the known leader, if any, is named.
    case notLeader(leader: Server?)
    /// A transfer is already under way.
    case inProgress
    /// There is no voter to hand leadership to, or the one named is not a voter here.
    case noTarget(String)
}

/// A leadership transfer under way on the leader.
struct LeadershipTransfer: Sendable {
    var target: ServerID
    /// The tick after which the transfer has failed and the leader resumes (one election timeout).
    var deadline: UInt64
    var timeoutNowSent = false
}

/// Leadership transfer (hashicorp/raft's `LeadershipTransfer` and `LeadershipTransferToServer`,
/// Raft thesis §3.10): the leader stops taking proposals, brings the target up to date, and sends it
/// TimeoutNow, on which the target campaigns at once, without pre-vote. The attempt ends when this
/// leader steps down (success) or after an election timeout (failure; it goes on leading).
extension RaftInstance {
    /// Starts handing leadership to `target`, or to the voter whose log is most up to date when
    /// nil. Outcome: ``Ready/leadershipTransferSucceeded``.
    ///
    /// - Returns: the server leadership is being handed to.
    public mutating func transferLeadership(to target: ServerID?) -> Result<ServerID, LeadershipTransferRejection> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard leadershipTransfer == nil else { return .failure(.inProgress) }
        let candidates = peers.filter { $0.server.suffrage == .voter && latestConfiguration.isVoter($0.server.id) }
        let chosen: PeerProgress?
        if let target {
            chosen = candidates.first { $0.server.id == target }
            guard chosen != nil else { return .failure(.noTarget("\(target) is not a voter of the latest configuration")) }
        } else {
            chosen = candidates.max { $0.match < $1.match }
            guard chosen != nil else { return .failure(.noTarget("no other voter in the latest configuration")) }
        }
        let id = chosen!.server.id
        leadershipTransfer = LeadershipTransfer(target: id, deadline: now + UInt64(options.electionTimeoutTicks))
        continueLeadershipTransfer()
        return .success(id)
    }

    /// Whether a transfer is under way: proposals and configuration changes are refused.
    public var isTransferringLeadership: Bool { leadershipTransfer != nil }

    /// Sends TimeoutNow once the target holds the whole log; until then replication catches it up.
    mutating func continueLeadershipTransfer() {
        guard role == .leader, let transfer = leadershipTransfer, !transfer.timeoutNowSent,
            let index = peers.firstIndex(where: { $0.server.id == transfer.target }),
            peers[index].match >= window.lastIndex
        else { return }
        leadershipTransfer?.timeoutNowSent = true
        leaseForfeited = true
        let context = RequestContext(kind: .timeoutNow, peer: transfer.target, term: hardState.currentTerm)
        ready.messages.append(
            OutboundRequest(target: peers[index].server, request: .timeoutNow(TimeoutNowRequest(header: header)), context: context)
        )
    }

    /// On a leader's tick: a transfer past its deadline has failed.
    mutating func expireLeadershipTransfer() {
        guard let transfer = leadershipTransfer, now >= transfer.deadline else { return }
        leadershipTransfer = nil
        ready.warnings.append("leadership transfer to \(transfer.target) timed out; leading on")
        ready.leadershipTransferSucceeded = false
    }

    /// On stepping down: a transfer under way has done its job.
    mutating func finishLeadershipTransferOnStepDown() {
        guard leadershipTransfer != nil else { return }
        leadershipTransfer = nil
        ready.leadershipTransferSucceeded = true
    }
}
