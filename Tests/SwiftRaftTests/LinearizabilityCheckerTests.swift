import RaftTestKit
import Testing

/// The test kit's linearizability checker on histories whose verdict is known: hand-made ones,
/// each the smallest case of one rule, and long random ones generated linearizable by
/// construction, with and without one planted anomaly.
@Suite struct LinearizabilityCheckerTests {
    static func entry(_ client: Int, _ operation: KeyValueOperation, _ call: UInt64, _ returned: UInt64?, _ outcome: OperationOutcome)
        -> HistoryEntry
    {
        HistoryEntry(client: client, operation: operation, call: call, returned: returned, outcome: outcome)
    }

    static func put(_ value: String, key: String = "x") -> KeyValueOperation { .put(key: key, value: value) }
    static func get(_ key: String = "x") -> KeyValueOperation { .get(key: key) }

    // Sequential operations, each seeing the one before it.
    @Test func aSequentialHistoryIsLinearizable() {
        let history = [
            Self.entry(1, Self.get(), 1, 2, .ok(value: nil)),
            Self.entry(1, Self.put("1"), 3, 4, .ok),
            Self.entry(2, Self.get(), 5, 6, .ok(value: "1")),
            Self.entry(2, .delete(key: "x"), 7, 8, .ok),
            Self.entry(1, Self.get(), 9, 10, .ok(value: nil)),
        ]
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    // A read concurrent with a write may see the value before it or after it.
    @Test func aReadConcurrentWithAWriteMaySeeEitherValue() {
        for seen in [nil, "1"] as [String?] {
            let history = [
                Self.entry(1, Self.put("1"), 1, 4, .ok),
                Self.entry(2, Self.get(), 2, 3, .ok(value: seen)),
            ]
            #expect(LinearizabilityChecker.check(history) == .linearizable)
        }
    }

    // A read that starts after a write returned must see it (or something later): a stale read is caught.
    @Test func aStaleReadAfterACompletedWriteIsNotLinearizable() {
        let history = [
            Self.entry(1, Self.put("1"), 1, 2, .ok),
            Self.entry(1, Self.put("2"), 3, 4, .ok),
            Self.entry(2, Self.get(), 5, 6, .ok(value: "1")),
        ]
        let result = LinearizabilityChecker.check(history)
        guard case .notLinearizable(let key, let explanation) = result else {
            Issue.record("expected a violation, got \(result)")
            return
        }
        #expect(key == "x")
        #expect(explanation.contains("get(x)"))
    }

    // Two readers that disagree on the order of two values: once one saw the new value, a later read cannot see the old one.
    @Test func aNewValueThenAnOldOneIsNotLinearizable() {
        let history = [
            Self.entry(1, Self.put("1"), 1, 10, .ok),
            Self.entry(2, Self.get(), 2, 3, .ok(value: "1")),
            Self.entry(3, Self.get(), 4, 5, .ok(value: nil)),
        ]
        #expect(!LinearizabilityChecker.check(history).isLinearizable)
    }

    // A write whose outcome is unknown may take effect late, or never.
    @Test func aWriteOfUnknownOutcomeMayTakeEffectLateOrNever() {
        let late = [
            Self.entry(1, Self.put("1"), 1, 2, .unknown),
            Self.entry(2, Self.get(), 3, 4, .ok(value: nil)),
            Self.entry(2, Self.get(), 5, 6, .ok(value: "1")),
        ]
        #expect(LinearizabilityChecker.check(late) == .linearizable)
        let never = [
            Self.entry(1, Self.put("1"), 1, nil, .unknown),
            Self.entry(2, Self.get(), 3, 4, .ok(value: nil)),
        ]
        #expect(LinearizabilityChecker.check(never) == .linearizable)
        // But not before it was called.
        let early = [
            Self.entry(2, Self.get(), 1, 2, .ok(value: "1")),
            Self.entry(1, Self.put("1"), 3, nil, .unknown),
        ]
        #expect(!LinearizabilityChecker.check(early).isLinearizable)
    }

    // A write that certainly failed must not be seen; a read that failed or whose outcome is unknown says nothing.
    @Test func failedWritesMustNotBeSeenAndUnansweredReadsSayNothing() {
        let seenFailed = [
            Self.entry(1, Self.put("1"), 1, 2, .fail),
            Self.entry(2, Self.get(), 3, 4, .ok(value: "1")),
        ]
        #expect(!LinearizabilityChecker.check(seenFailed).isLinearizable)
        let unanswered = [
            Self.entry(1, Self.put("1"), 1, 2, .ok),
            Self.entry(2, Self.get(), 3, 4, .unknown),
            Self.entry(2, Self.get(), 5, 6, .fail),
        ]
        #expect(LinearizabilityChecker.check(unanswered) == .linearizable)
    }

    // Keys are independent: a violation on one key is found among correct operations on others, and named.
    @Test func eachKeyIsCheckedOnItsOwn() {
        let history = [
            Self.entry(1, Self.put("1", key: "a"), 1, 2, .ok),
            Self.entry(2, Self.put("1", key: "b"), 1, 2, .ok),
            Self.entry(1, Self.get("a"), 3, 4, .ok(value: "1")),
            Self.entry(2, Self.get("b"), 3, 4, .ok(value: "never written")),
        ]
        guard case .notLinearizable(let key, _) = LinearizabilityChecker.check(history) else {
            Issue.record("expected a violation")
            return
        }
        #expect(key == "b")
    }

    // The recorder stamps calls and returns in real-time order across clients; an operation never completed is unknown.
    @Test func theRecorderStampsEventsInOrderAndLeavesUncompletedOperationsUnknown() {
        let recorder = HistoryRecorder()
        let write = recorder.invoke(client: 1, Self.put("1"))
        let read = recorder.invoke(client: 2, Self.get())
        recorder.complete(write, .ok)
        _ = recorder.invoke(client: 3, Self.put("2"))
        recorder.complete(read, .ok(value: "1"))
        let history = recorder.history
        #expect(history.map(\.call) == [1, 2, 4])
        #expect(history.map(\.returned) == [3, 5, nil])
        #expect(history[2].outcome == .unknown)
        #expect(LinearizabilityChecker.check(history) == .linearizable)
    }

    /// A history of `clients` clients on `keys` keys of a correct, atomic store: each operation
    /// takes effect at one random instant between its call and its return. Some writes end
    /// unknown: a few of them took effect, a few never did.
    static func generatedHistory(seed: UInt64, clients: Int, operations: Int, keys: Int) -> [HistoryEntry] {
        var random = Xorshift(seed: seed)
        var store: [String: String] = [:]
        var history: [HistoryEntry] = []
        enum Phase { case idle, called(Int), applied(Int) }
        var phases = Array(repeating: Phase.idle, count: clients)
        var time: UInt64 = 0
        var started = 0
        while started < operations || phases.contains(where: { if case .idle = $0 { false } else { true } }) {
            time += 1
            let client = Int(random.next() % UInt64(clients))
            switch phases[client] {
            case .idle:
                guard started < operations else { continue }
                started += 1
                let key = "k\(random.next() % UInt64(keys))"
                let operation: KeyValueOperation
                switch random.next() % 5 {
                case 0, 1: operation = .get(key: key)
                case 2, 3: operation = .put(key: key, value: "v\(started)")
                default: operation = .delete(key: key)
                }
                history.append(entry(client, operation, time, nil, .unknown))
                phases[client] = .called(history.count - 1)
            case .called(let position):
                let unknownAndLost = history[position].operation.isWrite && random.next() % 100 == 0
                if !unknownAndLost {
                    switch history[position].operation {
                    case .put(let key, let value): store[key] = value
                    case .delete(let key): store[key] = nil
                    case .get(let key): history[position].outcome = .ok(value: store[key])
                    }
                    if history[position].operation.isWrite { history[position].outcome = .ok }
                }
                phases[client] = .applied(position)
            case .applied(let position):
                history[position].returned = time
                if history[position].operation.isWrite && random.next() % 50 == 0 { history[position].outcome = .unknown }
                if case .unknown = history[position].outcome, !history[position].operation.isWrite { history[position].outcome = .fail }
                phases[client] = .idle
            }
        }
        return history
    }

    /// Plants a stale read: the last read that comes after two completed, non-overlapping writes
    /// of its key is made to return the older write's value, which no order allows.
    static func plantStaleRead(in history: inout [HistoryEntry]) -> Bool {
        let writes = history.filter { if case .put = $0.operation, $0.outcome == .ok { true } else { false } }
        for position in history.indices.reversed() {
            let read = history[position]
            guard case .get(let key) = read.operation, case .ok = read.outcome else { continue }
            let before = writes.filter { $0.operation.key == key && $0.returned! < read.call }
            for newer in before.reversed() {
                guard let older = before.last(where: { $0.returned! < newer.call }), case .put(_, let stale) = older.operation else { continue }
                history[position].outcome = .ok(value: stale)
                return true
            }
        }
        return false
    }

    // Long histories of a correct store check linearizable; the same with one read made stale do not.
    @Test(arguments: [(1, 1000, 5), (2, 1000, 5), (3, 3000, 20)] as [(UInt64, Int, Int)])
    func generatedHistoriesOfACorrectStoreAreLinearizableAndAPlantedStaleReadIsFound(seed: UInt64, operations: Int, keys: Int) throws {
        var history = Self.generatedHistory(seed: seed, clients: 8, operations: operations, keys: keys)
        #expect(LinearizabilityChecker.check(history) == .linearizable)
        try #require(Self.plantStaleRead(in: &history))
        #expect(!LinearizabilityChecker.check(history).isLinearizable)
    }

    // A read of a value no write wrote is reported at once, without a search.
    @Test func aReadOfAValueNeverWrittenIsReportedWithoutASearch() {
        var history = Self.generatedHistory(seed: 4, clients: 8, operations: 3000, keys: 2)
        let read = history.lastIndex { if case .ok(_) = $0.outcome, case .get = $0.operation { true } else { false } }
        history[read!].outcome = .ok(value: "never written")
        let result = LinearizabilityChecker.check(history, maxSteps: 1)
        guard case .notLinearizable(_, let explanation) = result else {
            Issue.record("expected a violation, got \(result)")
            return
        }
        #expect(explanation.contains("no write of it"))
    }

    // A search too large for its budget says so rather than guessing.
    @Test func aSearchOverItsBudgetIsUndecided() {
        let history = Self.generatedHistory(seed: 9, clients: 8, operations: 400, keys: 1)
        #expect(LinearizabilityChecker.check(history, maxSteps: 10) == .undecided(key: "k0"))
    }
}

/// A small deterministic generator for the generated histories.
struct Xorshift {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
