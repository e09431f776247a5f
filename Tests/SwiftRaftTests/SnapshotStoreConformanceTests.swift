import RaftTestKit
import SwiftRaft
import Testing

/// ``InmemSnapshotStore`` keeps the snapshot-store rules; it keeps nothing across instances, so
/// the reopen check is left out.
@Suite("SnapshotStore conformance: InmemSnapshotStore")
struct SnapshotStoreConformanceTests {
    @Test(arguments: SnapshotStoreConformance.checks(durable: false))
    func inmemSnapshotStoreConforms(_ check: ConformanceCheck<SnapshotStoreConformance.Subject>) async throws {
        try await check.run(SnapshotStoreConformance.Subject(makeStore: { InmemSnapshotStore() }))
    }
}
