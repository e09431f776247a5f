import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// An FSM that takes committed entries in batches and records the batch sizes.
final class BatchRecordingFSM: BatchingFSM {
    private let state = Mutex<(batches: [Int], commands: [[UInt8]])>(([], []))

    var batchSizes: [Int] { state.withLock { $0.batches } }
    var commands: [[UInt8]] { state.withLock { $0.commands } }

    func applyBatch(_ logs: [Log]) -> [(any Sendable)?] {
        state.withLock { state in
            state.batches.append(logs.count)
            state.commands += logs.filter { $0.type == .command }.map { Array($0.data) }
        }
        return logs.map { "applied \($0.index)" }
    }

    func apply(_ log: Log) -> (any Sendable)? {
        Issue.record("a BatchingFSM must receive its entries through applyBatch")
        return nil
    }

    func snapshot() throws -> any FSMSnapshot { throw RaftError(.nothingNewToSnapshot, "not needed here") }
    func restore(from source: any SnapshotSource) throws {}
}

@Suite struct BatchingFSMTests {
    @Test func aBatchingFSMGetsBatchesOfAtMostMaxAppendEntriesAndEachCallerItsOwnResponse() async throws {
        try await TestCluster.run(
            nodes: 3,
            seed: 61,
            configure: { $0.maxAppendEntries = 8 },
            makeFSM: { _ in BatchRecordingFSM() }
        ) { cluster in
            let leader = try await cluster.waitForLeader()
            let results = try await withThrowingTaskGroup(of: (Int, ApplyResult).self) { group in
                for i in 0..<100 {
                    group.addTask { (i, try await leader.apply(Array("b\(i)".utf8))) }
                }
                return try await group.reduce(into: [(Int, ApplyResult)]()) { $0.append($1) }
            }
            for (_, result) in results {
                #expect(result.response as? String == "applied \(result.index)")
            }
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                let fsm = try #require(await cluster.fsm(id) as? BatchRecordingFSM)
                #expect(fsm.commands.count == 100)
                #expect(fsm.batchSizes.allSatisfy { $0 <= 8 })
                // The configuration entry counts too (hashicorp/raft passes it to ApplyBatch).
                #expect(fsm.batchSizes.reduce(0, +) == 101)
            }
        }
    }
}
