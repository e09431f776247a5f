/// Snapshots, log compaction and InstallSnapshot (Raft §7; hashicorp/raft's semantics).
///
/// The core never touches a snapshot's bytes. It learns of snapshots from the shell — one the FSM
/// took (``snapshotTaken(_:)``), one a leader sent (``snapshotInstalled(token:point:)``), one a
/// user restored (``snapshotRestoredAsLeader(_:)``) — and answers with what to do to the log:
/// compact it (``Ready/compactThrough``), send the snapshot to a follower the log can no longer
/// catch up (``Ready/snapshotTransfers``), or write an incoming one to the store
/// (``Ready/snapshotInstalls``).
extension RaftInstance {
    // MARK: - Taking snapshots

    /// The FSM's state through `point` is now in the snapshot store: the log before it may go,
    /// all but ``Options/trailingLogs`` entries of it.
    public mutating func snapshotTaken(_ point: SnapshotPoint) {
        guard point.index > snapshotIndex else { return }
        snapshotIndex = point.index
        snapshotTerm = point.term
        compactLog(coveredBy: point.index)
    }

    /// Asks the shell to delete the stored log through the newest entry that both `index` covers
    /// and leaves ``Options/trailingLogs`` entries behind it (hashicorp/raft's `compactLogs`).
    mutating func compactLog(coveredBy index: UInt64) {
        let last = window.lastIndex
        guard last > options.trailingLogs else { return }
        let through = min(index, last - options.trailingLogs)
        guard through >= firstStoredIndex else { return }
        ready.compactThrough = max(ready.compactThrough ?? 0, through)
        // From now on the leader neither loads these entries nor expects the store to have them.
        firstStoredIndex = through + 1
    }

    // MARK: - Sending snapshots (leader)

    /// Switches follower `index` to receiving the newest snapshot: its next entries are no longer
    /// in the log.
    mutating func sendSnapshot(to index: Int) {
        guard snapshotIndex > 0 else {
            ready.warnings.append(
                "\(peers[index].server.id) needs entries from \(peers[index].next), before the log's first "
                    + "\(firstStoredIndex), and there is no snapshot to send"
            )
            pause(index)
            return
        }
        peers[index].fallBackToProbe(next: peers[index].next)
        peers[index].mode = .snapshot
        let request = InstallSnapshotRequest(
            header: header,
            term: hardState.currentTerm,
            leader: options.localAddress,
            lastLogIndex: snapshotIndex,
            lastLogTerm: snapshotTerm,
            configuration: [],
            configurationIndex: 0,
            size: 0
        )
        let context = RequestContext(
            kind: .installSnapshot,
            peer: peers[index].server.id,
            term: hardState.currentTerm,
            lastIndex: snapshotIndex,
            epoch: peers[index].epoch,
            round: heartbeatRound
        )
        ready.snapshotTransfers.append(SnapshotTransfer(target: peers[index].server, request: request, context: context))
    }

    mutating func receiveInstallSnapshotResponse(_ response: InstallSnapshotResponse, context: RequestContext) {
        if response.term > hardState.currentTerm {
            becomeFollower(term: response.term, leader: nil)
            return
        }
        guard role == .leader, context.term == hardState.currentTerm,
            let index = peers.firstIndex(where: { $0.server.id == context.peer }),
            peers[index].mode == .snapshot, peers[index].epoch == context.epoch
        else { return }
        peers[index].lastContact = now
        guard response.success else {
            ready.warnings.append("\(context.peer) refused the snapshot through \(context.lastIndex)")
            peers[index].fallBackToProbe(next: peers[index].next)
            pause(index)
            return
        }
        peers[index].consecutiveFailures = 0
        peers[index].match = max(peers[index].match, context.lastIndex)
        // Probe from just after the snapshot: the follower may hold more (a suffix it kept).
        peers[index].fallBackToProbe(next: context.lastIndex + 1)
        advanceCommitIndex()
    }

