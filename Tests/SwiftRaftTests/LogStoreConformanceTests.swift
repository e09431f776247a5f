import RaftTestKit
import SwiftRaft
import Testing

/// The in-memory log stores keep the log-store rules (they keep nothing across a restart, so the
/// durability checks do not apply).
@Suite("LogStore conformance: in-memory stores")
struct LogStoreConformanceTests {
    @Test(arguments: LogStoreConformance.checks)
    func inmemStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
        try await check.run(LogStoreConformance.Subject(makeStore: { InmemStore() }))
    }

    @Test(arguments: LogStoreConformance.checks)
    func logCacheOverInmemStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
        // A capacity smaller than the checks' logs, so reads both hit and miss the cache.
        try await check.run(LogStoreConformance.Subject(makeStore: { try LogCache(capacity: 8, store: InmemStore()) }))
    }
}
