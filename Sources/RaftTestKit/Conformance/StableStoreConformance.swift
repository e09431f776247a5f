public import SwiftRaft

/// The rules every `StableStore` must follow, as checks runnable against any implementation.
///
/// ```swift
/// @Test(arguments: StableStoreConformance.checks)
/// func conforms(_ check: ConformanceCheck<StableStoreConformance.Subject>) async throws {
///     let directory = try TemporaryDirectory()
///     try await check.run(StableStoreConformance.Subject(
///         makeStore: { try MyStore(directory: directory.path) },
///         reopen: { old in (old as! MyStore).close(); return try MyStore(directory: directory.path) }))
/// }
/// ```
///
/// The rules are those Raft relies on: a key never set reads as nil rather than failing, values
/// round-trip exactly (empty and binary ones included), the last write wins, and — for stores
/// that can be reopened — every value survives a reopen. Whether `StableStore.set(_:_:)` and
/// `StableStore.setUInt64(_:_:)` share a key space is left to the implementation (the
/// in-memory and file stores keep them apart, raft-boltdb does not), so no check mixes the two
/// under one key.
public enum StableStoreConformance {
    /// The implementation under test.
    public struct Subject: Sendable {
        /// Creates a fresh, empty store. Each check calls it once.
        public var makeStore: @Sendable () throws -> any StableStore
        /// Closes the given store and opens it again on the same storage, or nil for a store
        /// that keeps nothing across instances, which then runs ``checks(durable:)`` with `false` (a durability check
        /// given no reopen fails).
        public var reopen: (@Sendable (any StableStore) throws -> any StableStore)?

        /// Describes the implementation under test.
        public init(
            makeStore: @escaping @Sendable () throws -> any StableStore,
            reopen: (@Sendable (any StableStore) throws -> any StableStore)? = nil
        ) {
            self.makeStore = makeStore
            self.reopen = reopen
        }
    }

    /// Every check, one rule each.
    public static var checks: [ConformanceCheck<Subject>] {
        [
            missingKeysReadAsNil,
            valuesRoundTrip,
            emptyValueIsNotMissing,
            laterSetOverwrites,
            manyKeysAreIndependent,
            raftKeysRoundTrip,
            integerExtremesRoundTrip,
            largeValueRoundTrips,
            setManyStoresEveryValue,
            valuesSurviveReopen,
            valuesSetTogetherSurviveReopen,
            lastWriteWinsAfterReopen,
            writesAfterReopenSurviveTheNextReopen,
        ]
    }

    /// The checks for a store of the given kind: `durable: false` leaves out those that reopen the
    /// store, for stores that keep nothing across a restart (in-memory ones).
    public static func checks(durable: Bool) -> [ConformanceCheck<Subject>] {
        durable ? checks : checks.filter { !$0.needsReopen }
    }

    private static let binaryKeys: [[UInt8]] = [
        [0x00], [0xff], [0x00, 0x00], [0x80, 0x0a, 0x0d, 0x00, 0xfe], Array("CurrentTerm".utf8) + [0],
    ]

    private static let integerExtremes: [UInt64] = [0, 1, 0xff, 0x0102_0304_0506_0708, 1 << 63, UInt64.max - 1, UInt64.max]

    static let missingKeysReadAsNil = ConformanceCheck<Subject>("a key never set reads as nil, as bytes and as an integer") { subject in
        let store = try subject.makeStore()
        for key in [Array("absent".utf8), StableStoreKeys.currentTerm, StableStoreKeys.lastVoteCandidate] + binaryKeys {
            try conformanceRequireEqual(try store.get(key), nil, "get of never-set key \(key)")
            try conformanceRequireEqual(try store.getUInt64(key), nil, "getUInt64 of never-set key \(key)")
        }
    }

