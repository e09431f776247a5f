#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import RaftFileStores
import SwiftRaft
import Synchronization

/// An in-memory `FileSystem` that models what a *power cut* leaves on disk, so tests can
/// catch a missing `fsync`, `fdatasync` or directory `fsync`.
///
/// ``FaultInjectingFileSystem`` models a process crash, after which the page cache survives and
/// every write is still there, synced or not. A power cut loses the page cache. This file system
/// keeps, for every file, what reads see and what is durable, and for every directory, its
/// entries and its durable entries; ``cutPower(_:)`` throws away what was never made durable:
///
/// ```swift
/// let files = PowerLossFileSystem()
/// let store = try FileLogStore(directory: "/raft/log", options: .init(fileSystem: files))
/// try store.storeLogs(entries)       // acknowledged, so it must survive
/// files.cutPower()                   // the machine loses power and comes back
/// let reopened = try FileLogStore(directory: "/raft/log", options: .init(fileSystem: files))
/// ```
///
/// **What is durable.** The model follows Linux (ext4) conservatively, granting only what
/// POSIX and the kernel's documentation promise:
/// - A file's bytes and size are durable as of its last ``syncData(_:)`` or ``sync(_:)``; the two
///   are the same here, since `fdatasync` also flushes a size change a read depends on.
///   Writes, ``truncate(_:to:)`` and ``preallocate(_:size:)`` (which zero-extends) are volatile
///   until then.
/// - A name is durable as of its directory's last ``syncDirectory(_:)``. Creating a file,
///   ``rename(_:to:)`` (in both directories, if they differ), ``removeFile(_:)``,
///   ``makeDirectory(_:)`` and ``removeDirectory(_:)`` change only the volatile entries, so
///   a new file whose directory was never synced vanishes, even if the file itself was synced
///   (`fsync` of a file does not promise its name), and an unsynced rename over an existing file
///   leaves the old file in place.
///
/// **Two kinds of cut.** ``LossMode/strict`` loses every unsynced change: the worst case for
/// acknowledged data. ``LossMode/seeded(_:)`` keeps some of them, chosen by a seeded generator,
/// because a real disk writes dirty pages back in any order and at any time, so a store must
/// also survive a mix (a torn or holed tail, a renamed file whose directory was never synced):
/// - each directory keeps all its unsynced entry changes or none of them;
/// - each file's unsynced size changes (truncations, preallocations, writes past the end) reach
///   the disk as a prefix, as a journal commits them in order, and the changes after the first
///   one lost are lost too (their blocks were never mapped);
/// - each 4 KiB page of every unsynced write before that point is kept or lost on its own.
/// The same seed and the same calls always give the same result.
///
/// ``LossMode/processCrash`` loses nothing: it is the process that dies, not the machine, so the
/// page cache still reaches the disk (what ``FaultInjectingFileSystem`` models). It gives
/// crash-point tests a process crash at the same positions as the power cuts.
///
/// **Crash points.** ``calls`` lists every call in order, as ``FaultInjectingFileSystem/calls``
/// does. A test runs a scenario once to count its calls, then reruns it with
/// ``cutPower(beforeCall:mode:)`` at each position in turn: power fails instead of that call,
/// which throws, as does every later call (the process is dead), until ``restart()``.
///
/// **After a cut** the file system is the restarted machine: handles opened before it are
/// invalid (using one throws; closing one does nothing to the new handles) and every lock is
/// released, so a test opens the stores again on the same instance.
///
/// Advisory locks (``tryLock(_:)``) are per file and held by one handle until it is closed.
/// Paths are absolute or relative to `/`; `.` and `..` components are resolved by name.
///
/// All methods are safe to call from any thread.
public final class PowerLossFileSystem: FileSystem {
    /// How a power cut treats changes that were never synced.
    public enum LossMode: Hashable, Sendable, CustomStringConvertible {
        /// Every unsynced change is lost.
        case strict
        /// Each unsynced change is kept or lost as described on ``PowerLossFileSystem``, chosen by
        /// a generator seeded with this value.
        case seeded(UInt64)
        /// Nothing is lost: only the process died. Its handles and locks go with it.
        case processCrash

        /// `strict`, `seeded(n)` or `processCrash`.
        public var description: String {
            switch self {
            case .strict: return "strict"
            case .seeded(let seed): return "seeded(\(seed))"
            case .processCrash: return "processCrash"
            }
        }
    }

