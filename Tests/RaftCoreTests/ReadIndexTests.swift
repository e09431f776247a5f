import Testing

import RaftCore

/// ReadIndex (Raft thesis §6.4): a leader answers a read with its commit index once a quorum has
/// acknowledged a heartbeat sent after the read arrived, without writing to the log.
@Suite(.offCooperativePool) struct ReadIndexTests {
    private func outcomes(_ reads: [(token: UInt64, result: Result<UInt64, ReadIndexRejection>)]) -> [String] {
        reads.map { read in
            switch read.result {
            case .success(let index): return "\(read.token):\(index)"
            case .failure(let rejection): return "\(read.token):\(rejection)"
            }
        }
    }

    // §6.4: the read index is the commit index, given once a quorum acknowledged a heartbeat sent after the request; nothing is appended.
    @Test func aLeaderAnswersWithItsCommitIndexOnceAQuorumConfirmsIt() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        _ = net.propose("n1", "a", "b")
        net.stabilize()
        let commit = net["n1"].currentCommitIndex
        let lastIndex = net["n1"].lastIndex
        net.requestReadIndex("n1", token: 1)
        #expect(net.node("n1").readIndexes.isEmpty)
        #expect(net.queue.filter { $0.from == "n1" && $0.context.kind == .heartbeat }.count == 2)
        net.stabilize()
        #expect(outcomes(net.node("n1").readIndexes) == ["1:\(commit)"])
        #expect(net["n1"].lastIndex == lastIndex)
    }

    // §6.4: acknowledgements of heartbeats sent before the request prove nothing.
    @Test func acknowledgementsOfEarlierRoundsDoNotConfirmARead() throws {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        leader.persistAll()
        let noop = try #require(won.messages.first { $0.target.id == "n2" && $0.context.kind == .appendEntries })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: noop.context.lastIndex, success: true), context: noop.context)
        _ = leader.takeReady()
        let oldHeartbeat = try #require(won.messages.first { $0.context.kind == .heartbeat && $0.target.id == "n2" })
        leader.requestReadIndex(1)
        let fresh = leader.takeReady()
        let newHeartbeat = try #require(fresh.messages.first { $0.context.kind == .heartbeat && $0.target.id == "n2" })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 1, success: true), context: oldHeartbeat.context)
        #expect(leader.takeReady().readIndexes.isEmpty)
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 1, success: true), context: newHeartbeat.context)
        #expect(outcomes(leader.takeReady().readIndexes) == ["1:\(leader.currentCommitIndex)"])
    }

    // §6.4: a new leader's commit index may lag what its predecessor committed; reads wait until its own no-op commits.
    @Test func aNewLeaderAnswersOnlyOnceAnEntryOfItsTermCommitted() throws {
        var leader = Fixture.instance("n1", voters: 3)
        let won = leader.winElection()
        leader.persistAll()
        let noopIndex = leader.lastIndex
        leader.requestReadIndex(1)
        let heartbeats = leader.takeReady().messages.filter { $0.context.kind == .heartbeat }
        #expect(heartbeats.isEmpty, "no round before the no-op commits")
        // The followers answer heartbeats, but the no-op is not yet on a quorum.
        for heartbeat in won.messages where heartbeat.context.kind == .heartbeat {
            leader.receive(response: Fixture.appendResponse(from: heartbeat.target.id, term: 2, lastLog: 0, success: true), context: heartbeat.context)
        }
        #expect(leader.takeReady().readIndexes.isEmpty)
        #expect(leader.currentCommitIndex < noopIndex)

        let noop = try #require(won.messages.first { $0.target.id == "n2" && $0.context.kind == .appendEntries })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: noopIndex, success: true), context: noop.context)
        let round = leader.takeReady()
        #expect(leader.currentCommitIndex == noopIndex)
        let confirmation = try #require(round.messages.first { $0.context.kind == .heartbeat && $0.target.id == "n3" })
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 0, success: true), context: confirmation.context)
        #expect(outcomes(leader.takeReady().readIndexes) == ["1:\(noopIndex)"])
    }

    // Reads that arrive while a confirmation round is in flight share the next one: a burst costs a heartbeat per follower per round, not per read.
    @Test func readsArrivingDuringARoundShareTheNext() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        net.requestReadIndex("n1", token: 1)
        let heartbeats = { (net: TestNetwork) in net.queue.filter { $0.from == "n1" && $0.context.kind == .heartbeat }.count }
        #expect(heartbeats(net) == 2)
        for token in 2...20 as ClosedRange<UInt64> { net.requestReadIndex("n1", token: token) }
        #expect(heartbeats(net) == 2, "a round already in flight: the others wait for the next")
        net.stabilize()
        #expect(net.node("n1").readIndexes.map(\.token) == Array(1...20))
    }

    // A leader cut off from its followers never confirms a read: it fails when the leader steps down, and the read can be retried elsewhere.
    @Test func aReadOnADeposedLeaderFailsWhenItStepsDown() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        net.isolate("n1")
        net.requestReadIndex("n1", token: 5)
        net.run(ticks: 4 * net["n1"].options.leaderLeaseTicks)
        #expect(net["n1"].currentRole != .leader)
        #expect(outcomes(net.node("n1").readIndexes) == ["5:leadershipLost"])
    }

    // A follower refuses at once, naming the leader it knows.
    @Test func aFollowerRefusesNamingTheLeader() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        net.requestReadIndex("n2", token: 3)
        let read = net.node("n2").readIndexes
        #expect(read.count == 1)
        guard case .failure(.notLeader(let leader))? = read.first?.result else {
            Issue.record("expected notLeader, got \(read)")
            return
        }
        #expect(leader?.id == "n1")
    }

    // A single voter is its own quorum: its reads are answered at once.
    @Test func aSingleVoterAnswersAtOnce() {
        var net = TestNetwork(voters: 1)
        net.elect("n1")
        _ = net.propose("n1", "a")
        net.requestReadIndex("n1", token: 9)
        #expect(outcomes(net.node("n1").readIndexes) == ["9:\(net["n1"].currentCommitIndex)"])
    }
}
