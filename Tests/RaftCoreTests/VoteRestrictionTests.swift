import RaftTestTraits
import Testing

import RaftCore

/// The election restriction, Raft §5.4.1: a vote goes only to a candidate whose log is at least as
/// up-to-date as the voter's, so every leader holds every committed entry (Leader Completeness).
@Suite(.offCooperativePool) struct VoteRestrictionTests {
    /// Asks a voter whose log ends with entries of `voterTerms` (after the configuration) for its
    /// vote in term 9, from a candidate whose log ends at `candidateLast`.
    private func vote(voterTerms: [UInt64], candidateLast: (index: UInt64, term: UInt64)) -> (granted: Bool, ready: Ready) {
        var voter = Fixture.instance("n2", voters: 3, term: voterTerms.last ?? 1, terms: voterTerms)
        voter.receive(Fixture.requestVote(from: "n1", term: 9, last: candidateLast), token: RequestToken(1))
        let ready = voter.takeReady()
        return (ready.allReplies.first?.requestVote?.granted ?? false, ready)
    }

    // Raft §5.4.1: a voter denies its vote if its own log is more up-to-date: its last entry has a higher term.
    @Test func voterDeniesCandidateWhoseLastTermIsOlder() {
        // Voter ends at 3/3; the candidate's log is longer but ends in term 2.
        #expect(!vote(voterTerms: [2, 3], candidateLast: (10, 2)).granted)
    }

    // Raft §5.4.1: when the last terms are equal, the longer log is the more up-to-date.
    @Test func voterDeniesCandidateWithShorterLogOfSameLastTerm() {
        #expect(!vote(voterTerms: [2, 2, 2], candidateLast: (3, 2)).granted)
    }

    // Raft §5.4.1: a log whose last entry has a later term is more up-to-date, however short.
    @Test func voterGrantsCandidateWithLaterLastTermDespiteShorterLog() {
        #expect(vote(voterTerms: [2, 2, 2, 2], candidateLast: (2, 3)).granted)
    }

    // Raft §5.4.1: a candidate whose log ends at the same index and term is as up-to-date and gets the vote.
    @Test func voterGrantsCandidateWithEquallyUpToDateLog() {
        #expect(vote(voterTerms: [2, 3], candidateLast: (3, 3)).granted)
    }

    // Raft §5.4.1: with equal last terms, a longer candidate log is more up-to-date.
    @Test func voterGrantsCandidateWithLongerLogOfSameLastTerm() {
        #expect(vote(voterTerms: [2, 3], candidateLast: (8, 3)).granted)
    }

    // Raft §5.1, §5.4.1: a vote denied for the log still adopts the newer term, but records no vote and sends at once.
    @Test func logDenialAdoptsTheTermButRecordsNoVote() {
        let (granted, ready) = vote(voterTerms: [2, 3], candidateLast: (2, 2))
        #expect(!granted)
        #expect(ready.hardState?.currentTerm == 9)
        #expect(ready.hardState?.lastVoteCandidate == nil)
        #expect(ready.replies.first?.requestVote?.term == 9)
        #expect(ready.repliesAfterPersist.isEmpty)
    }

    // Raft §5.4.1 (and hashicorp/raft's pre-vote): the same log comparison decides a pre-vote.
    @Test func preVoteAppliesTheSameRestriction() {
        var voter = Fixture.instance("n2", voters: 3, term: 3, terms: [2, 3])
        voter.receive(Fixture.requestPreVote(from: "n1", term: 4, last: (5, 2)), token: RequestToken(1))
        voter.receive(Fixture.requestPreVote(from: "n3", term: 4, last: (3, 3)), token: RequestToken(2))
        let replies = voter.takeReady().replies
        #expect(replies.map { $0.requestPreVote?.granted } == [false, true])
    }

    // hashicorp/raft: a vote request from a server outside the latest configuration is refused.
    @Test func voterRefusesCandidateOutsideTheConfiguration() {
        var voter = Fixture.instance("n2", voters: 3)
        voter.receive(Fixture.requestVote(from: "n7", term: 9, last: (5, 5)), token: RequestToken(1))
        let ready = voter.takeReady()
        #expect(ready.replies.first?.requestVote?.granted == false)
        #expect(voter.currentTerm == 1)
    }