    /// The size of the unit a seeded cut keeps or loses a write in: a page of the page cache.
    public static let pageSize = 4096

    /// The error every call throws between a cut scheduled by ``cutPower(beforeCall:mode:)`` and
    /// ``restart()``.
    public static let powerLostError = FileStoreError(.io, "power cut: the machine is down", errno: EIO)

    // MARK: Model

    fileprivate enum Node: Hashable {
        case file(Int)
        case directory(Int)
    }

    /// A change to a file's bytes or size that no sync has made durable yet, in order.
    fileprivate enum Change {
        case write(offset: Int, bytes: [UInt8])
        case resize(Int)
    }

    fileprivate struct Inode {
        /// What reads see.
        var content: [UInt8] = []
        /// What survives a strict cut: the content as of the last sync.
        var durable: [UInt8] = []
        /// The changes from `durable` to `content`, for a seeded cut to pick from.
        var unsynced: [Change] = []
        /// The descriptor holding the lock, if any.
        var lockHolder: Int32?
    }

    fileprivate struct Directory {
        var entries: [String: Node] = [:]
        var durable: [String: Node] = [:]
    }

    fileprivate struct OpenFile {
        var inode: Int
        var writable: Bool
    }

    fileprivate static let root = 0

    fileprivate struct State {
        var inodes: [Int: Inode] = [:]
        var directories: [Int: Directory] = [PowerLossFileSystem.root: Directory()]
        var nextID = 1
        var handles: [Int32: OpenFile] = [:]
        // Never reused, so a handle from before a cut cannot name a file opened after it.
        var nextDescriptor: Int32 = 3
        var calls: [FaultInjectingFileSystem.Call] = []
        var cutAt: (position: Int, mode: LossMode)?
        var isDown = false
        var cuts = 0
    }

    private let state = Mutex(State())

    /// Creates an empty file system holding only the root directory, which is always durable.
    public init() {}

    // MARK: Power

    /// Cuts the power now, losing what `mode` says, and brings the machine back: the file system
    /// is usable at once, with no open handles and no locks.
    public func cutPower(_ mode: LossMode = .strict) {
        state.withLock { state in
            state.cutAt = nil
            state.loseUnsyncedChanges(mode)
            state.isDown = false
        }
    }

    /// Cuts the power instead of running the call that would be ``calls``[`position`], counting
    /// from the first call this file system received. That call and every later one throw
    /// ``powerLostError`` until ``restart()``.
    public func cutPower(beforeCall position: Int, mode: LossMode = .strict) {
        state.withLock { $0.cutAt = (position, mode) }
    }

    /// Brings the machine back after a cut scheduled by ``cutPower(beforeCall:mode:)``: calls run
    /// again, on what the cut left. Does nothing if the power is on.
    public func restart() {
        state.withLock { $0.isDown = false }
    }

    /// Whether a scheduled cut happened and ``restart()`` has not been called since.
    public var isDown: Bool { state.withLock { $0.isDown } }

    /// How many cuts there have been (process crashes included).
    public var powerCuts: Int { state.withLock { $0.cuts } }

    /// Every call received while the power was on (including one a cut replaced), in order.
    public var calls: [FaultInjectingFileSystem.Call] { state.withLock { $0.calls } }

    /// The number of calls in ``calls``.
    public var callCount: Int { state.withLock { $0.calls.count } }

    /// Runs `scenario` once on a fresh file system to count its calls, then once more per call
    /// position and per loss mode `modes` gives for it, each time on a fresh file system whose
    /// power is cut before that call; after each cut it restarts the machine and hands the file
    /// system, what `scenario` returned and a label naming the cut to `check`.
    ///
    /// `scenario` runs a workload until a call fails and returns what it acknowledged; `check`
    /// reopens the stores on what the cut left and compares. Returns what the uncut run
    /// returned and its file system, whose ``calls`` show what the workload did.
    @discardableResult
    public static func cutBeforeEveryCall<Outcome>(
        modes: (_ position: Int) -> [LossMode] = { _ in [.strict] },
        of scenario: (PowerLossFileSystem) -> Outcome,
        check: (PowerLossFileSystem, Outcome, _ label: String) -> Void
    ) -> (uncut: Outcome, probe: PowerLossFileSystem) {
        let probe = PowerLossFileSystem()
        let uncut = scenario(probe)
        for position in 0..<probe.callCount {
            for mode in modes(position) {
                let files = PowerLossFileSystem()
                files.cutPower(beforeCall: position, mode: mode)
                let outcome = scenario(files)
                files.restart()
                check(files, outcome, "a \(mode) cut before call \(position)")
            }
        }
        return (uncut, probe)
    }

