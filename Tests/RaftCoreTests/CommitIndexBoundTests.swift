import RaftTestTraits
import Testing

import RaftCore

/// What a leader tells a follower about commitment: never more than the follower's log is known to
/// match, or will match once it accepts the request. Our own follower would be safe without this
/// (it commits `min(leaderCommit, last new entry)`, Raft Figure 2), but hashicorp/raft's follower
/// commits `min(leaderCommit, its own last index)`, stale suffix included. ``TestNetwork`` checks
/// every AppendEntries it delivers against that follower's rule ("Commit Index Bound"), so every
/// cluster test, the randomized ones included, holds the leader to it.
@Suite(.offCooperativePool) struct CommitIndexBoundTests {
    // The mixed-cluster failure, replayed in the core: a leader that never heard from a restarted
    // follower with an uncommitted suffix from an old term must not let it commit that suffix.
    @Test func aRestartedFollowerWithAStaleSuffixIsNeverToldToCommitIt() throws {
        var net = TestNetwork(voters: 3)
        net.elect("n1")
        for batch in 0..<4 {
            net.propose("n1", (0..<50).map { "committed-\(batch)-\($0)" })
        }
        net.stabilize()
        let committedBefore = net["n1"].currentCommitIndex
        #expect(committedBefore == net["n1"].lastIndex)

        // n1 appends three writes it can never commit, then dies with them on disk.
        net.crash("n2")
        net.crash("n3")
        net.propose("n1", ["stale-1", "stale-2", "stale-3"])
        net.stabilize()
        net.crash("n1")

        // n2 and n3 carry on and commit writes at the indexes n1 holds stale ones.
        net.restart("n2")
        net.restart("n3")
        net.elect("n2")
        net.propose("n2", (1...5).map { "new-\($0)" })
        net.stabilize()
        #expect(net["n2"].currentCommitIndex == committedBefore + 6)

        net.restart("n1")
        net.run(ticks: 200)
        #expect(net.violations.isEmpty, "\(net.violations)")
        #expect(net.log("n1") == net.log("n2"))
        #expect(!net.appliedCommands("n1").contains { $0.hasPrefix("stale") })
    }

