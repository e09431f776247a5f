public import SwiftRaft

/// The rules every `SnapshotStore` must follow, as checks runnable against any implementation.
///
/// ```swift
/// @Test(arguments: SnapshotStoreConformance.checks)
/// func conforms(_ check: ConformanceCheck<SnapshotStoreConformance.Subject>) async throws {
///     let directory = try TemporaryDirectory()
///     try await check.run(SnapshotStoreConformance.Subject(
///         makeStore: { try MyStore(directory: directory.path) },
///         reopen: { _ in try MyStore(directory: directory.path) }))
/// }
/// ```
///
/// A store need not keep more than the newest snapshot (`InmemSnapshotStore` keeps one), so the
/// checks only require that what is listed is listed newest first and that the newest closed
/// snapshot is among it — first. Snapshots are closed in increasing (term, index) order, so "the
/// last closed" and "the newest" agree for every store.
public enum SnapshotStoreConformance {
    /// The implementation under test.
    public struct Subject: Sendable {
        /// Creates a fresh, empty store. Each check calls it once.
        public var makeStore: @Sendable () throws -> any SnapshotStore
        /// Opens the given store again on the same storage, or nil for a store that keeps nothing
        /// across instances, which then runs ``checks(durable:)`` with `false` (a durability check
        /// given no reopen fails).
        public var reopen: (@Sendable (any SnapshotStore) throws -> any SnapshotStore)?

        /// Describes the implementation under test.
        public init(
            makeStore: @escaping @Sendable () throws -> any SnapshotStore,
            reopen: (@Sendable (any SnapshotStore) throws -> any SnapshotStore)? = nil
        ) {
            self.makeStore = makeStore
            self.reopen = reopen
        }
    }

    /// Every check, one rule each.
    public static var checks: [ConformanceCheck<Subject>] {
        [
            newStoreListsNothing,
            closedSnapshotIsListedAndReadsBack,
            emptySnapshotRoundTrips,
            listIsNewestFirst,
            cancelledSnapshotIsNotListed,
            unclosedSnapshotIsNotListed,
            openOfUnknownIDThrows,
            idsAreDistinct,
            closingTwiceIsHarmless,
            writeAfterCloseThrows,
            cancelAfterCloseKeepsTheSnapshot,
            largeSnapshotStreamsBackIntact,
            snapshotSurvivesReopen,
        ]
    }

    /// The checks for a store of the given kind: `durable: false` leaves out those that reopen the
    /// store, for stores that keep nothing across a restart (in-memory ones).
    public static func checks(durable: Bool) -> [ConformanceCheck<Subject>] {
        durable ? checks : checks.filter { !$0.needsReopen }
    }

    private static let configuration = Configuration(servers: [
        Server(id: "n1", address: "127.0.0.1:7000"),
        Server(id: "n2", address: "127.0.0.1:7001"),
        Server(suffrage: .nonvoter, id: "n3", address: "127.0.0.1:7002"),
    ])

