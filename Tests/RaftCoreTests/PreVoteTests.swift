import RaftTestTraits
import Testing

import RaftCore

/// Pre-vote (Raft thesis §9.6, hashicorp/raft 1.7): before raising its term, a would-be candidate
/// asks whether a quorum would vote for it. Asking and answering change no one's term or vote.
@Suite(.offCooperativePool) struct PreVoteTests {
    // Raft thesis §9.6: a pre-vote leaves the candidate's term and vote alone and needs no write.
    @Test func preVoteCampaignKeepsTheCandidatesTermAndVote() {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        #expect(node.currentTerm == 4)
        #expect(node.currentHardState == HardState(currentTerm: 4))
        #expect(ready.hardState == nil)
        #expect(!ready.needsPersistence)
        #expect(ready.messagesAfterPersist.isEmpty)
        let requests = ready.messages.compactMap { message -> RequestPreVoteRequest? in
            if case .requestPreVote(let request) = message.request { return request }
            return nil
        }
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.term == 5 && $0.lastLogIndex == 1 && $0.lastLogTerm == 1 })
    }

    // Raft thesis §9.6: answering a pre-vote, even for a higher term, changes neither the voter's term nor its vote.
    @Test func answeringAPreVoteChangesNothingDurable() throws {
        var voter = Fixture.instance("n2", voters: 3, term: 4)
        voter.receive(Fixture.requestPreVote(from: "n1", term: 9, last: (1, 1)), token: RequestToken(1))
        let ready = voter.takeReady()
        let reply = try #require(ready.replies.first?.requestPreVote)
        #expect(reply.granted)
        #expect(reply.term == 4)
        #expect(ready.hardState == nil)
        #expect(ready.repliesAfterPersist.isEmpty)
        #expect(voter.currentHardState == HardState(currentTerm: 4))
        #expect(voter.currentRole == .follower)
    }

    // hashicorp/raft: a pre-vote for a term older than the voter's is refused.
    @Test func preVoteForAnOlderTermIsRefused() {
        var voter = Fixture.instance("n2", voters: 3, term: 4)
        voter.receive(Fixture.requestPreVote(from: "n1", term: 3, last: (1, 1)), token: RequestToken(1))
        #expect(voter.takeReady().replies.first?.requestPreVote?.granted == false)
    }

    // hashicorp/raft: a voter that hears from a live leader refuses pre-votes, so a flaky server cannot start elections.
    @Test func voterWithALiveLeaderRefusesPreVotes() {
        var voter = Fixture.instance("n2", voters: 3, term: 4)
        voter.receive(Fixture.heartbeat(from: "n1", term: 4), token: RequestToken(1))
        voter.receive(Fixture.requestPreVote(from: "n3", term: 5, last: (1, 1)), token: RequestToken(2))
        #expect(voter.takeReady().replies.last?.requestPreVote?.granted == false)
    }

    // Raft thesis §9.6: when a quorum grants the pre-vote, the real election starts in the next term.
    @Test func preVoteQuorumStartsTheRealElection() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        let request = try #require(ready.messages.first)
        node.receive(response: Fixture.preVoteResponse(from: request.target.id, term: 4, granted: true), context: request.context)
        let election = node.takeReady()
        #expect(node.currentTerm == 5)
        #expect(election.hardState == HardState(currentTerm: 5, lastVoteTerm: 5, lastVoteCandidate: "n1"))
        #expect(election.messagesAfterPersist.count == 2)
        #expect(election.messagesAfterPersist.allSatisfy { $0.context.kind == .requestVote && $0.context.term == 5 })
    }

    // Raft thesis §9.6: a pre-vote refused by a majority starts no election; the server retries later, still in its term.
    @Test func refusedPreVoteStartsNoElection() {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        var ready = node.tickUntilCampaign()
        for request in ready.messages {
            node.receive(response: Fixture.preVoteResponse(from: request.target.id, term: 4, granted: false), context: request.context)
        }
        #expect(node.takeReady().allMessages.isEmpty)
        #expect(node.currentTerm == 4)

        var retried = false
        for _ in 0..<(2 * node.options.electionTimeoutTicks) {
            node.tick()
            ready = node.takeReady()
            if ready.messages.contains(where: { $0.context.kind == .requestPreVote }) {
                retried = true
                break
            }
        }
        #expect(retried)
        #expect(node.currentTerm == 4)
        #expect(ready.hardState == nil)
    }

    // hashicorp/raft: a pre-vote answer carrying a newer term makes the candidate adopt it and follow.
    @Test func preVoteAnswerWithNewerTermMakesTheCandidateFollow() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        let request = try #require(ready.messages.first)
        node.receive(response: Fixture.preVoteResponse(from: request.target.id, term: 8, granted: false), context: request.context)
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 8)
    }

    // hashicorp/raft 1.7: a peer that does not know the pre-vote RPC counts as a grant, so mixed clusters still elect;
    // but the first round that needs such a grant waits one election timeout, because the old peer refuses real
    // votes while it still follows a leader, and by then it has usually campaigned itself.
    @Test func peersWithoutPreVoteSupportCountAsGrantsFromTheSecondRound() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        var ready = node.tickUntilCampaign()
        var request = try #require(ready.messages.first)
        node.requestFailed(context: request.context, reason: .preVoteUnsupported)
        #expect(node.currentTerm == 4, "the first round relying on an old peer holds back")
        #expect(node.takeReady().messagesAfterPersist.isEmpty)

        ready = node.tickUntilPreVoteRound()
        request = try #require(ready.messages.first { $0.target.id == request.target.id })
        node.requestFailed(context: request.context, reason: .preVoteUnsupported)
        #expect(node.currentTerm == 5, "the next round goes ahead")
        #expect(node.takeReady().messagesAfterPersist.count == 2)
    }

    // A round whose quorum is reached by real grants never waits for peers without pre-vote.
    @Test func realGrantsElectWithoutWaitingForOldPeers() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        let requests = ready.messages.filter { $0.context.kind == .requestPreVote }
        #expect(requests.count == 2)
        node.requestFailed(context: requests[0].context, reason: .preVoteUnsupported)
        node.receive(response: Fixture.preVoteResponse(from: requests[1].target.id, term: 4, granted: true), context: requests[1].context)
        #expect(node.currentTerm == 5)
    }

    // While the first round holds back, the old peer's own campaign wins this server's vote: no term is wasted.
    @Test func anOldPeersCampaignWinsTheVoteOfAServerThatHeldBack() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        for request in ready.messages where request.context.kind == .requestPreVote {
            node.requestFailed(context: request.context, reason: .preVoteUnsupported)
        }
        #expect(node.currentTerm == 4)
        node.receive(Fixture.requestVote(from: "n2", term: 5, last: (1, 1)), token: RequestToken(1))
        let answer = node.takeReady()
        #expect(answer.repliesAfterPersist.first?.requestVote?.granted == true)
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 5)
    }

    // hashicorp/raft 1.7 grants a pre-vote with the proposed term (the candidate's term + 1): that is a grant, not news
    // of a newer term, and the real election follows.
    @Test func aGrantEchoingTheProposedTermLeadsToTheRealElection() throws {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        let request = try #require(ready.messages.first { $0.context.kind == .requestPreVote })
        node.receive(response: Fixture.preVoteResponse(from: request.target.id, term: 5, granted: true), context: request.context)
        #expect(node.currentRole == .candidate)
        #expect(node.currentTerm == 5)
        let election = node.takeReady()
        #expect(election.hardState == HardState(currentTerm: 5, lastVoteTerm: 5, lastVoteCandidate: "n1"))
        #expect(election.messagesAfterPersist.allSatisfy { $0.context.kind == .requestVote && $0.context.term == 5 })
    }

    // A pre-vote refusal from a voter already in the proposed term, or a grant above it, is news: the candidate follows.
    @Test func aRefusalInTheProposedTermOrAGrantBeyondItMakesTheCandidateFollow() throws {
        for (term, granted) in [(UInt64(5), false), (6, true)] {
            var node = Fixture.instance("n1", voters: 3, term: 4)
            let ready = node.tickUntilCampaign()
            let request = try #require(ready.messages.first { $0.context.kind == .requestPreVote })
            node.receive(response: Fixture.preVoteResponse(from: request.target.id, term: term, granted: granted), context: request.context)
            #expect(node.currentRole == .follower, "term \(term) granted \(granted)")
            #expect(node.currentTerm == term)
        }
    }

    // Raft thesis §9.6: an unreachable peer is no grant; without a quorum the pre-vote does not succeed.
    @Test func unreachablePeersDoNotCountAsGrants() {
        var node = Fixture.instance("n1", voters: 3, term: 4)
        let ready = node.tickUntilCampaign()
        for request in ready.messages { node.requestFailed(context: request.context, reason: .unreachable) }
        #expect(node.currentTerm == 4)
        #expect(node.takeReady().hardState == nil)
    }

    // hashicorp/raft 1.7: 3 nodes, two of them without pre-vote support; n1 still wins an election.
    @Test func mixedVersionClusterElectsALeader() {
        var net = TestNetwork(voters: 3)
        net.disablePreVoteSupport("n2")
        net.disablePreVoteSupport("n3")
        net.elect("n1")
        #expect(net.leader == "n1")
        #expect(net["n1"].currentTerm == 2)
        #expect(net.violations.isEmpty)
    }

    // Raft thesis §9.6: 3 nodes; n1 leads; n3 is cut off for a long time, then rejoins; n1 keeps leading in the same term.
    @Test func partitionedNodeRejoiningDoesNotDisruptTheCluster() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        let term = net["n1"].currentTerm
        let changes = net.node("n1").stateChanges.count
        net.isolate("n3")
        net.run(ticks: 300)
        #expect(net.leader == "n1")
        #expect(net["n3"].currentTerm == term, "pre-vote never raises the isolated node's term")

        net.heal()
        net.run(ticks: 100)
        #expect(net.leader == "n1")
        #expect(net.ids.allSatisfy { net[$0].currentTerm == term })
        #expect(net["n3"].currentLeader?.id == "n1")
        #expect(net.node("n1").stateChanges.count == changes, "n1 never stepped down")
        #expect(net.violations.isEmpty)
    }

    // Raft thesis §9.6, the contrast: without pre-vote the rejoining node's inflated term deposes the leader.
    @Test func withoutPreVoteARejoiningNodeDisruptsTheLeader() {
        var net = TestNetwork(voters: 3) { $0.preVote = false }
        net.elect("n1")
        let term = net["n1"].currentTerm
        net.isolate("n3")
        net.run(ticks: 300)
        #expect(net["n3"].currentTerm > term + 3)

        net.heal()
        net.run(ticks: 100)
        #expect(net.node("n1").stateChanges.contains { $0.role == .follower && $0.term > term })
        #expect(net.leader.map { net[$0].currentTerm } ?? 0 > term)
        #expect(net.violations.isEmpty)
    }
}
