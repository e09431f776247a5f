import RaftTestKit
import SwiftRaft
import Testing

/// ``InmemStore`` keeps the stable-store rules; it keeps nothing across instances, so the reopen
/// checks are left out.
@Suite("StableStore conformance: InmemStore")
struct StableStoreConformanceTests {
    @Test(arguments: StableStoreConformance.checks(durable: false))
    func inmemStoreConforms(_ check: ConformanceCheck<StableStoreConformance.Subject>) async throws {
        try await check.run(StableStoreConformance.Subject(makeStore: { InmemStore() }))
    }
}
