/// Why no read index could be given.
public enum ReadIndexRejection: Error, Hashable, Sendable {
    /// This server is not the leader, or the server a follower asked turned out not to be; the
    /// leader this server knows of, if any, is named.
    case notLeader(leader: Server?)
    /// The leader stopped leading before a quorum confirmed it still led.
    case leadershipLost
    /// A follower knows no leader to ask.
    case noLeader
    /// A follower's leader did not answer (unreachable, timed out or failed).
    case leaderUnreachable(leader: Server)
    /// A follower's leader does not know the ReadIndex RPC: it is not swift-raft (hashicorp/raft).
    case unsupportedByLeader(leader: Server)
}

/// Where a pending read came from, and so where its answer goes.
enum ReadOrigin: Hashable, Sendable {
    /// A local caller's token (``Ready/readIndexes``).
    case local(UInt64)
    /// A follower's ReadIndex RPC, answered with a reply.
    case remote(RequestToken)
}

/// A read waiting for its index to be confirmed.
struct PendingRead: Sendable {
    var origin: ReadOrigin
    /// The commit index the read will be answered with, once its round is confirmed.
    var index: UInt64?
    /// The heartbeat round whose acknowledgement by a quorum confirms it.
    var round: UInt64?
}

/// A follower's reads forwarded to the leader: one request in flight, the rest waiting for it.
struct ForwardedReads: Sendable {
    /// The batch the request in flight answers (its ``RequestContext/round``), if any.
    var inFlightBatch: UInt64?
    var inFlight: [UInt64] = []
    /// Reads that arrived after the request in flight was sent: its answer may predate them.
    var waiting: [UInt64] = []
    var nextBatch: UInt64 = 0
}

/// ReadIndex (Raft thesis §6.4): linearizable reads without writing to the log.
///
/// A leader answers a read with its commit index once a quorum has acknowledged a heartbeat it
/// sent after the read arrived, which proves no other leader could have committed anything newer
/// meanwhile. A read of the local FSM once it has applied through that index is then
/// linearizable. Refinements:
/// - A new leader waits until an entry of its own term (its no-op) has committed: before that its
///   commit index may be behind what an earlier leader committed.
/// - Reads share confirmation rounds: one round is in flight at a time, and every read that
///   arrives meanwhile rides the next one, so a burst of reads costs one heartbeat per follower,
///   not one per read.
/// - A follower forwards its reads to the leader (``ReadIndexRequest``), likewise batched: one
///   request in flight, the reads that arrive meanwhile wait for the next, because the answer to
///   a request sent before a read arrived could predate a write the read must see. The follower
///   then reads its own FSM once it has applied through the index, which is what lets followers
///   serve linearizable reads.
extension RaftInstance {
    /// Asks for a read index under `token`: answered in a later ``Ready``'s
    /// ``Ready/readIndexes``, with the index, or why not. On a follower the leader is asked.
    ///
    /// - Parameters:
    ///   - token: the caller's tag for this read, echoed in the answer.
    ///   - leaseHolds: the shell found this leader's lease (``leaseBasis``) unexpired:
    ///     the commit index is answered at once, without a round of heartbeats.
    public mutating func requestReadIndex(_ token: UInt64, leaseHolds: Bool = false) {
        switch role {
        case .leader where leaseHolds && leaseBasis != nil:
            ready.readIndexes.append((token, .success(commitIndex)))
        case .leader:
            pendingReads.append(PendingRead(origin: .local(token)))
        case .follower where leader != nil:
            forwardedReads.waiting.append(token)
            forwardPendingReads()
        case .follower, .candidate:
            ready.readIndexes.append((token, .failure(.noLeader)))
        }
    }

