/// A campaign in progress: first the pre-vote round (if enabled), then the election itself.
struct Election: Sendable {
    enum Phase: Sendable, Equatable {
        case preVote
        case vote
    }

    var phase: Phase
    /// The term being campaigned for.
    var term: UInt64
    var granted: Set<ServerID> = []
    var refused: Set<ServerID> = []
    var leadershipTransfer: Bool
    /// Whether this pre-vote round reached its quorum only through peers without pre-vote, and
    /// so holds back its election until the next round.
    var heldBack = false
}

extension RaftInstance {
    // MARK: - Starting elections

    mutating func electionTimerFired() {
        guard !isStorageStalled else {
            // A campaign needs durable writes (our own vote, then the no-op as leader) that
            // cannot finish; winning would only make this server a leader that cannot commit.
            resetElectionTimer()
            return
        }
        guard isLocalVoter else {
            // A server outside the configuration, or a non-voter, never campaigns (hashicorp/raft
            // 1.2+); it waits to be contacted by a leader.
            resetElectionTimer()
            return
        }
        if leader != nil {
            leader = nil
            stateChanged = true
        }
        campaign(leadershipTransfer: false)
    }

    /// Starts a campaign: a pre-vote round when enabled (and not a leadership transfer), else the
    /// election proper.
    mutating func campaign(leadershipTransfer: Bool) {
        if options.preVote && !leadershipTransfer {
            startPreVote()
        } else {
            startElection(leadershipTransfer: leadershipTransfer)
        }
    }

    mutating func startPreVote() {
        if role != .candidate { stateChanged = true }
        role = .candidate
        resetElectionTimer()
        let proposedTerm = hardState.currentTerm + 1
        election = Election(phase: .preVote, term: proposedTerm, granted: [options.localID], leadershipTransfer: false)
        if tallyElection() { return }
        let request = RequestPreVoteRequest(
            header: header,
            term: proposedTerm,
            lastLogIndex: window.lastIndex,
            lastLogTerm: window.lastTerm
        )
        for voter in voters where voter.id != options.localID {
            let context = RequestContext(kind: .requestPreVote, peer: voter.id, term: proposedTerm)
            // A pre-vote changes no durable state, so it need not wait for the disk.
            ready.messages.append(OutboundRequest(target: voter, request: .requestPreVote(request), context: context))
        }
    }

    mutating func startElection(leadershipTransfer: Bool) {
        role = .candidate
        stateChanged = true
        leader = nil
        hardState.currentTerm += 1
        hardState.lastVoteTerm = hardState.currentTerm
        hardState.lastVoteCandidate = options.localID
        hardStateDirty = true
        resetElectionTimer()
        let term = hardState.currentTerm
        election = Election(phase: .vote, term: term, granted: [options.localID], leadershipTransfer: leadershipTransfer)
        if tallyElection() { return }
        let request = RequestVoteRequest(
            header: header,
            term: term,
            candidate: options.localAddress,
            lastLogIndex: window.lastIndex,
            lastLogTerm: window.lastTerm,
            leadershipTransfer: leadershipTransfer
        )
        for voter in voters where voter.id != options.localID {
            let context = RequestContext(kind: .requestVote, peer: voter.id, term: term)
            // Our own vote must be durable before anyone is asked: a candidate that crashed and
            // forgot it could otherwise vote for a rival in the same term.
            ready.messagesAfterPersist.append(
                OutboundRequest(target: voter, request: .requestVote(request), context: context)
            )
        }
    }

    /// Counts the votes; moves on when a quorum granted. Returns true if the phase ended.
    @discardableResult
    mutating func tallyElection() -> Bool {
        guard let election, role == .candidate else { return false }
        let voterIDs = Set(voters.map(\.id))
        let grants = election.granted.intersection(voterIDs).count
        guard grants >= quorumSize else { return false }
        switch election.phase {
        case .preVote:
            let assumed = election.granted.intersection(peersWithoutPreVote).intersection(voterIDs).count
            if grants - assumed < quorumSize && (election.heldBack || !preVoteDeferredToOlderPeers) {
                // The quorum needs peers that cannot answer a pre-vote (hashicorp/raft before
                // 1.7), and such a peer refuses real votes while it still follows a leader: an
                // election now would most likely burn a term. Wait one election timeout instead;
                // meanwhile that peer's own timer fires and it campaigns, and we vote for it. If
                // it does not (say its log is behind ours), the next round goes ahead.
                self.election?.heldBack = true
                preVoteDeferredToOlderPeers = true
                return false
            }
            startElection(leadershipTransfer: false)
        case .vote:
            becomeLeader()
        }
        return true
    }

