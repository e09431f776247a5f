import SwiftRaft
import Synchronization

/// raftkv's replicated state machine: the key-value map, and the map from server id to HTTP
/// address that lets any node send a client to the leader.
///
/// Raft applies committed ``KVCommand``s on its FSM thread; HTTP handlers read concurrently, so
/// the state sits behind a `Mutex`, held only to look up or swap a value (a Swift dictionary
/// copies in O(1) until written, so `snapshot()` and `GET /kv` hold the lock for no longer).
final class KeyValueStore: FSM {
    /// What the store holds.
    struct State: Equatable {
        var values: [String: [UInt8]] = [:]
        var httpAddresses: [String: String] = [:]
    }

    private let state = Mutex(State())

    /// A copy of the whole state.
    var contents: State { state.withLock { $0 } }

    /// The value of `key`, nil when absent.
    func value(of key: String) -> [UInt8]? { state.withLock { $0.values[key] } }

    /// The HTTP address server `id` registered, if any.
    func httpAddress(of id: String) -> String? { state.withLock { $0.httpAddresses[id] } }

    func apply(_ log: Log) -> (any Sendable)? {
        // Entries that do not decode were not written by this program; skipping them keeps
        // every node's state identical, which crashing on some nodes would not.
        guard let command = KVCommand(decoding: log.data) else { return nil }
        state.withLock { state in
            switch command {
            case .put(let key, let value): state.values[key] = value
            case .delete(let key): state.values[key] = nil
            case .setHTTPAddress(let id, let address): state.httpAddresses[id] = address
            }
        }
        return nil
    }

    func snapshot() throws -> any FSMSnapshot { KeyValueSnapshot(state: contents) }

    func restore(from source: any SnapshotSource) throws {
        let restored = try KeyValueSnapshot.decode(try source.readAll())
        state.withLock { $0 = restored }
    }
}

/// A point-in-time copy of a ``KeyValueStore``, and its byte format: the magic `RKV1`, then the
/// values and the HTTP addresses, each as a count and (key, value) fields sorted by key, in
/// ``KVCommand``'s field encoding.
struct KeyValueSnapshot: FSMSnapshot {
    let state: KeyValueStore.State

    private static let magic = Array("RKV1".utf8)

    func persist(to sink: any SnapshotSink) throws {
        do {
            try sink.write(encoded())
            try sink.close()
        } catch {
            try? sink.cancel()
            throw error
        }
    }

    func release() {}

    func encoded() -> [UInt8] {
        var bytes = Self.magic
        Self.appendMap(state.values, to: &bytes)
        Self.appendMap(state.httpAddresses.mapValues { Array($0.utf8) }, to: &bytes)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> KeyValueStore.State {
        guard bytes.starts(with: magic) else { throw RaftError(.corrupt, "raftkv snapshot: not an RKV1 snapshot") }
        var reader = ByteReader(Array(bytes.dropFirst(magic.count)))
        var state = KeyValueStore.State()
        guard let values = readMap(&reader), let addresses = readMap(&reader), reader.isAtEnd else {
            throw RaftError(.corrupt, "raftkv snapshot: truncated or malformed")
        }
        state.values = values
        for (id, address) in addresses {
            guard let text = String(validating: address, as: UTF8.self) else {
                throw RaftError(.corrupt, "raftkv snapshot: HTTP address of \(id) is not UTF-8")
            }
            state.httpAddresses[id] = text
        }
        return state
    }

    private static func appendMap(_ map: [String: [UInt8]], to bytes: inout [UInt8]) {
        KVCommand.appendField([], to: &bytes)   // a 4-byte count, written below
        let countOffset = bytes.count - 4
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            KVCommand.appendField(Array(key.utf8), to: &bytes)
            KVCommand.appendField(value, to: &bytes)
        }
        let count = UInt32(map.count)
        bytes.replaceSubrange(
            countOffset..<countOffset + 4,
            with: [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        )
    }

    private static func readMap(_ reader: inout ByteReader) -> [String: [UInt8]]? {
        guard let count = reader.uint32() else { return nil }
        var map: [String: [UInt8]] = [:]
        for _ in 0..<count {
            guard let key = reader.string(), let value = reader.field() else { return nil }
            map[key] = value
        }
        return map
    }
}
