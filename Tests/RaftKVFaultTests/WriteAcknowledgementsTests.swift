import RaftKVHarness
import Testing

/// What the fault schedule reads from the acknowledged writes: whether writes resumed after a
/// fault, and the failover time.
struct WriteAcknowledgementsTests {
    private let origin = ContinuousClock.now

    private func at(_ milliseconds: Int) -> ContinuousClock.Instant { origin + .milliseconds(milliseconds) }

    private func acknowledgements(_ writes: [(milliseconds: Int, node: Int)]) -> WriteAcknowledgements {
        var acknowledgements = WriteAcknowledgements()
        for write in writes { acknowledgements.record(at: at(write.milliseconds), node: write.node) }
        return acknowledgements
    }

    // A fault that struck before the first write was acknowledged still sees writes resume (the
    // CI failure: the wait asked for a failover, which needs a write before the fault, and timed
    // out with writes flowing); it just has no failover time.
    @Test func writesResumeAfterAFaultThatStruckBeforeTheFirstWrite() {
        let writes = acknowledgements([(900, 1), (950, 2)])
        #expect(writes.firstAfter(at(100), faulted: 0, healed: at(600)) == at(900))
        #expect(writes.failover(around: at(100), faulted: 0, healed: at(600)) == nil)
    }

    // The failover runs from the last write before the fault to the first one after it.
    @Test func theFailoverSpansTheLastWriteBeforeTheFaultToTheFirstAfter() {
        let writes = acknowledgements([(100, 0), (200, 0), (1_200, 1), (1_300, 2)])
        #expect(writes.failover(around: at(250), faulted: 0, healed: at(900)) == .milliseconds(1_000))
    }

    // Answers the faulted node gave before it healed were sent before it stopped, so they do
    // not count; its answers after healing do (a briefly paused leader comes back leading).
    @Test func theFaultedNodesAnswersCountOnlyOnceItHealed() {
        let writes = acknowledgements([(100, 0), (300, 0), (1_100, 0)])
        #expect(writes.firstAfter(at(200), faulted: 0, healed: nil) == nil)
        #expect(writes.firstAfter(at(200), faulted: 0, healed: at(1_000)) == at(1_100))
    }

    // Nothing acknowledged after the fault: writes have not resumed.
    @Test func noWriteAfterTheFaultMeansNotYet() {
        let writes = acknowledgements([(100, 1)])
        #expect(writes.firstAfter(at(200), faulted: 0, healed: at(300)) == nil)
        #expect(writes.failover(around: at(200), faulted: 0, healed: at(300)) == nil)
    }
}
