import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// A log store that starts failing every write when told to, like a disk that filled up.
final class FailingLogStore: LogStore {
    let wrapped = InmemStore()
    private let failing = Mutex(false)

    func failWrites() { failing.withLock { $0 = true } }

    func firstIndex() throws -> UInt64 { wrapped.firstIndex() }
    func lastIndex() throws -> UInt64 { wrapped.lastIndex() }
    func getLog(index: UInt64) throws -> Log { try wrapped.getLog(index: index) }
    func storeLogs(_ logs: [Log]) throws {
        if failing.withLock({ $0 }) { throw RaftError(.storage, "no space left on device") }
        try wrapped.storeLogs(logs)
    }
    func deleteRange(min: UInt64, max: UInt64) throws { wrapped.deleteRange(min: min, max: max) }
}

/// The same, declared non-blocking, so the node writes to it inline instead of on its storage
/// thread.
final class NonBlockingFailingLogStore: LogStore, NonBlockingStore {
    let store = FailingLogStore()

    func firstIndex() throws -> UInt64 { try store.firstIndex() }
    func lastIndex() throws -> UInt64 { try store.lastIndex() }
    func getLog(index: UInt64) throws -> Log { try store.getLog(index: index) }
    func storeLogs(_ logs: [Log]) throws { try store.storeLogs(logs) }
    func deleteRange(min: UInt64, max: UInt64) throws { try store.deleteRange(min: min, max: max) }
}

@Suite struct StorageFailureTests {
    @Test(arguments: [false, true])
    func aLeaderWhoseDiskFailsStopsAndTheOthersCarryOn(writesInline: Bool) async throws {
        let stores = Mutex<[ServerID: FailingLogStore]>([:])
        try await TestCluster.run(
            nodes: 3,
            seed: 41,
            makeStores: { id in
                let inline = NonBlockingFailingLogStore()
                let log = inline.store
                stores.withLock { $0[id] = log }
                return TestCluster.Stores(
                    logStore: writesInline ? inline : log,
                    stableStore: log.wrapped,
                    snapshotStore: InmemSnapshotStore()
                )
            }
        ) { cluster in
            let leader = try await cluster.waitForLeader()
            _ = try await leader.apply(Array("fine".utf8))
            stores.withLock { $0[leader.config.localID]!.failWrites() }

            // The write that fails is the leader's own: the node stops instead of acknowledging
            // entries it could not keep, and the call resolves rather than hanging.
            let error = await #expect(throws: RaftError.self) { try await leader.apply(Array("lost".utf8)) }
            #expect(error?.code == .shutdown)
            #expect(leader.state == .shutdown)
            await leader.shutdown()

            let others = cluster.ids.filter { $0 != leader.config.localID }
            let next = try await cluster.waitForLeader(among: others)
            _ = try await next.apply(Array("after".utf8))
        }
    }
}
