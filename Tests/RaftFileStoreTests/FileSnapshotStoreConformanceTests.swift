import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// ``FileSnapshotStore`` keeps the snapshot-store rules, including across a reopen of its
/// directory.
@Suite("SnapshotStore conformance: FileSnapshotStore")
struct FileSnapshotStoreConformanceTests {
    @Test(arguments: SnapshotStoreConformance.checks)
    func fileSnapshotStoreConforms(_ check: ConformanceCheck<SnapshotStoreConformance.Subject>) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("raft")
        try await check.run(SnapshotStoreConformance.Subject(
            makeStore: { try FileSnapshotStore(directory: path, retain: 3) },
            reopen: { _ in try FileSnapshotStore(directory: path, retain: 3) }
        ))
    }
}
