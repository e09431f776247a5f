public import SwiftRaft
import Logging

/// Entry points into the file stores' reading of their own files, for the coverage-guided
/// fuzzers in `Fuzz/` and for the tests that replay their corpus (`Docs/fuzzing.md`). Not for
/// anything else.
///
/// Each function puts the bytes it is given where a store keeps that file, in `fileSystem`
/// (an in-memory one, such as RaftTestKit's `PowerLossFileSystem`, keeps a fuzzer fast), and
/// opens the store on it: the code that runs is the code a damaged or hostile file on a real
/// disk reaches. Bytes that are not a valid file must end in a thrown ``FileStoreError``;
/// anything else (a trap, a hang, unbounded memory, a store that recovers to one state and
/// reopens to another) is a bug.
@_spi(Fuzzing)
public enum FileStoreFuzzing {
    /// What a log directory recovered to: every entry read after the first open, and again
    /// after closing and reopening it (a recovery must leave files that recover the same).
    public struct LogRecovery: Hashable, Sendable {
        /// The entries, first to last, after the first open.
        public var entries: [Log]
        /// The entries, first to last, after a close and a second open.
        public var entriesAfterReopen: [Log]
    }

    /// Makes `bytes` the only segment of a log directory, the one starting at index 1, and opens
    /// a ``FileLogStore`` on it: segment recovery (``FileLogStore/Recovery``), which reads every
    /// record with ``FileLogStore/RecordCodec``, then every entry it recovered.
    public static func recoverLogSegment(_ bytes: [UInt8], fileSystem: any FileSystem) throws -> LogRecovery {
        let directory = "/fuzz/log"
        try fileSystem.makeDirectoriesDurably(directory)
        let segment = try fileSystem.open(directory + "/" + FileLogStore.SegmentName.name(firstIndex: 1), mode: .readWriteCreate)
        try fileSystem.write(segment, bytes, at: 0)
        try fileSystem.close(segment)
        let options = FileLogStore.Options(
            segmentSize: FileLogStore.Options.minimumSegmentSize, fileSystem: fileSystem, logger: silent)
        let entries = try readAll(FileLogStore(directory: directory, options: options))
        let entriesAfterReopen = try readAll(FileLogStore(directory: directory, options: options))
        return LogRecovery(entries: entries, entriesAfterReopen: entriesAfterReopen)
    }

    /// Makes `bytes` a stable store's data file (`stable.dat`) and opens a ``FileStableStore``
    /// on it, which replays every record (``StableRecord``, ``StableDataFile``); then reads the
    /// keys Raft uses. Returns them as `(key, value)` pairs, the integers as 8 big-endian bytes.
    public static func openStableStore(_ bytes: [UInt8], fileSystem: any FileSystem) throws -> [StableValue] {
        let directory = "/fuzz/stable"
        try fileSystem.makeDirectoriesDurably(directory)
        let data = try fileSystem.open(directory + "/" + StableDataFile.fileName, mode: .readWriteCreate)
        try fileSystem.write(data, bytes, at: 0)
        try fileSystem.close(data)
        let store = try FileStableStore(directory: directory, options: .init(fileSystem: fileSystem, logger: silent))
        defer { store.close() }
        var values: [StableValue] = []
        for key in raftKeys {
            values.append(StableValue(key: key, bytes: try store.get(key), integer: try store.getUInt64(key)))
        }
        return values
    }

    /// One key of a stable store as read back: its value in each namespace.
    public struct StableValue: Hashable, Sendable {
        /// The key.
        public var key: [UInt8]
        /// What `get` returned.
        public var bytes: [UInt8]?
        /// What `getUInt64` returned.
        public var integer: UInt64?
    }

    /// Decodes `bytes` as a snapshot's `meta.json` (``SnapshotMetaFile``, with its JSON parser
    /// ``JSONValue``), as ``FileSnapshotStore`` does when it lists or opens snapshots; then
    /// re-encodes what it read, as the store writes it, and decodes that again.
    public static func decodeSnapshotMeta(_ bytes: [UInt8]) throws -> SnapshotMetaDecoding {
        let file: SnapshotMetaFile
        do {
            file = try SnapshotMetaFile.decode(bytes)
        } catch {
            throw FileStoreError(.corrupt, "unreadable snapshot metadata: \(error)")
        }
        let again = try? SnapshotMetaFile.decode(file.encoded())
        return SnapshotMetaDecoding(meta: file.meta, crc: file.crc, reDecodedMeta: again?.meta, reDecodedCRC: again?.crc)
    }

