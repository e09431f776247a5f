import RaftTestTraits
import Testing

import RaftCore

/// A stalled disk (hashicorp/raft#503): the shell reports a write stuck too long with
/// `storageStalled()`; a leader steps down, and the stalled server stays out of elections until
/// `storageRecovered()`, so the healthy servers elect a leader that can commit and apply.
@Suite(.offCooperativePool) struct StorageStallTests {
    // A leader told its storage stalled becomes a follower in the same term, knowing no leader.
    @Test func aLeaderWhoseStorageStallsStepsDownInTheSameTerm() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.run(ticks: 5)
        let term = net["n1"].currentTerm
        net.verifyLeader("n1", token: 7)
        net.stallStorage("n1")
        let change = try #require(net.node("n1").stateChanges.last)
        #expect(change.role == .follower)
        #expect(change.term == term, "stepping down does not change the term")
        #expect(change.leader == nil)
        #expect(net["n1"].currentLeader == nil)
        #expect(net["n1"].isStorageStalled)
        #expect(net.node("n1").verifications.contains { $0.token == 7 && !$0.stillLeader })
        #expect(net.propose("n1", "write") == nil, "a deposed leader refuses writes")
    }

    // A stalled server does not campaign when its election timer runs out, however long it waits.
    @Test func aStalledServerNeverCampaigns() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.run(ticks: 5)
        net.stallStorage("n1")
        let term = net["n1"].currentTerm
        let queued = net.queue.count
        net.tick(["n1"], times: 20 * net["n1"].options.electionTimeoutTicks)
        #expect(net["n1"].currentRole == .follower)
        #expect(net["n1"].currentTerm == term, "not even its in-memory term moves")
        #expect(!net.queue[queued...].contains { $0.from == "n1" && $0.isElectionTraffic })
    }

    // The healthy servers elect a new leader and commit without the stalled one, which follows it.
    @Test func theHealthyServersElectANewLeaderThatTheStalledOneCannotDepose() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.propose("n1", "before")
        net.stabilize()
        let term = net["n1"].currentTerm
        net.stallStorage("n1")
        net.run(ticks: 40 * net["n1"].options.electionTimeoutTicks)
        let successor = try #require(net.leader)
        #expect(successor != "n1")
        #expect(net[successor].currentTerm > term)
        #expect(net["n1"].currentLeader?.id == successor, "the stalled server follows the new leader")
        #expect(net.propose(successor, "during") != nil)
        net.stabilize()
        #expect(net["n2"].currentCommitIndex == net[successor].lastIndex)
        #expect(net.appliedCommands(successor) == ["before", "during"])
        #expect(net.appliedCommands("n1") == ["before"], "the stalled server applies nothing it has not made durable")
        #expect(net.violations.isEmpty)
    }

    // Once its writes finish, the stalled server catches up as a follower and may campaign again.
    @Test func aRecoveredServerCatchesUpAndCampaignsAgain() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stallStorage("n1")
        net.run(ticks: 40 * net["n1"].options.electionTimeoutTicks)
        let successor = try #require(net.leader)
        net.propose(successor, "during")
        net.stabilize()
        net.recoverStorage("n1")
        net.run(ticks: 10)
        #expect(!net["n1"].isStorageStalled)
        #expect(net.appliedCommands("n1") == ["during"])

        net.isolate(successor)
        net.run(ticks: 40 * net["n1"].options.electionTimeoutTicks)
        net.heal()
        net.run(ticks: 10)
        #expect(net.leader != nil && net.leader != successor)
        #expect(net.violations.isEmpty)
    }

    // A stalled server answers TimeoutNow but does not campaign: it could not use the leadership.
    @Test func aStalledServerIgnoresTimeoutNow() {
        var node = Fixture.instance("n2", voters: 3, term: 2)
        node.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(1))
        _ = node.takeReady()
        node.storageStalled()
        node.receive(.timeoutNow(TimeoutNowRequest(header: Fixture.header("n1"))), token: RequestToken(2))
        let ready = node.takeReady()
        #expect(ready.replies.contains { $0.token == RequestToken(2) })
        #expect(node.currentRole == .follower)
        #expect(node.currentTerm == 2)
        #expect(ready.messagesAfterPersist.isEmpty && ready.messages.isEmpty)
    }

    // A stalled candidate gives up its campaign.
    @Test func aStalledCandidateBecomesAFollower() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.isolate("n1")
        net.campaign("n2")
        #expect(net["n2"].currentRole == .candidate)
        net.stallStorage("n2")
        #expect(net["n2"].currentRole == .follower)
        #expect(net["n2"].currentLeader == nil)
    }
}
