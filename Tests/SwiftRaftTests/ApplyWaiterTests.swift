@testable import SwiftRaft
import Testing

/// The waiter behind a pending `apply`: resumed exactly once, whichever of the outcome, the caller
/// attaching and a cancellation comes first. The FSM thread can apply a command before its caller
/// has started waiting; that outcome must reach the caller, not be dropped (raft-bench hung at 64
/// applies in flight when it was).
@Suite(.timeLimit(.minutes(1))) struct ApplyWaiterTests {
    @Test func anOutcomeThatArrivesBeforeTheCallerWaitsIsDeliveredWhenItDoes() async throws {
        let waiter = ApplyWaiter(index: 7)
        waiter.resume(with: .success(ApplyResult(index: 7, response: nil)))
        let result = try await withCheckedThrowingContinuation { waiter.wait($0) }
        #expect(result.index == 7)
    }

    @Test func theCallerWaitingFirstGetsTheOutcomeWhenItArrives() async throws {
        let waiter = ApplyWaiter(index: 8)
        async let result = withCheckedThrowingContinuation { waiter.wait($0) }
        try await Task.sleep(for: .milliseconds(1))
        waiter.resume(with: .success(ApplyResult(index: 8, response: nil)))
        #expect(try await result.index == 8)
    }

    @Test func aCancellationBeforeTheCallerWaitsIsWhatItGetsAndLaterOutcomesAreDropped() async throws {
        let waiter = ApplyWaiter(index: 9)
        waiter.markCommitted()
        waiter.cancel()
        waiter.resume(with: .success(ApplyResult(index: 9, response: nil)))
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .cancelled)
        #expect(error?.message.contains("committed at index 9") == true)
    }

    @Test func onlyTheFirstOutcomeCounts() async throws {
        let waiter = ApplyWaiter(index: 10)
        waiter.resume(with: .failure(RaftError.leadershipLost))
        waiter.resume(with: .success(ApplyResult(index: 10, response: nil)))
        waiter.cancel()
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .leadershipLost)
    }
}
