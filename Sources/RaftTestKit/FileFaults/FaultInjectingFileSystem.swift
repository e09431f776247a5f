#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import RaftFileStores
import Synchronization

/// A `FileSystem` that passes every call to another one, except where a test told it to fail,
/// tear a write or crash, and that records every call it receives.
///
/// Stores take their file system as an option, so a test wraps the real one and gives the store
/// this instead:
///
/// ```swift
/// let files = FaultInjectingFileSystem()
/// let store = try FileLogStore(directory: path, options: .init(fileSystem: files))
/// files.fail(.preallocate, errno: ENOSPC)          // the next preallocation finds the disk full
/// #expect(throws: FileStoreError.self) { try store.storeLogs(bigBatch) }
/// ```
///
/// **Crashes.** After ``crash()`` (or a ``Fault/crash`` rule, or a torn write) the file system
/// behaves like a dead process's: every call throws. The test then drops the store and opens the
/// directory again on the plain file system to see what a restart would find. A crash here is a
/// process crash, not a power failure: whatever reached the wrapped file system stays, synced
/// or not. ``PowerLossFileSystem`` models a power failure, which loses what was never synced.
///
/// **Interleavings.** ``interleave(_:before:path:)`` runs an action just before a chosen call,
/// which puts another thread's work at an exact point of a store's sequence, deterministically.
///
/// **Crash points.** ``calls`` lists every call in order. A test can run a scenario once, note
/// the calls an operation made (say, a segment roll), then rerun it with
/// ``crash(beforeCall:)`` at each of those positions in turn.
///
/// All methods are safe to call from any thread.
public final class FaultInjectingFileSystem: FileSystem {
    /// The kinds of call a `FileSystem` receives, one per protocol method.
    public enum Operation: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// `FileSystem.open(_:mode:)`.
        case open
        /// `FileSystem.close(_:)`.
        case close
        /// `FileSystem.read(_:into:at:)`.
        case read
        /// `FileSystem`'s `write(_:_:at:)` of a raw buffer, which its `[UInt8]` and
        /// `ArraySlice` conveniences call.
        case write
        /// `FileSystem.syncData(_:)`.
        case syncData
        /// `FileSystem.sync(_:)`.
        case sync
        /// `FileSystem.truncate(_:to:)`.
        case truncate
        /// `FileSystem.preallocate(_:size:)`.
        case preallocate
        /// `FileSystem.size(of:)`.
        case size
        /// `FileSystem.tryLock(_:)`.
        case tryLock
        /// `FileSystem.rename(_:to:)`.
        case rename
        /// `FileSystem.removeFile(_:)`.
        case removeFile
        /// `FileSystem.removeDirectory(_:)`.
        case removeDirectory
        /// `FileSystem.makeDirectory(_:)`.
        case makeDirectory
        /// `FileSystem.contentsOfDirectory(_:)`.
        case contentsOfDirectory
        /// `FileSystem.isDirectory(_:)`.
        case isDirectory
        /// `FileSystem.syncDirectory(_:)`.
        case syncDirectory

