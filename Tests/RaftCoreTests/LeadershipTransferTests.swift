import RaftTestTraits
import Testing

import RaftCore

/// Leadership transfer on the leader (hashicorp/raft's `LeadershipTransfer`, Raft thesis §3.10):
/// proposals stop, the target is brought up to date, then sent TimeoutNow; the transfer ends when
/// the leader steps down, or fails after an election timeout.
@Suite(.offCooperativePool) struct LeadershipTransferTests {
    // A target that holds the whole log is sent TimeoutNow at once; proposals are refused meanwhile.
    @Test func aCaughtUpTargetIsSentTimeoutNowAndProposalsStop() throws {
        var leader = MembershipTests.stableLeader()
        #expect(try leader.transferLeadership(to: "n2").get() == "n2")
        let ready = leader.takeReady()
        let timeoutNow = try #require(ready.messages.first { $0.context.kind == .timeoutNow })
        #expect(timeoutNow.target.id == "n2")
        #expect(leader.propose([Proposal(data: [1])]) == .failure(.leadershipTransferInProgress))
        #expect(leader.proposeConfigurationChange(.removeServer("n3")) == .failure(.leadershipTransferInProgress))
        #expect(leader.transferLeadership(to: "n3") == .failure(.inProgress))
    }

    // A lagging target is caught up first: TimeoutNow goes only once it matches the leader's last entry.
    @Test func aLaggingTargetIsCaughtUpBeforeTimeoutNow() throws {
        var leader = MembershipTests.stableLeader()
        _ = leader.propose([Proposal(data: [1])])
        let ready = leader.takeReady()
        leader.persistAll()
        let toN3 = try #require(ready.appends.first { $0.target == "n3" })
        #expect(try leader.transferLeadership(to: "n3").get() == "n3")
        #expect(!leader.takeReady().messages.contains { $0.context.kind == .timeoutNow })
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 3, success: true), context: toN3.context)
        #expect(leader.takeReady().messages.contains { $0.context.kind == .timeoutNow && $0.target.id == "n3" })
    }

    // Without a target, the voter with the most of the log is chosen; a non-voter cannot be one.
    @Test func theMostUpToDateVoterIsChosenAndANonvoterRefused() throws {
        var leader = MembershipTests.stableLeader()
        _ = leader.propose([Proposal(data: [1])])
        let ready = leader.takeReady()
        leader.persistAll()
        let toN3 = try #require(ready.appends.first { $0.target == "n3" })
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 3, success: true), context: toN3.context)
        _ = leader.takeReady()
        #expect(try leader.transferLeadership(to: nil).get() == "n3")
        var other = MembershipTests.stableLeader()
        #expect(other.transferLeadership(to: "n9") == .failure(.noTarget("n9 is not a voter of the latest configuration")))
    }

    // A transfer nobody completes fails after an election timeout, and the leader takes proposals again.
    @Test func aTransferTimesOutAfterAnElectionTimeout() throws {
        // A lease longer than the transfer's timeout: the followers are silent here, and
        // check-quorum must not be what ends this leadership.
        var leader = MembershipTests.stableLeader { $0.leaderLeaseTicks = 1000 }
        _ = try leader.transferLeadership(to: "n2").get()
        var outcome: Bool?
        for _ in 0..<(leader.options.electionTimeoutTicks + 1) where outcome == nil {
            leader.tick()
            outcome = leader.takeReady().leadershipTransferSucceeded
        }
        #expect(outcome == false)
        #expect(leader.currentRole == .leader)
        #expect((try? leader.propose([Proposal(data: [1])]).get()) != nil)
    }

    // The transfer succeeds when the leader steps down for the target's newer term.
    @Test func steppingDownCompletesTheTransfer() throws {
        var leader = MembershipTests.stableLeader()
        _ = try leader.transferLeadership(to: "n2").get()
        _ = leader.takeReady()
        leader.receive(Fixture.requestVote(from: "n2", term: 3, last: (2, 2), leadershipTransfer: true), token: RequestToken(1))
        let ready = leader.takeReady()
        #expect(leader.currentRole == .follower)
        #expect(ready.leadershipTransferSucceeded == true)
    }
}