    // MARK: FileSystem

    /// Opens the file, creating it (a volatile directory entry) if `mode` says so.
    public func open(_ path: String, mode: FileOpenMode) throws -> FileHandle {
        try state.withLock { state in
            try state.begin(.open, path)
            let (parent, name) = try state.parent(of: path)
            let inode: Int
            switch state.directories[parent]!.entries[name] {
            case .directory:
                throw Self.error(.io, EISDIR, "open", path)
            case .file(let existing):
                if mode == .createNew { throw Self.error(.io, EEXIST, "open", path) }
                inode = existing
            case nil:
                guard mode == .readWriteCreate || mode == .createNew else { throw Self.error(.notFound, ENOENT, "open", path) }
                inode = state.makeID()
                state.inodes[inode] = Inode()
                state.directories[parent]!.entries[name] = .file(inode)
            }
            let descriptor = state.nextDescriptor
            state.nextDescriptor += 1
            state.handles[descriptor] = OpenFile(inode: inode, writable: mode != .readOnly)
            return FileHandle(descriptor: descriptor, path: path)
        }
    }

    /// Closes the handle and releases its lock. A handle from before a cut is already gone, so
    /// closing it throws and changes nothing.
    public func close(_ file: FileHandle) throws {
        try state.withLock { state in
            try state.begin(.close, file.path)
            let open = try state.handle(file)
            state.handles[file.descriptor] = nil
            if state.inodes[open.inode]!.lockHolder == file.descriptor { state.inodes[open.inode]!.lockHolder = nil }
        }
    }

