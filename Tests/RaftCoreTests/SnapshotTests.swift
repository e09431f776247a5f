import RaftTestTraits
import Testing

import RaftCore

/// Snapshots in the core (Raft §7, hashicorp/raft's semantics): compaction behind a snapshot,
/// the leader's switch to InstallSnapshot for a follower the log cannot catch up, and a
/// follower's install, whether its log is behind, ahead of, matching or diverging from the
/// snapshot.
@Suite(.offCooperativePool) struct SnapshotTests {
    static let configuration = Fixture.configuration(voters: 3)

    static func point(_ index: UInt64, term: UInt64) -> SnapshotPoint {
        SnapshotPoint(index: index, term: term, configuration: configuration, configurationIndex: 1)
    }

    static func installRequest(from leader: ServerID = "n1", term: UInt64, last: (index: UInt64, term: UInt64)) -> RaftRequest {
        .installSnapshot(
            InstallSnapshotRequest(
                header: Fixture.header(leader),
                term: term,
                leader: Fixture.server(id: leader).address,
                lastLogIndex: last.index,
                lastLogTerm: last.term,
                configuration: ConfigurationCodec.encode(configuration),
                configurationIndex: 1,
                size: 5
            )
        )
    }

    /// A leader of term 2 over a log of 21 entries (the configuration, then 20 commands of term 1)
    /// and its no-op at 22, committed with n2's help; n3 has not answered yet. It keeps only the
    /// last entry in memory, so older ones come from the log store, or, once compacted, not at all.
    static func leaderWithCommittedLog(trailingLogs: UInt64) -> (RaftInstance, probeToN3: RequestContext) {
        var leader = Fixture.instance("n1", terms: Array(repeating: 1, count: 20)) { options in
            options.trailingLogs = trailingLogs
            options.logWindowCapacity = 1
        }
        let ready = leader.winElection()
        leader.persistAll()
        let toN2 = ready.appends.first { $0.target == "n2" }!
        let toN3 = ready.appends.first { $0.target == "n3" }!
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 22, success: true), context: toN2.context)
        _ = leader.takeReady()
        return (leader, toN3.context)
    }

    /// The leader of ``leaderWithCommittedLog(trailingLogs:)`` with a snapshot at 22 and no log
    /// behind it, just switched to sending it to n3, which answered its probe with an empty log.
    static func leaderSendingItsSnapshotToN3() throws -> (RaftInstance, SnapshotTransfer) {
        var (leader, probe) = leaderWithCommittedLog(trailingLogs: 0)
        leader.snapshotTaken(point(22, term: 2))
        _ = leader.takeReady()
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 0, success: false, noRetryBackoff: true), context: probe)
        let transfer = try #require(leader.takeReady().snapshotTransfers.first)
        return (leader, transfer)
    }

    // MARK: Compaction

    // hashicorp/raft's compactLogs: the log through min(snapshot index, last index - TrailingLogs) goes.
    @Test func aSnapshotCompactsTheLogKeepingTrailingLogs() {
        var (leader, _) = Self.leaderWithCommittedLog(trailingLogs: 5)
        #expect(leader.currentCommitIndex == 22)
        leader.snapshotTaken(Self.point(20, term: 1))
        let ready = leader.takeReady()
        #expect(ready.compactThrough == 17)
        #expect(leader.firstLogIndex == 18)
        #expect(leader.lastSnapshot == (20, 1))
    }

    // A log no longer than TrailingLogs is left whole; an older snapshot changes nothing.
    @Test func aShortLogOrAnOlderSnapshotIsNotCompacted() {
        var (leader, _) = Self.leaderWithCommittedLog(trailingLogs: 100)
        leader.snapshotTaken(Self.point(20, term: 1))
        #expect(leader.takeReady().compactThrough == nil)
        leader.snapshotTaken(Self.point(10, term: 1))
        #expect(leader.lastSnapshot == (20, 1))
        #expect(leader.takeReady().isEmpty)
    }

    // MARK: Leader: sending the snapshot

    // Raft §7: a follower that needs entries the log compacted away gets the snapshot instead.
    @Test func aFollowerBehindTheCompactedLogGetsTheSnapshotThenEntriesAfterIt() throws {
        var (leader, probe) = Self.leaderWithCommittedLog(trailingLogs: 2)
        leader.snapshotTaken(Self.point(20, term: 1))
        #expect(leader.takeReady().compactThrough == 20)
        // n3 holds only the first three entries: the leader must walk back below the log's start.
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 3, success: false, noRetryBackoff: true), context: probe)
        var ready = leader.takeReady()
        #expect(ready.appends.isEmpty)
        #expect(ready.entryLoads.isEmpty)
        let transfer = try #require(ready.snapshotTransfers.first)
        #expect(transfer.target.id == "n3")
        #expect(transfer.request.term == 2)
        #expect(transfer.context.kind == .installSnapshot)
        #expect(transfer.context.lastIndex == 20)

        // While it is on its way, nothing else but heartbeats goes to n3.
        for _ in 0..<5 { leader.tick() }
        ready = leader.takeReady()
        #expect(!ready.appends.contains { $0.target == "n3" })
        #expect(ready.snapshotTransfers.isEmpty)

        leader.receive(
            response: .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n3"), term: 2, success: true)),
            context: transfer.context
        )
        // The entries after the snapshot come from the log store (21 is still there, 20 is not:
        // its term is the snapshot's).
        let load = try #require(leader.takeReady().entryLoads.first)
        #expect(load.firstIndex == 21 && load.lastIndex == 22)
        leader.entriesLoaded([Fixture.command(index: 21, term: 1), Log(index: 22, term: 2, type: .noop, data: [])], for: load)
        ready = leader.takeReady()
        let append = try #require(ready.appends.first { $0.target == "n3" })
        #expect(append.request.prevLogEntry == 20)
        #expect(append.request.prevLogTerm == 1)
        #expect(append.request.entries.map(\.index) == [21, 22])
        #expect(leader.replicationState.first { $0.id == "n3" }?.match == 20)
    }

    // A transfer that fails is retried after a back-off, with a fresh transfer.
    @Test func aFailedTransferIsRetried() throws {
        var (leader, first) = try Self.leaderSendingItsSnapshotToN3()
        leader.requestFailed(context: first.context, reason: .unreachable)
        #expect(leader.takeReady().snapshotTransfers.isEmpty)
        var retried: SnapshotTransfer?
        for _ in 0..<50 where retried == nil {
            leader.tick()
            retried = leader.takeReady().snapshotTransfers.first
        }
        let again = try #require(retried)
        #expect(again.context.epoch != first.context.epoch)
        // The late answer to the abandoned transfer changes nothing.
        leader.receive(
            response: .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n3"), term: 2, success: true)),
            context: first.context
        )
        #expect(leader.replicationState.first { $0.id == "n3" }?.match == 0)
    }

    // A newer term in the answer deposes the leader.
    @Test func aNewerTermInTheAnswerDeposesTheLeader() throws {
        var (leader, transfer) = try Self.leaderSendingItsSnapshotToN3()
        leader.receive(
            response: .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n3"), term: 5, success: false)),
            context: transfer.context
        )
        #expect(leader.currentRole == .follower)
        #expect(leader.currentTerm == 5)
    }

    // A follower whose disk was wiped refuses entries after its old match: the leader must look below that match (it used to re-probe at the old match forever, at once, without a back-off).
    @Test func aFollowerThatLostAcknowledgedEntriesIsProbedBelowItsOldMatch() throws {
        var (leader, _) = Self.leaderWithCommittedLog(trailingLogs: 0)
        leader.snapshotTaken(Self.point(22, term: 2))
        _ = leader.takeReady()
        #expect(leader.replicationState.first { $0.id == "n2" }?.match == 22)
        _ = leader.propose([Proposal(data: [1])])
        let append = try #require(leader.takeReady().appends.first { $0.target == "n2" })
        #expect(append.request.prevLogEntry == 22)
        leader.receive(
            response: Fixture.appendResponse(from: "n2", term: 2, lastLog: 0, success: false, noRetryBackoff: true),
            context: append.context
        )
        let ready = leader.takeReady()
        #expect(leader.replicationState.first { $0.id == "n2" }?.match == 0)
        #expect(ready.snapshotTransfers.contains { $0.target.id == "n2" })
        #expect(!ready.appends.contains { $0.target == "n2" })
    }

    // MARK: Follower: installing

    // Raft §7: a follower behind the snapshot installs it, replaces its log, and then accepts entries after it.
    @Test func aFollowerBehindTheSnapshotReplacesItsLogWithIt() throws {
        var follower = Fixture.instance("n2", term: 1, terms: [1, 1])
        follower.receive(Self.installRequest(term: 2, last: (10, 2)), token: RequestToken(7))
        var ready = follower.takeReady()
        #expect(ready.snapshotInstalls.map(\.token) == [RequestToken(7)])
        #expect(ready.allReplies.isEmpty)
        #expect(follower.snapshotBeingInstalled == RequestToken(7))
        #expect(follower.currentTerm == 2)
        #expect(follower.currentLeader?.id == "n1")

        #expect(follower.snapshotInstalled(token: RequestToken(7), point: Self.point(10, term: 2)) == .restoreFSM)
        ready = follower.takeReady()
        #expect(ready.truncateFrom == 1)
        #expect(ready.committedEntries.isEmpty)
        let reply = try #require(ready.repliesAfterPersist.first)
        #expect(reply.token == RequestToken(7))
        #expect(reply.response == .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n2"), term: 2, success: true)))
        #expect(follower.lastIndex == 10 && follower.lastTerm == 2)
        #expect(follower.currentCommitIndex == 10)
        #expect(follower.lastSnapshot == (10, 2))
        #expect(follower.snapshotBeingInstalled == nil)
        follower.persistAll()

        let next = Fixture.command(index: 11, term: 2)
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (10, 2), entries: [next], commit: 11), token: RequestToken(8))
        ready = follower.takeReady()
        #expect(ready.entriesToPersist == [next])
        #expect(ready.repliesAfterPersist.first?.appendEntries?.success == true)
        follower.persistAll()
        #expect(follower.takeReady().committedEntries == [next])
    }

    // Raft §7: "if existing log entry has same index and term as snapshot's last included entry, retain log entries following it".
    @Test func aFollowerWhoseLogHoldsTheSnapshotsLastEntryKeepsWhatFollows() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1, 2, 2, 2, 2])
        follower.receive(Self.installRequest(term: 2, last: (4, 2)), token: RequestToken(1))
        _ = follower.takeReady()
        #expect(follower.snapshotInstalled(token: RequestToken(1), point: Self.point(4, term: 2)) == .restoreFSM)
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == nil)
        #expect(follower.lastIndex == 6)
        #expect(follower.entry(at: 6)?.term == 2)
        #expect(follower.currentCommitIndex == 4)
    }

    // A log that holds another term at the snapshot's index contradicts it: all of it goes.
    @Test func aFollowerWhoseLogDivergesFromTheSnapshotDiscardsIt() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1, 1, 1, 1, 1])
        follower.receive(Self.installRequest(term: 3, last: (4, 2)), token: RequestToken(1))
        _ = follower.takeReady()
        #expect(follower.snapshotInstalled(token: RequestToken(1), point: Self.point(4, term: 2)) == .restoreFSM)
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == 1)
        #expect(follower.lastIndex == 4 && follower.lastTerm == 2)
    }

    // hashicorp/raft#697: a snapshot no newer than what the follower has committed is acknowledged without being read, so the leader moves on.
    @Test func aFollowerAheadOfTheSnapshotSaysYesWithoutInstallingIt() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1, 1, 2, 2, 2])
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (6, 2), commit: 6), token: RequestToken(1))
        _ = follower.takeReady()
        #expect(follower.currentCommitIndex == 6)
        follower.receive(Self.installRequest(term: 2, last: (5, 2)), token: RequestToken(2))
        let ready = follower.takeReady()
        #expect(ready.snapshotInstalls.isEmpty)
        #expect(follower.snapshotBeingInstalled == nil)
        let reply = try #require(ready.allReplies.first { $0.token == RequestToken(2) })
        #expect(reply.response == .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n2"), term: 2, success: true)))
        #expect(follower.lastIndex == 6)
    }

    // Raft §7: a snapshot from an older term is refused at once, changing nothing.
    @Test func aSnapshotFromAnOlderTermIsRefused() throws {
        var follower = Fixture.instance("n2", term: 5, terms: [1])
        follower.receive(Self.installRequest(term: 4, last: (10, 4)), token: RequestToken(1))
        let ready = follower.takeReady()
        #expect(ready.snapshotInstalls.isEmpty)
        let reply = try #require(ready.replies.first)
        #expect(reply.response == .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n2"), term: 5, success: false)))
        #expect(follower.lastIndex == 2)
    }

    // One install at a time: a second request while one is being written is refused; a failed install says no.
    @Test func aSecondSnapshotWhileOneIsInstallingIsRefusedAndAFailureSaysNo() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1])
        follower.receive(Self.installRequest(term: 2, last: (10, 2)), token: RequestToken(1))
        _ = follower.takeReady()
        follower.receive(Self.installRequest(term: 2, last: (12, 2)), token: RequestToken(2))
        var ready = follower.takeReady()
        #expect(ready.snapshotInstalls.isEmpty)
        #expect(ready.allReplies.first { $0.token == RequestToken(2) }.map { $0.response }
            == .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n2"), term: 2, success: false)))
        follower.snapshotInstallFailed(token: RequestToken(1), reason: "short read")
        ready = follower.takeReady()
        #expect(ready.allReplies.first { $0.token == RequestToken(1) }.map { $0.response }
            == .installSnapshot(InstallSnapshotResponse(header: Fixture.header("n2"), term: 2, success: false)))
        #expect(follower.snapshotBeingInstalled == nil)
        #expect(follower.lastIndex == 2)
    }

    // An installed snapshot the FSM has already been handed (it caught up meanwhile) leaves the FSM and log alone.
    @Test func aSnapshotTheFSMAlreadyHasKeepsTheFSM() throws {
        var follower = Fixture.instance("n2", term: 2, terms: [1, 2, 2, 2, 2])
        follower.receive(Self.installRequest(term: 2, last: (5, 2)), token: RequestToken(1))
        _ = follower.takeReady()
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (6, 2), commit: 6), token: RequestToken(2))
        _ = follower.takeReady()
        #expect(follower.snapshotInstalled(token: RequestToken(1), point: Self.point(5, term: 2)) == .keepFSM)
        let ready = follower.takeReady()
        #expect(ready.truncateFrom == nil)
        #expect(follower.lastIndex == 6)
    }

    // MARK: A user's restore

    // hashicorp/raft's Restore: the snapshot goes after the whole log, in the leader's term, and followers are sent it.
    @Test func aUserRestoreReplacesTheLeadersLogAndSendsFollowersTheSnapshot() throws {
        var (leader, probe) = Self.leaderWithCommittedLog(trailingLogs: 0)
        let point = try #require(leader.userRestorePoint(snapshotIndex: 5))
        #expect(point.index == 23 && point.term == 2)
        let accepted = leader.snapshotRestoredAsLeader(point)
        #expect(accepted)
        var ready = leader.takeReady()
        #expect(ready.truncateFrom == 1)
        #expect(leader.lastIndex == 23 && leader.currentCommitIndex == 23)
        #expect(leader.lastSnapshot == (23, 2))
        leader.persistAll()
        // The probe n3 had is abandoned; it is probed again after the snapshot, and as it lacks
        // everything, only the snapshot can help.
        let reprobe = try #require(ready.appends.first { $0.target == "n3" })
        #expect(reprobe.context.epoch != probe.epoch)
        #expect(reprobe.request.prevLogEntry == 23)
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: 0, success: false, noRetryBackoff: true), context: reprobe.context)
        ready = leader.takeReady()
        #expect(ready.snapshotTransfers.contains { $0.target.id == "n3" && $0.context.lastIndex == 23 })
    }
}
