import RaftTestTraits
import Testing

import RaftCore

/// Leadership verification for linearizable reads (Raft §8; hashicorp/raft's VerifyLeader): a
/// leader confirms it still leads only once a quorum acknowledges a heartbeat sent after the request.
@Suite(.offCooperativePool) struct LeaderVerificationTests {
    private func outcomes(_ verifications: [(token: UInt64, stillLeader: Bool)]) -> [String] {
        verifications.map { "\($0.token):\($0.stillLeader)" }
    }

    // Raft §8: a leader is confirmed once a quorum acknowledges a heartbeat sent after the read request.
    @Test func leaderIsConfirmedOnceAQuorumAcknowledgesAFreshHeartbeat() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.verifyLeader("n1", token: 7)
        #expect(net.node("n1").verifications.isEmpty)
        #expect(net.queue.filter { $0.from == "n1" && $0.context.kind == .heartbeat }.count == 2)
        net.stabilize()
        #expect(outcomes(net.node("n1").verifications) == ["7:true"])
    }

    // Raft §8: acknowledgements of heartbeats sent before the request prove nothing about leadership now.
    @Test func acknowledgementsOfEarlierHeartbeatsDoNotConfirm() throws {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        leader.persistAll()
        let oldHeartbeat = try #require(won.messages.first { $0.context.kind == .heartbeat && $0.target.id == "n2" })
        leader.verifyLeader(1)
        let fresh = leader.takeReady()
        let newHeartbeat = try #require(fresh.messages.first { $0.context.kind == .heartbeat && $0.target.id == "n2" })

        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: true), context: oldHeartbeat.context)
        #expect(leader.takeReady().verifications.isEmpty)
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: true), context: newHeartbeat.context)
        #expect(outcomes(leader.takeReady().verifications) == ["1:true"])
    }

    // Raft §8: acknowledgements from a minority do not confirm leadership.
    @Test func acknowledgementsFromAMinorityDoNotConfirm() throws {
        var leader = Fixture.instance("n1", voters: 5)
        _ = leader.winElection()
        leader.verifyLeader(1)
        let heartbeats = leader.takeReady().messages.filter { $0.context.kind == .heartbeat }
        try #require(heartbeats.count == 4)
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: true), context: heartbeats[0].context)
        #expect(leader.takeReady().verifications.isEmpty)
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 0, success: true), context: heartbeats[1].context)
        #expect(outcomes(leader.takeReady().verifications) == ["1:true"])
    }

    // hashicorp/raft: a server that is not the leader answers a verification with false at once.
    @Test func followerAnswersFalseAtOnce() {
        var follower = Fixture.instance("n2", voters: 3)
        follower.verifyLeader(3)
        #expect(outcomes(follower.takeReady().verifications) == ["3:false"])
    }

    // Raft §8: a verification pending when leadership is lost resolves false.
    @Test func verificationFailsWhenLeadershipIsLostFirst() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.isolate("n1")
        net.verifyLeader("n1", token: 5)
        net.run(ticks: 4 * net["n1"].options.leaderLeaseTicks)
        #expect(net["n1"].currentRole != .leader)
        #expect(outcomes(net.node("n1").verifications) == ["5:false"])
    }

    // Raft §8: a single voter is its own quorum and is confirmed at once.
    @Test func singleVoterLeaderIsConfirmedAtOnce() {
        var net = TestNetwork(voters: 1)
        net.elect("n1")
        net.verifyLeader("n1", token: 9)
        #expect(outcomes(net.node("n1").verifications) == ["9:true"])
    }
}
