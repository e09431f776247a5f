#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// ``FileLogStore`` under failing and crashing file systems: a failed or interrupted write never
/// costs an acknowledged entry, and the store never goes on as if the disk held what it does not.
@Suite("FileLogStore faults")
struct FileLogStoreFaultTests {
    @Sendable private static func isSegment(_ path: String) -> Bool { path.hasSuffix(".wal") }

    /// A store on `files` that syncs (the calls are made, so they can fail), in `directory`.
    private static func store(in directory: TemporaryDirectory, files: FaultInjectingFileSystem, segmentSize: Int = 4096) throws -> FileLogStore {
        try FileLogStore(
            directory: directory.path,
            options: LogFixtures.options(segmentSize: segmentSize, sync: true, fileSystem: files)
        )
    }

    /// The store in `directory` reopened on the real file system, as after a restart.
    private static func reopen(_ directory: TemporaryDirectory, logger: LogCollector? = nil) throws -> FileLogStore {
        var options = LogFixtures.options()
        if let logger { options.logger = logger.logger }
        return try FileLogStore(directory: directory.path, options: options)
    }

    // MARK: A full disk

    @Test func aFullDiskDuringAWriteFailsTheBatchAndKeepsEveryAcknowledgedEntry() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files, segmentSize: 1 << 20)
        try store.storeLogs(LogFixtures.entries(1...10))
        files.fail(.write, errno: ENOSPC, path: Self.isSegment)

        let error = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(11...20)) }

        #expect(error?.code == .noSpace)
        #expect(try store.lastIndex() == 10)
        #expect(throws: RaftError.self) { try store.getLog(index: 11) }
        // The failed batch was undone, so the store carries on.
        try store.storeLogs(LogFixtures.entries(11...12, term: 2))
        try store.close()
        let reopened = try Self.reopen(directory)
        #expect(try reopened.getLogs(from: 1, through: 100) == LogFixtures.entries(1...10) + LogFixtures.entries(11...12, term: 2))
    }

    @Test func aFullDiskWhilePreallocatingANewSegmentFailsTheRollAndKeepsEveryAcknowledgedEntry() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files)
        try store.storeLogs(LogFixtures.entries(1...20))
        files.fail(.preallocate, errno: ENOSPC)

        // The batch fills the first segment, then needs a second.
        let error = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(21...40)) }

        #expect(error?.code == .noSpace)
        #expect(try store.lastIndex() == 20)
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == [1])
        try store.close()
        var reopened = try Self.reopen(directory)
        #expect(try reopened.lastIndex() == 20)
        #expect(try reopened.getLogs(from: 1, through: 20) == LogFixtures.entries(1...20))

        // With space again, the same batch goes through.
        try reopened.storeLogs(LogFixtures.entries(21...40))
        try reopened.close()
        reopened = try Self.reopen(directory)
        #expect(try reopened.getLogs(from: 1, through: 40) == LogFixtures.entries(1...40))
    }

    @Test func aStoreThatUndidAFailedRollKeepsWorkingWithoutAReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files)
        try store.storeLogs(LogFixtures.entries(1...20))
        files.fail(.preallocate, errno: ENOSPC)
        #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(21...40)) }

        try store.storeLogs(LogFixtures.entries(21...40, term: 2))

        #expect(try store.getLogs(from: 1, through: 40) == LogFixtures.entries(1...20) + LogFixtures.entries(21...40, term: 2))
        try store.close()
        #expect(try Self.reopen(directory).getLogs(from: 1, through: 40)
            == LogFixtures.entries(1...20) + LogFixtures.entries(21...40, term: 2))
    }

    // MARK: A refused permission

    @Test func aRefusedPermissionOnTheLockFileFailsTheOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem()
        files.fail(.open, errno: EACCES, path: { $0.hasSuffix("/LOCK") })

        let error = #expect(throws: FileStoreError.self) { _ = try Self.store(in: directory, files: files) }

        #expect(error?.code == .permissionDenied)
        #expect(error?.path == directory.appending("LOCK"))
    }

    @Test func aRefusedPermissionOnASegmentFailsTheOpenAndReleasesTheLock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Self.store(in: directory, files: FaultInjectingFileSystem()).storeLogs(LogFixtures.entries(1...10))
        let files = FaultInjectingFileSystem()
        files.fail(.open, errno: EACCES, path: Self.isSegment)

        let error = #expect(throws: FileStoreError.self) { _ = try Self.store(in: directory, files: files) }

        #expect(error?.code == .permissionDenied)
        #expect(error?.path.map(Self.isSegment) == true)
        #expect(try Self.reopen(directory).lastIndex() == 10)
    }

    @Test func aRefusedPermissionWhenCreatingASegmentFailsTheBatchOnly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files)
        try store.storeLogs(LogFixtures.entries(1...20))
        files.fail(.open, errno: EACCES, path: Self.isSegment)

        let error = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(21...40)) }

        #expect(error?.code == .permissionDenied)
        try store.storeLogs(LogFixtures.entries(21...40))
        #expect(try store.getLogs(from: 1, through: 40) == LogFixtures.entries(1...40))
    }

    // MARK: A failed sync

    @Test func aFailedSyncLeavesTheStoreRefusingWritesUntilReopened() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files, segmentSize: 1 << 20)
        try store.storeLogs(LogFixtures.entries(1...10))
        files.fail(.syncData, errno: EIO)

        let error = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(11...20)) }
        #expect(error?.code == .io)

        // Writes are refused; what was acknowledged can still be read.
        let refused = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(11...20)) }
        #expect(refused?.code == .closed)
        let refusedDelete = #expect(throws: FileStoreError.self) { try store.deleteRange(min: 1, max: 2) }
        #expect(refusedDelete?.code == .closed)
        #expect(try store.getLogs(from: 1, through: 10) == LogFixtures.entries(1...10))
        #expect(throws: RaftError.self) { try store.getLog(index: 11) }

        try store.close()
        let reopened = try Self.reopen(directory)
        #expect(try reopened.getLogs(from: 1, through: 10) == LogFixtures.entries(1...10))
        try reopened.storeLogs(LogFixtures.entries(11...11, term: 2))
    }

    @Test func aFailedUnlinkDuringCompactionIsFinishedByTheNextOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files)
        try store.storeLogs(LogFixtures.entries(1...100))
        let firsts = try LogFixtures.segmentFirstIndexes(in: directory.path)
        let newFirst = firsts[2] + 1
        files.fail(.removeFile, errno: EIO, path: Self.isSegment)

        #expect(throws: FileStoreError.self) { try store.deleteRange(min: 1, max: newFirst - 1) }

        // The new first index was durable before the unlinks began.
        #expect(try store.firstIndex() == newFirst)
        let refused = #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(101...101)) }
        #expect(refused?.code == .closed)
        try store.close()
        let reopened = try Self.reopen(directory)
        #expect(try reopened.firstIndex() == newFirst)
        #expect(try LogFixtures.segmentFirstIndexes(in: directory.path) == Array(firsts.dropFirst(2)))
        #expect(try reopened.getLogs(from: newFirst, through: 100) == LogFixtures.entries(newFirst...100))
    }

    // MARK: Crashes

    @Test func aCrashAtAnyStepOfASegmentRollLosesNoAcknowledgedEntry() throws {
        // 28 entries fill most of the first segment in batches of 4; the next batch rolls.
        let acknowledged = LogFixtures.entries(1...28)
        let rolling = LogFixtures.entries(29...36)
        func prepare(_ files: FaultInjectingFileSystem) throws -> (TemporaryDirectory, FileLogStore) {
            let directory = try TemporaryDirectory()
            let store = try Self.store(in: directory, files: files)
            for start in stride(from: 0, to: acknowledged.count, by: 4) {
                try store.storeLogs(Array(acknowledged[start..<(start + 4)]))
            }
            return (directory, store)
        }

        // A run without a crash shows the calls the roll makes.
        let probe = FaultInjectingFileSystem(performsSyncs: false)
        let (probeDirectory, probeStore) = try prepare(probe)
        defer { probeDirectory.remove() }
        let rollStart = probe.callCount
        try probeStore.storeLogs(rolling)
        let rollCalls = Array(probe.calls[rollStart...])
        #expect(try LogFixtures.segmentNames(in: probeDirectory.path).count == 2)
        #expect(rollCalls.map(\.operation) == [
            .write, .syncData,  // the end of the full segment, made durable first
            .open, .write, .preallocate, .write, .sync, .syncDirectory,  // the new segment, zero-filled
            .write, .syncData,  // the rest of the batch
        ])

        for (step, call) in rollCalls.enumerated() {
            let files = FaultInjectingFileSystem(performsSyncs: false)
            let (directory, store) = try prepare(files)
            defer { directory.remove() }
            #expect(files.callCount == rollStart)
            files.crash(beforeCall: rollStart + step)

            #expect(throws: FileStoreError.self, "crash before \(call)") { try store.storeLogs(rolling) }
            try? store.close()

            let reopened = try Self.reopen(directory)
            let last = try reopened.lastIndex()
            let everything = acknowledged + rolling
            #expect(last >= 28, "crash before \(call) lost acknowledged entries")
            #expect(try reopened.getLogs(from: 1, through: last) == Array(everything.prefix(Int(last))), "crash before \(call)")
            // The log carries on from whatever survived, and that survives too.
            let next = LogFixtures.entries((last + 1)...(last + 10), term: 2)
            try reopened.storeLogs(next)
            try reopened.close()
            #expect(try Self.reopen(directory).getLogs(from: 1, through: last + 10) == Array(everything.prefix(Int(last))) + next,
                    "crash before \(call)")
        }
    }

    @Test func aWriteTornByACrashInTheMiddleOfABatchIsTrimmedOnReopen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = FaultInjectingFileSystem(performsSyncs: false)
        let store = try Self.store(in: directory, files: files, segmentSize: 1 << 20)
        let segment = directory.appending("00000000000000000001.wal")
        try store.storeLogs(LogFixtures.entries(1...9))
        let end9 = try LogFixtures.dataEnd(of: segment)
        try store.storeLogs(LogFixtures.entries(10...10))
        let recordSize = try LogFixtures.dataEnd(of: segment) - end9

        // Four whole records of the batch reach the file, then half of the fifth.
        files.tearNextWrite(keepingFirst: 4 * recordSize + recordSize / 2, path: Self.isSegment)
        #expect(throws: FileStoreError.self) { try store.storeLogs(LogFixtures.entries(11...20)) }
        #expect(files.hasCrashed)
        try? store.close()

        let collector = LogCollector()
        let reopened = try Self.reopen(directory, logger: collector)
        #expect(try reopened.lastIndex() == 14)
        #expect(try reopened.getLogs(from: 1, through: 14) == LogFixtures.entries(1...14))
        #expect(collector.warnings.count == 1)
        #expect(collector.warnings.first?.metadata["offset"]?.description == "\(end9 + 5 * recordSize)")
        try reopened.storeLogs(LogFixtures.entries(15...16, term: 2))
        #expect(try reopened.getLog(index: 16) == LogFixtures.entry(16, term: 2))
    }

    // MARK: Random sequences with a crash

    /// The entries the store has acknowledged, as a test expects them.
    private struct Model {
        var entries: [UInt64: Log] = [:]
        var first: UInt64 = 0
        var last: UInt64 = 0

        mutating func append(_ logs: [Log]) {
            for log in logs { entries[log.index] = log }
            if first == 0 { first = logs[0].index }
            last = logs[logs.count - 1].index
        }

        mutating func delete(_ range: ClosedRange<UInt64>) {
            for index in range { entries[index] = nil }
            if entries.isEmpty {
                (first, last) = (0, 0)
            } else if range.lowerBound == first {
                first = range.upperBound + 1
            } else {
                last = range.lowerBound - 1
            }
        }
    }

    @Test(arguments: 1...16 as ClosedRange<UInt64>)
    func everyAcknowledgedEntrySurvivesACrashAnywhereInARandomSequence(seed: UInt64) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var random = SplitMix64(seed: seed)
        let files = FaultInjectingFileSystem(performsSyncs: false)
        var store: FileLogStore? = try Self.store(in: directory, files: files)
        files.crash(beforeCall: files.callCount + Int.random(in: 0..<500, using: &random))

        var model = Model()
        var term: UInt64 = 1
        for step in 0..<150 {
            let before = model
            var after = model
            let choice = Int.random(in: 0..<100, using: &random)
            do {
                if store == nil {
                    store = try Self.store(in: directory, files: files)
                    continue
                }
                let current = store!
                switch choice {
                case 0..<55:
                    let start = model.last == 0 ? UInt64.random(in: 1...60, using: &random) : model.last + 1
                    let count = UInt64.random(in: 1...6, using: &random)
                    let logs = (start..<(start + count)).map { index in
                        // Now and then an entry larger than a segment.
                        let size = Int.random(in: 0..<20, using: &random) == 0 ? 6000 : Int.random(in: 0...400, using: &random)
                        return LogFixtures.entry(index, term: term, size: size)
                    }
                    after.append(logs)
                    try current.storeLogs(logs)
                case 55..<70 where model.last > model.first:
                    let from = UInt64.random(in: (model.first + 1)...model.last, using: &random)
                    after.delete(from...model.last)
                    term += 1
                    try current.deleteRange(min: from, max: model.last)
                case 70..<90 where model.last > model.first:
                    let through = UInt64.random(in: model.first...(model.last - 1), using: &random)
                    after.delete(model.first...through)
                    try current.deleteRange(min: model.first, max: through)
                case 90..<95 where model.last > 0:
                    after.delete(model.first...model.last)
                    term += 1
                    try current.deleteRange(min: 0, max: .max)
                case 95..<100:
                    try current.close()
                    store = nil
                default:
                    break
                }
                model = after
            } catch {
                #expect(files.hasCrashed, "step \(step) failed without a crash: \(error)")
                try? store?.close()
                store = nil
                try Self.verifyAfterCrash(directory, before: before, after: after, context: "seed \(seed), step \(step)")
                return
            }
        }
        try store?.close()
        try Self.verifyAfterCrash(directory, before: model, after: model, context: "seed \(seed), no crash")
    }

    /// Reopens `directory` and checks that it holds every entry both models agree on, nothing
    /// that neither holds, no gap, and that it takes new entries.
    private static func verifyAfterCrash(_ directory: TemporaryDirectory, before: Model, after: Model, context: String) throws {
        let store = try reopen(directory)
        let first = try store.firstIndex()
        let last = try store.lastIndex()
        let logs = last == 0 ? [] : try store.getLogs(from: first, through: last)
        #expect(logs.count == (last == 0 ? 0 : Int(last - first + 1)), "\(context): the log has a gap")
        for log in logs {
            #expect(log == before.entries[log.index] || log == after.entries[log.index],
                    "\(context): entry \(log.index) was never stored")
        }
        let present = Set(logs.map(\.index))
        for (index, log) in before.entries where after.entries[index] == log {
            #expect(present.contains(index), "\(context): acknowledged entry \(index) is missing")
        }
        let next = last + 1
        try store.storeLogs([LogFixtures.entry(next, term: 1000)])
        #expect(try store.getLog(index: next) == LogFixtures.entry(next, term: 1000))
    }
}
