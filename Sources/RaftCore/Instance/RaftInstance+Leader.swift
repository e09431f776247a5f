extension RaftInstance {
    // MARK: - Becoming leader

    mutating func becomeLeader() {
        role = .leader
        leader = localServer
        election = nil
        preVoteDeferredToOlderPeers = false
        stateChanged = true
        lastLeaderContact = now
        heartbeatElapsed = 0
        leaseElapsed = 0
        peers = []
        leaseForfeited = false
        syncPeersWithConfiguration()
        // A no-op of the new term lets earlier terms' entries commit (Figure 8) and tells
        // followers who leads.
        appendAsLeader(Proposal(type: .noop, data: []))
        termStartIndex = window.lastIndex
        sendHeartbeats()
    }

    /// Keeps one progress record per other server in the latest configuration, in its order.
    mutating func syncPeersWithConfiguration() {
        var updated: [PeerProgress] = []
        for server in latestConfiguration.servers where server.id != options.localID {
            if var existing = peers.first(where: { $0.server.id == server.id }) {
                existing.server = server
                updated.append(existing)
            } else {
                updated.append(PeerProgress(server: server, next: window.lastIndex + 1, now: now))
            }
        }
        peers = updated
    }

    // MARK: - Proposals

    /// Appends proposals to the leader's log. They are persisted and replicated through the next
    /// ``Ready``s: one batch, one disk write, AppendEntries of up to ``Options/maxAppendEntries``.
    ///
    /// - Returns: the indexes assigned, in order, or why the proposals were refused.
    public mutating func propose(_ proposals: [Proposal]) -> Result<ClosedRange<UInt64>, ProposalRejection> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard leadershipTransfer == nil else { return .failure(.leadershipTransferInProgress) }
        let first = window.lastIndex + 1
        for proposal in proposals { appendAsLeader(proposal) }
        return .success(first...max(first, window.lastIndex))
    }

    mutating func appendAsLeader(_ proposal: Proposal) {
        let entry = Log(
            index: window.lastIndex + 1,
            term: hardState.currentTerm,
            type: proposal.type,
            data: proposal.data,
            extensions: proposal.extensions,
            appendedAt: proposal.appendedAt
        )
        window.append(entry)
        noteAppended(entry)
    }

    // MARK: - Linearizable reads

    /// Asks whether this server is still the leader: resolves (in a later ``Ready``'s
    /// ``Ready/verifications``) once a quorum acknowledges a heartbeat sent after this call, or
    /// with false when leadership is lost first. hashicorp/raft's `VerifyLeader`.
    public mutating func verifyLeader(_ token: UInt64) {
        guard role == .leader else {
            ready.verifications.append((token, false))
            return
        }
        heartbeatRound += 1
        pendingVerifications.append((token, heartbeatRound))
        if !resolveVerifications() { sendHeartbeats(force: true) }
    }

    /// Resolves the verifications a quorum has acknowledged. Returns true if none remain.
    @discardableResult
    mutating func resolveVerifications() -> Bool {
        guard !pendingVerifications.isEmpty else { return true }
        let confirmed = confirmedHeartbeatRound()
        while let pending = pendingVerifications.first {
            guard pending.round <= confirmed else { return false }
            pendingVerifications.removeFirst()
            ready.verifications.append((pending.token, true))
        }
        return true
    }

    /// The newest heartbeat round a quorum of voters has acknowledged (this leader counting
    /// itself for every round, when it is a voter).
    func confirmedHeartbeatRound() -> UInt64 {
        var rounds = peers.filter { $0.server.suffrage == .voter }.map(\.acknowledgedRound)
        if isLocalVoter { rounds.append(heartbeatRound) }
        guard rounds.count >= quorumSize else { return 0 }
        rounds.sort(by: >)
        return rounds[quorumSize - 1]
    }

    /// The tick from which this leader's lease runs: when the newest request that a quorum of
    /// voters has answered in this term was sent (this leader counting itself at `now`). nil
    /// when no lease holds: not leading, no entry of this term committed yet (the commit index
    /// may lag an earlier leader's), or TimeoutNow sent this term (the transfer target's
    /// election ignores the voters' leader stickiness).
    ///
    /// Why it is a lease: a voter that answered a request refuses to vote for anyone else for a
    /// heartbeat timeout after it got it (leader stickiness, and for a heartbeat timeout after it
    /// starts), and it got it after it was sent. No other leader can be elected without one of a
    /// quorum, so none exists before this tick plus the heartbeat timeout, less the voters'
    /// one-tick granularity, as long as clocks run at about the same rate. The shell turns ticks
    /// into time and subtracts a clock-drift bound (`Config.leaseReads`).
    public var leaseBasis: UInt64? {
        guard hasCommittedInOwnTerm, !leaseForfeited else { return nil }
        var sentAt = peers.filter { $0.server.suffrage == .voter }.compactMap(\.acknowledgedSentAt)
        if isLocalVoter { sentAt.append(now) }
        guard sentAt.count >= quorumSize else { return nil }
        sentAt.sort(by: >)
        return sentAt[quorumSize - 1]
    }

    // MARK: - Time

    mutating func tickLeader() {
        expireLeadershipTransfer()
        heartbeatElapsed += 1
        if heartbeatElapsed >= UInt64(options.heartbeatIntervalTicks) {
            heartbeatElapsed = 0
            sendHeartbeats()
        }
        leaseElapsed += 1
        if leaseElapsed >= UInt64(options.leaderLeaseTicks) {
            leaseElapsed = 0
            checkQuorum()
        }
        promoteCaughtUpStagedServers()
    }

    /// While leading, ticks since a quorum of voters last answered: the age of the quorum-th
    /// freshest contact, counting this leader (if a voter) as in contact now. Nil otherwise.
    /// Check-quorum steps down once it exceeds the lease.
    public var ticksSinceQuorumContact: UInt64? {
        guard role == .leader else { return nil }
        var ages: [UInt64] = isLocalVoter ? [0] : []
        for peer in peers where peer.server.suffrage == .voter { ages.append(now - peer.lastContact) }
        guard ages.count >= quorumSize else { return nil }
        ages.sort()
        return ages[quorumSize - 1]
    }

    /// Steps down if fewer than a quorum of voters answered within the lease (check-quorum), so a
    /// leader cut off from the majority stops accepting writes it can never commit.
    mutating func checkQuorum() {
        var inContact = isLocalVoter ? 1 : 0
        let lease = UInt64(options.leaderLeaseTicks)
        for peer in peers where peer.server.suffrage == .voter && now - peer.lastContact <= lease {
            inContact += 1
        }
        // A follower's commit index is volatile: one that restarted has forgotten it, and
        // heartbeats do not carry it. Once a lease, assume nothing was learned, so an idle
        // follower gets one AppendEntries with the commit index (hashicorp/raft's CommitTimeout
        // poll, at a far lower rate).
        for index in peers.indices { peers[index].sentCommit = 0 }
        if inContact < quorumSize {
            ready.warnings.append(
                "stepping down: only \(inContact) of \(voters.count) voters heard from within the lease"
            )
            becomeFollower(term: hardState.currentTerm, leader: nil)
        }
    }

    mutating func sendHeartbeats(force: Bool = false) {
        let request = AppendEntriesRequest(header: header, term: hardState.currentTerm, leader: options.localAddress)
        for index in peers.indices where force || !peers[index].heartbeatInFlight {
            peers[index].heartbeatInFlight = true
            let context = RequestContext(
                kind: .heartbeat,
                peer: peers[index].server.id,
                term: hardState.currentTerm,
                round: heartbeatRound,
                sentAt: now
            )
            ready.messages.append(OutboundRequest(target: peers[index].server, request: .appendEntries(request), context: context))
        }
    }

    // MARK: - Replication

    /// Sends whatever each follower's window allows: new entries, or an empty AppendEntries to
    /// carry a commit index the follower has not seen.
    mutating func flushReplication() {
        for index in peers.indices { flushReplication(to: index) }
    }

    mutating func flushReplication(to index: Int) {
        guard !peers[index].awaitingLoad, peers[index].pausedUntil <= now else { return }
        switch peers[index].mode {
        case .snapshot:
            return
        case .probe:
            if peers[index].inflight.isEmpty { sendAppend(to: index, allowEmpty: true) }
        case .replicate:
            while peers[index].next <= window.lastIndex,
                peers[index].inflight.count < options.maxInflightAppends,
                peers[index].inflightBytes < options.maxInflightBytes
            {
                if !sendAppend(to: index, allowEmpty: false) { return }
            }
            if peers[index].inflight.isEmpty && peers[index].sentCommit < commitIndex {
                sendAppend(to: index, allowEmpty: true)
            }
        }
    }

    /// Sends one AppendEntries starting at the follower's next index. Returns false if entries had
    /// to be loaded from storage first.
    @discardableResult
    mutating func sendAppend(to index: Int, allowEmpty: Bool) -> Bool {
        let next = peers[index].next
        let prevIndex = next - 1
        guard let prevTerm = knownTerm(at: prevIndex), next > window.baseIndex else {
            // The log store lacks the entries to send, or the one before them whose term the
            // follower checks: only the snapshot can bring this follower up to date.
            if next < firstStoredIndex || (prevIndex > 0 && prevIndex < firstStoredIndex && knownTerm(at: prevIndex) == nil) {
                sendSnapshot(to: index)
            } else {
                requestLoad(for: index)
            }
            return false
        }
        let entries = window.entries(
            from: next,
            maxCount: options.maxAppendEntries,
            maxBytes: options.maxAppendBytes
        )
        if entries.isEmpty && !allowEmpty { return true }
        send(entries: entries, prevIndex: prevIndex, prevTerm: prevTerm, to: index)
        return true
    }

    mutating func send(entries: [Log], prevIndex: UInt64, prevTerm: UInt64, to index: Int) {
        let lastIndex = entries.last?.index ?? prevIndex
        let bytes = entries.reduce(0) { $0 + $1.data.count + $1.extensions.count }
        let request = AppendEntriesRequest(
            header: header,
            term: hardState.currentTerm,
            leader: options.localAddress,
            prevLogEntry: prevIndex,
            prevLogTerm: prevTerm,
            entries: entries,
            leaderCommitIndex: commitIndexSafe(forPeer: index, coveringThrough: lastIndex)
        )
        let context = RequestContext(
            kind: .appendEntries,
            peer: peers[index].server.id,
            term: hardState.currentTerm,
            prevLogIndex: prevIndex,
            lastIndex: lastIndex,
            bytes: bytes,
            epoch: peers[index].epoch,
            round: heartbeatRound,
            sentAt: now
        )
        peers[index].inflight.append((lastIndex, bytes))
        peers[index].inflightBytes += bytes
        peers[index].sentCommit = max(peers[index].sentCommit, request.leaderCommitIndex)
        if peers[index].mode == .replicate { peers[index].next = lastIndex + 1 }
        ready.messages.append(OutboundRequest(target: peers[index].server, request: .appendEntries(request), context: context))
    }

    /// The commit index an AppendEntries to follower `index` may carry when it covers the log
    /// through `lastIndex`: never above what the follower's log is known to match (`match`) or
    /// will match once it accepts this request (`lastIndex`).
    ///
    /// The paper's follower commits `min(leaderCommit, index of last new entry)`, so the full
    /// commit index would be harmless to it. hashicorp/raft's follower (1.1.2 through 1.7) commits
    /// `min(leaderCommit, its own last index)` instead: a follower holding a stale suffix from an
    /// old term, sent a request that matches an earlier prefix, would commit and apply that stale
    /// suffix before a later request truncated it. Capping the value here keeps every follower
    /// implementation safe, at no cost to ours: a request can only teach a follower commits up to
    /// the last entry it covers anyway.
    func commitIndexSafe(forPeer index: Int, coveringThrough lastIndex: UInt64) -> UInt64 {
        min(commitIndex, max(peers[index].match, lastIndex))
    }

    mutating func requestLoad(for index: Int) {
        let next = peers[index].next
        // The entry before `next` too, for its term, unless the store no longer has it (then the
        // snapshot's last entry is that one, and its term is known).
        let first = max(next - 1, firstStoredIndex, 1)
        let last = min(window.lastIndex, next + UInt64(options.maxAppendEntries) - 1)
        guard last >= first else { return }
        peers[index].awaitingLoad = true
        ready.entryLoads.append(EntryLoad(peer: peers[index].server.id, firstIndex: first, lastIndex: last, epoch: peers[index].epoch))
    }

    /// Entries the shell loaded from the log store for ``EntryLoad`` `load`: consecutive, starting
    /// at its first index. An empty array means the store could not provide them.
    public mutating func entriesLoaded(_ entries: [Log], for load: EntryLoad) {
        guard role == .leader, let index = peers.firstIndex(where: { $0.server.id == load.peer }),
            peers[index].epoch == load.epoch, peers[index].awaitingLoad
        else { return }
        peers[index].awaitingLoad = false
        let next = peers[index].next
        let prevIndex = next - 1
        let prevTerm: UInt64
        if prevIndex == 0 {
            prevTerm = 0
        } else if let entry = entries.first(where: { $0.index == prevIndex }) {
            prevTerm = entry.term
        } else if let term = knownTerm(at: prevIndex) {
            prevTerm = term
        } else if prevIndex < firstStoredIndex {
            // Compacted away while the load was on its way.
            sendSnapshot(to: index)
            return
        } else {
            ready.warnings.append("log store could not provide entries \(load.firstIndex)...\(load.lastIndex) for \(load.peer)")
            pause(index)
            return
        }
        // The same cut as from the window: at most maxAppendEntries entries and maxAppendBytes
        // bytes, but always the first entry, so a request never outgrows what the transport carries.
        var sendable: [Log] = []
        var bytes = 0
        for entry in entries where entry.index >= next {
            let size = entry.data.count + entry.extensions.count
            guard sendable.count < options.maxAppendEntries, sendable.isEmpty || size <= options.maxAppendBytes - bytes else { break }
            sendable.append(entry)
            bytes += size
        }
        guard sendable.first?.index == next else {
            if next < firstStoredIndex {
                sendSnapshot(to: index)
                return
            }
            ready.warnings.append("log store has no entry \(next) for \(load.peer)")
            pause(index)
            return
        }
        send(entries: sendable, prevIndex: prevIndex, prevTerm: prevTerm, to: index)
    }

    mutating func pause(_ index: Int) {
        peers[index].consecutiveFailures += 1
        let exponent = min(peers[index].consecutiveFailures - 1, 16)
        let backoff = min(options.retryBackoffTicks << exponent, options.maxRetryBackoffTicks)
        peers[index].pausedUntil = now + UInt64(max(backoff, 1))
    }

    // MARK: - Answers from followers

    mutating func receiveAppendResponse(_ response: AppendEntriesResponse, context: RequestContext) {
        if response.term > hardState.currentTerm {
            becomeFollower(term: response.term, leader: nil)
            return
        }
        guard role == .leader, context.term == hardState.currentTerm,
            let index = peers.firstIndex(where: { $0.server.id == context.peer })
        else { return }
        peers[index].lastContact = now
        peers[index].acknowledgedRound = max(peers[index].acknowledgedRound, context.round)
        peers[index].acknowledgedSentAt = max(peers[index].acknowledgedSentAt ?? 0, context.sentAt)
        if context.kind == .heartbeat {
            peers[index].heartbeatInFlight = false
            resolveVerifications()
            return
        }
        if response.success {
            peers[index].consecutiveFailures = 0
            peers[index].match = max(peers[index].match, context.lastIndex)
            peers[index].acknowledge(through: context.lastIndex)
            if peers[index].mode == .probe && context.epoch == peers[index].epoch {
                peers[index].mode = .replicate
                peers[index].next = max(peers[index].next, peers[index].match + 1)
            }
            resolveVerifications()
            advanceCommitIndex()
            continueLeadershipTransfer()
        } else {
            guard context.epoch == peers[index].epoch else { return }
            if response.lastLog < peers[index].match {
                // The follower lost entries it acknowledged (its disk was wiped or replaced): its
                // match is what it has now, or the probe would never look below the old match
                // and would be refused forever.
                ready.warnings.append(
                    "\(context.peer) has lost entries it acknowledged: its log ends at \(response.lastLog), it had matched \(peers[index].match)"
                )
                peers[index].match = response.lastLog
            }
            // Resume just after the follower's last entry, but never before what it has matched.
            let hint = min(context.prevLogIndex, response.lastLog + 1)
            peers[index].fallBackToProbe(next: max(hint, 1))
            if !response.noRetryBackoff { pause(index) }
        }
    }

    mutating func appendRequestFailed(context: RequestContext) {
        guard role == .leader, context.term == hardState.currentTerm,
            let index = peers.firstIndex(where: { $0.server.id == context.peer })
        else { return }
        if context.kind == .heartbeat {
            peers[index].heartbeatInFlight = false
            // It may be restarting, and will have forgotten the commit index when it is back.
            peers[index].sentCommit = 0
            return
        }
        guard context.epoch == peers[index].epoch else { return }
        // The follower's position is unknown, not lost: probe again where this request started
        // and let a rejection's last-index hint move back from there. Restarting from `match + 1`
        // would re-send the whole log to a follower a new leader has never heard from (match 0).
        peers[index].fallBackToProbe(next: min(context.prevLogIndex + 1, window.lastIndex + 1))
        pause(index)
    }

    /// Commits the highest index a quorum of voters has durably, if it is from this term
    /// (Raft §5.4.2, Figure 8: older-term entries commit only indirectly).
    mutating func advanceCommitIndex() {
        guard role == .leader else { return }
        var matches: [UInt64] = []
        matches.reserveCapacity(voters.count)
        if isLocalVoter { matches.append(persistedIndex) }
        for peer in peers where peer.server.suffrage == .voter { matches.append(peer.match) }
        guard matches.count >= quorumSize, !matches.isEmpty else { return }
        matches.sort(by: >)
        let candidate = matches[quorumSize - 1]
        guard candidate > commitIndex, window.term(at: candidate) == hardState.currentTerm else { return }
        commit(through: candidate)
    }
}
