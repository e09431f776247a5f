import RaftTestTraits
import Testing

import RaftCore

/// When a leader may consider an entry committed: Raft §5.3 (stored on a majority) and §5.4.2
/// (only entries of its own term are committed by counting replicas; Figure 8).
@Suite(.offCooperativePool) struct CommitRuleTests {
    // Raft §5.3: a leader commits an entry of its term once a majority of voters, itself included, store it.
    @Test func leaderCommitsOnceAMajorityStoresTheEntry() throws {
        var leader = Fixture.instance("n1", voters: 5)
        let ready = leader.winElection()
        leader.persistAll()
        let noop = leader.lastIndex
        let probes = ready.appends
        try #require(probes.count == 4)

        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: noop, success: true), context: probes[0].context)
        #expect(leader.currentCommitIndex < noop, "2 of 5 is not a majority")
        #expect(leader.takeReady().committedEntries.isEmpty)

        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: noop, success: true), context: probes[1].context)
        #expect(leader.currentCommitIndex == noop)
        #expect(leader.takeReady().committedEntries.map(\.index) == Array(1...noop))
    }

    // Raft §5.3: non-voters receive the log but do not count toward the commit quorum.
    @Test func nonvotersDoNotCountTowardTheQuorum() throws {
        var leader = Fixture.instance("n1", voters: 3, nonvoters: 2)
        let ready = leader.winElection()
        leader.persistAll()
        let noop = leader.lastIndex
        for probe in ready.appends where probe.target == "n4" || probe.target == "n5" {
            leader.receive(
                response: Fixture.appendResponse(from: probe.target, term: 2, lastLog: noop, success: true),
                context: probe.context
            )
        }
        #expect(leader.currentCommitIndex < noop)
        let voter = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: noop, success: true), context: voter.context)
        #expect(leader.currentCommitIndex == noop)
    }

    /// Raft Figure 8, up to (c), with five servers:
    /// - n1 holds entry 2 of term 2 (it led term 2 and crashed before replicating it);
    /// - n5 holds a different entry 2, of term 3 (it led term 3, equally briefly);
    /// - n2, n3, n4 hold only the configuration.
    ///
    /// n1 wins term 4 with the votes of n2 and n3 (n1 cannot reach n4 and n5) and replicates entry
    /// 2 to n2 and n3, but its own term's no-op (entry 3) is held back in transit. Entry 2 of term
    /// 2 is then stored on a majority: n1, n2, n3.
    private func figure8() throws -> TestNetwork {
        let configuration = Fixture.configuration(voters: 5)
        let base = Fixture.log(configuration, terms: [])
        let logs: [ServerID: [Log]] = [
            "n1": base + [Fixture.command(index: 2, term: 2)],
            "n5": base + [Fixture.command(index: 2, term: 3)],
        ]
        var net = TestNetwork(
            restored: configuration.servers.map { server in
                (server, RaftInstance.RestoredState(hardState: HardState(currentTerm: 3), entries: logs[server.id] ?? base))
            },
            seed: 8
        ) { $0.maxAppendEntries = 1 }
        net.cut("n1", "n4")
        net.cut("n1", "n5")

        net.campaign("n1")
        net.deliver(where: \.isElectionTraffic)
        #expect(net.leader == "n1")
        #expect(net["n1"].currentTerm == 4)
        #expect(net["n1"].lastIndex == 3, "n1 appended its no-op")

        // n1's first probes (entry 3, after entry 2) show that n2 and n3 lack entry 2…
        for follower: ServerID in ["n2", "n3"] {
            let probe = try #require(net.queue.firstIndex { $0.to == follower && !$0.entries.isEmpty })
            net.deliver(at: probe)
        }
        // …so it sends them entry 2 alone; everything carrying the term-4 no-op stays in transit.
        net.deliver { envelope in !envelope.entries.contains { $0.term == 4 } }
        for id: ServerID in ["n1", "n2", "n3"] {
            #expect(net[id].entry(at: 2) == Fixture.command(index: 2, term: 2), "\(id)")
        }
        #expect(net["n2"].lastIndex == 2 && net["n3"].lastIndex == 2)
        #expect(net.queue.contains { $0.to == "n2" && $0.entries.contains { $0.term == 4 } })
        return net
    }

    // Raft §5.4.2 (Figure 8): a leader never commits an entry of an older term by counting replicas, even on a majority.
    @Test func leaderNeverCommitsAnOlderTermEntryByCountingReplicas() throws {
        var net = try figure8()
        #expect(net.replicationMatch("n1", "n2") == 2)
        #expect(net.replicationMatch("n1", "n3") == 2)
        #expect(net["n1"].currentCommitIndex == 0)
        #expect(net.ids.allSatisfy { net.node($0).applied.isEmpty })
        #expect(net.committed[2] == nil)

        // Figure 8 (d) shows why: n1 crashes, and n5, whose last entry has the later term 3, can win
        // the votes of n2, n3 and n4 and overwrite entry 2 on all of them.
        net.crash("n1")
        net.drop { $0.from == "n1" }
        net.heal()
        net.tick(["n2", "n3", "n4"], times: net["n2"].options.heartbeatTimeoutTicks)
        #expect(["n2", "n3", "n4"].allSatisfy { net[$0].currentRole == .follower })
        net.elect("n5")
        #expect(net.leader == "n5")
        net.run(ticks: 10)
        for id: ServerID in ["n2", "n3", "n4", "n5"] {
            #expect(net[id].entry(at: 2) == Fixture.command(index: 2, term: 3), "\(id)")
        }
        // Had n1 counted entry 2 (term 2) as committed, a committed entry would now have changed.
        #expect(net.violations.isEmpty)
    }

    // Raft §5.4.2: an older-term entry commits indirectly, once an entry of the leader's term after it is on a majority.
    @Test func olderTermEntryCommitsWithTheFirstCurrentTermEntryAfterIt() throws {
        var net = try figure8()
        #expect(net["n1"].currentCommitIndex == 0)
        net.stabilize()
        #expect(net["n1"].currentCommitIndex == 3)
        #expect(net.node("n1").applied.map(\.index) == [1, 2, 3])
        #expect(net.node("n1").applied.dropFirst().first == Fixture.command(index: 2, term: 2))
        #expect(net.committed[2] == Fixture.command(index: 2, term: 2))
        // The followers learn the commit index and apply the same entries.
        for id: ServerID in ["n2", "n3"] {
            #expect(net.node(id).applied == net.node("n1").applied, "\(id)")
        }
        #expect(net.violations.isEmpty)
    }

    // Raft §5.4.2: a new leader whose older-term entries reach a majority commits none of them before its own no-op does.
    @Test func newLeaderCommitsNothingBeforeItsNoopIsOnAMajority() throws {
        var leader = Fixture.instance("n1", voters: 3, terms: [1, 1]) { $0.maxAppendEntries = 1 }
        var ready = leader.winElection()
        leader.persistAll()
        #expect(leader.lastIndex == 4, "entries 2 and 3 of term 1, then the no-op of term 2")
        // n2 holds only the configuration: the leader walks back, then sends entries one by one.
        var request = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 1, success: false, noRetryBackoff: true),
            context: request.context
        )
        var inFlight: [(target: ServerID, request: AppendEntriesRequest, context: RequestContext)] = []
        for expected in UInt64(2)...4 {
            ready = leader.takeReady()
            inFlight += ready.appends.filter { $0.target == "n2" }
            request = try #require(inFlight.first)
            inFlight.removeFirst()
            #expect(request.request.entries.map(\.index) == [expected])
            #expect(leader.currentCommitIndex == 0, "entries of term 1 on a majority are not committed by counting")
            leader.receive(
                response: Fixture.appendResponse(from: "n2", term: 2, lastLog: expected, success: true),
                context: request.context
            )
        }
        #expect(leader.currentCommitIndex == 4)
        #expect(leader.takeReady().committedEntries.map(\.index) == [1, 2, 3, 4])
    }
}

extension TestNetwork {
    /// The match index `leader` holds for `follower`.
    func replicationMatch(_ leader: ServerID, _ follower: ServerID) -> UInt64? {
        self[leader].replicationState.first { $0.id == follower }?.match
    }
}