    /// A `meta.json` as read, and as read again after being written back: the two must agree.
    public struct SnapshotMetaDecoding: Hashable, Sendable {
        /// The metadata.
        public var meta: SnapshotMeta
        /// The CRC-64 of the snapshot's state, if the file holds one.
        public var crc: [UInt8]?
        /// The metadata decoded from the file the store would write for `meta` and `crc`; nil if
        /// that file did not decode.
        public var reDecodedMeta: SnapshotMeta?
        /// The checksum decoded from that file.
        public var reDecodedCRC: [UInt8]?

        /// Whether writing what was read back and reading it again gives the same.
        public var roundTrips: Bool { reDecodedMeta == meta && reDecodedCRC == crc }
    }

    // MARK: Checksums

    /// `bytes` with the checksums of a segment rewritten to match: the header's, then each
    /// record's, walking from record to record by their lengths as far as they lead. A fuzzer
    /// cannot forge a CRC-32C, so without this every mutation of a record's payload is refused by
    /// its checksum, and the code behind it (the payload's fields, the order of indexes and
    /// batches) is only reached from the seeds as they are.
    public static func sealingLogSegment(_ bytes: [UInt8]) -> [UInt8] {
        typealias Codec = FileLogStore.RecordCodec
        var bytes = bytes
        guard bytes.count >= FileLogStore.SegmentHeader.size else { return bytes }
        bytes.withUnsafeMutableBytes { raw in
            let headerCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
            raw.storeBytes(of: headerCRC.littleEndian, toByteOffset: 28, as: UInt32.self)
            var cursor = FileLogStore.SegmentHeader.size
            while raw.count - cursor >= Codec.frameHeaderSize {
                let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)))
                guard length > 0, length <= raw.count - cursor - Codec.frameHeaderSize else { break }
                var crc = CRC32C()
                crc.update(UnsafeRawBufferPointer(rebasing: raw[cursor..<(cursor + 4)]))
                crc.update(UnsafeRawBufferPointer(rebasing: raw[(cursor + Codec.frameHeaderSize)..<(cursor + Codec.frameHeaderSize + length)]))
                raw.storeBytes(of: crc.value.littleEndian, toByteOffset: cursor + 4, as: UInt32.self)
                cursor += Codec.frameHeaderSize + length
            }
        }
        return bytes
    }

    /// `bytes` with the checksums of a stable store data file rewritten to match: the header's,
    /// then each record's length and body checksums, walking from record to record by their
    /// lengths as far as they lead (see ``sealingLogSegment(_:)`` for why).
    public static func sealingStableFile(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        guard bytes.count >= StableRecord.headerSize else { return bytes }
        bytes.withUnsafeMutableBytes { raw in
            let headerCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<12]))
            raw.storeBytes(of: headerCRC.bigEndian, toByteOffset: 12, as: UInt32.self)
            var cursor = StableRecord.headerSize
            while raw.count - cursor >= StableRecord.recordHeaderSize {
                let length = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)))
                let bodyStart = cursor + StableRecord.recordHeaderSize
                guard length <= raw.count - bodyStart else { break }
                let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[cursor..<(cursor + 4)]))
                let bodyCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[bodyStart..<(bodyStart + length)]))
                raw.storeBytes(of: lengthCRC.bigEndian, toByteOffset: cursor + 4, as: UInt32.self)
                raw.storeBytes(of: bodyCRC.bigEndian, toByteOffset: cursor + 8, as: UInt32.self)
                cursor = bodyStart + length
            }
        }
        return bytes
    }

    /// The stable store keys hashicorp/raft and swift-raft use (`CurrentTerm`, `LastVoteTerm`,
    /// `LastVoteCand`), and the empty key.
    private static let raftKeys: [[UInt8]] = [Array("CurrentTerm".utf8), Array("LastVoteTerm".utf8), Array("LastVoteCand".utf8), []]

    /// A logger that drops everything: recovery warns about every torn tail it cuts, which a
    /// fuzzer produces millions of.
    private static let silent = Logger(label: "swift-raft.fuzzing", factory: { _ in SwiftLogNoOpLogHandler() })

    private static func readAll(_ store: FileLogStore) throws -> [Log] {
        defer { try? store.close() }
        let first = try store.firstIndex()
        let last = try store.lastIndex()
        guard first > 0, last >= first else { return [] }
        return try store.getLogs(from: first, through: last)
    }
}