    /// Reads what the file's content holds at `offset`, synced or not.
    public func read(_ file: FileHandle, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try state.withLock { state in
            try state.begin(.read, file.path)
            let content = state.inodes[try state.handle(file).inode]!.content
            guard offset >= 0 else { throw Self.error(.io, EINVAL, "pread", file.path) }
            let start = Int(offset)
            guard start < content.count else { return 0 }
            let count = Swift.min(buffer.count, content.count - start)
            content.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + count)]))
            }
            return count
        }
    }

    /// Writes into the file's content; volatile until the file is synced. A write past the end
    /// also grows the file, which is a size change of its own.
    public func write(_ file: FileHandle, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try state.withLock { state in
            try state.begin(.write, file.path)
            let id = try state.writableHandle(file).inode
            guard offset >= 0 else { throw Self.error(.io, EINVAL, "pwrite", file.path) }
            let start = Int(offset)
            let end = start + bytes.count
            if end > state.inodes[id]!.content.count { state.resize(id, to: end) }
            state.inodes[id]!.content.replaceSubrange(start..<end, with: bytes)
            state.inodes[id]!.unsynced.append(.write(offset: start, bytes: Array(bytes)))
        }
    }

    /// Makes the file's content and size durable (`fdatasync`).
    public func syncData(_ file: FileHandle) throws {
        try state.withLock { state in
            try state.begin(.syncData, file.path)
            state.makeDurable(try state.handle(file).inode)
        }
    }

    /// Makes the file's content and size durable (`fsync`). The file's name is not made
    /// durable: that takes ``syncDirectory(_:)``.
    public func sync(_ file: FileHandle) throws {
        try state.withLock { state in
            try state.begin(.sync, file.path)
            state.makeDurable(try state.handle(file).inode)
        }
    }

    /// Cuts or zero-extends the file; volatile until the file is synced.
    public func truncate(_ file: FileHandle, to size: Int64) throws {
        try state.withLock { state in
            try state.begin(.truncate, file.path)
            guard size >= 0 else { throw Self.error(.io, EINVAL, "ftruncate", file.path) }
            state.resize(try state.writableHandle(file).inode, to: Int(size))
        }
    }

    /// Zero-extends the file to `size` if it is shorter (never shrinks it); volatile until the
    /// file is synced.
    public func preallocate(_ file: FileHandle, size: Int64) throws {
        try state.withLock { state in
            try state.begin(.preallocate, file.path)
            let id = try state.writableHandle(file).inode
            if Int(size) > state.inodes[id]!.content.count { state.resize(id, to: Int(size)) }
        }
    }

    /// The size of the file's content.
    public func size(of file: FileHandle) throws -> Int64 {
        try state.withLock { state in
            try state.begin(.size, file.path)
            return Int64(state.inodes[try state.handle(file).inode]!.content.count)
        }
    }

    /// Takes the file's lock for this handle unless another handle holds it.
    public func tryLock(_ file: FileHandle) throws -> Bool {
        try state.withLock { state in
            try state.begin(.tryLock, file.path)
            let id = try state.handle(file).inode
            if let holder = state.inodes[id]!.lockHolder, holder != file.descriptor { return false }
            state.inodes[id]!.lockHolder = file.descriptor
            return true
        }
    }

    /// Moves the entry, replacing a file (or an empty directory, for a directory) at
    /// `destination`; volatile in both directories until each is synced.
    public func rename(_ source: String, to destination: String) throws {
        try state.withLock { state in
            try state.begin(.rename, source)
            let (fromParent, fromName) = try state.parent(of: source)
            guard let node = state.directories[fromParent]!.entries[fromName] else {
                throw Self.error(.notFound, ENOENT, "rename to \(destination)", source)
            }
            let (toParent, toName) = try state.parent(of: destination)
            if fromParent == toParent && fromName == toName { return }
            switch (node, state.directories[toParent]!.entries[toName]) {
            case (.file, .directory?):
                throw Self.error(.io, EISDIR, "rename to \(destination)", source)
            case (.directory, .file?):
                throw Self.error(.io, ENOTDIR, "rename to \(destination)", source)
            case (.directory(let moved), .directory(let replaced)?):
                if !state.directories[replaced]!.entries.isEmpty { throw Self.error(.io, ENOTEMPTY, "rename to \(destination)", source) }
                if state.isAncestor(moved, of: toParent) { throw Self.error(.io, EINVAL, "rename to \(destination)", source) }
            case (.directory(let moved), nil):
                if state.isAncestor(moved, of: toParent) { throw Self.error(.io, EINVAL, "rename to \(destination)", source) }
            case (.file, .file?), (.file, nil):
                break
            }
            state.directories[fromParent]!.entries[fromName] = nil
            state.directories[toParent]!.entries[toName] = node
        }
    }

    /// Removes the file's name; volatile until the directory is synced.
    public func removeFile(_ path: String) throws {
        try state.withLock { state in
            try state.begin(.removeFile, path)
            let (parent, name) = try state.parent(of: path)
            switch state.directories[parent]!.entries[name] {
            case nil: throw Self.error(.notFound, ENOENT, "unlink", path)
            case .directory: throw Self.error(.io, EISDIR, "unlink", path)
            case .file: state.directories[parent]!.entries[name] = nil
            }
        }
    }

    /// Removes an empty directory's name; volatile until its parent is synced.
    public func removeDirectory(_ path: String) throws {
        try state.withLock { state in
            try state.begin(.removeDirectory, path)
            let (parent, name) = try state.parent(of: path)
            switch state.directories[parent]!.entries[name] {
            case nil: throw Self.error(.notFound, ENOENT, "rmdir", path)
            case .file: throw Self.error(.io, ENOTDIR, "rmdir", path)
            case .directory(let id):
                guard state.directories[id]!.entries.isEmpty else { throw Self.error(.io, ENOTEMPTY, "rmdir", path) }
                state.directories[parent]!.entries[name] = nil
            }
        }
    }

    /// Creates a directory (an existing one is success); its name is volatile until its parent
    /// is synced.
    public func makeDirectory(_ path: String) throws {
        try state.withLock { state in
            try state.begin(.makeDirectory, path)
            if try state.resolve(path) == .directory(Self.root) { return }
            let (parent, name) = try state.parent(of: path)
            switch state.directories[parent]!.entries[name] {
            case .directory: return
            case .file: throw Self.error(.io, EEXIST, "mkdir", path)
            case nil:
                let id = state.makeID()
                state.directories[id] = Directory()
                state.directories[parent]!.entries[name] = .directory(id)
            }
        }
    }

    /// The directory's current (volatile) entries, in name order.
    public func contentsOfDirectory(_ path: String) throws -> [DirectoryEntry] {
        try state.withLock { state in
            try state.begin(.contentsOfDirectory, path)
            let id = try state.directory(path, "opendir")
            // Sorted, not in Dictionary order, which Swift seeds per instance: a store that acts
            // on entries in listing order (reading each snapshot's metadata, removing a tree)
            // must make the same calls in every run, or a cut before call N hits a different
            // call each time.
            return state.directories[id]!.entries.sorted { $0.key < $1.key }.map { name, node in
                DirectoryEntry(name: name, isDirectory: { if case .directory = node { return true } else { return false } }())
            }
        }
    }

    /// Whether `path` names a directory, a file or nothing (as `stat` failing with `ENOENT` or
    /// `ENOTDIR` is nothing to `PosixFileSystem`).
    public func isDirectory(_ path: String) throws -> Bool? {
        try state.withLock { state in
            try state.begin(.isDirectory, path)
            switch try state.resolve(path) {
            case nil: return nil
            case .file: return false
            case .directory: return true
            }
        }
    }

    /// Makes the directory's current entries durable. Not its own name in its parent, nor the
    /// entries of its subdirectories.
    public func syncDirectory(_ path: String) throws {
        try state.withLock { state in
            try state.begin(.syncDirectory, path)
            let id = try state.directory(path, "open directory")
            state.directories[id]!.durable = state.directories[id]!.entries
        }
    }

    // MARK: Errors

    /// The error a system call failing with `errno` would produce from ``PosixFileSystem``.
    private static func error(_ code: FileStoreError.Code, _ errno: Int32, _ operation: String, _ path: String) -> FileStoreError {
        FileStoreError(code, "\(operation) failed: \(String(cString: strerror(errno)))", path: path, errno: errno)
    }
}

