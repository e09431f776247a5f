import RaftTestTraits
import Testing

import RaftCore

/// Check-quorum (Raft thesis §6.2; hashicorp/raft's LeaderLeaseTimeout): a leader that has not heard
/// from a quorum of voters within the lease steps down, so a leader cut off from the majority stops
/// accepting writes it can never commit.
@Suite(.offCooperativePool) struct CheckQuorumTests {
    // Raft thesis §6.2: a leader cut off from every follower steps down once no quorum has answered within the lease.
    @Test func isolatedLeaderStepsDownAfterTheLease() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.run(ticks: 7)
        let term = net["n1"].currentTerm
        let lease = net["n1"].options.leaderLeaseTicks
        net.isolate("n1")
        var ticks = 0
        while net["n1"].currentRole == .leader && ticks < 10 * lease {
            net.tick(["n1"])
            net.stabilize()
            ticks += 1
        }
        // It waits out the lease, but not a whole further lease.
        #expect(ticks >= lease && ticks <= 2 * lease, "stepped down after \(ticks) ticks")
        let change = try #require(net.node("n1").stateChanges.last)
        #expect(change.role == .follower)
        #expect(change.leader == nil)
        #expect(change.term == term, "stepping down does not change the term")
        #expect(net.node("n1").warnings.contains { $0.contains("stepping down") })
        #expect(net.propose("n1", "write") == nil, "a deposed leader refuses writes")
    }

    // The leader's quorum contact age (raft.leader.lastContact) is the quorum-th freshest voter's: one follower cut off leaves it small, a second makes it grow until the lease ends leadership.
    @Test func quorumContactAgeIsTheQuorumthFreshestVotersAge() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.run(ticks: 7)
        let heartbeat = UInt64(net["n1"].options.heartbeatIntervalTicks)
        #expect(try #require(net["n1"].ticksSinceQuorumContact) <= heartbeat)
        #expect(net["n2"].ticksSinceQuorumContact == nil, "only a leader has one")
        net.isolate("n3")
        net.run(ticks: 7)
        #expect(try #require(net["n1"].ticksSinceQuorumContact) <= heartbeat, "n1 and n2 are a quorum")
        net.isolate("n2")
        net.tick(["n1"], times: 3)
        #expect(try #require(net["n1"].ticksSinceQuorumContact) >= 3)
    }

    // Raft thesis §6.2: a leader that keeps hearing from a quorum keeps leading, though a minority is unreachable.
    @Test func leaderInTouchWithAQuorumKeepsLeading() {
        var net = TestNetwork(voters: 5)
        net.elect("n1")
        let changes = net.node("n1").stateChanges.count
        net.isolate("n4")
        net.isolate("n5")
        net.run(ticks: 300)
        #expect(net.leader == "n1")
        #expect(net.node("n1").stateChanges.count == changes)
        #expect(net.propose("n1", "write") != nil)
        net.stabilize()
        #expect(net.appliedCommands("n2") == ["write"])
    }

    // Raft thesis §6.2: 5 nodes split 2/3; the leader on the minority side steps down, the majority elects a new leader.
    @Test func leaderOnTheMinoritySideStepsDownAndTheMajorityMovesOn() throws {
        var net = TestNetwork(voters: 5)
        net.elect("n1")
        let term = net["n1"].currentTerm
        net.partition([["n1", "n2"], ["n3", "n4", "n5"]])
        net.run(ticks: 200)
        #expect(net["n1"].currentRole != .leader)
        let successor = try #require(net.leader)
        #expect(["n3", "n4", "n5"].contains(successor))
        #expect(net[successor].currentTerm > term)
        #expect(net.propose(successor, "after-split") != nil)

        net.heal()
        net.run(ticks: 60)
        #expect(net.leader == successor)
        #expect(net.ids.allSatisfy { net.appliedCommands($0) == ["after-split"] })
        #expect(net.violations.isEmpty)
    }

    // Raft thesis §6.2: the leader of a single-voter cluster is its own quorum and never steps down.
    @Test func singleVoterLeaderNeverStepsDown() {
        var net = TestNetwork(voters: 1)
        net.elect("n1")
        let changes = net.node("n1").stateChanges.count
        net.run(ticks: 500)
        #expect(net.leader == "n1")
        #expect(net.node("n1").stateChanges.count == changes)
    }

    // hashicorp/raft: a deposed leader reports its commit index; its proposals above it have an unknown outcome.
    @Test func deposedLeaderReportsTheCommitIndexItReached() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        let committed = net["n1"].currentCommitIndex
        let changes = net.node("n1").stateChanges.count
        net.isolate("n1")
        let proposal = net.propose("n1", "in-doubt")
        let proposed = try #require(proposal)
        net.run(ticks: 4 * net["n1"].options.leaderLeaseTicks)
        let change = try #require(net.node("n1").stateChanges.dropFirst(changes).first)
        #expect(change.role == .follower)
        #expect(change.commitIndex == committed)
        #expect(change.commitIndex < proposed.lowerBound)
    }
}
