import Logging
import RaftFileStores
import SwiftRaft

/// Entries, options and on-disk inspection shared by the ``FileLogStore`` tests.
enum LogFixtures {
    /// Entry `index` of `term` with `size` bytes of data that name both, and one extension byte.
    /// Every byte of its record's tail is non-zero, so ``dataEnd(of:)`` finds where it ends.
    static func entry(_ index: UInt64, term: UInt64 = 1, size: Int = 100) -> Log {
        let pattern = Array("entry \(index) of term \(term); ".utf8)
        var data: [UInt8] = []
        data.reserveCapacity(size)
        while data.count < size { data += pattern.prefix(size - data.count) }
        return Log(index: index, term: term, data: data, extensions: [0xEE])
    }

    /// ``entry(_:term:size:)`` for each index of `range`.
    static func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 100) -> [Log] {
        range.map { entry($0, term: term, size: size) }
    }

    /// A logger that drops everything, for tests that do not look at the log.
    static let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Options for tests: small segments so they roll, no syncing unless asked (these tests
    /// check what the store writes, not what the disk keeps through a power cut).
    static func options(
        segmentSize: Int = 4096,
        sync: Bool = false,
        fileSystem: any FileSystem = PosixFileSystem(),
        logger: Logger = quietLogger
    ) -> FileLogStore.Options {
        FileLogStore.Options(segmentSize: segmentSize, sync: sync, fileSystem: fileSystem, logger: logger)
    }

    /// The names of the segment files in `directory`, in log order.
    static func segmentNames(in directory: String) throws -> [String] {
        try PosixFileSystem().contentsOfDirectory(directory).map(\.name).filter { $0.hasSuffix(".wal") }.sorted()
    }

    /// The first index each segment's name gives, in log order.
    static func segmentFirstIndexes(in directory: String) throws -> [UInt64] {
        try segmentNames(in: directory).map { UInt64($0.dropLast(4))! }
    }

    /// One past the last non-zero byte of the file: the end of the last record written, for
    /// entries made by ``entry(_:term:size:)``.
    static func dataEnd(of path: String) throws -> Int {
        let bytes = try readFile(path)
        return (bytes.lastIndex { $0 != 0 } ?? -1) + 1
    }

    /// Inverts one bit of the byte at `offset` in the file at `path`.
    static func flipBit(in path: String, at offset: Int) throws {
        let files = PosixFileSystem()
        let handle = try files.open(path, mode: .readWrite)
        defer { try? files.close(handle) }
        var byte = try files.read(handle, count: 1, at: Int64(offset))
        byte[0] ^= 0x10
        try files.write(handle, byte, at: Int64(offset))
    }

    /// Overwrites bytes at `offset` in the file at `path`.
    static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
        let files = PosixFileSystem()
        let handle = try files.open(path, mode: .readWrite)
        defer { try? files.close(handle) }
        try files.write(handle, bytes, at: Int64(offset))
    }

    /// Cuts the file at `path` to `size` bytes.
    static func truncate(_ path: String, to size: Int) throws {
        let files = PosixFileSystem()
        let handle = try files.open(path, mode: .readWrite)
        defer { try? files.close(handle) }
        try files.truncate(handle, to: Int64(size))
    }

    /// The file's size.
    static func size(of path: String) throws -> Int {
        let files = PosixFileSystem()
        let handle = try files.open(path, mode: .readOnly)
        defer { try? files.close(handle) }
        return Int(try files.size(of: handle))
    }
}
