import RaftTestTraits
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

    // A single voter is its own quorum: its reads are answered at once.
    @Test func aSingleVoterAnswersAtOnce() {
        var net = TestNetwork(voters: 1)
        net.elect("n1")
        _ = net.propose("n1", "a")
        net.requestReadIndex("n1", token: 9)
        #expect(outcomes(net.node("n1").readIndexes) == ["9:\(net["n1"].currentCommitIndex)"])
    }

    // MARK: - Reads on followers

    // A follower asks its leader, which confirms the read as its own: the follower gets the leader's commit index, and nothing is appended anywhere.
    @Test func aFollowerGetsTheLeadersConfirmedCommitIndex() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        _ = net.propose("n1", "a", "b")
        net.stabilize()
        let commit = net["n1"].currentCommitIndex
        let lastIndex = net["n1"].lastIndex
        net.requestReadIndex("n2", token: 3)
        #expect(net.queue.filter { $0.from == "n2" && $0.context.kind == .readIndex }.count == 1)
        net.stabilize()
        #expect(outcomes(net.node("n2").readIndexes) == ["3:\(commit)"])
        #expect(net["n1"].lastIndex == lastIndex && net["n2"].lastIndex == lastIndex)
    }

    // An answer to a request sent before a read arrived could predate a write the read must see: reads arriving meanwhile wait for the next request, which they share.
    @Test func aFollowerKeepsOneRequestInFlightAndBatchesTheRest() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        let forwarded = { (net: TestNetwork) in net.queue.filter { $0.from == "n2" && $0.context.kind == .readIndex }.count }
        net.requestReadIndex("n2", token: 1)
        for token in 2...9 as ClosedRange<UInt64> { net.requestReadIndex("n2", token: token) }
        #expect(forwarded(net) == 1)
        _ = net.deliver { $0.from == "n2" && $0.context.kind == .readIndex }
        #expect(net.node("n2").readIndexes.isEmpty, "the leader confirms with a heartbeat round first")
        net.stabilize()
        #expect(net.node("n2").readIndexes.map(\.token) == Array(1...9))
    }

    // Nobody to ask: a follower that knows no leader refuses at once.
    @Test func aFollowerThatKnowsNoLeaderRefusesAtOnce() {
        var net = TestNetwork(voters: 3)
        net.requestReadIndex("n2", token: 4)
        #expect(outcomes(net.node("n2").readIndexes) == ["4:noLeader"])
    }

    // A leader that cannot be reached fails the reads forwarded to it, naming it; nothing stale is ever answered.
    @Test func anUnreachableLeaderFailsTheForwardedReads() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        net.isolate("n1")
        net.requestReadIndex("n2", token: 6)
        net.stabilize()
        let reads = net.node("n2").readIndexes
        guard case .failure(.leaderUnreachable(let leader))? = reads.first?.result, reads.count == 1 else {
            Issue.record("expected leaderUnreachable, got \(reads)")
            return
        }
        #expect(leader.id == "n1")
    }

    // hashicorp/raft has no ReadIndex RPC: a follower of such a leader fails the read with a reason of its own, and the cluster carries on.
    @Test func aLeaderThatDoesNotKnowReadIndexFailsTheReadClearly() {
        var net = TestNetwork(voters: 3)
        net.withoutReadIndex("n1")
        net.elect("n1")
        net.stabilize()
        net.requestReadIndex("n2", token: 2)
        net.stabilize()
        let reads = net.node("n2").readIndexes
        guard case .failure(.unsupportedByLeader(let leader))? = reads.first?.result, reads.count == 1 else {
            Issue.record("expected unsupportedByLeader, got \(reads)")
            return
        }
        #expect(leader.id == "n1")
        #expect(net["n1"].currentRole == .leader)
        #expect(net.propose("n1", "still writing") != nil)
    }

    // A server asked for a read index that does not lead refuses, and its asker passes the refusal on.
    @Test func aServerThatDoesNotLeadRefusesAForwardedRead() throws {
        var follower = Fixture.instance("n2", voters: 3)
        follower.receive(.readIndex(ReadIndexRequest(header: Fixture.header("n3"), term: 1)), token: RequestToken(7))
        let reply = try #require(follower.takeReady().replies.first)
        guard case .readIndex(let response) = reply.response else {
            Issue.record("expected a ReadIndex answer, got \(reply)")
            return
        }
        #expect(reply.token == RequestToken(7))
        #expect(response.refusal == .notLeader)
    }

    // MARK: - Leases

    // While the shell finds the lease unexpired, the leader answers with its commit index at once: no heartbeat round.
    @Test func underALeaseTheLeaderAnswersWithoutARound() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        _ = net.propose("n1", "a")
        net.stabilize()
        #expect(net["n1"].leaseBasis != nil)
        net.requestReadIndex("n1", token: 1, leaseHolds: true)
        #expect(outcomes(net.node("n1").readIndexes) == ["1:\(net["n1"].currentCommitIndex)"])
        #expect(net.queue.isEmpty, "no heartbeat was needed")
    }

    // The lease runs from the sending of the newest request a quorum answered: with the leader counted, the second-freshest of three.
    @Test func theLeaseRunsFromTheQuorumthFreshestAnsweredSend() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        net.isolate("n3")
        net.run(ticks: 5)
        net.stabilize()
        let sentToN2 = net["n1"].currentTick
        net.tick(["n1"], times: 3)
        // n2's last answered request is at most a heartbeat interval old; n3's is older.
        let basis = try #require(net["n1"].leaseBasis)
        #expect(basis <= sentToN2)
        #expect(sentToN2 - basis <= UInt64(net["n1"].options.heartbeatIntervalTicks))
    }

    // A new leader's commit index may lag its predecessor's: no lease until an entry of its own term commits.
    @Test func aNewLeaderHasNoLeaseBeforeItsOwnEntryCommits() {
        var leader = Fixture.instance("n1", voters: 3)
        _ = leader.winElection()
        leader.persistAll()
        #expect(leader.leaseBasis == nil)
        leader.requestReadIndex(1, leaseHolds: true)
        #expect(leader.takeReady().readIndexes.isEmpty, "it waits for the no-op, as a ReadIndex round does")
    }

    // TimeoutNow lets the target win without the voters' stickiness: the leader gives its lease up for the rest of the term.
    @Test func sendingTimeoutNowForfeitsTheLease() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.stabilize()
        #expect(net["n1"].leaseBasis != nil)
        let i = try #require(net.nodes.firstIndex { $0.server.id == "n1" })
        _ = net.transferLeadership("n1", to: "n2")
        #expect(net.queue.contains { $0.context.kind == .timeoutNow })
        #expect(net.nodes[i].instance.leaseBasis == nil)
    }

    // A restarted voter may have answered a leader just before: it refuses votes for as long as its stickiness would have, leadership transfers aside.
    @Test func aNewlyStartedVoterRefusesVotesForTheConfiguredTicks() {
        let quiet: (inout RaftInstance.Options) -> Void = { $0.voteRefusalTicksAfterStart = 20 }
        var node = Fixture.instance("n2", voters: 3, configure: quiet)
        node.receive(Fixture.requestVote(from: "n3", term: 2, last: (1, 1)), token: RequestToken(1))
        #expect(node.takeReady().replies.first?.requestVote?.granted == false)
        node.receive(Fixture.requestVote(from: "n3", term: 3, last: (1, 1), leadershipTransfer: true), token: RequestToken(2))
        #expect(node.takeReady().repliesAfterPersist.first?.requestVote?.granted == true)

        var later = Fixture.instance("n2", voters: 3, configure: quiet)
        for _ in 0..<20 { later.tick() }
        _ = later.takeReady()
        later.receive(Fixture.requestVote(from: "n3", term: 2, last: (1, 1)), token: RequestToken(3))
        #expect(later.takeReady().repliesAfterPersist.first?.requestVote?.granted == true)
    }
}
