import Logging
import SwiftRaft
import Synchronization

/// Streams one snapshot's `state.bin` from an open file of a ``FileSnapshotStore``.
///
/// Small reads are served from a read-ahead buffer, large ones go straight to the file, so
/// neither a byte-at-a-time reader nor a whole-snapshot reader costs more than one buffer of
/// memory. The file was already verified against its CRC when the snapshot was opened, and stays
/// readable even if the snapshot is reaped meanwhile, because the descriptor is open.
final class FileSnapshotSource: SnapshotSource {
    private struct State {
        var file: FileHandle?
        // The file offset just past what has been read into `buffer` (or returned directly).
        var offset: Int64 = 0
        var buffer: [UInt8] = []
        var bufferPosition = 0
    }

    private let fileSystem: any FileSystem
    private let logger: Logger
    private let state: Mutex<State>

    private static let readAhead = 64 << 10
    // A caller asking for "everything" in one read gets it in slices this size instead of one
    // allocation the size of the request.
    private static let maximumRead = 4 << 20

    init(fileSystem: any FileSystem, file: FileHandle, logger: Logger) {
        self.fileSystem = fileSystem
        self.logger = logger
        self.state = Mutex(State(file: file))
    }

    deinit {
        close()
    }

    /// Up to `maxLength` next bytes; empty at the end of the snapshot.
    ///
    /// Throws ``RaftError`` with ``RaftError/Code/invalidArgument`` if `maxLength` is not positive
    /// (an empty result would wrongly announce the end) or the source is closed, as
    /// ``MemorySnapshotSource`` does, and ``FileStoreError`` if the file cannot be read.
    func read(maxLength: Int) throws -> [UInt8] {
        guard maxLength > 0 else {
            throw RaftError(.invalidArgument, "snapshot read length must be positive, got \(maxLength)")
        }
        return try state.withLock { state in
            guard let file = state.file else {
                throw RaftError(.invalidArgument, "cannot read from a closed snapshot source")
            }
            if state.bufferPosition < state.buffer.count {
                return Self.takeBuffered(maxLength, &state)
            }
            if maxLength >= Self.readAhead {
                let bytes = try fileSystem.read(file, count: min(maxLength, Self.maximumRead), at: state.offset)
                state.offset += Int64(bytes.count)
                return bytes
            }
            state.buffer = try fileSystem.read(file, count: Self.readAhead, at: state.offset)
            state.bufferPosition = 0
            state.offset += Int64(state.buffer.count)
            return Self.takeBuffered(maxLength, &state)
        }
    }

    /// Closes the file; later reads throw. Closing twice is harmless.
    func close() {
        state.withLock { state in
            guard let file = state.file else { return }
            state.file = nil
            state.buffer = []
            do {
                try fileSystem.close(file)
            } catch {
                // Nothing was written through this descriptor, so nothing can have been lost.
                logger.warning("failed to close snapshot state file", metadata: ["path": "\(file.path)", "error": "\(error)"])
            }
        }
    }

    private static func takeBuffered(_ maxLength: Int, _ state: inout State) -> [UInt8] {
        let end = min(state.buffer.count, state.bufferPosition + maxLength)
        defer { state.bufferPosition = end }
        return Array(state.buffer[state.bufferPosition..<end])
    }
}
