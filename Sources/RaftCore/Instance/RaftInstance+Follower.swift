extension RaftInstance {
    // MARK: - Inputs from the network

    /// Handles an incoming request. Its reply appears in a later ``Ready`` under `token`.
    public mutating func receive(_ request: RaftRequest, token: RequestToken) {
        switch request {
        case .appendEntries(let request) where !request.entries.isEmpty && (!deferredAppends.isEmpty || fsmIsFarBehind):
            // Delayed, not refused: a delayed message is one Raft always tolerates, and the
            // leader's window of requests in flight then stops it sending more.
            deferredAppends.append((request, token))
        case .appendEntries(let request): handleAppendEntries(request, token: token)
        case .requestVote(let request): handleRequestVote(request, token: token)
        case .requestPreVote(let request): handleRequestPreVote(request, token: token)
        case .timeoutNow(let request): handleTimeoutNow(request, token: token)
        case .installSnapshot(let request): handleInstallSnapshot(request, token: token)
        case .readIndex(let request): receiveReadIndex(request, token: token, leaseHolds: false)
        }
    }

    /// Handles the answer to a request from an earlier ``Ready``.
    public mutating func receive(response: RaftResponse, context: RequestContext) {
        switch response {
        case .appendEntries(let response):
            receiveAppendResponse(response, context: context)
        case .requestVote(let response):
            receiveVoteResponse(granted: response.granted, term: response.term, context: context, phase: .vote)
        case .requestPreVote(let response):
            receiveVoteResponse(granted: response.granted, term: response.term, context: context, phase: .preVote)
        case .installSnapshot(let response):
            receiveInstallSnapshotResponse(response, context: context)
        case .readIndex(let response):
            receiveReadIndexResponse(response, context: context)
        case .timeoutNow:
            break
        }
    }

    /// A request from an earlier ``Ready`` got no answer.
    public mutating func requestFailed(context: RequestContext, reason: RequestFailure) {
        switch context.kind {
        case .appendEntries, .heartbeat: appendRequestFailed(context: context)
        case .requestVote, .requestPreVote: voteRequestFailed(context: context, reason: reason)
        case .installSnapshot: snapshotTransferFailed(context: context)
        case .readIndex: readIndexRequestFailed(context: context, reason: reason)
        case .timeoutNow: break
        }
    }

    // MARK: - AppendEntries on a follower

    mutating func handleAppendEntries(_ request: AppendEntriesRequest, token: RequestToken) {
        var response = AppendEntriesResponse(
            header: header,
            term: hardState.currentTerm,
            lastLog: window.lastIndex,
            success: false
        )
        func reply(after persistence: Bool = false) {
            response.term = hardState.currentTerm
            response.lastLog = window.lastIndex
            let reply = OutboundReply(token: token, response: .appendEntries(response))
            if persistence { ready.repliesAfterPersist.append(reply) } else { ready.replies.append(reply) }
        }

        guard request.term >= hardState.currentTerm else {
            reply()
            return
        }
        let leaderAddress = request.header.address.rawValue.isEmpty ? request.leader : request.header.address
        let sender = sender(id: request.header.id, address: leaderAddress)
            ?? Server(suffrage: .voter, id: ServerID(leaderAddress.rawValue), address: leaderAddress)
        if request.term > hardState.currentTerm || role != .follower || leader?.id != sender.id {
            if role == .leader && request.term == hardState.currentTerm {
                ready.warnings.append("two leaders in term \(request.term): \(sender) and this server")
            }
            becomeFollower(term: request.term, leader: sender)
        }
        lastLeaderContact = now
        electionElapsed = 0
        preVoteDeferredToOlderPeers = false

        if request.isHeartbeat {
            response.success = true
            reply()
            return
        }

        // Consistency check. Entries at or below the window base are committed, so they match.
        if request.prevLogEntry > window.lastIndex {
            response.noRetryBackoff = true
            reply()
            return
        }
        if let term = window.term(at: request.prevLogEntry), term != request.prevLogTerm {
            response.noRetryBackoff = true
            reply()
            return
        }

        var appended = false
        for entry in request.entries where entry.index > window.baseIndex {
            if let existing = window.term(at: entry.index) {
                if existing == entry.term { continue }
                guard entry.index > commitIndex else {
                    ready.warnings.append("leader \(sender.id) sent entry \(entry.index) conflicting with a committed one")
                    reply()
                    return
                }
                truncate(from: entry.index)
            }
            guard entry.index == window.lastIndex + 1 else {
                ready.warnings.append("leader \(sender.id) sent non-consecutive entry \(entry.index)")
                reply()
                return
            }
            window.append(entry)
            noteAppended(entry)
            appended = true
        }

        let lastNewIndex = request.prevLogEntry + UInt64(request.entries.count)
        commit(through: min(request.leaderCommitIndex, lastNewIndex))
        response.success = true
        // An acknowledgment promises the entries are durable, so it waits for the disk when this
        // request (or an earlier one still being written) added any.
        reply(after: appended || persistedIndex < lastNewIndex)
    }

    mutating func truncate(from index: UInt64) {
        window.truncate(from: index)
        truncatedFrom = min(truncatedFrom ?? index, index)
        unpersistedFrom = min(unpersistedFrom, index)
        persistedIndex = min(persistedIndex, index - 1)
        revertConfiguration(truncatedFrom: index)
    }

    // MARK: - Bootstrap

    /// Bootstraps a brand-new server with `configuration` as log entry 1 of term 1, as hashicorp/
    /// raft's live `BootstrapCluster` does. Fails if the server has any state already, or if the
    /// configuration is invalid.
    public mutating func bootstrap(_ configuration: Configuration) throws(BootstrapError) {
        guard hardState.currentTerm == 0, window.lastIndex == 0, window.baseIndex == 0 else {
            throw .existingState
        }
        do {
            try configuration.validate()
        } catch {
            throw .invalidConfiguration(error)
        }
        guard configuration.isVoter(options.localID) else { throw .notVoter }
        hardState.currentTerm = 1
        hardStateDirty = true
        let entry = Log(index: 1, term: 1, type: .configuration, data: ConfigurationCodec.encode(configuration))
        window.append(entry)
        noteAppended(entry)
        stateChanged = true
    }
}

/// Why a bootstrap was refused.
public enum BootstrapError: Error, Hashable, Sendable {
    /// The server already has a term, log entries or a snapshot.
    case existingState
    /// The local server is not a voter in the configuration.
    case notVoter
    /// The configuration breaks a rule.
    case invalidConfiguration(ConfigurationError)
}