    // The bound on the request itself: a follower whose match is 0 gets, with entries 1…k, a
    // commit index of at most k, however far the leader's commit index is.
    @Test func aProbeFromTheStartCarriesACommitIndexNoHigherThanItsLastEntry() throws {
        var leader = Fixture.instance("n1", voters: 3, terms: Array(repeating: 1, count: 99)) {
            $0.maxAppendEntries = 10
            $0.leaderLeaseTicks = 10_000
        }
        var ready = leader.winElection()
        leader.persistAll()
        let probeToN3 = try #require(ready.appends.first { $0.target == "n3" })
        leader.receive(
            response: Fixture.appendResponse(from: "n3", term: 2, lastLog: leader.lastIndex, success: true),
            context: probeToN3.context
        )
        #expect(leader.currentCommitIndex == leader.lastIndex)

        // n2 says it holds nothing the leader has; the leader walks back to index 1.
        let probeToN2 = try #require(ready.appends.first { $0.target == "n2" })
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: false, noRetryBackoff: true),
            context: probeToN2.context
        )
        ready = leader.takeReady()
        let fromStart = try #require(ready.appends.first { $0.target == "n2" })
        #expect(fromStart.request.prevLogEntry == 0)
        #expect(fromStart.request.entries.map(\.index) == Array(1...10))
        #expect(fromStart.request.leaderCommitIndex == 10)
    }

    // Once the follower's match is known, a request that covers less (an empty commit-only
    // AppendEntries) may carry the commit index up to that match.
    @Test func anEmptyAppendCarriesTheCommitIndexUpToWhatTheFollowerMatches() throws {
        var (leader, ready) = leaderInStep()
        _ = leader.propose([Proposal(data: [1])])
        ready = leader.takeReady()
        let append = try #require(ready.appends.first { $0.target == "n2" })
        leader.persistAll()
        // n3 acknowledges, so the entry commits; n2's answer is still out.
        let toN3 = try #require(ready.appends.first { $0.target == "n3" })
        leader.receive(
            response: Fixture.appendResponse(from: "n3", term: 2, lastLog: leader.lastIndex, success: true),
            context: toN3.context
        )
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: leader.lastIndex, success: true),
            context: append.context
        )
        ready = leader.takeReady()
        let commitOnly = try #require(ready.appends.first { $0.target == "n2" })
        #expect(commitOnly.request.entries.isEmpty)
        #expect(commitOnly.request.leaderCommitIndex == leader.currentCommitIndex)
        #expect(commitOnly.request.leaderCommitIndex <= commitOnly.request.prevLogEntry)
    }

    // Heartbeats carry no log position, so they carry no commit index at all (as hashicorp/raft's).
    @Test func heartbeatsCarryNoCommitIndex() throws {
        var (leader, ready) = leaderInStep()
        var heartbeats: [AppendEntriesRequest] = []
        for _ in 0..<10 {
            heartbeats += ready.messages.compactMap { message in
                guard message.context.kind == .heartbeat, case .appendEntries(let request) = message.request else { return nil }
                leader.receive(
                    response: Fixture.appendResponse(from: message.target.id, term: 2, lastLog: leader.lastIndex, success: true),
                    context: message.context
                )
                return request
            }
            leader.tick()
            ready = leader.takeReady()
        }
        #expect(heartbeats.count >= 4)
        #expect(leader.currentCommitIndex > 0)
        #expect(heartbeats.allSatisfy { $0.leaderCommitIndex == 0 && $0.prevLogEntry == 0 && $0.entries.isEmpty })
    }

    // After a transport failure the follower's position is unknown, not lost: the leader probes
    // again where the failed request started, never from index 1 (which would re-send the whole log).
    @Test func aFailedProbeIsRetriedWhereItStartedNotFromTheStartOfTheLog() throws {
        var leader = Fixture.instance("n1", voters: 3, terms: Array(repeating: 1, count: 199)) {
            $0.leaderLeaseTicks = 10_000
        }
        var ready = leader.winElection()
        var probe = try #require(ready.appends.first { $0.target == "n2" })
        let start = probe.request.prevLogEntry
        #expect(start == 200)
        for _ in 0..<3 {
            leader.requestFailed(context: probe.context, reason: .unreachable)
            var retried: (target: ServerID, request: AppendEntriesRequest, context: RequestContext)?
            for _ in 0..<50 where retried == nil {
                leader.tick()
                ready = leader.takeReady()
                retried = ready.appends.first { $0.target == "n2" }
            }
            probe = try #require(retried)
            #expect(probe.request.prevLogEntry == start)
        }
        // The follower's hint then moves the probe back to where its log ends.
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 150, success: false, noRetryBackoff: true),
            context: probe.context
        )
        let next = try #require(leader.takeReady().appends.first { $0.target == "n2" })
        #expect(next.request.prevLogEntry == 150)
    }

    // A leader with both followers in step (replicating, match = last index) and its first
    // heartbeats answered; returns it with its next Ready.
    private func leaderInStep() -> (RaftInstance, Ready) {
        var leader = Fixture.instance("n1", voters: 3, terms: [1, 1, 1]) { $0.leaderLeaseTicks = 10_000 }
        let won = leader.winElection()
        leader.persistAll()
        for message in won.messages where message.context.kind == .appendEntries || message.context.kind == .heartbeat {
            leader.receive(
                response: Fixture.appendResponse(from: message.target.id, term: 2, lastLog: leader.lastIndex, success: true),
                context: message.context
            )
        }
        return (leader, leader.takeReady())
    }
}

extension TestNetwork {
    /// Proposes each of `commands` to `id`.
    @discardableResult
    mutating func propose(_ id: ServerID, _ commands: [String]) -> ClosedRange<UInt64>? {
        var range: ClosedRange<UInt64>?
        for command in commands {
            guard let indexes = propose(id, command) else { return nil }
            range = (range?.lowerBound ?? indexes.lowerBound)...indexes.upperBound
        }
        return range
    }
}
