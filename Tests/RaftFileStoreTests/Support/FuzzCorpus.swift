#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores

/// Reads (and, for seeds, writes) the fuzzers' committed corpus, `Fuzz/Corpus/<target>/`, found
/// from this file's path so the tests run from any working directory.
enum FuzzCorpus {
    static let directory: String = {
        let file = "\(#filePath)"
        let support = file.lastIndex(of: "/").map { String(file[..<$0]) } ?? "."
        return support + "/../../../Fuzz/Corpus"
    }()

    /// Every input of `target`, by name, sorted; at least one, or it throws.
    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let entries = try PosixFileSystem().contentsOfDirectory(directory + "/" + target)
        let names = entries.filter { !$0.isDirectory && !$0.name.hasPrefix(".") }.map(\.name).sorted()
        guard !names.isEmpty else { throw FileStoreError(.notFound, "no inputs in \(directory)/\(target)") }
        return try names.map { ($0, try input(target, $0)) }
    }

    /// The bytes of input `name` of `target`.
    static func input(_ target: String, _ name: String) throws -> [UInt8] {
        let files = PosixFileSystem()
        let handle = try files.open(directory + "/" + target + "/" + name, mode: .readOnly)
        defer { try? files.close(handle) }
        return try files.read(handle, count: Int(try files.size(of: handle)), at: 0)
    }

    /// Replaces input `name` of `target` with `bytes`.
    static func write(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
        let files = PosixFileSystem()
        let handle = try files.open(directory + "/" + target + "/" + name, mode: .readWriteCreate)
        defer { try? files.close(handle) }
        try files.truncate(handle, to: 0)
        try files.write(handle, bytes, at: 0)
    }
}

/// Whether environment variable `name` is set to 1.
func environmentFlag(_ name: String) -> Bool {
    getenv(name).map { String(cString: $0) == "1" } ?? false
}
