@testable import RaftKV
import SwiftRaft
import Testing

/// raftkv's state machine: applying commands, snapshots and restores.
@Suite struct KeyValueStoreTests {
    private func apply(_ commands: [KVCommand], to store: KeyValueStore) {
        for (offset, command) in commands.enumerated() {
            _ = store.apply(Log(index: UInt64(offset + 1), term: 1, data: command.encoded()))
        }
    }

    // Puts set values, deletes remove them (absent keys included), and HTTP addresses are recorded per server.
    @Test func commandsChangeTheState() {
        let store = KeyValueStore()
        apply(
            [
                .put(key: "a", value: [1]), .put(key: "b", value: [2]), .put(key: "a", value: [3]),
                .delete(key: "b"), .delete(key: "never-set"), .setHTTPAddress(id: "n1", address: "127.0.0.1:8001"),
            ],
            to: store
        )
        #expect(store.value(of: "a") == [3])
        #expect(store.value(of: "b") == nil)
        #expect(store.contents.values == ["a": [3]])
        #expect(store.httpAddress(of: "n1") == "127.0.0.1:8001")
        #expect(store.httpAddress(of: "n2") == nil)
    }

    // An entry that is not a raftkv command changes nothing (every node skips it alike).
    @Test func anUnknownEntryIsSkipped() {
        let store = KeyValueStore()
        apply([.put(key: "a", value: [1])], to: store)
        _ = store.apply(Log(index: 2, term: 1, data: Array("set a 2".utf8)))
        #expect(store.contents.values == ["a": [1]])
    }

    // A snapshot persisted to a snapshot store and restored into a new store gives the same values and HTTP addresses.
    @Test func aSnapshotRestoresTheSameState() throws {
        let store = KeyValueStore()
        apply(
            [
                .put(key: "x", value: Array("1".utf8)), .put(key: "clé", value: [0, 255]), .put(key: "empty", value: []),
                .setHTTPAddress(id: "n1", address: "127.0.0.1:8001"), .setHTTPAddress(id: "n2", address: "[::1]:8002"),
            ],
            to: store
        )
        let snapshots = InmemSnapshotStore()
        let sink = try snapshots.create(version: 1, index: 5, term: 1, configuration: Configuration(), configurationIndex: 0)
        try store.snapshot().persist(to: sink)
        let (_, source) = try snapshots.open(id: try #require(snapshots.list().first).id)

        let restored = KeyValueStore()
        apply([.put(key: "stale", value: [9])], to: restored)
        try restored.restore(from: source)
        #expect(restored.contents == store.contents)
    }

    // A snapshot is taken at one instant: writes applied after it are not in it.
    @Test func aSnapshotIsAPointInTimeCopy() {
        let store = KeyValueStore()
        apply([.put(key: "a", value: [1])], to: store)
        let snapshot = KeyValueSnapshot(state: store.contents)
        apply([.put(key: "b", value: [2])], to: store)
        #expect(snapshot.state.values == ["a": [1]])
    }

    // Bytes that are not a raftkv snapshot fail the restore with `corrupt` instead of loading something else.
    @Test func aForeignSnapshotFailsToRestore() throws {
        #expect(throws: RaftError(.corrupt, "")) { try KeyValueSnapshot.decode(Array("a=1\nb=2".utf8)) }
        let valid = KeyValueSnapshot(state: .init(values: ["a": [1]], httpAddresses: [:])).encoded()
        #expect(throws: RaftError(.corrupt, "")) { try KeyValueSnapshot.decode(Array(valid.dropLast())) }
    }
}
