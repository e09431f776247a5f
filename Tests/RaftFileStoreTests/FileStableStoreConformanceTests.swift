import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// ``FileStableStore`` keeps the stable-store rules, including across a close and reopen of its
/// directory.
@Suite("StableStore conformance: FileStableStore")
struct FileStableStoreConformanceTests {
    @Test(arguments: StableStoreConformance.checks)
    func fileStableStoreConforms(_ check: ConformanceCheck<StableStoreConformance.Subject>) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("stable")
        try await check.run(StableStoreConformance.Subject(
            makeStore: { try FileStableStore(directory: path) },
            reopen: { old in
                // The directory lock allows one open store at a time.
                (old as? FileStableStore)?.close()
                return try FileStableStore(directory: path)
            }
        ))
    }

    /// The same rules with a compaction threshold so small that nearly every set compacts first,
    /// so the compaction path is held to them too.
    @Test(arguments: StableStoreConformance.checks)
    func fileStableStoreConformsWhileCompactingConstantly(_ check: ConformanceCheck<StableStoreConformance.Subject>) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("stable")
        let options = FileStableStore.Options(compactionThreshold: 64)
        try await check.run(StableStoreConformance.Subject(
            makeStore: { try FileStableStore(directory: path, options: options) },
            reopen: { old in
                (old as? FileStableStore)?.close()
                return try FileStableStore(directory: path, options: options)
            }
        ))
    }
}
