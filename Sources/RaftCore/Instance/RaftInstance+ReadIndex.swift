/// Why a leader could not give a read index.
public enum ReadIndexRejection: Error, Hashable, Sendable {
    /// This server is not the leader; the known leader, if any, is named.
    case notLeader(leader: Server?)
    /// This server stopped leading before a quorum confirmed it still led.
    case leadershipLost
}

/// A read waiting for its index to be confirmed.
struct PendingRead: Sendable {
    var token: UInt64
    /// The commit index the read will be answered with, once its round is confirmed.
    var index: UInt64?
    /// The heartbeat round whose acknowledgement by a quorum confirms it.
    var round: UInt64?
}

/// ReadIndex (Raft thesis §6.4): linearizable reads without writing to the log.
///
/// A leader answers a read with its commit index once a quorum has acknowledged a heartbeat it
/// sent after the read arrived, which proves no other leader could have committed anything newer
/// meanwhile. A read of the local FSM once it has applied through that index is then
/// linearizable. Two refinements:
/// - A new leader waits until an entry of its own term (its no-op) has committed: before that its
///   commit index may be behind what an earlier leader committed.
/// - Reads share confirmation rounds: one round is in flight at a time, and every read that
///   arrives meanwhile rides the next one, so a burst of reads costs one heartbeat per follower,
///   not one per read.
extension RaftInstance {
    /// Asks for a read index under `token`: answered in a later ``Ready``'s
    /// ``Ready/readIndexes``, with the index, or why not.
    public mutating func requestReadIndex(_ token: UInt64) {
        guard role == .leader else {
            ready.readIndexes.append((token, .failure(.notLeader(leader: leader))))
            return
        }
        pendingReads.append(PendingRead(token: token))
    }

    /// Answers the reads whose round a quorum confirmed, and starts a round for those waiting,
    /// if none is in flight and this leader's own term has an entry committed. Called as each
    /// ``Ready`` is taken, after every input.
    mutating func advanceReads() {
        guard role == .leader, !pendingReads.isEmpty else { return }
        answerConfirmedReads()
        guard commitIndex >= termStartIndex, readRound <= confirmedHeartbeatRound(),
            pendingReads.contains(where: { $0.round == nil })
        else { return }
        heartbeatRound += 1
        readRound = heartbeatRound
        for position in pendingReads.indices where pendingReads[position].round == nil {
            pendingReads[position].index = commitIndex
            pendingReads[position].round = readRound
        }
        if confirmedHeartbeatRound() >= readRound {
            // A leader that is its own quorum needs nobody's word.
            answerConfirmedReads()
        } else {
            sendHeartbeats(force: true)
        }
    }

    private mutating func answerConfirmedReads() {
        let confirmed = confirmedHeartbeatRound()
        while let first = pendingReads.first, let round = first.round, let index = first.index, round <= confirmed {
            pendingReads.removeFirst()
            ready.readIndexes.append((first.token, .success(index)))
        }
    }

    /// Fails every pending read: this server no longer leads.
    mutating func failPendingReads() {
        for read in pendingReads { ready.readIndexes.append((read.token, .failure(.leadershipLost))) }
        pendingReads.removeAll()
        readRound = 0
    }
}
