import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// A power cut before any call of a workload loses no acknowledged entry: every `storeLogs`,
/// segment roll, head compaction and tail truncation is durable once it returns.
@Suite("FileLogStore power loss")
struct FileLogStorePowerLossTests {
    private static let directory = "/raft/log"

    /// One step of the workload.
    private enum Step {
        case store(ClosedRange<UInt64>, term: UInt64)
        case deleteHead(newFirst: UInt64)
        case deleteTail(from: UInt64)
    }

    /// Batches that roll segments (4 KiB each holds about 30 entries), a head compaction that
    /// drops the first segment and one that drops none (so only the `first-index` file's rename
    /// records it), a tail truncation across a segment boundary, and entries of a
    /// new term written where the truncated ones were.
    private static let workload: [Step] = [
        .store(1...10, term: 1),
        .store(11...25, term: 1),
        .store(26...45, term: 1),
        .store(46...70, term: 1),
        .deleteHead(newFirst: 35),
        .deleteHead(newFirst: 37),
        .deleteTail(from: 58),
        .store(58...64, term: 2),
    ]

    /// The log as far as acknowledged, and the step under way when the power went.
    private struct Progress {
        var first: UInt64 = 0
        var last: UInt64 = 0
        /// The latest entry handed to the store at each index.
        var written: [UInt64: Log] = [:]
        var pending: Step?
    }

    private static func options(_ files: PowerLossFileSystem) -> FileLogStore.Options {
        LogFixtures.options(segmentSize: 4096, sync: true, fileSystem: files)
    }

    /// Opens the store and runs the workload until a call fails, recording what was acknowledged.
    private static func run(on files: PowerLossFileSystem) -> Progress {
        var progress = Progress()
        guard let store = try? FileLogStore(directory: directory, options: options(files)) else { return progress }
        defer { try? store.close() }
        for step in workload {
            progress.pending = step
            do {
                switch step {
                case .store(let range, let term):
                    let logs = LogFixtures.entries(range, term: term)
                    for log in logs { progress.written[log.index] = log }
                    try store.storeLogs(logs)
                    if progress.first == 0 { progress.first = range.lowerBound }
                    progress.last = range.upperBound
                case .deleteHead(let newFirst):
                    try store.deleteRange(min: progress.first, max: newFirst - 1)
                    progress.first = newFirst
                case .deleteTail(let from):
                    try store.deleteRange(min: from, max: progress.last)
                    progress.last = from - 1
                }
            } catch {
                return progress
            }
            progress.pending = nil
        }
        return progress
    }

    /// Reopens the store on what the cut left and checks it against `progress`.
    private static func verify(_ files: PowerLossFileSystem, _ progress: Progress, _ label: String) {
        let store: FileLogStore
        do {
            store = try FileLogStore(directory: directory, options: options(files))
        } catch {
            Issue.record("the store does not reopen after \(label): \(error)")
            return
        }
        defer { try? store.close() }
        do {
            let first = try store.firstIndex()
            let last = try store.lastIndex()
            // What the step under way may have done, all or in part; nothing else may differ.
            var firsts: Set<UInt64> = [progress.first]
            var lasts: ClosedRange<UInt64> = progress.last...progress.last
            switch progress.pending {
            case .store(let range, _)?:
                if progress.first == 0 { firsts.insert(range.lowerBound) }
                lasts = progress.last...range.upperBound
            case .deleteHead(let newFirst)?:
                firsts.insert(newFirst)
            case .deleteTail(let from)?:
                lasts = (from - 1)...progress.last
            case nil:
                break
            }
            guard firsts.contains(first), lasts.contains(last) else {
                Issue.record("after \(label) the log is \(first)...\(last); acknowledged \(progress.first)...\(progress.last), pending \(String(describing: progress.pending))")
                return
            }
            if first == 0 || last == 0 {
                #expect(first == 0 && last == 0 && progress.last == 0, "\(label): only a log never acknowledged may be empty")
                return
            }
            for index in first...last {
                let log = try store.getLog(index: index)
                #expect(log == progress.written[index], "\(label): entry \(index)")
            }
            // The reopened store takes the next batch.
            try store.storeLogs([LogFixtures.entry(last + 1, term: 9)])
        } catch {
            Issue.record("after \(label): \(error)")
        }
    }

    @Test func everyAcknowledgedEntrySurvivesAStrictCutBeforeAnyCall() throws {
        let (uncut, probe) = PowerLossFileSystem.cutBeforeEveryCall(of: Self.run, check: Self.verify)
        #expect(uncut.pending == nil && uncut.last == 64, "the workload completes without a cut")
        #expect(probe.callCount > 50)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyAcknowledgedEntrySurvivesASeededCutBeforeAnyCall(seed: UInt64) throws {
        PowerLossFileSystem.cutBeforeEveryCall(
            modes: { position in [.seeded(seed &* 1_000 &+ UInt64(position))] },
            of: Self.run,
            check: Self.verify
        )
    }

    /// A batch cut off before its sync leaves, under a seeded cut, any mix of its pages (a torn
    /// or holed tail); recovery drops what it cannot use and keeps every acknowledged entry.
    @Test func anUnsyncedBatchLeavesAnyMixOfPagesAndRecoveryKeepsTheAcknowledgedEntries() throws {
        for seed in 0..<20 as Range<UInt64> {
            let files = PowerLossFileSystem()
            let store = try FileLogStore(directory: Self.directory, options: LogFixtures.options(segmentSize: 1 << 16, sync: true, fileSystem: files))
            try store.storeLogs(LogFixtures.entries(1...20))
            // The batch is written; the power goes instead of its sync.
            files.cutPower(beforeCall: files.callCount + 1, mode: .seeded(seed))
            #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(21...25, size: 1500)) }
            try? store.close()
            files.restart()

            let reopened = try FileLogStore(directory: Self.directory, options: LogFixtures.options(segmentSize: 1 << 16, sync: true, fileSystem: files))
            #expect(try reopened.firstIndex() == 1)
            let last = try reopened.lastIndex()
            #expect((20...25).contains(last), "seed \(seed)")
            // A stride, not 1...last: a log that lost everything (last 0) must fail the checks above,
            // not crash the test process.
            for index in stride(from: 1, through: last, by: 1) {
                let expected = index <= 20 ? LogFixtures.entry(index) : LogFixtures.entry(index, size: 1500)
                #expect(try reopened.getLog(index: index) == expected, "seed \(seed)")
            }
            try reopened.close()
        }
    }
}
