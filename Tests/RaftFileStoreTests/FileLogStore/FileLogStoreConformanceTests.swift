import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// ``FileLogStore`` keeps the log-store rules, including across a close and reopen, with segments
/// small enough that the checks roll over several of them, with and without syncing.
@Suite("LogStore conformance: FileLogStore")
struct FileLogStoreConformanceTests {
    @Test(arguments: LogStoreConformance.checks, [true, false])
    func fileLogStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>, sync: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("log")
        let options = LogFixtures.options(segmentSize: 64 * 1024, sync: sync)
        try await check.run(LogStoreConformance.Subject(
            makeStore: { try FileLogStore(directory: path, options: options) },
            reopen: { old in
                // The directory lock allows one open store at a time.
                try (old as? FileLogStore)?.close()
                return try FileLogStore(directory: path, options: options)
            }
        ))
    }
}
