import RaftTestTraits
import Testing

import RaftCore

/// Log replication, Raft §5.3: the AppendEntries consistency check, conflict truncation, the
/// follower's commit rule, and the leader's search for the follower's match (with hashicorp/raft's
/// LastLog hint and NoRetryBackoff flag).
@Suite(.offCooperativePool) struct LogReplicationTests {
    // MARK: Follower: consistency check

    // Raft §5.3: a follower appends entries that follow an entry matching prevLogIndex/prevLogTerm, and acknowledges them.
    @Test func followerAppendsEntriesAfterMatchingPrevious() throws {
        var follower = Fixture.instance("n2", term: 2)
        let entries = [Fixture.command(index: 2, term: 2), Fixture.command(index: 3, term: 2)]
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: entries), token: RequestToken(1))
        let ready = follower.takeReady()
        #expect(ready.entriesToPersist == entries)
        #expect(ready.truncateFrom == nil)
        let reply = try #require(ready.repliesAfterPersist.first?.appendEntries)
        #expect(reply.success)
        #expect(reply.lastLog == 3)
        #expect(follower.lastIndex == 3)
    }

    // Raft §5.3: a follower refuses entries when its entry at prevLogIndex has another term, and changes nothing.
    @Test func followerRejectsWhenPreviousEntryHasAnotherTerm() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1, 1])
        follower.receive(
            Fixture.appendEntries(from: "n1", term: 3, prev: (3, 2), entries: [Fixture.command(index: 4, term: 3)]),
            token: RequestToken(1)
        )
        let ready = follower.takeReady()
        let reply = try #require(ready.replies.first?.appendEntries)
        #expect(!reply.success)
        // hashicorp/raft: a log mismatch is not a failure worth backing off for.
        #expect(reply.noRetryBackoff)
        #expect(reply.lastLog == 3)
        #expect(ready.entriesToPersist.isEmpty && ready.truncateFrom == nil)
        #expect(follower.lastIndex == 3)
        #expect(follower.entry(at: 3)?.term == 1)
    }

    // Raft §5.3: a follower refuses entries when it has no entry at prevLogIndex; its LastLog tells the leader where it ends.
    @Test func followerRejectsWhenPreviousEntryIsMissing() throws {
        var follower = Fixture.instance("n2", term: 2)
        follower.receive(
            Fixture.appendEntries(from: "n1", term: 2, prev: (7, 2), entries: [Fixture.command(index: 8, term: 2)]),
            token: RequestToken(1)
        )
        let reply = try #require(follower.takeReady().replies.first?.appendEntries)
        #expect(!reply.success)
        #expect(reply.noRetryBackoff)
        #expect(reply.lastLog == 1)
        #expect(follower.lastIndex == 1)
    }

    // Raft §5.3: an entry conflicting with a new one (same index, other term) is deleted with all that follow it.
    @Test func conflictingEntryIsTruncatedWithAllThatFollowIt() {
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2, 2])
        let replacement = Fixture.command(index: 3, term: 3)
        follower.receive(
            Fixture.appendEntries(from: "n1", term: 3, prev: (2, 2), entries: [replacement]),
            token: RequestToken(1)
        )
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == 3)
        #expect(ready.entriesToPersist == [replacement])
        #expect(ready.repliesAfterPersist.first?.appendEntries?.success == true)
        #expect(follower.lastIndex == 3)
        #expect(follower.entry(at: 3) == replacement)
        #expect(follower.entry(at: 4) == nil)
    }

    // Raft §5.3: only conflicting entries are deleted; a late, shorter request from the same leader truncates nothing.
    @Test func staleRequestWithMatchingEntriesTruncatesNothing() {
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2, 2])
        follower.receive(
            Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: [Fixture.command(index: 2, term: 2)]),
            token: RequestToken(1)
        )
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == nil)
        #expect(ready.entriesToPersist.isEmpty)
        #expect(follower.lastIndex == 4)
        // Nothing new to write, so the acknowledgement need not wait for the disk.
        #expect(ready.replies.first?.appendEntries?.success == true)
    }

    // Raft §5.3: entries already present are skipped and only the new tail is appended.
    @Test func overlappingRequestAppendsOnlyTheNewTail() {
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2])
        let entries = (2...4).map { Fixture.command(index: $0, term: 2) }
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: entries), token: RequestToken(1))
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == nil)
        #expect(ready.entriesToPersist == [entries[2]])
        #expect(ready.repliesAfterPersist.first?.appendEntries?.lastLog == 4)
    }

    // Raft §5.4: a committed entry is never deleted, whatever a (faulty) leader sends.
    @Test func followerNeverTruncatesACommittedEntry() {
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2])
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (3, 2), commit: 3), token: RequestToken(1))
        _ = follower.takeReady()
        #expect(follower.currentCommitIndex == 3)

        follower.receive(
            Fixture.appendEntries(from: "n3", term: 3, prev: (1, 1), entries: [Fixture.command(index: 2, term: 3)]),
            token: RequestToken(2)
        )
        let ready = follower.takeReady()
        #expect(ready.replies.first?.appendEntries?.success == false)
        #expect(ready.truncateFrom == nil && ready.entriesToPersist.isEmpty)
        #expect(follower.entry(at: 2) == Fixture.command(index: 2, term: 2))
        #expect(!ready.warnings.isEmpty)
    }

    // MARK: Follower: commit rule

    // Raft Figure 2: a follower sets commitIndex = min(leaderCommit, index of last new entry), not beyond what it verified.
    @Test func followerCommitsOnlyUpToTheLastEntryTheRequestVerified() {
        // The follower holds stale entries 2 and 3 of term 1 that the leader may not have.
        var follower = Fixture.instance("n2", term: 1, terms: [1, 1])
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), commit: 3), token: RequestToken(1))
        var ready = follower.takeReady()
        #expect(follower.currentCommitIndex == 1)
        #expect(ready.committedEntries.map(\.index) == [1])

        follower.receive(
            Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: [Fixture.command(index: 2, term: 1)], commit: 3),
            token: RequestToken(2)
        )
        ready = follower.takeReady()
        #expect(follower.currentCommitIndex == 2)
        #expect(ready.committedEntries.map(\.index) == [2])
    }

    // Raft §5.3: a follower learns the commit index from the leader and applies newly committed entries in order.
    @Test func followerAppliesEntriesTheLeaderCommitted() {
        var follower = Fixture.instance("n2", term: 2, terms: [2, 2, 2])
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (4, 2), commit: 3), token: RequestToken(1))
        #expect(follower.takeReady().committedEntries.map(\.index) == [1, 2, 3])
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (4, 2), commit: 4), token: RequestToken(2))
        #expect(follower.takeReady().committedEntries.map(\.index) == [4])
    }

    // MARK: Leader: finding the match

    /// A leader of term 2 whose log holds entries 1…10 of term 1 plus its no-op at 11, and the
    /// `Ready` it produced on winning.
    private func leaderWithTenEntries(configure: (inout RaftInstance.Options) -> Void = { _ in }) -> (RaftInstance, Ready) {
        var leader = Fixture.instance("n1", voters: 3, term: 1, terms: Array(repeating: 1, count: 9), configure: configure)
        let ready = leader.winElection()
        #expect(leader.currentRole == .leader)
        #expect(leader.lastIndex == 11)
        return (leader, ready)
    }

    // Raft §5.3: a new leader starts every follower's nextIndex just after its own last entry.
    @Test func newLeaderProbesEachFollowerAfterItsLastEntry() {
        let (_, ready) = leaderWithTenEntries()
        #expect(ready.appends.map(\.target) == ["n2", "n3"])
        for append in ready.appends {
            #expect(append.request.prevLogEntry == 10)
            #expect(append.request.prevLogTerm == 1)
            #expect(append.request.entries.map(\.index) == [11])
        }
    }

    // hashicorp/raft: on a rejection the leader resumes at min(nextIndex−1, LastLog+1), skipping straight to the follower's end.
    @Test func leaderSkipsBackToTheFollowersLastLogHint() throws {
        var (leader, ready) = leaderWithTenEntries()
        let probe = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 3, success: false, noRetryBackoff: true),
            context: probe.context
        )
        ready = leader.takeReady()
        let retry = try #require(ready.appends.first { $0.target == "n2" })
        #expect(retry.request.prevLogEntry == 3)
        #expect(retry.request.prevLogTerm == 1)
        #expect(retry.request.entries.first?.index == 4)
    }

    // Raft §5.3: without a useful hint the leader decrements nextIndex by one and retries.
    @Test func leaderDecrementsNextIndexWhenFollowerLogIsLongerButConflicts() throws {
        var (leader, ready) = leaderWithTenEntries()
        let probe = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 15, success: false, noRetryBackoff: true),
            context: probe.context
        )
        ready = leader.takeReady()
        #expect(ready.appends.first { $0.target == "n2" }?.request.prevLogEntry == 9)
    }

    // hashicorp/raft: a rejection flagged NoRetryBackoff is retried at once; one without it waits out the back-off.
    @Test func leaderBacksOffOnlyWhenTheFollowerDidNotSetNoRetryBackoff() throws {
        for noRetryBackoff in [true, false] {
            var (leader, ready) = leaderWithTenEntries()
            let probe = try #require(ready.appends.first { $0.target == "n2" })
            leader.receive(
                response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 3, success: false, noRetryBackoff: noRetryBackoff),
                context: probe.context
            )
            ready = leader.takeReady()
            #expect(ready.appends.contains { $0.target == "n2" } == noRetryBackoff)
            if !noRetryBackoff {
                leader.tick()
                #expect(leader.takeReady().appends.first { $0.target == "n2" }?.request.prevLogEntry == 3)
            }
        }
    }

    // hashicorp/raft: after failed requests the leader backs off exponentially, up to a cap.
    @Test func leaderBacksOffExponentiallyFromAnUnreachableFollower() throws {
        var (leader, ready) = leaderWithTenEntries { $0.leaderLeaseTicks = 10_000 }
        var pending = try #require(ready.appends.first { $0.target == "n2" })
        var waits: [Int] = []
        for _ in 0..<6 {
            leader.requestFailed(context: pending.context, reason: .unreachable)
            var waited = 0
            while true {
                ready = leader.takeReady()
                if let next = ready.appends.first(where: { $0.target == "n2" }) {
                    pending = next
                    break
                }
                leader.tick()
                waited += 1
                if waited > 100 { break }
            }
            waits.append(waited)
        }
        #expect(waits == [1, 2, 4, 8, 10, 10])
    }

    // Raft §5.3: until a follower's position is known, the leader sends it one request at a time.
    @Test func leaderSendsOneRequestAtATimeToAProbingFollower() {
        var (leader, _) = leaderWithTenEntries()
        _ = leader.propose([Proposal(data: [1])])
        _ = leader.propose([Proposal(data: [2])])
        #expect(leader.takeReady().appends.isEmpty)
    }

    // Raft §5.3 (pipelining, as hashicorp/raft): once in step, the leader sends new entries without waiting for acknowledgements.
    @Test func leaderPipelinesEntriesToAFollowerInStep() throws {
        var (leader, ready) = leaderWithTenEntries()
        leader.persistAll()
        let probe = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 11, success: true), context: probe.context)
        _ = leader.takeReady()
        _ = leader.propose([Proposal(data: [1])])
        ready = leader.takeReady()
        _ = leader.propose([Proposal(data: [2])])
        let second = leader.takeReady()
        #expect(ready.appends.first { $0.target == "n2" }?.request.entries.map(\.index) == [12])
        #expect(second.appends.first { $0.target == "n2" }?.request.entries.map(\.index) == [13])
        #expect(second.appends.first { $0.target == "n2" }?.request.prevLogEntry == 12)
    }

    // Raft §5.3: the leader sends at most maxAppendEntries entries per request.
    @Test func leaderLimitsEntriesPerRequest() throws {
        var leader = Fixture.instance("n1", voters: 3, terms: Array(repeating: 1, count: 9)) { $0.maxAppendEntries = 4 }
        var ready = leader.winElection()
        let probe = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: false, noRetryBackoff: true),
            context: probe.context
        )
        ready = leader.takeReady()
        #expect(ready.appends.first { $0.target == "n2" }?.request.entries.map(\.index) == [1, 2, 3, 4])
    }

    // MARK: Leader: commit propagation

    // Raft §5.3: a follower commits min(leaderCommit, last new entry), so the leader keeps sending until a request lets it reach the leader's commit index.
    @Test func leaderSendsEachFollowerARequestThatReachesItsCommitIndex() throws {
        var (leader, ready) = leaderWithTenEntries {
            $0.maxAppendEntries = 2
            $0.leaderLeaseTicks = 10_000
        }
        leader.persistAll()
        let commit = leader.lastIndex
        let toN2 = try #require(ready.appends.first { $0.target == "n2" })
        let toN3 = try #require(ready.appends.first { $0.target == "n3" })
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: commit, success: true), context: toN3.context)
        #expect(leader.currentCommitIndex == commit)

        // The transport gives up on the probe to n2, so the leader probes again from where that
        // probe started…
        leader.requestFailed(context: toN2.context, reason: .unreachable)
        var sent: [(request: AppendEntriesRequest, context: RequestContext)] = []
        for _ in 0..<5 where sent.isEmpty {
            leader.tick()
            sent += leader.takeReady().appends.filter { $0.target == "n2" }.map { ($0.request, $0.context) }
        }
        let reprobe = try #require(sent.first)
        #expect(reprobe.request.prevLogEntry == toN2.request.prevLogEntry)
        // …but n2 did get the first probe after all; both answers arrive, the stale one first.
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: commit, success: true), context: toN2.context)
        sent += leader.takeReady().appends.filter { $0.target == "n2" }.map { ($0.request, $0.context) }
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: commit, success: true), context: reprobe.context)
        for _ in 0..<20 {
            sent += leader.takeReady().appends.filter { $0.target == "n2" }.map { ($0.request, $0.context) }
            leader.tick()
        }
        // A request lets n2 commit only through the last entry it covers; some request must let
        // it reach the commit index.
        let reachable = sent.map { min($0.request.leaderCommitIndex, $0.request.prevLogEntry + UInt64($0.request.entries.count)) }
        #expect(reachable.max() == commit, "n2 could commit only through \(reachable.max() ?? 0) of \(commit)")
    }

    // Raft §5.3 (hashicorp/raft's CommitTimeout): a follower restarted while the cluster is idle still learns the commit index and applies.
    @Test func followerRestartedInAnIdleClusterCatchesUpOnCommittedEntries() {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.propose("n1", "x")
        net.run(ticks: 3)
        #expect(net.appliedCommands("n2") == ["x"])
        net.crash("n2")
        net.run(ticks: 5)
        net.restart("n2")
        net.run(ticks: 100)
        #expect(net["n2"].currentCommitIndex == net["n1"].currentCommitIndex)
        #expect(net.appliedCommands("n2") == ["x"])
    }

    // MARK: Clusters

    // Raft §5.3 Log Matching: after replication every log is identical and every node applies the same commands in order.
    @Test func logsConvergeAndEveryNodeAppliesTheSameCommands() {
        var net = TestNetwork(voters: 5)
        net.elect("n1")
        for round in 0..<5 {
            net.propose("n1", "a\(round)", "b\(round)")
            net.stabilize()
        }
        net.run(ticks: 5)
        let expected = (0..<5).flatMap { ["a\($0)", "b\($0)"] }
        for id in net.ids {
            #expect(net.log(id) == net.log("n1"), "\(id)")
            #expect(net.appliedCommands(id) == expected, "\(id)")
        }
        #expect(net.logMatchingViolations().isEmpty)
        #expect(net.violations.isEmpty)
    }

    // Raft §5.3: a deposed leader's uncommitted entries are overwritten by the new leader's log.
    @Test func newLeaderOverwritesADeposedLeadersUncommittedEntries() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        net.isolate("n1")
        net.propose("n1", "lost-1", "lost-2")
        net.stabilize()
        #expect(net["n1"].lastIndex == 4)

        net.run(ticks: 200)
        let successor = try #require(net.leaders.first { $0 != "n1" })
        net.propose(successor, "kept")
        net.stabilize()
        net.heal()
        net.run(ticks: 50)

        #expect(net.leader == successor)
        for id in net.ids {
            #expect(net.log(id) == net.log(successor), "\(id)")
            #expect(net.appliedCommands(id) == ["kept"], "\(id)")
        }
        #expect(!net.log("n1").contains { $0.data.elementsEqual("lost-1".utf8) })
        #expect(net.violations.isEmpty)
    }

    // Raft §5.3: a follower far behind is brought up to date, the leader loading entries it no longer keeps in memory.
    @Test func laggingFollowerCatchesUpFromEntriesTheLeaderLoads() {
        var net = TestNetwork(voters: 3) {
            $0.logWindowCapacity = 4
            $0.maxAppendEntries = 3
        }
        net.elect("n1")
        net.isolate("n3")
        for number in 0..<20 {
            net.propose("n1", "c\(number)")
            net.stabilize()
        }
        #expect(net["n1"].entry(at: 3) == nil, "the leader should have dropped old entries from memory")
        net.heal()
        net.run(ticks: 40)
        #expect(net.entryLoadCount > 0)
        #expect(net.log("n3") == net.log("n1"))
        #expect(net.appliedCommands("n3") == (0..<20).map { "c\($0)" })
        #expect(net.violations.isEmpty)
    }
}
