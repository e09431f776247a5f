/// An open file, as a ``FileSystem`` hands it out.
public struct FileHandle: Hashable, Sendable, CustomStringConvertible {
    /// The operating system's file descriptor.
    public let descriptor: Int32
    /// The path the file was opened at, for error messages.
    public let path: String

    /// Wraps a descriptor.
    public init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// The path.
    public var description: String { path }
}

/// How ``FileSystem/open(_:mode:)`` opens a file.
public enum FileOpenMode: Hashable, Sendable {
    /// Read only; the file must exist.
    case readOnly
    /// Read and write; the file must exist.
    case readWrite
    /// Read and write, creating the file if it is missing.
    case readWriteCreate
    /// Read and write, creating the file; fails if it already exists.
    case createNew
}

/// What a directory listing says about one entry.
public struct DirectoryEntry: Hashable, Sendable {
    /// The entry's name, without its directory.
    public var name: String
    /// Whether it is a directory.
    public var isDirectory: Bool

    /// Creates an entry.
    public init(name: String, isDirectory: Bool) {
        self.name = name
        self.isDirectory = isDirectory
    }
}

/// The file operations the file stores use, as a protocol so tests can inject faults between a
/// store and the disk (a full disk, a refused permission, a crash in the middle of a write).
///
/// ``PosixFileSystem`` is the real one. Every method may block and throws ``FileStoreError``.
/// Writes are complete or throw: an implementation retries short writes and `EINTR` itself.
public protocol FileSystem: Sendable {
    /// Opens the file at `path`.
    func open(_ path: String, mode: FileOpenMode) throws -> FileHandle
    /// Closes `file`. The handle must not be used again, whatever the outcome.
    func close(_ file: FileHandle) throws
    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    func read(_ file: FileHandle, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ file: FileHandle, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Makes the file's data durable (`fdatasync`): enough when its size did not change, or when a
    /// preallocation already made the size durable.
    func syncData(_ file: FileHandle) throws
    /// Makes the file's data and metadata durable (`fsync`).
    func sync(_ file: FileHandle) throws
    /// Sets the file's size, cutting or zero-extending it.
    func truncate(_ file: FileHandle, to size: Int64) throws
    /// Reserves `size` bytes of disk for the file so later writes below it cannot fail for lack of
    /// space and do not change its size.
    func preallocate(_ file: FileHandle, size: Int64) throws
    /// The file's current size.
    func size(of file: FileHandle) throws -> Int64
    /// Takes an exclusive advisory lock on the open file without waiting. Returns false if another
    /// open file (in this or another process) holds it. The lock ends when the file is closed.
    func tryLock(_ file: FileHandle) throws -> Bool
    /// Renames `source` to `destination`, replacing a file that is there.
    func rename(_ source: String, to destination: String) throws
    /// Deletes a file.
    func removeFile(_ path: String) throws
    /// Deletes an empty directory.
    func removeDirectory(_ path: String) throws
    /// Creates a directory; succeeds if it already exists.
    func makeDirectory(_ path: String) throws
    /// The entries of a directory, without `.` and `..`, in no particular order.
    func contentsOfDirectory(_ path: String) throws -> [DirectoryEntry]
    /// Whether `path` names a directory (true), another kind of file (false) or nothing (nil).
    func isDirectory(_ path: String) throws -> Bool?
    /// Makes the directory's entries durable, after creating, renaming or deleting files in it.
    func syncDirectory(_ path: String) throws
}

extension FileSystem {
    /// Writes all of `bytes` at `offset`.
    public func write(_ file: FileHandle, _ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write(file, $0, at: offset) }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ file: FileHandle, _ bytes: ArraySlice<UInt8>, at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write(file, $0, at: offset) }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer if the file ends first.
    public func read(_ file: FileHandle, count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try read(file, into: $0, at: offset) }
        if got < count { bytes.removeLast(count - got) }
        return bytes
    }

    /// Whether anything exists at `path`.
    public func exists(_ path: String) throws -> Bool { try isDirectory(path) != nil }

    /// Deletes a directory and everything in it (the stores only nest one level deep, so this
    /// does not recurse further than it needs to).
    public func removeTree(_ path: String) throws {
        guard try isDirectory(path) == true else {
            if try exists(path) { try removeFile(path) }
            return
        }
        for entry in try contentsOfDirectory(path) {
            let child = path + "/" + entry.name
            if entry.isDirectory { try removeTree(child) } else { try removeFile(child) }
        }
        try removeDirectory(path)
    }
}
