// raft-demo: a three-node cluster in one process, on real time, with the in-memory transport
// and stores. It elects a leader, replicates commands, loses its leader, elects another, keeps
// going, and checks that every node ended with the same state.

import Logging
import SwiftRaft



struct DemoNode {
    let id: ServerID
    let fsm: KeyValueFSM
    let raft: Raft
}

func makeConfig(_ id: ServerID) -> Config {
    var config = Config(localID: id)
    config.heartbeatTimeout = .milliseconds(300)
    config.electionTimeout = .milliseconds(300)
    config.leaderLeaseTimeout = .milliseconds(150)
    config.logger.logLevel = .warning
    return config
}

func waitForLeader(_ nodes: [DemoNode]) async throws -> DemoNode {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < .seconds(30) {
        let leaders = nodes.filter { $0.raft.state == .leader }
        if leaders.count == 1 {
            print("  leader: \(leaders[0].id) in term \(leaders[0].raft.currentTerm) (after \(clock.now - start))")
            return leaders[0]
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw RaftError(.timeout, "no leader elected within 30s")
}

func replicate(_ count: Int, from leader: DemoNode, prefix: String) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for i in 0..<count {
            group.addTask { _ = try await leader.raft.apply(Array("set \(prefix)-\(i % 100) value-\(i)".utf8), timeout: .seconds(5)) }
        }
        try await group.waitForAll()
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("  \(count) commands committed and applied in \(elapsed) (\(Int(Double(count) / seconds)) ops/s), commit index \(leader.raft.commitIndex)")
}

let ids: [ServerID] = ["node-1", "node-2", "node-3"]
let configuration = Configuration(servers: ids.map { Server(id: $0, address: ServerAddress($0.rawValue)) })
let transports = ids.map { InmemTransport(address: ServerAddress($0.rawValue)) }
for a in transports { for b in transports where a !== b { a.connect(b) } }

print("Starting a 3-node cluster (in-memory transport and stores, real time)")
var nodes: [DemoNode] = []
for (id, transport) in zip(ids, transports) {
    let store = InmemStore()
    let snapshots = InmemSnapshotStore()
    try Raft.bootstrapCluster(config: makeConfig(id), logStore: store, stableStore: store, snapshotStore: snapshots, configuration: configuration)
    let fsm = KeyValueFSM()
    let raft = try await Raft(config: makeConfig(id), fsm: fsm, logStore: store, stableStore: store, snapshotStore: snapshots, transport: transport)
    nodes.append(DemoNode(id: id, fsm: fsm, raft: raft))
}

print("Electing a leader…")
let first = try await waitForLeader(nodes)

print("Replicating through \(first.id)…")
try await replicate(10_000, from: first, prefix: "a")

print("Stopping the leader \(first.id) (as if it crashed)…")
await first.raft.shutdown()
let survivors = nodes.filter { $0.id != first.id }

print("Electing a new leader among \(survivors.map(\.id.rawValue).joined(separator: ", "))…")
let second = try await waitForLeader(survivors)

print("Replicating through \(second.id)…")
try await replicate(10_000, from: second, prefix: "b")

let clock = ContinuousClock()
let deadline = clock.now + .seconds(10)
while survivors.contains(where: { $0.raft.appliedIndex < second.raft.commitIndex }) && clock.now < deadline {
    try await Task.sleep(for: .milliseconds(10))
}
let reference = second.fsm.contents
let consistent = survivors.allSatisfy { $0.fsm.contents == reference }
print("Survivors' state machines: \(reference.count) keys each, identical: \(consistent)")
for node in survivors {
    let stats = node.raft.stats()
    print("  \(node.id): state=\(stats["state"]!) term=\(stats["term"]!) commit=\(stats["commit_index"]!) applied=\(stats["applied_index"]!)")
}
for node in survivors { await node.raft.shutdown() }
if !consistent {
    print("FAILED: the survivors' state machines differ")
    fatalError("the survivors' state machines differ")
}
print("Done.")
