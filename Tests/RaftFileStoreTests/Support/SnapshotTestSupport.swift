import RaftFileStores
import SwiftRaft
import Synchronization

/// The configuration most snapshot tests store: two voters and a nonvoter.
let snapshotTestConfiguration = Configuration(servers: [
    Server(id: "n1", address: "127.0.0.1:7000"),
    Server(id: "n2", address: "127.0.0.1:7001"),
    Server(suffrage: .nonvoter, id: "n3", address: "127.0.0.1:7002"),
])

/// `count` bytes that differ from position to position, so misplaced chunks are caught.
func snapshotTestBytes(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 8) &+ seed) }
}

extension SnapshotStore {
    /// Creates a version-1 snapshot with ``snapshotTestConfiguration``, writes `bytes` in
    /// `chunk`-sized pieces and closes it; returns its ID.
    @discardableResult
    func save(_ bytes: [UInt8], index: UInt64, term: UInt64, configurationIndex: UInt64 = 1, chunk: Int = 4096) throws -> String {
        let sink = try create(
            version: 1, index: index, term: term, configuration: snapshotTestConfiguration, configurationIndex: configurationIndex)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            try sink.write(Array(bytes[offset..<end]))
            offset = end
        }
        try sink.close()
        return sink.id
    }
}

/// A clock for snapshot IDs that returns `start`, then one millisecond more on each call.
func steppingClock(from start: UInt64) -> @Sendable () -> UInt64 {
    let counter = Counter(start)
    return { counter.next() }
}

private final class Counter: Sendable {
    private let value: Mutex<UInt64>
    init(_ start: UInt64) { value = Mutex(start) }
    func next() -> UInt64 {
        value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}

