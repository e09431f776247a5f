#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftFileStores

/// A directory of its own for one test, under `/tmp`, that the test removes when done: where a
/// test puts the files of a store under test.
///
/// ```swift
/// let directory = try TemporaryDirectory()
/// defer { directory.remove() }
/// let store = try FileLogStore(directory: directory.appending("log"))
/// ```
public struct TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates a new, empty directory named `/tmp/<prefix>-XXXXXX`.
    public init(prefix: String = "swift-raft-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else {
            throw FileStoreError(.io, "mkdtemp failed: \(String(cString: strerror(errno)))", path: "/tmp", errno: errno)
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The path of `name` inside the directory.
    public func appending(_ name: String) -> String { path + "/" + name }

    /// Deletes the directory and everything in it. A test that fails to clean up must not fail
    /// for that, so errors are ignored.
    public func remove() {
        try? PosixFileSystem().removeTree(path)
    }
}