// MARK: - The state behind the lock

extension PowerLossFileSystem.State {
    /// Records the call, and cuts the power instead if this is the scheduled position. Throws
    /// while the machine is down.
    mutating func begin(_ operation: FaultInjectingFileSystem.Operation, _ path: String) throws {
        if isDown { throw PowerLossFileSystem.powerLostError }
        let position = calls.count
        calls.append(FaultInjectingFileSystem.Call(operation: operation, path: path))
        if let cut = cutAt, cut.position == position {
            cutAt = nil
            loseUnsyncedChanges(cut.mode)
            isDown = true
            throw PowerLossFileSystem.powerLostError
        }
    }

    mutating func makeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: Paths

    /// The path's components from the root, with `.` and `..` resolved by name.
    static func components(_ path: String) -> [String] {
        var result: [String] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = result.popLast()
            default: result.append(String(part))
            }
        }
        return result
    }

    /// What `path` names now, or nil if nothing does (a missing component, or a file used as a
    /// directory).
    func resolve(_ path: String) throws -> PowerLossFileSystem.Node? {
        var node = PowerLossFileSystem.Node.directory(PowerLossFileSystem.root)
        for name in Self.components(path) {
            guard case .directory(let id) = node, let next = directories[id]!.entries[name] else { return nil }
            node = next
        }
        return node
    }

    /// The directory holding `path`'s last component, and that component. Throws `ENOENT` if the
    /// directory does not exist, as a system call would.
    func parent(of path: String) throws -> (directory: Int, name: String) {
        var parts = Self.components(path)
        guard let name = parts.popLast() else {
            throw FileStoreError(.io, "the root cannot be changed: \(String(cString: strerror(EBUSY)))", path: path, errno: EBUSY)
        }
        guard case .directory(let id)? = try resolve("/" + parts.joined(separator: "/")) else {
            throw FileStoreError(.notFound, "no such directory: \(String(cString: strerror(ENOENT)))", path: path, errno: ENOENT)
        }
        return (id, name)
    }

    /// The directory `path` names; throws `ENOENT` or `ENOTDIR` otherwise.
    func directory(_ path: String, _ operation: String) throws -> Int {
        switch try resolve(path) {
        case .directory(let id)?:
            return id
        case .file?:
            throw FileStoreError(.io, "\(operation) failed: \(String(cString: strerror(ENOTDIR)))", path: path, errno: ENOTDIR)
        case nil:
            throw FileStoreError(.notFound, "\(operation) failed: \(String(cString: strerror(ENOENT)))", path: path, errno: ENOENT)
        }
    }

    /// Whether `ancestor` is `directory` or contains it, so a rename would move a directory into
    /// itself.
    func isAncestor(_ ancestor: Int, of directory: Int) -> Bool {
        if ancestor == directory { return true }
        for (id, entry) in directories where entry.entries.values.contains(.directory(directory)) {
            return isAncestor(ancestor, of: id)
        }
        return false
    }

    // MARK: Handles and files

    /// The open file behind `file`; `EBADF` for a closed handle or one from before a cut.
    func handle(_ file: FileHandle) throws -> PowerLossFileSystem.OpenFile {
        guard let open = handles[file.descriptor] else {
            throw FileStoreError(.io, "bad file descriptor: \(String(cString: strerror(EBADF)))", path: file.path, errno: EBADF)
        }
        return open
    }

    /// The open file behind `file`, which must have been opened for writing.
    func writableHandle(_ file: FileHandle) throws -> PowerLossFileSystem.OpenFile {
        let open = try handle(file)
        guard open.writable else {
            throw FileStoreError(.io, "opened read-only: \(String(cString: strerror(EBADF)))", path: file.path, errno: EBADF)
        }
        return open
    }

    mutating func resize(_ id: Int, to size: Int) {
        let current = inodes[id]!.content.count
        guard size != current else { return }
        if size < current {
            inodes[id]!.content.removeLast(current - size)
        } else {
            inodes[id]!.content.append(contentsOf: repeatElement(0, count: size - current))
        }
        inodes[id]!.unsynced.append(.resize(size))
    }

    mutating func makeDurable(_ id: Int) {
        inodes[id]!.durable = inodes[id]!.content
        inodes[id]!.unsynced = []
    }

    // MARK: The cut

    /// Replaces every directory's entries and every file's content with what `mode` says a
    /// power cut leaves, and forgets every handle and lock.
    mutating func loseUnsyncedChanges(_ mode: PowerLossFileSystem.LossMode) {
        cuts += 1
        var random: SplitMix64?
        if case .seeded(let seed) = mode { random = SplitMix64(seed: seed) }
        let keepsEverything = mode == .processCrash
        // In ID order: dictionaries iterate in a per-process random order, and the same seed must
        // give the same result in every run.
        for id in directories.keys.sorted() {
            var keepsChanges = keepsEverything
            if var generator = random {
                keepsChanges = generator.next() & 1 == 1
                random = generator
            }
            if !keepsChanges { directories[id]!.entries = directories[id]!.durable }
            directories[id]!.durable = directories[id]!.entries
        }
        for id in inodes.keys.sorted() {
            var inode = inodes[id]!
            if var generator = random {
                inode.content = Self.survivingContent(of: inode, using: &generator)
                random = generator
            } else if !keepsEverything {
                inode.content = inode.durable
            }
            inode.durable = inode.content
            inode.unsynced = []
            inode.lockHolder = nil
            inodes[id] = inode
        }
        handles = [:]
    }

    /// What a seeded cut leaves of a file: its durable content, then its unsynced changes in
    /// order up to the first size change the journal did not commit, each page of each write
    /// kept or not.
    static func survivingContent(of inode: PowerLossFileSystem.Inode, using random: inout SplitMix64) -> [UInt8] {
        let sizeChanges = inode.unsynced.count { if case .resize = $0 { return true } else { return false } }
        let committed = Int(random.next() % UInt64(sizeChanges + 1))
        var image = inode.durable
        var resized = 0
        let page = PowerLossFileSystem.pageSize
        replay: for change in inode.unsynced {
            switch change {
            case .resize(let size):
                // Later changes were made to a file of this size, in blocks a disk that lost the
                // size change never mapped: they are lost with it.
                guard resized < committed else { break replay }
                resized += 1
                if size < image.count {
                    image.removeLast(image.count - size)
                } else {
                    image.append(contentsOf: repeatElement(0, count: size - image.count))
                }
            case .write(let offset, let bytes):
                var pageStart = offset / page * page
                while pageStart < offset + bytes.count {
                    let from = Swift.max(offset, pageStart)
                    let to = Swift.min(offset + bytes.count, pageStart + page, image.count)
                    if random.next() & 1 == 1, from < to {
                        image.replaceSubrange(from..<to, with: bytes[(from - offset)..<(to - offset)])
                    }
                    pageStart += page
                }
            }
        }
        return image
    }
}
