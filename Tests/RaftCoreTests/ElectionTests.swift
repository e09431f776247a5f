import RaftTestTraits
import Testing

import RaftCore

/// Leader election: Raft §5.1 (terms) and §5.2, plus hashicorp/raft's additions (leader stickiness,
/// leadership transfer, non-voters).
@Suite(.offCooperativePool) struct ElectionTests {
    // MARK: Timeouts

    // Raft §5.2: a follower that hears from no leader for a randomized election timeout becomes a candidate.
    @Test func followerWithoutLeaderCampaignsAfterRandomizedTimeout() {
        var timeouts: Set<Int> = []
        for seed in UInt64(0)..<32 {
            var node = Fixture.instance("n1", seed: seed)
            var ticks = 0
            while node.currentRole == .follower && ticks < 1_000 {
                node.tick()
                ticks += 1
            }
            #expect(node.currentRole == .candidate)
            // hashicorp/raft's randomTimeout(HT): between HT and 2×HT.
            #expect(ticks >= node.options.heartbeatTimeoutTicks && ticks < 2 * node.options.heartbeatTimeoutTicks)
            timeouts.insert(ticks)
        }
        // Randomization is what makes split votes rare (§5.2).
        #expect(timeouts.count > 4)
    }

    // Raft §5.2: a follower stays a follower as long as it keeps receiving valid RPCs from a leader.
    @Test func followerHearingHeartbeatsNeverCampaigns() {
        var node = Fixture.instance("n2", term: 2)
        for tick in 0..<500 {
            node.tick()
            if tick % 5 == 0 { node.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(UInt64(tick))) }
            let ready = node.takeReady()
            #expect(ready.allMessages.isEmpty)
        }
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 2)
        #expect(node.currentLeader?.id == "n1")
    }

    // MARK: Winning and losing

    // Raft §5.2: a candidate increments its term, votes for itself and asks every other voter for its vote.
    @Test func candidateIncrementsTermVotesForItselfAndRequestsVotes() {
        var node = Fixture.instance("n1", voters: 3, term: 4) { $0.preVote = false }
        let ready = node.tickUntilCampaign()
        #expect(node.currentTerm == 5)
        #expect(ready.hardState == HardState(currentTerm: 5, lastVoteTerm: 5, lastVoteCandidate: "n1"))
        let requests = ready.messagesAfterPersist.compactMap { message -> (ServerID, RequestVoteRequest)? in
            guard case .requestVote(let request) = message.request else { return nil }
            return (message.target.id, request)
        }
        #expect(requests.map(\.0) == ["n2", "n3"])
        for (_, request) in requests {
            #expect(request.term == 5)
            #expect(request.lastLogIndex == 1)
            #expect(request.lastLogTerm == 1)
            #expect(request.header.id == "n1")
            #expect(!request.leadershipTransfer)
        }
    }

    // Raft §5.2: a candidate that wins votes from a majority becomes leader and sends AppendEntries to every peer.
    @Test func candidateWithMajorityBecomesLeaderAndAssertsItself() throws {
        var node = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        let campaign = node.tickUntilCampaign()
        node.persistAll()
        let toN2 = try #require(campaign.messagesAfterPersist.first { $0.target.id == "n2" })
        node.receive(response: Fixture.voteResponse(from: "n2", term: 2, granted: true), context: toN2.context)
        #expect(node.currentRole == .leader)

        let ready = node.takeReady()
        #expect(ready.stateChange?.role == .leader)
        #expect(ready.stateChange?.term == 2)
        #expect(ready.stateChange?.leader?.id == "n1")
        // It appends a no-op of its own term (hashicorp/raft's LogNoop, Raft §8)…
        #expect(ready.entriesToPersist.map(\.type) == [.noop])
        #expect(ready.entriesToPersist.first?.term == 2)
        // …and tells everyone, including the voter that did not answer.
        let targets = Set(ready.messages.filter { $0.context.term == 2 }.map(\.target.id))
        #expect(targets == ["n2", "n3"])
    }

    // Raft §5.2: a candidate holding votes from only a minority does not become leader.
    @Test func candidateWithMinorityOfVotesStaysCandidate() {
        var node = Fixture.instance("n1", voters: 5) { $0.preVote = false }
        let campaign = node.tickUntilCampaign()
        node.persistAll()
        for message in campaign.messagesAfterPersist {
            let granted = message.target.id == "n2"
            node.receive(response: Fixture.voteResponse(from: message.target.id, term: 2, granted: granted), context: message.context)
        }
        #expect(node.currentRole == .candidate)
        #expect(node.takeReady().stateChange == nil)
    }

    // Raft §5.2: when a candidate's election times out without a winner it starts a new election in a higher term.
    @Test func candidateWhoseElectionTimesOutStartsANewTerm() {
        var node = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        _ = node.tickUntilCampaign()
        #expect(node.currentTerm == 2)
        var ticks = 0
        var ready = node.takeReady()
        while node.currentTerm == 2 && ticks < 1_000 {
            node.tick()
            ticks += 1
            ready = node.takeReady()
        }
        #expect(node.currentTerm == 3)
        #expect(node.currentRole == .candidate)
        #expect(ticks >= node.options.electionTimeoutTicks && ticks < 2 * node.options.electionTimeoutTicks)
        #expect(ready.messagesAfterPersist.allSatisfy { $0.context.term == 3 })
        #expect(ready.messagesAfterPersist.count == 2)
    }

    // Raft §5.2: a candidate that receives AppendEntries from a leader of its own term recognizes it and returns to follower.
    @Test func candidateStepsDownForLeaderOfSameTerm() {
        var node = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        _ = node.tickUntilCampaign()
        node.receive(Fixture.heartbeat(from: "n2", term: 2), token: RequestToken(1))
        #expect(node.currentRole == .follower)
        #expect(node.currentLeader?.id == "n2")
        #expect(node.currentTerm == 2)
        let ready = node.takeReady()
        #expect(ready.allReplies.first?.appendEntries?.success == true)
        #expect(ready.stateChange?.role == .follower)
    }

    // Raft §5.2: a candidate rejects AppendEntries from a leader of an older term and keeps campaigning.
    @Test func candidateRejectsStaleLeader() {
        var node = Fixture.instance("n1", voters: 3, term: 4) { $0.preVote = false }
        _ = node.tickUntilCampaign()
        node.receive(Fixture.heartbeat(from: "n2", term: 4), token: RequestToken(1))
        #expect(node.currentRole == .candidate)
        let reply = node.takeReady().allReplies.first?.appendEntries
        #expect(reply?.success == false)
        #expect(reply?.term == 5)
    }

    // MARK: Terms

    // Raft §5.1: a leader that learns of a higher term from a response steps down and adopts it.
    @Test func leaderSeeingHigherTermInResponseStepsDown() throws {
        var node = Fixture.instance("n1", voters: 3)
        var ready = node.winElection()
        node.persistAll()
        let append = try #require(ready.appends.first)
        node.receive(
            response: Fixture.appendResponse(from: append.target, term: 9, lastLog: 1, success: false),
            context: append.context
        )
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 9)
        ready = node.takeReady()
        #expect(ready.hardState?.currentTerm == 9)
        #expect(ready.stateChange?.role == .follower)
        #expect(ready.stateChange?.leader == nil)
        #expect(node.propose([Proposal(data: [1])]) == .failure(.notLeader(leader: nil)))
    }

    // Raft §5.1: a candidate that learns of a higher term from a vote response returns to follower in that term.
    @Test func candidateSeeingHigherTermInVoteResponseBecomesFollower() throws {
        var node = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        let campaign = node.tickUntilCampaign()
        let request = try #require(campaign.messagesAfterPersist.first)
        node.receive(response: Fixture.voteResponse(from: request.target.id, term: 7, granted: false), context: request.context)
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 7)
        #expect(node.takeReady().hardState?.currentTerm == 7)
    }

    // Raft §5.1: a request from an older term is rejected, and the reply carries the newer term.
    @Test func voteRequestFromOlderTermIsDeniedWithCurrentTerm() throws {
        var node = Fixture.instance("n2", term: 5)
        node.receive(Fixture.requestVote(from: "n1", term: 4, last: (9, 4)), token: RequestToken(1))
        let ready = node.takeReady()
        let reply = try #require(ready.replies.first?.requestVote)
        #expect(!reply.granted)
        #expect(reply.term == 5)
        #expect(ready.hardState == nil)
        #expect(node.currentTerm == 5)
    }

    // Raft §5.1: a server receiving a request with a newer term adopts that term before handling it.
    @Test func voterAdoptsNewerTermFromVoteRequest() {
        var node = Fixture.instance("n2", term: 1)
        node.receive(Fixture.requestVote(from: "n1", term: 6, last: (1, 1)), token: RequestToken(1))
        let ready = node.takeReady()
        #expect(node.currentTerm == 6)
        #expect(ready.hardState?.currentTerm == 6)
        #expect(ready.repliesAfterPersist.first?.requestVote?.term == 6)
    }

    // MARK: One vote per term

    // Raft §5.2: each server votes for at most one candidate in a term, first come first served.
    @Test func voterGrantsAtMostOneVotePerTerm() {
        var node = Fixture.instance("n2", voters: 3)
        node.receive(Fixture.requestVote(from: "n1", term: 2, last: (1, 1)), token: RequestToken(1))
        node.receive(Fixture.requestVote(from: "n3", term: 2, last: (1, 1)), token: RequestToken(2))
        // A retransmission from the candidate it chose is granted again.
        node.receive(Fixture.requestVote(from: "n1", term: 2, last: (1, 1)), token: RequestToken(3))
        let ready = node.takeReady()
        let granted = ready.allReplies.filter { $0.requestVote?.granted == true }.map(\.token)
        let denied = ready.allReplies.filter { $0.requestVote?.granted == false }.map(\.token)
        #expect(granted == [RequestToken(1), RequestToken(3)])
        #expect(denied == [RequestToken(2)])
        #expect(node.currentHardState.lastVoteCandidate == "n1")
    }

    // Raft Figure 2: votedFor is durable, so a restarted server does not vote again in the same term.
    @Test func voteCastBeforeRestartStillBindsAfterIt() {
        var node = Fixture.instance("n2", voters: 3, term: 2, vote: (2, "n1"))
        node.receive(Fixture.requestVote(from: "n3", term: 2, last: (1, 1)), token: RequestToken(1))
        #expect(node.takeReady().replies.first?.requestVote?.granted == false)
        // A new term frees the vote.
        node.receive(Fixture.requestVote(from: "n3", term: 3, last: (1, 1)), token: RequestToken(2))
        #expect(node.takeReady().repliesAfterPersist.first?.requestVote?.granted == true)
    }

    // Raft §5.2: a candidate has voted for itself, so it denies a rival of the same term.
    @Test func candidateDeniesRivalOfItsOwnTerm() {
        var node = Fixture.instance("n1", voters: 3) { $0.preVote = false }
        _ = node.tickUntilCampaign()
        node.receive(Fixture.requestVote(from: "n2", term: 2, last: (1, 1)), token: RequestToken(1))
        #expect(node.takeReady().replies.first?.requestVote?.granted == false)
        #expect(node.currentRole == .candidate)
    }

    // MARK: hashicorp/raft additions

    // hashicorp/raft: a follower that heard from a live leader within the heartbeat timeout refuses votes (leader stickiness).
    @Test func followerWithLiveLeaderRefusesVotes() {
        var node = Fixture.instance("n2", voters: 3, term: 2)
        node.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(1))
        node.tick()
        node.receive(Fixture.requestVote(from: "n3", term: 3, last: (1, 1)), token: RequestToken(2))
        let ready = node.takeReady()
        #expect(ready.allReplies.last?.requestVote?.granted == false)
        #expect(node.currentTerm == 2)
        #expect(node.currentLeader?.id == "n1")

        // Once the leader has been silent for the heartbeat timeout, the same request is granted.
        for _ in 0..<node.options.heartbeatTimeoutTicks { node.tick() }
        _ = node.takeReady()
        node.receive(Fixture.requestVote(from: "n3", term: 3, last: (1, 1)), token: RequestToken(3))
        #expect(node.takeReady().repliesAfterPersist.first?.requestVote?.granted == true)
    }

    // hashicorp/raft: a vote request marked LeadershipTransfer is considered even though a leader is known.
    @Test func leadershipTransferVoteOverridesStickiness() {
        var node = Fixture.instance("n2", voters: 3, term: 2)
        node.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(1))
        node.receive(Fixture.requestVote(from: "n3", term: 3, last: (1, 1), leadershipTransfer: true), token: RequestToken(2))
        let ready = node.takeReady()
        #expect(ready.repliesAfterPersist.first?.requestVote?.granted == true)
        #expect(node.currentTerm == 3)
    }

    // hashicorp/raft: TimeoutNow makes the target campaign at once, skipping pre-vote, with LeadershipTransfer set.
    @Test func timeoutNowStartsARealElectionAtOnce() {
        var node = Fixture.instance("n2", voters: 3, term: 2)
        node.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(1))
        _ = node.takeReady()
        node.receive(.timeoutNow(TimeoutNowRequest(header: Fixture.header("n1"))), token: RequestToken(2))
        let ready = node.takeReady()
        #expect(ready.replies.contains { $0.token == RequestToken(2) })
        #expect(node.currentRole == .candidate)
        #expect(node.currentTerm == 3)
        let votes = ready.messagesAfterPersist.compactMap { message -> RequestVoteRequest? in
            if case .requestVote(let request) = message.request { return request }
            return nil
        }
        #expect(votes.count == 2)
        #expect(votes.allSatisfy { $0.leadershipTransfer && $0.term == 3 })
        #expect(!ready.messages.contains { $0.context.kind == .requestPreVote })
    }

    // hashicorp/raft 1.2+: a non-voter never starts an election.
    @Test func nonvoterNeverCampaigns() {
        var node = Fixture.instance("n4", voters: 3, nonvoters: 1)
        for _ in 0..<1_000 {
            node.tick()
            #expect(node.takeReady().allMessages.isEmpty)
        }
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 1)
    }

    // hashicorp/raft: a server with no configuration (not bootstrapped) waits to be contacted and never campaigns.
    @Test func serverWithoutConfigurationNeverCampaigns() {
        var node = RaftInstance(
            options: Fixture.options("n1"),
            restored: RaftInstance.RestoredState(),
            random: SplitMix64(seed: 1)
        )
        for _ in 0..<1_000 {
            node.tick()
            #expect(node.takeReady().allMessages.isEmpty)
        }
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 0)
    }

    // MARK: Clusters

    // Raft §5.2: a single-voter cluster elects itself without asking anyone.
    @Test func singleVoterElectsItself() {
        var net = TestNetwork(voters: 1)
        net.run(ticks: 60)
        #expect(net.leader == "n1")
        #expect(net.queue.isEmpty)
        #expect(net.violations.isEmpty)
    }

    // Raft §5.2: 3 nodes; n1 wins; n1 crashes; a survivor wins a later term; n1 restarts and follows it.
    @Test func clusterReplacesACrashedLeader() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        #expect(net.leader == "n1")
        let firstTerm = net["n1"].currentTerm
        #expect(net["n2"].currentLeader?.id == "n1" && net["n3"].currentLeader?.id == "n1")

        net.crash("n1")
        net.run(ticks: 200)
        let successor = try #require(net.leader)
        #expect(successor != "n1")
        #expect(net[successor].currentTerm > firstTerm)

        net.restart("n1")
        net.run(ticks: 50)
        #expect(net.leader == successor)
        #expect(net["n1"].currentRole == .follower)
        #expect(net["n1"].currentLeader?.id == successor)
        #expect(net.violations.isEmpty)
    }

    // Raft §5.2: with randomized timeouts, a cluster whose nodes all start at once settles on one leader.
    @Test(arguments: [3, 5]) func clusterStartingTogetherSettlesOnOneLeader(voters: Int) {
        for seed in UInt64(1)...10 {
            var net = TestNetwork(voters: voters, seed: seed)
            net.run(ticks: 300)
            #expect(net.leaders.count == 1, "seed \(seed)")
            let leader = net.leader
            #expect(net.ids.allSatisfy { net[$0].currentLeader?.id == leader }, "seed \(seed)")
            #expect(net.violations.isEmpty, "seed \(seed)")
        }
    }
}
