import RaftTestTraits
import Testing

import RaftCore

/// A bounded apply queue: the core hands out at most `maxApplyBacklog` entries beyond what the
/// FSM reported applied, and a follower whose FSM lags far behind its commit index delays its
/// answers to AppendEntries, so a slow FSM slows acknowledgments instead of growing a queue.
@Suite(.offCooperativePool) struct ApplyBacklogTests {
    static func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 2) -> [Log] {
        range.map { Fixture.command(index: $0, term: term) }
    }

    // At most maxApplyBacklog entries are handed out beyond the last one the FSM applied.
    @Test func committedEntriesAreHandedOutNoFasterThanTheFSMApplies() {
        var follower = Fixture.instance("n2", term: 2) { $0.maxApplyBacklog = 4 }
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: Self.entries(2...11), commit: 11), token: RequestToken(1))
        // Only entry 1 is durable yet.
        #expect(follower.takeReady().committedEntries.map(\.index) == [1])
        follower.persistAll()
        var ready = follower.takeReady()
        #expect(ready.committedEntries.map(\.index) == [2, 3, 4])
        #expect(follower.isWaitingForApplies)
        #expect(follower.takeReady().committedEntries.isEmpty)
        follower.applied(through: 3)
        ready = follower.takeReady()
        #expect(ready.committedEntries.map(\.index) == [5, 6, 7])
        follower.applied(through: 11)
        #expect(follower.takeReady().committedEntries.map(\.index) == [8, 9, 10, 11])
        #expect(!follower.isWaitingForApplies)
    }

    // A follower whose FSM lags its commit index by more than twice the backlog holds AppendEntries back (heartbeats still answered), and answers them, in order, once the FSM catches up.
    @Test func aFollowerFarBehindDelaysItsAnswersUntilItsFSMCatchesUp() throws {
        var follower = Fixture.instance("n2", term: 2) { $0.maxApplyBacklog = 2 }
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (1, 1), entries: Self.entries(2...11), commit: 11), token: RequestToken(1))
        _ = follower.takeReady()
        follower.persistAll()
        _ = follower.takeReady()

        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (11, 2), entries: Self.entries(12...12), commit: 11), token: RequestToken(2))
        follower.receive(Fixture.appendEntries(from: "n1", term: 2, prev: (12, 2), entries: Self.entries(13...13), commit: 11), token: RequestToken(3))
        follower.receive(Fixture.heartbeat(from: "n1", term: 2), token: RequestToken(4))
        var ready = follower.takeReady()
        #expect(ready.allReplies.map(\.token) == [RequestToken(4)])
        #expect(ready.entriesToPersist.isEmpty)
        #expect(follower.lastIndex == 11)

        // Still more than 4 behind 11: nothing yet.
        follower.applied(through: 6)
        #expect(follower.takeReady().allReplies.isEmpty)
        follower.applied(through: 7)
        ready = follower.takeReady()
        #expect(ready.entriesToPersist.map(\.index) == [12, 13])
        #expect(ready.allReplies.map(\.token) == [RequestToken(2), RequestToken(3)])
        #expect(ready.allReplies.allSatisfy { $0.appendEntries?.success == true })
    }
}
