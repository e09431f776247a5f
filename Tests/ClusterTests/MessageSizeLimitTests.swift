import RaftTestKit
import SwiftRaft
import Testing

/// A transport carries messages up to a size (``Transport/maxMessageSize``): a command that could
/// never fit is refused by `apply` before it enters the log, and replication cuts its batches so
/// that no AppendEntries outgrows the limit, whether entries come from memory or the log store.
/// Before this, one oversized command was appended, refused by every follower forever, and
/// stalled every later write behind it.
@Suite struct MessageSizeLimitTests {
    static let limit = 64 << 10

    @Test func aCommandTooLargeToReplicateIsRefusedAtOnceAndTheClusterKeepsCommitting() async throws {
        try await TestCluster.run(nodes: 3, seed: 91, maxMessageSize: Self.limit) { cluster in
            let leader = try await cluster.waitForLeader()
            let maxCommandSize = try #require(leader.maxCommandSize)
            #expect(maxCommandSize < Self.limit && maxCommandSize > Self.limit - 2048)
            let lastIndex = leader.lastIndex

            let error = await #expect(throws: RaftError.self) {
                _ = try await leader.apply([UInt8](repeating: 7, count: maxCommandSize + 1), timeout: .seconds(1))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("\(maxCommandSize) bytes") == true, "the error names the limit: \(String(describing: error))")
            #expect(leader.lastIndex == lastIndex, "nothing entered the log")

            // The largest command that fits replicates, and so does everything after it.
            _ = try await leader.apply([UInt8](repeating: 8, count: maxCommandSize), timeout: .seconds(1))
            _ = try await leader.apply(Array("after".utf8), timeout: .seconds(1))
            try await cluster.waitForConvergence()
        }
    }

    @Test func entriesThatTogetherExceedTheLimitAreReplicatedInSeveralRequests() async throws {
        try await TestCluster.run(nodes: 3, seed: 92, maxMessageSize: Self.limit) { cluster in
            let leader = try await cluster.waitForLeader()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<40 {
                    group.addTask { _ = try await leader.apply([UInt8](repeating: UInt8(i), count: 20 << 10), timeout: .seconds(5)) }
                }
                try await group.waitForAll()
            }
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                let fsm = try #require(await cluster.fsm(id) as? RecordingFSM)
                #expect(fsm.commands.count == 40)
            }
        }
    }

    @Test func aFollowerCatchingUpFromTheLogStoreGetsBatchesBelowTheLimit() async throws {
        // A window of 8 entries in memory: a follower that misses 100 is served from the log store.
        try await TestCluster.run(
            nodes: 3,
            seed: 93,
            maxMessageSize: Self.limit,
            configure: {
                $0.maxAppendEntries = 8
                $0.logCacheCapacity = 8
            }
        ) { cluster in
            let leader = try await cluster.waitForLeader()
            let lagging = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(lagging)
            for i in 0..<100 {
                _ = try await leader.apply([UInt8](repeating: UInt8(i), count: 20 << 10), timeout: .seconds(5))
            }
            try await cluster.restart(lagging)
            try await cluster.waitForConvergence()
            let fsm = try #require(await cluster.fsm(lagging) as? RecordingFSM)
            #expect(fsm.commands.count == 100)
        }
    }

    @Test func aTransportWithoutRoomForABatchIsRefusedWhenTheNodeStarts() async throws {
        let transport = InmemTransport(address: "solo", maxMessageSize: 4096)
        var config = Config(localID: "solo")
        config.logger.logLevel = .critical
        let store = InmemStore()
        let error = await #expect(throws: RaftError.self) {
            _ = try await Raft(
                config: config, fsm: RecordingFSM(), logStore: store, stableStore: store,
                snapshotStore: InmemSnapshotStore(), transport: transport
            )
        }
        #expect(error?.code == .invalidConfig)
        await transport.close()
    }
}