    /// The byte at `offset` of every test snapshot: depends on the offset's high bits too, so a
    /// chunk read back at the wrong place is caught.
    private static func patternByte(_ offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: offset &* 31 &+ (offset >> 8) &+ (offset >> 16) &* 7)
    }

    private static func pattern(_ range: Range<Int>) -> [UInt8] {
        range.map(patternByte)
    }

    /// Creates, fills in `chunk`-sized writes and closes a snapshot; returns its ID.
    @discardableResult
    private static func save(
        _ store: any SnapshotStore, size: Int, chunk: Int = 1000, index: UInt64, term: UInt64, configurationIndex: UInt64 = 3
    ) throws -> String {
        let sink = try store.create(
            version: 1, index: index, term: term, configuration: configuration, configurationIndex: configurationIndex)
        var offset = 0
        while offset < size {
            let end = min(size, offset + chunk)
            try sink.write(pattern(offset..<end))
            offset = end
        }
        try sink.close()
        return sink.id
    }

    /// Reads the snapshot through `source` in `chunk`-sized reads, comparing against the pattern
    /// as it goes, and closes the source; returns the number of bytes read.
    private static func readAndCompare(_ source: any SnapshotSource, chunk: Int, what: String) throws -> Int {
        defer { source.close() }
        var offset = 0
        while true {
            let bytes = try source.read(maxLength: chunk)
            if bytes.isEmpty { return offset }
            try conformanceRequire(bytes.count <= chunk, "\(what): read(maxLength: \(chunk)) returned \(bytes.count) bytes")
            for (position, byte) in bytes.enumerated() where byte != patternByte(offset + position) {
                throw ConformanceFailure("\(what): byte \(offset + position) is \(byte), expected \(patternByte(offset + position))")
            }
            offset += bytes.count
        }
    }

    private static func requireMeta(
        _ meta: SnapshotMeta, id: String, index: UInt64, term: UInt64, configurationIndex: UInt64, size: Int64, _ what: String
    ) throws {
        try conformanceRequireEqual(meta.version, 1, "\(what): version")
        try conformanceRequireEqual(meta.id, id, "\(what): ID")
        try conformanceRequireEqual(meta.index, index, "\(what): index")
        try conformanceRequireEqual(meta.term, term, "\(what): term")
        try conformanceRequireEqual(meta.configuration, configuration, "\(what): configuration")
        try conformanceRequireEqual(meta.configurationIndex, configurationIndex, "\(what): configuration index")
        try conformanceRequireEqual(meta.size, size, "\(what): size")
    }

    private static func isNewestFirst(_ metas: [SnapshotMeta]) -> Bool {
        zip(metas, metas.dropFirst()).allSatisfy { ($0.term, $0.index) >= ($1.term, $1.index) }
    }

    static let newStoreListsNothing = ConformanceCheck<Subject>("a new store lists no snapshots") { subject in
        try conformanceRequireEqual(try subject.makeStore().list(), [], "list of a new store")
    }

    static let closedSnapshotIsListedAndReadsBack = ConformanceCheck<Subject>(
        "a closed snapshot is listed with its metadata and opens to the bytes written"
    ) { subject in
        let store = try subject.makeStore()
        let id = try save(store, size: 10_000, chunk: 777, index: 42, term: 3, configurationIndex: 7)
        let listed = try store.list()
        try conformanceRequireEqual(listed.count, 1, "number of snapshots listed")
        try requireMeta(listed[0], id: id, index: 42, term: 3, configurationIndex: 7, size: 10_000, "listed snapshot")
        let (meta, source) = try store.open(id: id)
        try requireMeta(meta, id: id, index: 42, term: 3, configurationIndex: 7, size: 10_000, "opened snapshot")
        try conformanceRequireEqual(try readAndCompare(source, chunk: 4096, what: "opened snapshot"), 10_000, "bytes read back")
    }

    static let emptySnapshotRoundTrips = ConformanceCheck<Subject>("a snapshot closed without writes is listed with size 0 and reads back empty") { subject in
        let store = try subject.makeStore()
        let sink = try store.create(version: 1, index: 5, term: 1, configuration: configuration, configurationIndex: 2)
        try sink.close()
        let listed = try store.list()
        try conformanceRequireEqual(listed.map(\.id), [sink.id], "IDs listed")
        try conformanceRequireEqual(listed[0].size, 0, "size of the empty snapshot")
        let (_, source) = try store.open(id: sink.id)
        defer { source.close() }
        try conformanceRequireEqual(try source.read(maxLength: 100), [], "first read of an empty snapshot")
    }

    static let listIsNewestFirst = ConformanceCheck<Subject>("list is newest first, led by the newest snapshot") { subject in
        let store = try subject.makeStore()
        var ids: [String] = []
        for (term, index) in [(UInt64(1), UInt64(10)), (2, 5), (2, 20)] {
            ids.append(try save(store, size: 100, index: index, term: term))
        }
        let listed = try store.list()
        try conformanceRequire(!listed.isEmpty, "nothing listed after three snapshots were closed")
        try conformanceRequireEqual(listed[0].id, ids[2], "ID listed first (the newest is term 2, index 20)")
        try conformanceRequire(isNewestFirst(listed), "not newest first: \(listed.map { ($0.term, $0.index) })")
        try conformanceRequire(Set(listed.map(\.id)).isSubset(of: ids), "listed IDs \(listed.map(\.id)) include some never created")
        try conformanceRequireEqual(Set(listed.map(\.id)).count, listed.count, "distinct IDs listed")
    }

    static let cancelledSnapshotIsNotListed = ConformanceCheck<Subject>("a cancelled snapshot is never listed") { subject in
        let store = try subject.makeStore()
        let cancelled = try store.create(version: 1, index: 9, term: 1, configuration: configuration, configurationIndex: 1)
        try cancelled.write(pattern(0..<5000))
        try cancelled.cancel()
        try conformanceRequireEqual(try store.list(), [], "list after the only snapshot was cancelled")

        let kept = try save(store, size: 100, index: 10, term: 1)
        let newer = try store.create(version: 1, index: 20, term: 2, configuration: configuration, configurationIndex: 1)
        try newer.write(pattern(0..<100))
        try newer.cancel()
        try conformanceRequireEqual(try store.list().map(\.id), [kept], "IDs listed after a newer snapshot was cancelled")
        _ = try await conformanceRequireThrows("open of a cancelled snapshot") { _ = try store.open(id: newer.id) }
    }

    static let unclosedSnapshotIsNotListed = ConformanceCheck<Subject>("a snapshot is not listed until its sink is closed") { subject in
        let store = try subject.makeStore()
        let sink = try store.create(version: 1, index: 4, term: 1, configuration: configuration, configurationIndex: 1)
        try sink.write(pattern(0..<3000))
        try conformanceRequireEqual(try store.list(), [], "list while the only snapshot is being written")
        try sink.close()
        try conformanceRequireEqual(try store.list().map(\.id), [sink.id], "IDs listed once it is closed")
    }

    static let openOfUnknownIDThrows = ConformanceCheck<Subject>("opening an unknown ID throws") { subject in
        let store = try subject.makeStore()
        _ = try await conformanceRequireThrows("open of an ID in an empty store") { _ = try store.open(id: "1-1-1") }
        let id = try save(store, size: 10, index: 1, term: 1)
        _ = try await conformanceRequireThrows("open of an unknown ID") { _ = try store.open(id: id + "0") }
        _ = try await conformanceRequireThrows("open of an empty ID") { _ = try store.open(id: "") }
    }

    static let idsAreDistinct = ConformanceCheck<Subject>("every sink gets its own ID, even for the same term and index") { subject in
        let store = try subject.makeStore()
        let sinks = try (0..<5).map { _ in
            try store.create(version: 1, index: 10, term: 2, configuration: configuration, configurationIndex: 1)
        }
        try conformanceRequireEqual(Set(sinks.map(\.id)).count, 5, "distinct IDs among five sinks")
        for sink in sinks { try sink.cancel() }
    }

    static let closingTwiceIsHarmless = ConformanceCheck<Subject>("closing a sink twice keeps the snapshot") { subject in
        let store = try subject.makeStore()
        let sink = try store.create(version: 1, index: 3, term: 1, configuration: configuration, configurationIndex: 1)
        try sink.write(pattern(0..<100))
        try sink.close()
        try sink.close()
        try conformanceRequireEqual(try store.list().map(\.id), [sink.id], "IDs listed")
    }

    static let writeAfterCloseThrows = ConformanceCheck<Subject>("writing to a closed sink throws and changes nothing") { subject in
        let store = try subject.makeStore()
        let sink = try store.create(version: 1, index: 3, term: 1, configuration: configuration, configurationIndex: 1)
        try sink.write(pattern(0..<100))
        try sink.close()
        _ = try await conformanceRequireThrows("write after close") { try sink.write([1, 2, 3]) }
        let (meta, source) = try store.open(id: sink.id)
        try conformanceRequireEqual(meta.size, 100, "size after a write to the closed sink")
        try conformanceRequireEqual(try readAndCompare(source, chunk: 64, what: "snapshot"), 100, "bytes read back")
    }

    static let cancelAfterCloseKeepsTheSnapshot = ConformanceCheck<Subject>("cancelling a closed sink keeps the snapshot") { subject in
        let store = try subject.makeStore()
        let sink = try store.create(version: 1, index: 3, term: 1, configuration: configuration, configurationIndex: 1)
        try sink.write(pattern(0..<100))
        try sink.close()
        try sink.cancel()
        try conformanceRequireEqual(try store.list().map(\.id), [sink.id], "IDs listed after cancel following close")
        let (_, source) = try store.open(id: sink.id)
        try conformanceRequireEqual(try readAndCompare(source, chunk: 64, what: "snapshot"), 100, "bytes read back")
    }

    static let largeSnapshotStreamsBackIntact = ConformanceCheck<Subject>(
        "an 8 MiB snapshot written in 64 KiB chunks streams back intact"
    ) { subject in
        let store = try subject.makeStore()
        let size = 8 << 20
        let id = try save(store, size: size, chunk: 64 << 10, index: 100, term: 4)
        let (meta, source) = try store.open(id: id)
        try conformanceRequireEqual(meta.size, Int64(size), "size of the large snapshot")
        // An odd read size, so reads and the writer's chunks never line up.
        try conformanceRequireEqual(try readAndCompare(source, chunk: 100_003, what: "large snapshot"), size, "bytes read back")
    }

    static let snapshotSurvivesReopen = ConformanceCheck<Subject>("a closed snapshot survives a reopen, metadata and bytes", needsReopen: true) { subject in
        let reopen = try conformanceRequireReopen(subject.reopen)
        let store = try subject.makeStore()
        let id = try save(store, size: 50_000, chunk: 4096, index: 77, term: 6, configurationIndex: 70)
        let reopened = try reopen(store)
        let listed = try reopened.list()
        try conformanceRequireEqual(listed.map(\.id), [id], "IDs listed after reopen")
        try requireMeta(listed[0], id: id, index: 77, term: 6, configurationIndex: 70, size: 50_000, "snapshot after reopen")
        let (_, source) = try reopened.open(id: id)
        try conformanceRequireEqual(try readAndCompare(source, chunk: 8192, what: "snapshot after reopen"), 50_000, "bytes read back")
    }
}
