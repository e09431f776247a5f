import Logging
import SwiftRaft
import Synchronization

/// Writes one snapshot of a ``FileSnapshotStore`` into its `.tmp` directory and, on close, makes
/// it durable and renames it into place.
///
/// Writes go through a buffer, and the CRC-64 is computed as the buffer is written out, so a
/// snapshot of any size costs one buffer of memory. Any failure — a write, or a step of closing —
/// removes the `.tmp` directory at once (freeing the space a full disk needs) and is reported
/// again by every later `write` or `close`; the snapshot is never listed.
final class FileSnapshotSink: SnapshotSink {
    private enum Phase {
        case writing
        case closed
        case cancelled
        case failed(any Error)
    }

    private struct State {
        var phase = Phase.writing
        var stateFile: FileHandle?
        var buffer: [UInt8] = []
        // Bytes already in `state.bin`, and their checksum; the buffer is not counted until it is
        // written out.
        var written: Int64 = 0
        var crc = CRC64()
        var meta: SnapshotMeta
    }

    let id: String
    private let store: FileSnapshotStore
    private let directory: String
    private let state: Mutex<State>

    // Large enough that a big snapshot costs few system calls, small enough to be irrelevant
    // next to the FSM it snapshots. Writes at least this large bypass the buffer.
    private static let bufferCapacity = 256 << 10

    init(store: FileSnapshotStore, meta: SnapshotMeta, directory: String, stateFile: FileHandle) {
        self.id = meta.id
        self.store = store
        self.directory = directory
        var state = State(stateFile: stateFile, meta: meta)
        state.buffer.reserveCapacity(Self.bufferCapacity)
        self.state = Mutex(state)
    }

    // A sink dropped without close or cancel is abandoned: its descriptor and directory would
    // otherwise outlive it for the life of the process.
    deinit {
        state.withLock { state in
            guard case .writing = state.phase else { return }
            store.logger.warning("snapshot sink abandoned without close or cancel", metadata: ["path": "\(directory)"])
            discard(&state, reason: "sink abandoned")
        }
    }

    /// Appends `bytes` to the state.
    func write(_ bytes: [UInt8]) throws {
        try state.withLock { state in
            try requireWriting(state.phase)
            do {
                if state.buffer.count + bytes.count <= Self.bufferCapacity {
                    state.buffer.append(contentsOf: bytes)
                    return
                }
                try flush(&state)
                if bytes.count >= Self.bufferCapacity {
                    try writeOut(bytes, &state)
                } else {
                    state.buffer.append(contentsOf: bytes)
                }
            } catch {
                fail(&state, error, reason: "write failed")
                throw error
            }
        }
    }

    /// Makes the snapshot durable and listed: flushes and fsyncs the state, records its size and
    /// CRC in `meta.json` and fsyncs that, fsyncs the `.tmp` directory, renames it to the
    /// snapshot's ID and fsyncs the parent; then deletes snapshots beyond the store's `retain`.
    ///
    /// Closing twice is harmless, as in hashicorp/raft; closing after a cancel throws, because
    /// the caller would otherwise believe a discarded snapshot was kept. If the rename succeeded
    /// but the final fsync failed, the error is thrown and the (complete) snapshot stays listed.
    func close() throws {
        try state.withLock { state in
            switch state.phase {
            case .closed:
                return
            case .cancelled:
                throw RaftError(.invalidArgument, "snapshot \(id) was cancelled and cannot be closed")
            case .failed(let error):
                throw error
            case .writing:
                break
            }
            do {
                try finish(&state)
                state.phase = .closed
            } catch {
                store.logger.error("failed to finalize snapshot", metadata: ["id": "\(id)", "error": "\(error)"])
                fail(&state, error, reason: "close failed")
                throw error
            }
        }
        // Outside the sink's lock: reaping reads every snapshot's metadata and may take a while.
        store.reapQuietly()
    }

    /// Abandons the snapshot and deletes its `.tmp` directory.
    ///
    /// Cancelling a closed sink keeps the snapshot, because `FSMSnapshot.persist(to:)` cancels
    /// on any failure, including one after a successful close.
    func cancel() throws {
        try state.withLock { state in
            switch state.phase {
            case .closed, .cancelled:
                return
            case .failed:
                // The failure already removed the directory.
                state.phase = .cancelled
            case .writing:
                state.phase = .cancelled
                state.buffer = []
                if let stateFile = state.stateFile {
                    try? store.fileSystem.close(stateFile)
                    state.stateFile = nil
                }
                try store.fileSystem.removeTree(directory)
            }
        }
    }

    // MARK: Steps

    private func finish(_ state: inout State) throws {
        try flush(&state)
        guard let stateFile = state.stateFile else { return }
        // fsync, not fdatasync: the file's size changed, and the size is what makes the data
        // readable.
        try store.fileSystem.sync(stateFile)
        state.stateFile = nil
        try store.fileSystem.close(stateFile)

        state.meta.size = state.written
        let metaFile = SnapshotMetaFile(meta: state.meta, crc: state.crc.bigEndianBytes)
        try store.writeMeta(metaFile, in: directory, sync: true)
        // The entries for meta.json and state.bin live in this directory, not in the parent that
        // the rename is synced in; hashicorp/raft relies on the file system to order this.
        try store.fileSystem.syncDirectory(directory)
        try store.fileSystem.rename(directory, to: store.path(of: id))
        try store.fileSystem.syncDirectory(store.snapshotsDirectory)
    }

    private func flush(_ state: inout State) throws {
        guard !state.buffer.isEmpty else { return }
        try writeOut(state.buffer, &state)
        state.buffer.removeAll(keepingCapacity: true)
    }

    private func writeOut(_ bytes: [UInt8], _ state: inout State) throws {
        guard let stateFile = state.stateFile else { return }
        try store.fileSystem.write(stateFile, bytes, at: state.written)
        state.crc.update(bytes)
        state.written += Int64(bytes.count)
    }

    private func fail(_ state: inout State, _ error: any Error, reason: String) {
        state.phase = .failed(error)
        discard(&state, reason: reason)
    }

    private func discard(_ state: inout State, reason: String) {
        state.buffer = []
        if let stateFile = state.stateFile {
            try? store.fileSystem.close(stateFile)
            state.stateFile = nil
        }
        store.removeQuietly(directory, reason: reason)
    }

    private func requireWriting(_ phase: Phase) throws {
        switch phase {
        case .writing:
            return
        case .closed:
            throw RaftError(.invalidArgument, "cannot write to snapshot \(id): it is closed")
        case .cancelled:
            throw RaftError(.invalidArgument, "cannot write to snapshot \(id): it was cancelled")
        case .failed(let error):
            throw error
        }
    }
}
