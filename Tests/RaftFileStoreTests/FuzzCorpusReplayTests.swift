@_spi(Fuzzing) @testable import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// The file-store fuzzers' corpus (`Fuzz/Corpus`, Docs/fuzzing.md), replayed through the entry
/// points the fuzzers call, on every test run: every input a fuzzer found interesting, and every
/// input that once crashed one, must be read or refused with a ``FileStoreError``.
@Suite("Fuzz corpus replay: file stores")
struct FileStoreFuzzCorpusReplayTests {
    // A log segment of any bytes, its checksums as found or made to match, recovers, and reopens to the same entries, or is refused with a FileStoreError.
    @Test("log segment corpus")
    func logSegment() throws {
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-log-segment") {
            for file in [bytes, FileStoreFuzzing.sealingLogSegment(bytes)] {
                do {
                    let recovery = try FileStoreFuzzing.recoverLogSegment(file, fileSystem: PowerLossFileSystem())
                    #expect(recovery.entries == recovery.entriesAfterReopen, "\(name)")
                } catch {
                    #expect(error is FileStoreError, "\(name): \(error)")
                }
            }
        }
    }

    // A stable store data file of any bytes, its checksums as found or made to match, replays, or is refused with a FileStoreError.
    @Test("stable store corpus")
    func stableRecord() throws {
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-stable-record") {
            for file in [bytes, FileStoreFuzzing.sealingStableFile(bytes)] {
                do {
                    _ = try FileStoreFuzzing.openStableStore(file, fileSystem: PowerLossFileSystem())
                } catch {
                    #expect(error is FileStoreError, "\(name): \(error)")
                }
            }
        }
    }

    // Sealing leaves a file the stores wrote as it was: their checksums already match.
    @Test("sealing a store's own file changes nothing")
    func sealingIsIdentityOnValidFiles() throws {
        for seed in try StoreSeeds.logSegments() where seed.name != "seed-torn-tail" {
            #expect(FileStoreFuzzing.sealingLogSegment(seed.bytes) == seed.bytes, "\(seed.name)")
        }
        for seed in try StoreSeeds.stableFiles() where seed.name != "seed-torn-final-record" {
            #expect(FileStoreFuzzing.sealingStableFile(seed.bytes) == seed.bytes, "\(seed.name)")
        }
    }

    // A meta.json of any bytes decodes, and is written back as a file that decodes the same, or is refused with a FileStoreError.
    @Test("snapshot meta.json corpus")
    func snapshotMeta() throws {
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-snapshot-meta") {
            do {
                let decoding = try FileStoreFuzzing.decodeSnapshotMeta(bytes)
                #expect(decoding.roundTrips, "\(name): \(decoding)")
            } catch {
                #expect(error is FileStoreError, "\(name): \(error)")
            }
        }
    }

    // The store seeds in the corpus are the files the stores write today; FUZZ_WRITE_SEEDS=1 rewrites them after a format change.
    @Test("store seeds are what the stores write")
    func seedsAreCurrent() throws {
        let seeds = try StoreSeeds.logSegments().map { ("fuzz-log-segment", $0.name, $0.bytes) }
            + StoreSeeds.stableFiles().map { ("fuzz-stable-record", $0.name, $0.bytes) }
        for (target, name, bytes) in seeds {
            if environmentFlag("FUZZ_WRITE_SEEDS") {
                try FuzzCorpus.write(target, name, bytes)
            } else {
                #expect(try FuzzCorpus.input(target, name) == bytes, "\(target)/\(name) is stale: rerun with FUZZ_WRITE_SEEDS=1")
            }
        }
    }
}

/// Valid files written by the real stores, as seeds for the store fuzzers: a fuzzer cannot forge
/// a checksum, so whatever lies behind one is only reached by mutating files that pass it.
enum StoreSeeds {
    /// Segments `FileLogStore` writes (index 1 first), without their preallocated zeros.
    static func logSegments() throws -> [(name: String, bytes: [UInt8])] {
        let time = LogTimestamp(nanosecondsSinceEpoch: 1_795_303_618_841_000_000)
        let entries = [
            Log(index: 1, term: 1, type: .configuration, data: Array("n1@127.0.0.1:7000".utf8), appendedAt: time),
            Log(index: 2, term: 1, type: .noop, appendedAt: time),
            Log(index: 3, term: 2, type: .command, data: Array("set x=1".utf8), extensions: [0xEE, 0x01], appendedAt: time),
            Log(index: 4, term: 300, type: .command, data: Array(repeating: 0xAB, count: 200), appendedAt: time),
        ]
        let oneBatch = try segment(after: [Array(entries[0...2])])
        let threeBatches = try segment(after: [Array(entries[0...1]), [entries[2]], [entries[3]]])
        return [
            ("seed-one-batch", oneBatch),
            ("seed-three-batches", threeBatches),
            // A crash in the middle of the last batch's write.
            ("seed-torn-tail", Array(threeBatches.dropLast(50))),
        ]
    }

    /// Data files `FileStableStore` writes.
    static func stableFiles() throws -> [(name: String, bytes: [UInt8])] {
        let fresh = try stableFile { _ in }
        let voted = try stableFile { store in
            try store.setUInt64(Array("CurrentTerm".utf8), 5)
            try store.setUInt64(Array("LastVoteTerm".utf8), 5)
            try store.set(Array("LastVoteCand".utf8), Array("127.0.0.1:7001".utf8))
            try store.setUInt64(Array("CurrentTerm".utf8), 6)
            try store.set([], [1, 2, 3])
        }
        return [
            ("seed-fresh", fresh),
            ("seed-term-and-vote", voted),
            // A crash in the middle of the last record's write.
            ("seed-torn-final-record", Array(voted.dropLast(2))),
        ]
    }

    private static func segment(after batches: [[Log]]) throws -> [UInt8] {
        let files = PowerLossFileSystem()
        let store = try FileLogStore(directory: "/log", options: .init(segmentSize: 4096, sync: false, fileSystem: files))
        for batch in batches { try store.storeLogs(batch) }
        try store.close()
        let bytes = try contents(of: "/log/" + FileLogStore.SegmentName.name(firstIndex: 1), in: files)
        return Array(bytes[..<(bytes.lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0)])
    }

    private static func stableFile(_ body: (FileStableStore) throws -> Void) throws -> [UInt8] {
        let files = PowerLossFileSystem()
        let store = try FileStableStore(directory: "/stable", options: .init(sync: false, fileSystem: files))
        try body(store)
        store.close()
        return try contents(of: "/stable/" + StableDataFile.fileName, in: files)
    }

    private static func contents(of path: String, in files: PowerLossFileSystem) throws -> [UInt8] {
        let handle = try files.open(path, mode: .readOnly)
        defer { try? files.close(handle) }
        return try files.read(handle, count: Int(try files.size(of: handle)), at: 0)
    }
}