    // MARK: - Answers to our campaign

    mutating func receiveVoteResponse(granted: Bool, term: UInt64, context: RequestContext, phase: Election.Phase) {
        // A pre-vote grant may carry the term it was asked about: hashicorp/raft 1.7 answers a
        // granted pre-vote with the proposed term (our term + 1), ours with the voter's current
        // term. Neither is news of a newer term; only a grant above the proposed term, or a
        // refusal from a voter already past our term, is.
        let newerTerm = phase == .preVote && granted ? term > context.term : term > hardState.currentTerm
        if newerTerm {
            becomeFollower(term: term, leader: nil)
            return
        }
        guard role == .candidate, var election, election.phase == phase, election.term == context.term else { return }
        if granted {
            election.granted.insert(context.peer)
        } else {
            election.refused.insert(context.peer)
        }
        self.election = election
        tallyElection()
    }

    mutating func voteRequestFailed(context: RequestContext, reason: RequestFailure) {
        guard context.kind == .requestPreVote, reason == .preVoteUnsupported else { return }
        // hashicorp/raft before 1.7 does not know pre-vote. Counting such a peer as a refusal would
        // leave a mixed cluster unable to elect us, so it counts as a grant (as in hashicorp/raft
        // 1.7); pre-vote protects liveness only, never safety.
        peersWithoutPreVote.insert(context.peer)
        guard role == .candidate, var election, election.phase == .preVote, election.term == context.term else { return }
        election.granted.insert(context.peer)
        self.election = election
        tallyElection()
    }

    // MARK: - Answering others' campaigns

    mutating func handleRequestVote(_ request: RequestVoteRequest, token: RequestToken) {
        let candidate = sender(id: request.header.id, address: request.candidate)
        var granted = false
        defer {
            let response = RequestVoteResponse(header: header, term: hardState.currentTerm, granted: granted)
            let reply = OutboundReply(token: token, response: .requestVote(response))
            // A granted vote is a promise that must survive a crash: send it after the disk.
            if granted { ready.repliesAfterPersist.append(reply) } else { ready.replies.append(reply) }
        }
        guard let candidate else {
            ready.warnings.append("refusing vote to unknown candidate at \(request.candidate)")
            return
        }
        if !latestConfiguration.servers.isEmpty && !latestConfiguration.contains(candidate.id) {
            return
        }
        if (hasLiveLeader && leader?.id != candidate.id || isNewlyStarted) && !request.leadershipTransfer {
            return
        }
        if request.term < hardState.currentTerm { return }
        if request.term > hardState.currentTerm {
            // The timer restarts below only if the vote is granted: a candidate whose log is
            // behind (one without pre-vote campaigns every timeout) must not keep an up-to-date
            // follower from ever campaigning itself.
            becomeFollower(term: request.term, leader: nil, restartTimer: false)
        }
        if !latestConfiguration.servers.isEmpty && !latestConfiguration.isVoter(candidate.id) {
            return
        }
        if hardState.lastVoteTerm == request.term, let votedFor = hardState.lastVoteCandidate {
            granted = votedFor == candidate.id
            return
        }
        guard isUpToDate(lastLogIndex: request.lastLogIndex, lastLogTerm: request.lastLogTerm) else { return }
        hardState.lastVoteTerm = request.term
        hardState.lastVoteCandidate = candidate.id
        hardStateDirty = true
        granted = true
        resetElectionTimer()
    }

    mutating func handleRequestPreVote(_ request: RequestPreVoteRequest, token: RequestToken) {
        let candidate = sender(id: request.header.id, address: request.header.address)
        var granted = false
        defer {
            let response = RequestPreVoteResponse(header: header, term: hardState.currentTerm, granted: granted)
            ready.replies.append(OutboundReply(token: token, response: .requestPreVote(response)))
        }
        guard let candidate else { return }
        if !latestConfiguration.servers.isEmpty && !latestConfiguration.contains(candidate.id) { return }
        if hasLiveLeader && leader?.id != candidate.id || isNewlyStarted { return }
        if request.term < hardState.currentTerm { return }
        if !latestConfiguration.servers.isEmpty && !latestConfiguration.isVoter(candidate.id) { return }
        guard isUpToDate(lastLogIndex: request.lastLogIndex, lastLogTerm: request.lastLogTerm) else { return }
        granted = true
    }

    mutating func handleTimeoutNow(_ request: TimeoutNowRequest, token: RequestToken) {
        ready.replies.append(OutboundReply(token: token, response: .timeoutNow(TimeoutNowResponse(header: header))))
        guard isLocalVoter, !isStorageStalled else { return }
        campaign(leadershipTransfer: true)
    }
}