    mutating func snapshotTransferFailed(context: RequestContext) {
        guard role == .leader, context.term == hardState.currentTerm,
            let index = peers.firstIndex(where: { $0.server.id == context.peer }),
            peers[index].mode == .snapshot, peers[index].epoch == context.epoch
        else { return }
        peers[index].fallBackToProbe(next: peers[index].next)
        pause(index)
    }

    // MARK: - Receiving snapshots (follower)

    /// hashicorp/raft's `installSnapshot`, in two steps: the request's term and leader count at
    /// once (as for AppendEntries); its data goes to the shell to write
    /// (``Ready/snapshotInstalls``), unless the snapshot would bring nothing new — then the
    /// follower says yes without reading it, so a leader whose snapshot is older than the
    /// follower's commit index is never stuck resending it (hashicorp/raft#697).
    mutating func handleInstallSnapshot(_ request: InstallSnapshotRequest, token: RequestToken) {
        func reply(success: Bool) {
            let response = InstallSnapshotResponse(header: header, term: hardState.currentTerm, success: success)
            // After persistence: a term the request raised must be durable before the leader
            // hears of it, and a "yes" promises the entries it covers are durable here.
            ready.repliesAfterPersist.append(OutboundReply(token: token, response: .installSnapshot(response)))
        }
        guard request.term >= hardState.currentTerm else {
            ready.replies.append(
                OutboundReply(
                    token: token,
                    response: .installSnapshot(InstallSnapshotResponse(header: header, term: hardState.currentTerm, success: false))
                )
            )
            return
        }
        let leaderAddress = request.header.address.rawValue.isEmpty ? request.leader : request.header.address
        let sender = sender(id: request.header.id, address: leaderAddress)
            ?? Server(suffrage: .voter, id: ServerID(leaderAddress.rawValue), address: leaderAddress)
        if request.term > hardState.currentTerm || role != .follower || leader?.id != sender.id {
            becomeFollower(term: request.term, leader: sender)
        }
        lastLeaderContact = now
        electionElapsed = 0
        preVoteDeferredToOlderPeers = false

        guard (0...1).contains(request.snapshotVersion) else {
            ready.warnings.append("refused snapshot version \(request.snapshotVersion) from \(sender.id): only 0 and 1 are known")
            return reply(success: false)
        }
        guard (try? ConfigurationCodec.decode(request.configuration[...])) != nil else {
            ready.warnings.append("refused the snapshot from \(sender.id): its configuration cannot be decoded")
            return reply(success: false)
        }
        if request.lastLogIndex <= commitIndex {
            // Everything the snapshot holds is committed here already, so it is in this log, or
            // in a snapshot of this server's own.
            return reply(success: true)
        }
        guard installingSnapshot == nil else {
            ready.warnings.append("refused a second snapshot from \(sender.id) while one is being installed")
            return reply(success: false)
        }
        installingSnapshot = token
        ready.snapshotInstalls.append(SnapshotInstall(token: token, request: request))
    }

    /// The request whose snapshot the shell is writing now, if any. The shell closes the data of
    /// any other InstallSnapshot it hands in: the core answered it without reading it.
    public var snapshotBeingInstalled: RequestToken? { installingSnapshot }

    /// The snapshot of the InstallSnapshot `token` is durable in the shell's snapshot store.
    ///
    /// The log is cut to fit: if it holds the snapshot's last entry, the entries after it stay
    /// (Raft §7: "retain log entries following it"); otherwise the whole log is deleted and starts
    /// again after the snapshot. The leader's answer is a ``Ready/repliesAfterPersist`` entry.
    ///
    /// - Returns: whether the shell must now restore its FSM from that snapshot (and so before
    ///   applying anything handed out later).
    public mutating func snapshotInstalled(token: RequestToken, point: SnapshotPoint) -> SnapshotInstallOutcome {
        if installingSnapshot == token { installingSnapshot = nil }
        let outcome = adoptSnapshot(point)
        let response = InstallSnapshotResponse(header: header, term: hardState.currentTerm, success: true)
        ready.repliesAfterPersist.append(OutboundReply(token: token, response: .installSnapshot(response)))
        return outcome
    }

