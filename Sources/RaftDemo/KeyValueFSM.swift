import Synchronization
import SwiftRaft

/// The demo's state machine: a key/value map driven by `set key value` commands.
final class KeyValueFSM: FSM {
    private let state = Mutex<[String: String]>([:])

    var contents: [String: String] { state.withLock { $0 } }

    func apply(_ log: Log) -> (any Sendable)? {
        let parts = String(decoding: log.data, as: UTF8.self).split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "set" else { return "ignored malformed command" }
        let (key, value) = (String(parts[1]), String(parts[2]))
        return state.withLock { map -> String? in
            defer { map[key] = value }
            return map[key]
        }
    }

    func snapshot() throws -> any FSMSnapshot { KeyValueSnapshot(contents: contents) }

    func restore(from source: any SnapshotSource) throws {
        let text = String(decoding: try source.readAll(), as: UTF8.self)
        source.close()
        var map: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { map[String(pair[0])] = String(pair[1]) }
        }
        state.withLock { $0 = map }
    }
}

struct KeyValueSnapshot: FSMSnapshot {
    var contents: [String: String]

    func persist(to sink: any SnapshotSink) throws {
        let text = contents.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        do {
            try sink.write(Array(text.utf8))
            try sink.close()
        } catch {
            try? sink.cancel()
            throw error
        }
    }

    func release() {}
}