    // hashicorp/raft: a vote request from a non-voter is refused.
    @Test func voterRefusesNonvoterCandidate() {
        var voter = Fixture.instance("n2", voters: 3, nonvoters: 1)
        voter.receive(Fixture.requestVote(from: "n4", term: 9, last: (5, 5)), token: RequestToken(1))
        #expect(voter.takeReady().replies.first?.requestVote?.granted == false)
        #expect(voter.currentHardState.lastVoteCandidate == nil)
    }

    // Raft §5.4.1 Leader Completeness: 3 nodes; n1 commits "x" with n2 while n3 is cut off; n1 dies; n3 cannot win, n2 does.
    @Test func nodeMissingCommittedEntriesCannotBecomeLeader() {
        for seed in UInt64(1)...8 {
            var net = TestNetwork(voters: 3, seed: seed)
            net.elect("n1")
            net.isolate("n3")
            net.propose("n1", "x")
            net.stabilize()
            let committedIndex = net["n1"].currentCommitIndex
            #expect(net.log("n1").last?.data == Array("x".utf8)[...])
            #expect(committedIndex == net["n1"].lastIndex, "seed \(seed)")
            #expect(net["n3"].lastIndex < committedIndex)

            net.crash("n1")
            net.heal()
            net.run(ticks: 300)
            #expect(net.leader == "n2", "seed \(seed)")
            #expect(!net.node("n3").stateChanges.contains { $0.role == .leader }, "seed \(seed)")
            // The new leader brings n3 up to date, and n3 applies "x".
            #expect(net.appliedCommands("n3") == ["x"], "seed \(seed)")
            #expect(net.violations.isEmpty, "seed \(seed)")
        }
    }
}

/// Raft §5.2: a follower campaigns when its election timeout passes without hearing from a leader
/// or granting a vote. Refusing a vote is neither, even when the request's newer term is adopted.
@Suite(.offCooperativePool) struct RefusedVoteTimerTests {
    // A candidate whose log is behind, without pre-vote (hashicorp/raft 1.1.x), campaigns every
    // election timeout at a higher term. If each refusal restarted the up-to-date follower's timer,
    // the follower would never campaign and the cluster would have no leader for as long as the
    // stale candidate keeps trying (seen against hashicorp/raft 1.1.2: 30 s without a leader).
    @Test func refusingNewerTermVotesDoesNotKeepAFollowerFromCampaigning() {
        var follower = Fixture.instance("n2", voters: 3, term: 3, terms: [2, 3, 3])
        _ = follower.takeReady()
        var candidateTerm: UInt64 = 3
        var campaigned = false
        // The stale candidate asks again every 5 ticks, well within any election timeout.
        for tick in 1...1_000 where !campaigned {
            if tick % 5 == 0 {
                candidateTerm += 1
                follower.receive(Fixture.requestVote(from: "n1", term: candidateTerm, last: (2, 2)), token: RequestToken(UInt64(tick)))
                #expect(follower.takeReady().replies.first?.requestVote?.granted == false)
                follower.persistAll()
            }
            follower.tick()
            let ready = follower.takeReady()
            campaigned = ready.messages.contains { $0.context.kind == .requestPreVote || $0.context.kind == .requestVote }
                || ready.messagesAfterPersist.contains { $0.context.kind == .requestVote }
            follower.persistAll()
        }
        #expect(campaigned, "the up-to-date follower never campaigned while refusing a stale candidate's votes")
    }

    // A candidate or leader that steps down for a newer term starts a fresh follower timer, as
    // hashicorp/raft's runFollower does.
    @Test func aCandidateSteppingDownForANewerTermStartsAFreshTimer() {
        var node = Fixture.instance("n2", voters: 3, term: 3, terms: [2, 3, 3])
        _ = node.tickUntilCampaign()
        #expect(node.currentRole == .candidate)
        node.receive(Fixture.requestVote(from: "n1", term: node.currentTerm + 1, last: (2, 2)), token: RequestToken(1))
        #expect(node.currentRole == .follower)
        node.persistAll()
        _ = node.takeReady()
        var ticks = 0
        while node.currentRole == .follower && ticks < 10_000 {
            node.tick()
            _ = node.takeReady()
            ticks += 1
        }
        let heartbeatTimeoutTicks = RaftInstance.Options(localID: "n2", localAddress: "n2").heartbeatTimeoutTicks
        #expect(ticks >= heartbeatTimeoutTicks, "campaigned again after \(ticks) ticks, before a whole timeout")
    }
}
