@testable import SwiftRaft
import Testing

/// The waiter behind a pending `apply`: resumed exactly once, whichever of the outcome, the caller
/// attaching and a cancellation comes first. The FSM thread can apply a command before its caller
/// has started waiting; that outcome must reach the caller, not be dropped (raft-bench hung at 64
/// applies in flight when it was).
@Suite(.timeLimit(.minutes(1))) struct ApplyWaiterTests {
    @Test func anOutcomeThatArrivesBeforeTheCallerWaitsIsDeliveredWhenItDoes() async throws {
        let waiter = ApplyWaiter()
        waiter.resume(with: .success(ApplyResult(index: 7, response: nil)))
        let result = try await withCheckedThrowingContinuation { waiter.wait($0) }
        #expect(result.index == 7)
    }

    @Test func theCallerWaitingFirstGetsTheOutcomeWhenItArrives() async throws {
        let waiter = ApplyWaiter()
        let result = try await withCheckedThrowingContinuation { continuation in
            waiter.wait(continuation)
            // The caller is attached: the outcome arrives after it.
            waiter.resume(with: .success(ApplyResult(index: 8, response: nil)))
        }
        #expect(result.index == 8)
    }

    @Test func aCancellationAfterTheCommandCommittedSaysSoAndLaterOutcomesAreDropped() async throws {
        let waiter = ApplyWaiter()
        #expect(waiter.beginAppend())
        waiter.appended(at: 9)
        waiter.markCommitted()
        waiter.cancel()
        waiter.resume(with: .success(ApplyResult(index: 9, response: nil)))
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .cancelled)
        #expect(error?.message.contains("committed at index 9") == true)
    }

    @Test func aCancellationAfterTheCommandWasAppendedSaysItMayStillBeApplied() async throws {
        let waiter = ApplyWaiter()
        #expect(waiter.beginAppend())
        waiter.appended(at: 12)
        waiter.cancel()
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .cancelled)
        #expect(error?.message.contains("appended at index 12") == true)
    }

    // A deadline that passes after the command was appended answers .timeout with an unknown
    // outcome; the FSM's later answer is dropped, and the waiter counts as finished.
    @Test func aDeadlineAfterTheCommandWasAppendedIsATimeoutWithAnUnknownOutcome() async throws {
        let waiter = ApplyWaiter(timeout: .seconds(2), start: .seconds(10))
        #expect(waiter.deadline == .seconds(12))
        #expect(waiter.beginAppend())
        waiter.appended(at: 13)
        #expect(!waiter.isFinished)
        waiter.timedOut()
        #expect(waiter.isFinished)
        waiter.resume(with: .success(ApplyResult(index: 13, response: nil)))
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("appended at index 13: the outcome is unknown") == true, "\(String(describing: error))")
    }

    // A deadline that passes after the command committed says it will be applied.
    @Test func aDeadlineAfterTheCommandCommittedSaysItWillBeApplied() async throws {
        let waiter = ApplyWaiter(timeout: .seconds(1))
        #expect(waiter.beginAppend())
        waiter.appended(at: 14)
        waiter.markCommitted()
        waiter.timedOut()
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("committed at index 14: it will be applied") == true, "\(String(describing: error))")
    }

    @Test func aCancellationBeforeTheNodeTakesTheProposalIsACancellationErrorAndTheProposalIsDropped() async throws {
        let waiter = ApplyWaiter()
        let caller = Task { try await waiter.outcome() }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(!waiter.beginAppend(), "the node must drop a proposal whose caller has gone")
    }

    @Test func onlyTheFirstOutcomeCounts() async throws {
        let waiter = ApplyWaiter()
        waiter.resume(with: .failure(RaftError.leadershipLost))
        waiter.resume(with: .success(ApplyResult(index: 10, response: nil)))
        waiter.cancel()
        let error = await #expect(throws: RaftError.self) { _ = try await withCheckedThrowingContinuation { waiter.wait($0) } }
        #expect(error?.code == .leadershipLost)
    }
}