    static let valuesRoundTrip = ConformanceCheck<Subject>("set then get returns the exact bytes, for binary keys and values") { subject in
        let store = try subject.makeStore()
        for (position, key) in binaryKeys.enumerated() {
            let value = (0..<(position * 37 + 1)).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ position) }
            try store.set(key, value)
            try conformanceRequireEqual(try store.get(key), value, "value under key \(key)")
        }
        for (position, key) in binaryKeys.enumerated() {
            let value = (0..<(position * 37 + 1)).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ position) }
            try conformanceRequireEqual(try store.get(key), value, "value under key \(key) after the other keys were set")
        }
    }

    static let emptyValueIsNotMissing = ConformanceCheck<Subject>("an empty value reads back empty, not nil") { subject in
        let store = try subject.makeStore()
        try store.set(Array("empty".utf8), [])
        try conformanceRequireEqual(try store.get(Array("empty".utf8)), [], "value set to empty")
        try store.set(Array("emptied".utf8), [1, 2, 3])
        try store.set(Array("emptied".utf8), [])
        try conformanceRequireEqual(try store.get(Array("emptied".utf8)), [], "value overwritten with empty")
    }

    static let laterSetOverwrites = ConformanceCheck<Subject>("a later set replaces the value, bytes and integers alike") { subject in
        let store = try subject.makeStore()
        let key = Array("key".utf8)
        try store.set(key, [1])
        try store.set(key, [2, 2])
        try store.set(key, [3])
        try conformanceRequireEqual(try store.get(key), [3], "value after three sets")
        try store.setUInt64(Array("number".utf8), 5)
        try store.setUInt64(Array("number".utf8), 4)
        try conformanceRequireEqual(try store.getUInt64(Array("number".utf8)), 4, "integer after two sets")
    }

    static let manyKeysAreIndependent = ConformanceCheck<Subject>("a thousand keys each keep their own value") { subject in
        let store = try subject.makeStore()
        for index in 0..<1000 {
            try store.set(Array("key-\(index)".utf8), Array("value-\(index)".utf8))
            try store.setUInt64(Array("number-\(index)".utf8), UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        }
        for index in 0..<1000 {
            try conformanceRequireEqual(try store.get(Array("key-\(index)".utf8)), Array("value-\(index)".utf8), "key-\(index)")
            try conformanceRequireEqual(
                try store.getUInt64(Array("number-\(index)".utf8)), UInt64(index) &* 0x9E37_79B9_7F4A_7C15, "number-\(index)")
        }
    }

    static let raftKeysRoundTrip = ConformanceCheck<Subject>("Raft's term and vote keys round-trip") { subject in
        let store = try subject.makeStore()
        try store.setUInt64(StableStoreKeys.currentTerm, 7)
        try store.setUInt64(StableStoreKeys.lastVoteTerm, 6)
        try store.set(StableStoreKeys.lastVoteCandidate, Array("127.0.0.1:7000".utf8))
        try conformanceRequireEqual(try store.getUInt64(StableStoreKeys.currentTerm), 7, "CurrentTerm")
        try conformanceRequireEqual(try store.getUInt64(StableStoreKeys.lastVoteTerm), 6, "LastVoteTerm")
        try conformanceRequireEqual(try store.get(StableStoreKeys.lastVoteCandidate), Array("127.0.0.1:7000".utf8), "LastVoteCand")
    }

    static let integerExtremesRoundTrip = ConformanceCheck<Subject>("integers round-trip across the whole UInt64 range") { subject in
        let store = try subject.makeStore()
        for (position, value) in integerExtremes.enumerated() {
            try store.setUInt64(Array("n\(position)".utf8), value)
        }
        for (position, value) in integerExtremes.enumerated() {
            try conformanceRequireEqual(try store.getUInt64(Array("n\(position)".utf8)), value, "integer \(value)")
        }
    }

    static let largeValueRoundTrips = ConformanceCheck<Subject>("a 1 MiB value round-trips") { subject in
        let store = try subject.makeStore()
        let value = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 9)) }
        try store.set(Array("large".utf8), value)
        try conformanceRequire(try store.get(Array("large".utf8)) == value, "the 1 MiB value read back differs")
    }

    static let setManyStoresEveryValue = ConformanceCheck<Subject>(
        "setMany stores every value, bytes and integers each readable as set, the later of two for one key"
    ) { subject in
        let store = try subject.makeStore()
        try store.setUInt64(StableStoreKeys.currentTerm, 1)
        try store.setMany([
            (StableStoreKeys.currentTerm, .uint64(7)),
            (StableStoreKeys.lastVoteCandidate, .bytes(Array("n3".utf8))),
            (StableStoreKeys.lastVoteTerm, .uint64(7)),
            (Array("twice".utf8), .bytes([1])),
            (Array("twice".utf8), .bytes([2])),
        ])
        try conformanceRequireEqual(try store.getUInt64(StableStoreKeys.currentTerm), 7, "CurrentTerm set with setMany")
        try conformanceRequireEqual(try store.get(StableStoreKeys.lastVoteCandidate), Array("n3".utf8), "LastVoteCand set with setMany")
        try conformanceRequireEqual(try store.getUInt64(StableStoreKeys.lastVoteTerm), 7, "LastVoteTerm set with setMany")
        try conformanceRequireEqual(try store.get(Array("twice".utf8)), [2], "a key set twice in one setMany")
        try store.setMany([])
        try conformanceRequireEqual(try store.getUInt64(StableStoreKeys.currentTerm), 7, "CurrentTerm after an empty setMany")
    }

    static let valuesSetTogetherSurviveReopen = ConformanceCheck<Subject>("values stored with setMany survive a reopen", needsReopen: true) {
        subject in
        let reopen = try conformanceRequireReopen(subject.reopen)
        let store = try subject.makeStore()
        try store.setMany([
            (StableStoreKeys.currentTerm, .uint64(12)),
            (StableStoreKeys.lastVoteCandidate, .bytes(Array("n1".utf8))),
            (StableStoreKeys.lastVoteTerm, .uint64(11)),
        ])
        let reopened = try reopen(store)
        try conformanceRequireEqual(try reopened.getUInt64(StableStoreKeys.currentTerm), 12, "CurrentTerm after reopen")
        try conformanceRequireEqual(try reopened.get(StableStoreKeys.lastVoteCandidate), Array("n1".utf8), "LastVoteCand after reopen")
        try conformanceRequireEqual(try reopened.getUInt64(StableStoreKeys.lastVoteTerm), 11, "LastVoteTerm after reopen")
    }

    static let valuesSurviveReopen = ConformanceCheck<Subject>("every value survives a reopen", needsReopen: true) { subject in
        let reopen = try conformanceRequireReopen(subject.reopen)
        let store = try subject.makeStore()
        try store.setUInt64(StableStoreKeys.currentTerm, 9)
        try store.setUInt64(StableStoreKeys.lastVoteTerm, 8)
        try store.set(StableStoreKeys.lastVoteCandidate, Array("n2".utf8))
        try store.set(Array("empty".utf8), [])
        for (position, key) in binaryKeys.enumerated() {
            try store.set(key, [UInt8(position), 0, 0xff])
        }
        for (position, value) in integerExtremes.enumerated() {
            try store.setUInt64(Array("n\(position)".utf8), value)
        }

        let reopened = try reopen(store)
        try conformanceRequireEqual(try reopened.getUInt64(StableStoreKeys.currentTerm), 9, "CurrentTerm after reopen")
        try conformanceRequireEqual(try reopened.getUInt64(StableStoreKeys.lastVoteTerm), 8, "LastVoteTerm after reopen")
        try conformanceRequireEqual(try reopened.get(StableStoreKeys.lastVoteCandidate), Array("n2".utf8), "LastVoteCand after reopen")
        try conformanceRequireEqual(try reopened.get(Array("empty".utf8)), [], "empty value after reopen")
        try conformanceRequireEqual(try reopened.get(Array("never".utf8)), nil, "never-set key after reopen")
        for (position, key) in binaryKeys.enumerated() {
            try conformanceRequireEqual(try reopened.get(key), [UInt8(position), 0, 0xff], "key \(key) after reopen")
        }
        for (position, value) in integerExtremes.enumerated() {
            try conformanceRequireEqual(try reopened.getUInt64(Array("n\(position)".utf8)), value, "integer \(value) after reopen")
        }
    }

    static let lastWriteWinsAfterReopen = ConformanceCheck<Subject>("after a reopen, each key holds the last value set", needsReopen: true) { subject in
        let reopen = try conformanceRequireReopen(subject.reopen)
        let store = try subject.makeStore()
        for term in 1...50 {
            try store.setUInt64(StableStoreKeys.currentTerm, UInt64(term))
            try store.set(StableStoreKeys.lastVoteCandidate, Array("n\(term % 3)".utf8))
        }
        try store.set(Array("shrinking".utf8), Array(repeating: 1, count: 100))
        try store.set(Array("shrinking".utf8), [2])
        let reopened = try reopen(store)
        try conformanceRequireEqual(try reopened.getUInt64(StableStoreKeys.currentTerm), 50, "CurrentTerm after reopen")
        try conformanceRequireEqual(try reopened.get(StableStoreKeys.lastVoteCandidate), Array("n2".utf8), "LastVoteCand after reopen")
        try conformanceRequireEqual(try reopened.get(Array("shrinking".utf8)), [2], "overwritten value after reopen")
    }

    static let writesAfterReopenSurviveTheNextReopen = ConformanceCheck<Subject>("writes made after a reopen survive the next reopen", needsReopen: true) { subject in
        let reopen = try conformanceRequireReopen(subject.reopen)
        let first = try subject.makeStore()
        try first.setUInt64(StableStoreKeys.currentTerm, 1)
        let second = try reopen(first)
        try second.setUInt64(StableStoreKeys.currentTerm, 2)
        try second.set(Array("added".utf8), [7])
        let third = try reopen(second)
        try conformanceRequireEqual(try third.getUInt64(StableStoreKeys.currentTerm), 2, "CurrentTerm after two reopens")
        try conformanceRequireEqual(try third.get(Array("added".utf8)), [7], "key added between reopens")
    }
}
