import Synchronization
public import SwiftRaft

/// A simple FSM for tests: remembers every command it applied, in order, and answers each apply
/// with the entry's index.
public final class RecordingFSM: FSM {
    private let log = Mutex<[Log]>([])

    /// Creates an empty FSM.
    public init() {}

    /// Every command entry applied so far, in order.
    public var applied: [Log] { log.withLock { $0 } }

    /// The data of every command applied so far, in order.
    public var commands: [[UInt8]] { log.withLock { $0.map { Array($0.data) } } }

    /// Records the entry and returns its index.
    public func apply(_ entry: Log) -> (any Sendable)? {
        log.withLock { $0.append(entry) }
        return entry.index
    }

    /// Captures the commands applied so far.
    public func snapshot() throws -> any FSMSnapshot { RecordingSnapshot(commands: commands) }

    /// Replaces the recorded commands with those in the snapshot.
    public func restore(from source: any SnapshotSource) throws {
        let commands = try RecordingSnapshot.decode(try source.readAll())
        source.close()
        log.withLock { log in
            log = commands.enumerated().map { Log(index: UInt64($0.offset + 1), term: 0, data: $0.element) }
        }
    }
}

/// A ``RecordingFSM`` snapshot: the commands, each as a 4-byte big-endian length and its bytes.
struct RecordingSnapshot: FSMSnapshot {
    var commands: [[UInt8]]

    func persist(to sink: any SnapshotSink) throws {
        do {
            var bytes: [UInt8] = []
            for command in commands {
                withUnsafeBytes(of: UInt32(command.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: command)
            }
            try sink.write(bytes)
            try sink.close()
        } catch {
            try? sink.cancel()
            throw error
        }
    }

    func release() {}

    static func decode(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var commands: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw RaftError(.corrupt, "snapshot ends inside a length") }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard bytes.count - offset >= length else { throw RaftError(.corrupt, "snapshot ends inside a command") }
            commands.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return commands
    }
}
