import RaftTestKit
import SwiftRaft
import Testing

/// The in-memory log stores keep the log-store rules (they keep nothing across a restart, so the
/// durability checks are left out).
@Suite("LogStore conformance: in-memory stores")
struct LogStoreConformanceTests {
    @Test(arguments: LogStoreConformance.checks(durable: false))
    func inmemStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
        try await check.run(LogStoreConformance.Subject(makeStore: { InmemStore() }))
    }

    @Test(arguments: LogStoreConformance.checks(durable: false))
    func logCacheOverInmemStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
        // A capacity smaller than the checks' logs, so reads both hit and miss the cache.
        try await check.run(LogStoreConformance.Subject(makeStore: { try LogCache(capacity: 8, store: InmemStore()) }))
    }
}

/// A durability check run on a subject that cannot reopen its store fails, saying why, instead of
/// passing without having run.
@Suite("Conformance suites: durability checks need a reopen")
struct ConformanceReopenTests {
    @Test func aDurabilityCheckWithoutReopenFailsInsteadOfPassing() async throws {
        let durabilityChecks = LogStoreConformance.checks.filter(\.needsReopen)
        #expect(!durabilityChecks.isEmpty)
        #expect(LogStoreConformance.checks(durable: false).allSatisfy { !$0.needsReopen })
        for check in durabilityChecks {
            let failure = await #expect(throws: ConformanceFailure.self) {
                try await check.run(LogStoreConformance.Subject(makeStore: { InmemStore() }))
            }
            #expect(failure?.message.contains("checks(durable: false)") == true)
        }
        #expect(!StableStoreConformance.checks.filter(\.needsReopen).isEmpty)
        #expect(!SnapshotStoreConformance.checks.filter(\.needsReopen).isEmpty)
    }
}