    /// Answers the reads whose round a quorum confirmed, and starts a round for those waiting,
    /// if none is in flight and this leader's own term has an entry committed. Called as each
    /// ``Ready`` is taken, after every input.
    mutating func advanceReads() {
        guard role == .leader, !pendingReads.isEmpty else { return }
        answerConfirmedReads()
        guard hasCommittedInOwnTerm, readRound <= confirmedHeartbeatRound(),
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

    /// Whether an entry of this leader's own term has committed, so its commit index is at least
    /// everything any earlier leader committed.
    var hasCommittedInOwnTerm: Bool { role == .leader && commitIndex >= termStartIndex }

    private mutating func answerConfirmedReads() {
        let confirmed = confirmedHeartbeatRound()
        while let first = pendingReads.first, let round = first.round, let index = first.index, round <= confirmed {
            pendingReads.removeFirst()
            answer(first.origin, with: .success(index))
        }
    }

    /// Fails every pending read: this server no longer leads.
    mutating func failPendingReads() {
        for read in pendingReads { answer(read.origin, with: .failure(.leadershipLost)) }
        pendingReads.removeAll()
        readRound = 0
    }

    private mutating func answer(_ origin: ReadOrigin, with result: Result<UInt64, ReadIndexRejection>) {
        switch origin {
        case .local(let token):
            ready.readIndexes.append((token, result))
        case .remote(let token):
            var response = ReadIndexResponse(header: header, term: hardState.currentTerm, readIndex: 0)
            switch result {
            case .success(let index): response.readIndex = index
            case .failure(.leadershipLost): response.refusal = .leadershipLost
            case .failure: response.refusal = .notLeader
            }
            ready.replies.append(OutboundReply(token: token, response: .readIndex(response)))
        }
    }

    // MARK: - Reads forwarded by followers

    /// A follower asks this server for a read index (``receive(_:token:)`` takes it too, with
    /// no lease): a leader treats it as one of its own reads (sharing confirmation rounds with
    /// them, or answering at once while `leaseHolds`, as ``requestReadIndex(_:leaseHolds:)``);
    /// anyone else refuses at once.
    public mutating func receiveReadIndex(_ request: ReadIndexRequest, token: RequestToken, leaseHolds: Bool) {
        guard role == .leader else {
            answer(.remote(token), with: .failure(.notLeader(leader: leader)))
            return
        }
        if leaseHolds && leaseBasis != nil {
            answer(.remote(token), with: .success(commitIndex))
        } else {
            pendingReads.append(PendingRead(origin: .remote(token)))
        }
    }

    /// Sends the waiting reads to the leader as one request, unless one is in flight already.
    private mutating func forwardPendingReads() {
        guard forwardedReads.inFlightBatch == nil, !forwardedReads.waiting.isEmpty else { return }
        guard role == .follower, let leader else {
            let stranded = forwardedReads.waiting
            forwardedReads.waiting.removeAll()
            for token in stranded { ready.readIndexes.append((token, .failure(.noLeader))) }
            return
        }
        forwardedReads.nextBatch += 1
        forwardedReads.inFlightBatch = forwardedReads.nextBatch
        forwardedReads.inFlight = forwardedReads.waiting
        forwardedReads.waiting.removeAll()
        let context = RequestContext(kind: .readIndex, peer: leader.id, term: hardState.currentTerm, round: forwardedReads.nextBatch)
        let request = ReadIndexRequest(header: header, term: hardState.currentTerm)
        ready.messages.append(OutboundRequest(target: leader, request: .readIndex(request), context: context))
    }

    /// The leader answered a forwarded batch.
    mutating func receiveReadIndexResponse(_ response: ReadIndexResponse, context: RequestContext) {
        switch response.refusal {
        case nil:
            finishForwardedBatch(context, with: .success(response.readIndex))
        case .leadershipLost:
            finishForwardedBatch(context, with: .failure(.leadershipLost))
        case .notLeader:
            // Name a leader only if this server has since learned of another one.
            let newer = leader.flatMap { $0.id == context.peer ? nil : $0 }
            finishForwardedBatch(context, with: .failure(.notLeader(leader: newer)))
        }
    }

    /// A forwarded batch got no answer.
    mutating func readIndexRequestFailed(context: RequestContext, reason: RequestFailure) {
        let asked = latestConfiguration.server(withID: context.peer)
            ?? Server(suffrage: .voter, id: context.peer, address: ServerAddress(context.peer.rawValue))
        let rejection: ReadIndexRejection =
            reason == .unsupportedByPeer ? .unsupportedByLeader(leader: asked) : .leaderUnreachable(leader: asked)
        finishForwardedBatch(context, with: .failure(rejection))
    }

    private mutating func finishForwardedBatch(_ context: RequestContext, with result: Result<UInt64, ReadIndexRejection>) {
        guard forwardedReads.inFlightBatch == context.round else { return }
        for token in forwardedReads.inFlight { ready.readIndexes.append((token, result)) }
        forwardedReads.inFlight.removeAll()
        forwardedReads.inFlightBatch = nil
        forwardPendingReads()
    }

    /// This server became leader or candidate: reads waiting to be forwarded have nobody to go
    /// to (one in flight is still answered by whoever it went to). A new leader takes them as
    /// its own.
    mutating func reassignForwardedReads() {
        guard !forwardedReads.waiting.isEmpty else { return }
        let waiting = forwardedReads.waiting
        forwardedReads.waiting.removeAll()
        for token in waiting {
            if role == .leader {
                pendingReads.append(PendingRead(origin: .local(token)))
            } else {
                ready.readIndexes.append((token, .failure(.noLeader)))
            }
        }
    }
}
