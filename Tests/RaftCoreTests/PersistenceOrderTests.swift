import RaftTestTraits
import Testing

import RaftCore

/// What must be durable before what may be said (Raft Figure 2: "updated on stable storage before
/// responding to RPCs"), as expressed by ``Ready``: promises travel in `repliesAfterPersist` and
/// `messagesAfterPersist`, behind the hard state and entries of the same `Ready`.
@Suite(.offCooperativePool) struct PersistenceOrderTests {
    // Raft Figure 2: a granted vote is a durable promise; the grant waits in repliesAfterPersist behind the vote in the same Ready.
    @Test func grantedVoteWaitsBehindItsHardState() {
        var voter = Fixture.instance("n2", voters: 3)
        voter.receive(Fixture.requestVote(from: "n1", term: 2, last: (1, 1)), token: RequestToken(1))
        let ready = voter.takeReady()
        #expect(ready.hardState == HardState(currentTerm: 2, lastVoteTerm: 2, lastVoteCandidate: "n1"))
        #expect(ready.needsPersistence)
        #expect(ready.replies.isEmpty)
        #expect(ready.repliesAfterPersist.map(\.token) == [RequestToken(1)])
        #expect(ready.repliesAfterPersist.first?.requestVote?.granted == true)
    }

    // Raft Figure 2: a refused vote promises nothing and may go at once.
    @Test func refusedVoteGoesAtOnce() {
        var voter = Fixture.instance("n2", voters: 3, term: 2, vote: (2, "n3"))
        voter.receive(Fixture.requestVote(from: "n1", term: 2, last: (1, 1)), token: RequestToken(1))
        let ready = voter.takeReady()
        #expect(ready.replies.first?.requestVote?.granted == false)
        #expect(ready.repliesAfterPersist.isEmpty)
    }

    // Raft Figure 2: a candidate's new term and its vote for itself are durable before it asks anyone (messagesAfterPersist).
    @Test func voteRequestsWaitBehindTheCandidatesOwnVote() {
        var candidate = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        let ready = candidate.tickUntilCampaign()
        #expect(ready.hardState == HardState(currentTerm: 2, lastVoteTerm: 2, lastVoteCandidate: "n1"))
        #expect(!ready.messages.contains { $0.context.kind == .requestVote })
        #expect(ready.messagesAfterPersist.filter { $0.context.kind == .requestVote }.count == 2)
    }

