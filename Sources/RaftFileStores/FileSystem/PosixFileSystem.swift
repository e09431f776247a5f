#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real ``FileSystem``: POSIX calls on the local disk.
///
/// Short writes and `EINTR` are retried; every other failure becomes a ``FileStoreError`` whose
/// code classifies the `errno` (a full disk, a refused permission, a missing file, anything else).
public struct PosixFileSystem: FileSystem {
    /// Creates the file system.
    public init() {}

    /// Opens the file at `path` (new files get mode 0644).
    public func open(_ path: String, mode: FileOpenMode) throws -> FileHandle {
        var flags: Int32 = O_CLOEXEC
        switch mode {
        case .readOnly: flags |= O_RDONLY
        case .readWrite: flags |= O_RDWR
        case .readWriteCreate: flags |= O_RDWR | O_CREAT
        case .createNew: flags |= O_RDWR | O_CREAT | O_EXCL
        }
        let descriptor = try retryingInterrupts("open", path) { Glibc.open(path, flags, 0o644) }
        return FileHandle(descriptor: descriptor, path: path)
    }

    /// Closes `file`. `EINTR` is not retried: on Linux the descriptor is gone either way.
    public func close(_ file: FileHandle) throws {
        if Glibc.close(file.descriptor) != 0 && Glibc.errno != EINTR {
            throw Self.error("close", file.path)
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    public func read(_ file: FileHandle, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let got = try retryingInterrupts("read", file.path) {
                pread(file.descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ file: FileHandle, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            done += try retryingInterrupts("write", file.path) {
                pwrite(file.descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
        }
    }

    /// `fdatasync`.
    public func syncData(_ file: FileHandle) throws {
        _ = try retryingInterrupts("fdatasync", file.path) { fdatasync(file.descriptor) }
    }

    /// `fsync`.
    public func sync(_ file: FileHandle) throws {
        _ = try retryingInterrupts("fsync", file.path) { fsync(file.descriptor) }
    }

    /// `ftruncate`.
    public func truncate(_ file: FileHandle, to size: Int64) throws {
        _ = try retryingInterrupts("ftruncate", file.path) { ftruncate(file.descriptor, off_t(size)) }
    }

    /// `posix_fallocate`, which glibc emulates by writing zeros where the file system cannot
    /// reserve space itself, so the space is really reserved either way.
    public func preallocate(_ file: FileHandle, size: Int64) throws {
        while true {
            let code = posix_fallocate(file.descriptor, 0, off_t(size))
            if code == 0 { return }
            if code != EINTR { throw Self.error("posix_fallocate", file.path, code) }
        }
    }

    /// The file's size, from `fstat`.
    public func size(of file: FileHandle) throws -> Int64 {
        var info = stat()
        _ = try retryingInterrupts("fstat", file.path) { fstat(file.descriptor, &info) }
        return Int64(info.st_size)
    }

    /// `flock(LOCK_EX | LOCK_NB)`: per open file, so two stores in one process exclude each other.
    public func tryLock(_ file: FileHandle) throws -> Bool {
        while true {
            if flock(file.descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            switch Glibc.errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            default: throw Self.error("flock", file.path)
            }
        }
    }

    /// `rename`.
    public func rename(_ source: String, to destination: String) throws {
        _ = try retryingInterrupts("rename to \(destination)", source) { Glibc.rename(source, destination) }
    }

    /// `unlink`.
    public func removeFile(_ path: String) throws {
        _ = try retryingInterrupts("unlink", path) { unlink(path) }
    }

    /// `rmdir`.
    public func removeDirectory(_ path: String) throws {
        _ = try retryingInterrupts("rmdir", path) { rmdir(path) }
    }

    /// `mkdir` with mode 0755; an existing directory is success.
    public func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) == 0 { return }
        let code = Glibc.errno
        if code == EEXIST, try isDirectory(path) == true { return }
        throw Self.error("mkdir", path, code)
    }

    /// `opendir` / `readdir`.
    public func contentsOfDirectory(_ path: String) throws -> [DirectoryEntry] {
        guard let directory = opendir(path) else { throw Self.error("opendir", path) }
        defer { closedir(directory) }
        var entries: [DirectoryEntry] = []
        while let entry = readdir(directory) {
            let name = Self.name(of: entry)
            if name == "." || name == ".." { continue }
            let isDirectory: Bool
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                isDirectory = try self.isDirectory(path + "/" + name) == true
            } else {
                isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
            }
            entries.append(DirectoryEntry(name: name, isDirectory: isDirectory))
        }
        return entries
    }

    /// The name in a directory entry `readdir` returned, read in place up to its terminating NUL.
    ///
    /// Not by copying `d_name`: `readdir` returns records of their own length (`d_reclen`) packed
    /// in its buffer, so the 256 bytes `d_name` is declared with run past the end of the buffer
    /// for the last, short-named entries of a large directory (AddressSanitizer's
    /// heap-buffer-overflow in a 4,000-file directory).
    static func name(of entry: UnsafeMutablePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    }

    /// `stat`.
    public func isDirectory(_ path: String) throws -> Bool? {
        var info = stat()
        if stat(path, &info) == 0 { return (info.st_mode & S_IFMT) == S_IFDIR }
        let code = Glibc.errno
        if code == ENOENT || code == ENOTDIR { return nil }
        throw Self.error("stat", path, code)
    }

    /// Opens the directory and `fsync`s it.
    public func syncDirectory(_ path: String) throws {
        let directory = try retryingInterrupts("open directory", path) { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Glibc.close(directory) }
        _ = try retryingInterrupts("fsync directory", path) { fsync(directory) }
    }

    // MARK: Errors

    private func retryingInterrupts<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw Self.error(operation, path, code)
        }
    }

    /// Classifies a failed call's `errno` into a ``FileStoreError``.
    static func error(_ operation: String, _ path: String, _ code: Int32 = Glibc.errno) -> FileStoreError {
        let kind: FileStoreError.Code
        switch code {
        case ENOSPC, EDQUOT: kind = .noSpace
        case EACCES, EPERM, EROFS: kind = .permissionDenied
        case ENOENT: kind = .notFound
        default: kind = .io
        }
        let reason = String(cString: strerror(code))
        return FileStoreError(kind, "\(operation) failed: \(reason)", path: path, errno: code)
    }
}
