import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// A power cut before any call of a workload loses nothing a stable store or a snapshot store
/// acknowledged, and leaves nothing half made visible.
@Suite("File stores under power loss")
struct FileStoresPowerLossTests {
    /// A strict cut, and seeded cuts whose seed varies with the position.
    private static func modes(at position: Int) -> [PowerLossFileSystem.LossMode] {
        [.strict] + (1...3).map { .seeded(UInt64($0) &* 1_000 &+ UInt64(position)) }
    }

    // MARK: Stable store

    private static let stableDirectory = "/raft/stable"

    /// Sets, in order: a user key, then terms and votes, enough to compact the file twice with
    /// a 300-byte threshold.
    private static let stableWorkload: [(key: [UInt8], value: [UInt8])] =
        [(Array("user".utf8), Array(repeating: 0xab, count: 30))]
        + (1...24).flatMap { term -> [(key: [UInt8], value: [UInt8])] in
            [(StableStoreKeys.currentTerm, Array("term \(term)".utf8)), (StableStoreKeys.lastVoteTerm, Array("vote \(term)".utf8))]
        }

    private static func stableOptions(_ files: PowerLossFileSystem) -> FileStableStore.Options {
        FileStableStore.Options(fileSystem: files, logger: LogFixtures.quietLogger, compactionThreshold: 300)
    }

    /// Runs the sets until one fails; returns the acknowledged values and the set under way.
    private static func runStable(on files: PowerLossFileSystem) -> (acknowledged: [[UInt8]: [UInt8]], pending: (key: [UInt8], value: [UInt8])?) {
        var acknowledged: [[UInt8]: [UInt8]] = [:]
        guard let store = try? FileStableStore(directory: stableDirectory, options: stableOptions(files)) else { return ([:], nil) }
        defer { store.close() }
        for set in stableWorkload {
            do {
                try store.set(set.key, set.value)
            } catch {
                return (acknowledged, set)
            }
            acknowledged[set.key] = set.value
        }
        return (acknowledged, nil)
    }

    @Test func everyAcknowledgedSetSurvivesACutBeforeAnyCall() throws {
        let (complete, probe) = PowerLossFileSystem.cutBeforeEveryCall(modes: Self.modes(at:), of: Self.runStable) {
            files, outcome, label in
            let (acknowledged, pending) = outcome
            do {
                let store = try FileStableStore(directory: Self.stableDirectory, options: Self.stableOptions(files))
                defer { store.close() }
                for (key, value) in acknowledged {
                    let found = try store.get(key)
                    let allowed = found == value || (pending.map { $0.key == key && $0.value == found } ?? false)
                    #expect(allowed, "\(label): key \(key) holds \(String(describing: found)), acknowledged \(value)")
                }
                if let pending, acknowledged[pending.key] == nil {
                    let found = try store.get(pending.key)
                    #expect(found == nil || found == pending.value, "\(label): unacknowledged key")
                }
                try store.set([1], [2])
            } catch {
                Issue.record("after \(label): \(error)")
            }
        }
        #expect(complete.pending == nil)
        #expect(probe.calls.contains { $0.operation == .rename }, "the workload compacts")
    }

    // MARK: Snapshot store

    private static let snapshotDirectory = "/raft/snapshots"
    private static let retain = 2

    /// Snapshot `number`'s state: several 4 KiB pages, different for each.
    private static func snapshotState(_ number: Int) -> [UInt8] { snapshotTestBytes(10_000 + number * 3_000, seed: number) }

    private static func snapshotStore(_ files: PowerLossFileSystem) throws -> FileSnapshotStore {
        try FileSnapshotStore(
            directory: snapshotDirectory, retain: retain,
            options: .init(fileSystem: files, logger: LogFixtures.quietLogger, clock: steppingClock(from: 1_000)))
    }

    /// Saves three snapshots (the third reaps the first) until a call fails; returns the IDs
    /// whose `close()` returned, with their states, and the ID of one begun but not closed.
    private static func runSnapshots(on files: PowerLossFileSystem) -> (acknowledged: [(id: String, state: [UInt8])], pending: String?) {
        var acknowledged: [(id: String, state: [UInt8])] = []
        guard let store = try? snapshotStore(files) else { return ([], nil) }
        for number in 1...3 {
            let state = snapshotState(number)
            let sink: any SnapshotSink
            do {
                sink = try store.create(
                    version: 1, index: UInt64(number * 10), term: 1, configuration: snapshotTestConfiguration, configurationIndex: 1)
            } catch {
                return (acknowledged, nil)
            }
            do {
                try sink.write(state)
                try sink.close()
            } catch {
                return (acknowledged, sink.id)
            }
            // A close that returned may still have failed to reap (which it only logs), but the
            // power is off once a call failed: nothing later can have happened.
            if files.isDown { return (acknowledged + [(sink.id, state)], nil) }
            acknowledged.append((sink.id, state))
        }
        return (acknowledged, nil)
    }

    @Test func everyClosedSnapshotSurvivesACutBeforeAnyCallAndNoUnfinishedOneAppears() throws {
        let (complete, _) = PowerLossFileSystem.cutBeforeEveryCall(modes: Self.modes(at:), of: Self.runSnapshots) {
            files, outcome, label in
            let (acknowledged, pending) = outcome
            do {
                let store = try Self.snapshotStore(files)
                let listed = try store.list().map(\.id)
                // The newest `retain` of the closed ones, unless the unfinished one (newer
                // than all) completed durably.
                let closed = acknowledged.map(\.id)
                let expected = Array(closed.reversed().prefix(Self.retain))
                let withPending = pending.map { Array(([$0] + closed.reversed()).prefix(Self.retain)) }
                #expect(listed == expected || listed == withPending, "\(label): listed \(listed), closed \(closed), pending \(String(describing: pending))")
                for id in listed {
                    let state = acknowledged.first { $0.id == id }?.state
                        ?? Self.snapshotState(Int(id.split(separator: "-")[1])! / 10)
                    let (meta, source) = try store.open(id: id)
                    #expect(meta.size == Int64(state.count), "\(label): \(id)")
                    #expect(try source.readAll() == state, "\(label): \(id)")
                    source.close()
                }
            } catch {
                Issue.record("after \(label): \(error)")
            }
        }
        #expect(complete.acknowledged.count == 3 && complete.pending == nil)
    }
}