    // Raft Figure 2: a follower acknowledges new entries only once they are durable.
    @Test func acknowledgementOfNewEntriesWaitsForThem() {
        var follower = Fixture.instance("n2", term: 2)
        let entries = [Fixture.command(index: 2, term: 2)]
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: entries), token: RequestToken(1))
        let ready = follower.takeReady()
        #expect(ready.entriesToPersist == entries)
        #expect(ready.replies.isEmpty)
        #expect(ready.repliesAfterPersist.first?.appendEntries?.success == true)
    }

    // Raft Figure 2: a retransmission of entries still being written is acknowledged only after that write, too.
    @Test func acknowledgementOfEntriesStillBeingWrittenWaits() {
        var follower = Fixture.instance("n2", term: 2)
        let request = Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: [Fixture.command(index: 2, term: 2)])
        follower.receive(request, token: RequestToken(1))
        _ = follower.takeReady()
        follower.receive(request, token: RequestToken(2))
        var ready = follower.takeReady()
        #expect(!ready.needsPersistence)
        #expect(ready.replies.isEmpty)
        #expect(ready.repliesAfterPersist.map(\.token) == [RequestToken(2)])

        follower.persistAll()
        follower.receive(request, token: RequestToken(3))
        ready = follower.takeReady()
        #expect(ready.replies.map(\.token) == [RequestToken(3)], "once durable, a retransmission is acknowledged at once")
    }

    // hashicorp/raft: a heartbeat touches no durable state and is acknowledged at once.
    @Test func heartbeatIsAcknowledgedAtOnce() {
        var follower = Fixture.instance("n2", term: 2)
        follower.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(1))
        let ready = follower.takeReady()
        #expect(ready.replies.first?.appendEntries?.success == true)
        #expect(ready.repliesAfterPersist.isEmpty)
    }

    // Raft thesis §10.2.1: a leader may send entries to followers while its own write of them is still in progress.
    @Test func leaderSendsEntriesBeforeItsOwnWriteCompletes() {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        #expect(won.entriesToPersist.map(\.type) == [.noop])
        #expect(won.appends.count == 2)
        #expect(won.appends.allSatisfy { $0.request.entries == won.entriesToPersist })
        #expect(won.messagesAfterPersist.isEmpty)
    }

    // Raft thesis §10.2.1: a leader counts itself toward the commit quorum only for entries it has made durable.
    @Test func leaderCountsItselfOnlyAfterPersisted() throws {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        let noop = leader.lastIndex
        let probe = try #require(won.appends.first { $0.target == "n2" })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: noop, success: true), context: probe.context)
        #expect(leader.currentCommitIndex < noop, "n2 alone is not a majority of 3")
        leader.persistAll()
        #expect(leader.currentCommitIndex == noop)
    }

    // Raft Figure 2: a node hands committed entries to its state machine only once they are durable locally.
    @Test func committedEntriesAreHandedOutOnlyOnceDurable() {
        var follower = Fixture.instance("n2", term: 2)
        let entries = [Fixture.command(index: 2, term: 2), Fixture.command(index: 3, term: 2)]
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: entries, commit: 3), token: RequestToken(1))
        var ready = follower.takeReady()
        #expect(follower.currentCommitIndex == 3)
        #expect(ready.committedEntries.map(\.index) == [1])
        follower.persistAll()
        ready = follower.takeReady()
        #expect(ready.committedEntries == entries)
    }

    // Raft Figure 2: a leader whose followers committed an entry still applies it only once its own copy is durable.
    @Test func leaderAppliesOnlyEntriesItHasPersisted() {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        let noop = leader.lastIndex
        for probe in won.appends {
            leader.receive(response: Fixture.appendResponse(from: probe.target, term: 2, lastLog: noop, success: true), context: probe.context)
        }
        #expect(leader.currentCommitIndex == noop, "two followers of three are a majority")
        #expect(!leader.takeReady().committedEntries.contains { $0.index == noop })
        leader.persistAll()
        #expect(leader.takeReady().committedEntries.map(\.index) == [noop])
    }

    // Ready contract: a durability report about entries since replaced by a truncation is ignored.
    @Test func durabilityReportForReplacedEntriesIsIgnored() throws {
        var follower = Fixture.instance("n2", term: 2)
        let old = [Fixture.command(index: 2, term: 2), Fixture.command(index: 3, term: 2)]
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: old), token: RequestToken(1))
        let first = try #require(follower.takeReady().writeID)
        let replacement = [Fixture.command(index: 2, term: 3), Fixture.command(index: 3, term: 3)]
        follower.receive(Fixture.appendEntries(from: "n3", term: 3, prev: (1, 1), entries: replacement), token: RequestToken(2))
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == 2)
        #expect(ready.entriesToPersist == replacement)

        follower.persisted(writeID: first)
        #expect(follower.lastPersistedIndex == 1, "entries 2–3 of term 2 are about to be deleted")
        follower.persisted(writeID: try #require(ready.writeID))
        #expect(follower.lastPersistedIndex == 3)
    }

    // Raft Figure 2: entries that replace durable ones after a truncation are not durable until written.
    @Test func replacementEntriesAreAcknowledgedAndAppliedOnlyOnceWritten() {
        // Entries 2–3 of term 2 are on disk.
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2])
        #expect(follower.lastPersistedIndex == 3)
        let replacement = Fixture.command(index: 2, term: 3)
        let request = Fixture.appendEntries(from: "n3", term: 3, prev: (1, 1), entries: [replacement], commit: 2)
        follower.receive(request, token: RequestToken(1))
        var ready = follower.takeReady()
        #expect(ready.truncateFrom == 2)
        #expect(follower.lastPersistedIndex == 1)
        #expect(ready.committedEntries.map(\.index) == [1], "entry 2 is committed but not yet durable")
        // A retransmission before the write completes must wait for it too.
        follower.receive(request, token: RequestToken(2))
        ready = follower.takeReady()
        #expect(ready.replies.isEmpty)
        #expect(ready.repliesAfterPersist.map(\.token) == [RequestToken(2)])
        follower.persistAll()
        #expect(follower.takeReady().committedEntries == [replacement])
    }

    // Ready contract: an acknowledgement promises durability, even when a late durability report matches the log only by coincidence.
    @Test func acknowledgementWaitsForTruncationsStillBeingWritten() throws {
        var follower = Fixture.instance("n2", term: 1)
        let fromTerm2 = [Fixture.command(index: 2, term: 2), Fixture.command(index: 3, term: 2)]
        // Write 1: entries 2–3 of term 2, from n1.
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: fromTerm2), token: RequestToken(1))
        let write1 = try #require(follower.takeReady().writeID)
        // Write 2: n3, leader of term 3, replaces them (truncate from 2).
        follower.receive(
            Fixture.appendEntries(from: "n3", term: 3, prev: (1, 1), entries: [Fixture.command(index: 2, term: 3)]),
            token: RequestToken(2)
        )
        let ready2 = follower.takeReady()
        #expect(ready2.truncateFrom == 2)
        // Write 3: n1, leader of term 4, restores its own (truncate from 2 again).
        follower.receive(Fixture.appendEntries(from: "n1", term: 4, prev: (1, 1), entries: fromTerm2), token: RequestToken(3))
        let ready3 = follower.takeReady()
        #expect(ready3.truncateFrom == 2)
        // Write 1 completes. The disk holds 2–3 of term 2, as the log does now, but write 2 is
        // about to delete them and only write 3 will bring them back.
        follower.persisted(writeID: write1)
        #expect(follower.lastPersistedIndex == 1)
        follower.receive(Fixture.appendEntries(from: "n1", term: 4, prev: (1, 1), entries: fromTerm2), token: RequestToken(4))
        let ready = follower.takeReady()
        #expect(ready.replies.isEmpty, "the acknowledgement must wait for writes 2 and 3")
        #expect(ready.repliesAfterPersist.map(\.token) == [RequestToken(4)])
        // Writes 2 and 3 complete: now the entries are durable and will stay.
        follower.persisted(writeID: try #require(ready2.writeID))
        #expect(follower.lastPersistedIndex == 1, "write 3 still has to bring 2–3 back")
        follower.persisted(writeID: try #require(ready3.writeID))
        #expect(follower.lastPersistedIndex == 3)
    }

    // Raft Figure 2: 3 nodes; followers' disks stall; an entry commits only once it is durable on a majority, and survives a crash.
    @Test func entryCommitsOnlyOnceDurableOnAMajority() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.holdWrites("n2")
        net.holdWrites("n3")
        let proposal = net.propose("n1", "x")
        let index = try #require(proposal).lowerBound
        net.stabilize()
        #expect(net["n2"].lastIndex == index && net["n3"].lastIndex == index, "the followers hold x in memory")
        #expect(net["n1"].currentCommitIndex < index, "but have not written it")

        net.crash("n2")
        net.restart("n2")
        #expect(net["n2"].lastIndex < index, "n2 lost the unwritten entry")
        net.releaseWrites("n2")
        net.releaseWrites("n3")
        net.stabilize()
        #expect(net["n1"].currentCommitIndex >= index)
        net.run(ticks: 10)
        #expect(net.ids.allSatisfy { net.appliedCommands($0) == ["x"] })
        #expect(net.violations.isEmpty)
    }

    // Raft thesis §10.2.1: 3 nodes; the leader's disk stalls; followers' acknowledgements alone (one of them) do not commit its entry.
    @Test func stalledLeaderDiskDelaysCommitUntilTheWriteCompletes() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.cut("n1", "n3")
        net.holdWrites("n1")
        let proposal = net.propose("n1", "x")
        let index = try #require(proposal).lowerBound
        net.stabilize()
        #expect(net.replicationMatch("n1", "n2") == index)
        #expect(net["n1"].currentCommitIndex < index)
        net.completeWrites("n1")
        #expect(net["n1"].currentCommitIndex == index)
        #expect(net.appliedCommands("n1") == ["x"])
    }

    // Raft Figure 2: 3 nodes; a voter crashes before its vote is durable; it never sent the vote, so it may vote again.
    @Test func voteLostInACrashWasNeverSent() {
        var net = TestNetwork(voters: 3) { $0.preVote = false }
        net.holdWrites("n2")
        net.cut("n1", "n3")
        net.campaign("n1")
        net.stabilize()
        #expect(net["n1"].currentRole == .candidate, "n2's grant waits for its disk")
        #expect(net["n2"].currentHardState.lastVoteCandidate == "n1")
        net.crash("n2")
        net.restart("n2")
        #expect(net["n2"].currentHardState.lastVoteCandidate == nil)
        #expect(net.violations.isEmpty)
    }
}