    /// The snapshot of the InstallSnapshot `token` could not be written (`reason` says why): the
    /// leader is told no, and will try again.
    public mutating func snapshotInstallFailed(token: RequestToken, reason: String) {
        if installingSnapshot == token { installingSnapshot = nil }
        ready.warnings.append("installing the leader's snapshot failed: \(reason)")
        let response = InstallSnapshotResponse(header: header, term: hardState.currentTerm, success: false)
        ready.repliesAfterPersist.append(OutboundReply(token: token, response: .installSnapshot(response)))
    }

    // MARK: - Restoring a user's snapshot (leader)

    /// Where a user's snapshot must go (hashicorp/raft's `Restore`): after everything in this
    /// log and after the snapshot's own index, in this leader's term, so it supersedes both.
    /// Nil unless this server leads and its configuration is committed.
    public func userRestorePoint(snapshotIndex restoredIndex: UInt64) -> SnapshotPoint? {
        guard role == .leader, latestConfigurationIndex == committedConfigurationIndex else { return nil }
        return SnapshotPoint(
            index: max(window.lastIndex, restoredIndex) + 1,
            term: hardState.currentTerm,
            configuration: latestConfiguration,
            configurationIndex: latestConfigurationIndex
        )
    }

    /// The leader stored the user's snapshot at `point` (from ``userRestorePoint(snapshotIndex:)``)
    /// and restores its FSM from it: the log is replaced by the snapshot, which counts as
    /// committed, and followers catch up through InstallSnapshot. Returns false, changing nothing,
    /// if this server no longer leads in `point`'s term.
    public mutating func snapshotRestoredAsLeader(_ point: SnapshotPoint) -> Bool {
        guard role == .leader, point.term == hardState.currentTerm, point.index > window.lastIndex else { return false }
        _ = adoptSnapshot(point)
        for index in peers.indices { peers[index].fallBackToProbe(next: point.index + 1) }
        return true
    }

    // MARK: - Adopting a snapshot

    /// Makes `point` this server's newest snapshot and the base of its log.
    mutating func adoptSnapshot(_ point: SnapshotPoint) -> SnapshotInstallOutcome {
        if point.index <= handedOutIndex {
            // The FSM has been given everything the snapshot holds: keep the FSM and the log.
            if point.index > snapshotIndex {
                snapshotIndex = point.index
                snapshotTerm = point.term
            }
            return .keepFSM
        }
        // Every entry through the snapshot's index is committed and in the snapshot, so the log
        // after it can stay if it continues from the same entry and the store holds all of it up
        // to there (entries not yet handed to the store would leave a hole in it).
        if window.term(at: point.index) == point.term && unpersistedFrom > point.index {
            window.trimPrefix(through: point.index)
            persistedIndex = max(persistedIndex, point.index)
        } else {
            window = LogWindow(baseIndex: point.index, baseTerm: point.term)
            // Everything stored goes: older entries are in the snapshot, later ones contradict it.
            truncatedFrom = 1
            unpersistedFrom = point.index + 1
            persistedIndex = point.index
            firstStoredIndex = point.index + 1
        }
        if latestConfigurationIndex <= point.index || window.baseIndex == window.lastIndex {
            latestConfiguration = point.configuration
            latestConfigurationIndex = point.configurationIndex
        }
        if point.configurationIndex >= committedConfigurationIndex {
            committedConfiguration = point.configuration
            committedConfigurationIndex = point.configurationIndex
        }
        commitIndex = max(commitIndex, point.index)
        handedOutIndex = point.index
        snapshotIndex = point.index
        snapshotTerm = point.term
        if role == .leader { syncPeersWithConfiguration() }
        compactLog(coveredBy: point.index)
        return .restoreFSM
    }
}
