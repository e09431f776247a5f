import RaftKVHarness
import RaftTestKit
import Testing

/// What DurabilityCheck calls a lost write, on hand-made histories.
struct DurabilityCheckTests {
    private func put(_ client: Int, _ key: String, _ value: String, _ call: UInt64, _ returned: UInt64?, _ outcome: OperationOutcome) -> HistoryEntry {
        HistoryEntry(client: client, operation: .put(key: key, value: value), call: call, returned: returned, outcome: outcome)
    }

    // The value of the last acknowledged put of a key is what the key must end with.
    @Test func theLastAcknowledgedValueSurvives() {
        let history = [put(1, "k", "a", 1, 2, .ok), put(1, "k", "b", 3, 4, .ok)]
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "b"]).isEmpty)
    }

    // A final value that a later acknowledged put overwrote means that put was lost.
    @Test func anOverwrittenValueMeansTheLaterAcknowledgedPutWasLost() {
        let history = [put(1, "k", "a", 1, 2, .ok), put(2, "k", "b", 3, 4, .ok)]
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "a"]).count == 1)
    }

    // Concurrent acknowledged puts may end in either order.
    @Test func concurrentAcknowledgedPutsMayEndEitherWay() {
        let history = [put(1, "k", "a", 1, 4, .ok), put(2, "k", "b", 2, 3, .ok)]
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "a"]).isEmpty)
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "b"]).isEmpty)
    }

    // A put of unknown outcome may take effect at any later time, so its value may end a key.
    @Test func aValueOfUnknownOutcomeMayEndTheKey() {
        let history = [put(1, "k", "a", 1, 2, .unknown), put(2, "k", "b", 3, 4, .ok)]
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "a"]).isEmpty)
    }

    // A key absent after an acknowledged put, or holding a value nobody (or only a refused put)
    // wrote, is reported.
    @Test func anAbsentKeyOrAnUnwrittenValueIsReported() {
        let history = [put(1, "k", "a", 1, 2, .ok), put(1, "k", "x", 3, 4, .fail)]
        #expect(DurabilityCheck.lostWrites(in: history, final: [:]).count == 1)
        #expect(DurabilityCheck.lostWrites(in: history, final: ["k": "x"]).count == 1)
    }
}