        /// The method's name.
        public var description: String { rawValue }
    }

    /// One call the file system received.
    public struct Call: Hashable, Sendable, CustomStringConvertible {
        /// What kind of call it was.
        public var operation: Operation
        /// The path it concerned: the file's, the directory's, or a rename's source.
        public var path: String

        /// Creates a call record.
        public init(operation: Operation, path: String) {
            self.operation = operation
            self.path = path
        }

        /// `operation path`.
        public var description: String { "\(operation) \(path)" }
    }

    /// What a matching call suffers instead of running.
    public enum Fault: Sendable {
        /// The call throws this error and does nothing.
        case error(FileStoreError)
        /// The first `keptBytes` bytes of the write are written, then the file system crashes
        /// (the write throws, as does every call after it). Calls other than writes ignore it.
        case tornWrite(keptBytes: Int)
        /// The file system crashes before the call runs; it throws, as does every call after it.
        case crash
        /// `action` runs, then the call proceeds normally. This puts other work at an exact point
        /// of a store's sequence of calls, as another thread might: for instance a truncation
        /// between a read's lookup of a position and its read of the bytes. The action may call
        /// the store and this file system.
        case interleave(@Sendable () throws -> Void)
    }

    /// Which calls get a fault, and how often.
    public struct Rule: Sendable {
        /// The kinds of call that match.
        public var operations: Set<Operation>
        /// Which paths match. Called with the file system's lock held, so it must not call the
        /// file system.
        public var path: @Sendable (String) -> Bool
        /// How many matching calls to let through before the first fault.
        public var skip: Int
        /// How many matching calls get the fault once `skip` have passed; nil for all of them.
        public var times: Int?
        /// What happens to a faulted call.
        public var fault: Fault

        /// Creates a rule; by default it faults the first matching call on any path.
        public init(
            operations: Set<Operation>,
            path: @escaping @Sendable (String) -> Bool = { _ in true },
            skip: Int = 0,
            times: Int? = 1,
            fault: Fault
        ) {
            self.operations = operations
            self.path = path
            self.skip = skip
            self.times = times
            self.fault = fault
        }
    }

    private struct State {
        var rules: [Rule] = []
        var calls: [Call] = []
        var crashAt: Int?
        var crashed = false
    }

    /// The file system the calls are passed to.
    public let base: any FileSystem
    /// Whether sync calls reach ``base``. See ``init(wrapping:performsSyncs:)``.
    public let performsSyncs: Bool
    private let state = Mutex(State())

    /// Wraps `base`.
    ///
    /// With `performsSyncs` false, `syncData`, `sync` and `syncDirectory` are recorded and can
    /// be faulted, but are not passed on. That changes nothing a process-crash test observes
    /// (the page cache survives a process) and spares it the disk's sync latency.
    public init(wrapping base: any FileSystem = PosixFileSystem(), performsSyncs: Bool = true) {
        self.base = base
        self.performsSyncs = performsSyncs
    }

    // MARK: Setting faults

    /// Adds `rule`; rules are consulted in the order added and the first that matches applies.
    public func inject(_ rule: Rule) {
        state.withLock { $0.rules.append(rule) }
    }

    /// Makes the `call`-th call of `operation` from now (1 for the next) on a path matching
    /// `path` throw the error a real system call failing with `errno` would produce.
    public func fail(
        _ operation: Operation,
        call: Int = 1,
        errno: Int32,
        path: @escaping @Sendable (String) -> Bool = { _ in true }
    ) {
        precondition(call >= 1, "calls are counted from 1")
        inject(Rule(operations: [operation], path: path, skip: call - 1, times: 1,
                    fault: .error(Self.error(errno: errno, operation: operation, path: nil))))
    }

    /// Makes every call of the `operations` on a path matching `path` throw the error a real
    /// system call failing with `errno` would produce, until ``removeAllRules()``.
    public func failEvery(
        _ operations: Set<Operation>,
        errno: Int32,
        path: @escaping @Sendable (String) -> Bool = { _ in true }
    ) {
        inject(Rule(operations: operations, path: path, times: nil,
                    fault: .error(Self.error(errno: errno, operation: nil, path: nil))))
    }

    /// Makes the next write on a path matching `path` write only its first `keptBytes` bytes,
    /// then crash.
    public func tearNextWrite(keepingFirst keptBytes: Int, path: @escaping @Sendable (String) -> Bool = { _ in true }) {
        inject(Rule(operations: [.write], path: path, fault: .tornWrite(keptBytes: keptBytes)))
    }

    /// Runs `action` just before the next call of `operation` on a path matching `path`, then
    /// lets that call proceed. If `action` throws, the call throws its error instead.
    public func interleave(
        _ action: @escaping @Sendable () throws -> Void,
        before operation: Operation,
        path: @escaping @Sendable (String) -> Bool = { _ in true }
    ) {
        inject(Rule(operations: [operation], path: path, fault: .interleave(action)))
    }

    /// Crashes instead of running the call that would be ``calls``[`position`], counting from
    /// the first call this file system received.
    public func crash(beforeCall position: Int) {
        state.withLock { $0.crashAt = position }
    }

    /// Crashes now: every later call throws.
    public func crash() {
        state.withLock { $0.crashed = true }
    }

    /// Removes every rule and any pending ``crash(beforeCall:)``; a crash that happened stays.
    public func removeAllRules() {
        state.withLock { state in
            state.rules.removeAll()
            state.crashAt = nil
        }
    }

    // MARK: Observing

    /// Whether the file system has crashed.
    public var hasCrashed: Bool { state.withLock { $0.crashed } }

    /// Every call received before the crash (including the one that crashed), in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    /// The number of calls received before the crash.
    public var callCount: Int { state.withLock { $0.calls.count } }

    /// The error a system call failing with `errno` produces, classified as
    /// `PosixFileSystem` classifies it: `ENOSPC` and `EDQUOT` are `FileStoreError.Code.noSpace`,
    /// `EACCES`, `EPERM` and `EROFS` `FileStoreError.Code.permissionDenied`, `ENOENT`
    /// `FileStoreError.Code.notFound`, anything else (`EIO`…) `FileStoreError.Code.io`.
    public static func error(errno: Int32, operation: Operation?, path: String?) -> FileStoreError {
        let code: FileStoreError.Code
        switch errno {
        case ENOSPC, EDQUOT: code = .noSpace
        case EACCES, EPERM, EROFS: code = .permissionDenied
        case ENOENT: code = .notFound
        default: code = .io
        }
        let what = operation.map { "\($0) failed" } ?? "failed"
        return FileStoreError(code, "injected fault: \(what): \(String(cString: strerror(errno)))", path: path, errno: errno)
    }

    /// The error every call throws once the file system has crashed.
    public static let crashError = FileStoreError(.io, "injected crash: the file system is dead", errno: EIO)

    // MARK: The decision for one call

    private enum Decision {
        case proceed
        case fail(FileStoreError)
        case tear(Int)
        case interleave(@Sendable () throws -> Void)
    }

    private func decide(_ operation: Operation, _ path: String) -> Decision {
        state.withLock { state in
            if state.crashed { return .fail(Self.crashError) }
            let position = state.calls.count
            state.calls.append(Call(operation: operation, path: path))
            if state.crashAt == position {
                state.crashed = true
                return .fail(Self.crashError)
            }
            for index in state.rules.indices {
                let rule = state.rules[index]
                guard rule.operations.contains(operation), rule.path(path) else { continue }
                // Only a write can be torn; any other call passes such a rule by.
                if case .tornWrite = rule.fault, operation != .write { continue }
                if state.rules[index].skip > 0 {
                    state.rules[index].skip -= 1
                    continue
                }
                if let times = rule.times {
                    if times <= 1 { state.rules.remove(at: index) } else { state.rules[index].times = times - 1 }
                }
                switch rule.fault {
                case .error(var error):
                    error.path = path
                    return .fail(error)
                case .crash:
                    state.crashed = true
                    return .fail(Self.crashError)
                case .tornWrite(let kept):
                    state.crashed = true
                    return .tear(kept)
                case .interleave(let action):
                    // Run by the caller, outside the lock, since it may call back in.
                    return .interleave(action)
                }
            }
            return .proceed
        }
    }

    private func run<T>(_ operation: Operation, _ path: String, _ body: () throws -> T) throws -> T {
        switch decide(operation, path) {
        case .proceed:
            return try body()
        case .fail(let error):
            throw error
        case .tear:
            throw Self.crashError
        case .interleave(let action):
            try action()
            return try body()
        }
    }

    // MARK: FileSystem

    /// Opens the file, unless a fault applies.
    public func open(_ path: String, mode: FileOpenMode) throws -> FileHandle {
        try run(.open, path) { try base.open(path, mode: mode) }
    }

    /// Closes the file. The descriptor is closed even when a fault applies, as Linux closes it
    /// even when `close` fails, and as the kernel closes a dead process's files (releasing its
    /// locks, so a test can reopen the directory after a crash); the call then throws.
    public func close(_ file: FileHandle) throws {
        switch decide(.close, file.path) {
        case .proceed:
            try base.close(file)
        case .interleave(let action):
            do { try action() } catch {
                try? base.close(file)
                throw error
            }
            try base.close(file)
        case .fail(let error):
            try? base.close(file)
            throw error
        case .tear:
            // Unreachable: only writes are torn.
            try? base.close(file)
            throw Self.crashError
        }
    }

    /// Reads, unless a fault applies.
    public func read(_ file: FileHandle, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try run(.read, file.path) { try base.read(file, into: buffer, at: offset) }
    }

    /// Writes, unless a fault applies; a torn write writes a prefix, then crashes.
    public func write(_ file: FileHandle, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        switch decide(.write, file.path) {
        case .proceed:
            try base.write(file, bytes, at: offset)
        case .interleave(let action):
            try action()
            try base.write(file, bytes, at: offset)
        case .fail(let error):
            throw error
        case .tear(let kept):
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<Swift.max(0, Swift.min(kept, bytes.count))])
            try? base.write(file, prefix, at: offset)
            throw Self.crashError
        }
    }

    /// Syncs data (if ``performsSyncs``), unless a fault applies.
    public func syncData(_ file: FileHandle) throws {
        try run(.syncData, file.path) { if performsSyncs { try base.syncData(file) } }
    }

    /// Syncs (if ``performsSyncs``), unless a fault applies.
    public func sync(_ file: FileHandle) throws {
        try run(.sync, file.path) { if performsSyncs { try base.sync(file) } }
    }

    /// Truncates, unless a fault applies.
    public func truncate(_ file: FileHandle, to size: Int64) throws {
        try run(.truncate, file.path) { try base.truncate(file, to: size) }
    }

    /// Preallocates, unless a fault applies.
    public func preallocate(_ file: FileHandle, size: Int64) throws {
        try run(.preallocate, file.path) { try base.preallocate(file, size: size) }
    }

    /// The file's size, unless a fault applies.
    public func size(of file: FileHandle) throws -> Int64 {
        try run(.size, file.path) { try base.size(of: file) }
    }

    /// Tries the lock, unless a fault applies.
    public func tryLock(_ file: FileHandle) throws -> Bool {
        try run(.tryLock, file.path) { try base.tryLock(file) }
    }

    /// Renames, unless a fault applies; the call is recorded under `source`.
    public func rename(_ source: String, to destination: String) throws {
        try run(.rename, source) { try base.rename(source, to: destination) }
    }

    /// Deletes the file, unless a fault applies.
    public func removeFile(_ path: String) throws {
        try run(.removeFile, path) { try base.removeFile(path) }
    }

    /// Deletes the directory, unless a fault applies.
    public func removeDirectory(_ path: String) throws {
        try run(.removeDirectory, path) { try base.removeDirectory(path) }
    }

    /// Creates the directory, unless a fault applies.
    public func makeDirectory(_ path: String) throws {
        try run(.makeDirectory, path) { try base.makeDirectory(path) }
    }

    /// Lists the directory, unless a fault applies.
    public func contentsOfDirectory(_ path: String) throws -> [DirectoryEntry] {
        try run(.contentsOfDirectory, path) { try base.contentsOfDirectory(path) }
    }

    /// Says what `path` is, unless a fault applies.
    public func isDirectory(_ path: String) throws -> Bool? {
        try run(.isDirectory, path) { try base.isDirectory(path) }
    }

    /// Syncs the directory (if ``performsSyncs``), unless a fault applies.
    public func syncDirectory(_ path: String) throws {
        try run(.syncDirectory, path) { if performsSyncs { try base.syncDirectory(path) } }
    }
}
