// The stand-ins that the code samples in README.md and Docs/ refer to without defining: an FSM,
// a log store of "your own" and an RPC handler. scripts/check-doc-samples.py compiles each sample
// together with this file against the package's modules, so every sample in the docs compiles.

import RaftTestKit
import SwiftRaft
import Synchronization

/// An application's state machine: counts the commands it applies.
final class MyFSM: FSM {
    private let count = Mutex(0)
    func apply(_ log: Log) -> (any Sendable)? { count.withLock { $0 += 1; return $0 } }
    func snapshot() throws -> any FSMSnapshot { MySnapshot(count: count.withLock { $0 }) }
    func restore(from source: any SnapshotSource) throws {
        count.withLock { $0 = Int(String(decoding: (try? source.readAll()) ?? [], as: UTF8.self)) ?? 0 }
    }
}

struct MySnapshot: FSMSnapshot {
    let count: Int
    func persist(to sink: any SnapshotSink) throws {
        try sink.write(Array("\(count)".utf8))
        try sink.close()
    }
    func release() {}
}

/// A log store of "your own", kept under `path`.
final class MyStore: LogStore {
    private let store = InmemStore()
    init(path: String) throws {}
    func firstIndex() throws -> UInt64 { try store.firstIndex() }
    func lastIndex() throws -> UInt64 { try store.lastIndex() }
    func getLog(index: UInt64) throws -> Log { try store.getLog(index: index) }
    func storeLogs(_ logs: [Log]) throws { try store.storeLogs(logs) }
    func deleteRange(min: UInt64, max: UInt64) throws { store.deleteRange(min: min, max: max) }
    func getLogs(from first: UInt64, through last: UInt64) throws -> [Log] { try store.getLogs(from: first, through: last) }
}

/// An application's own answer to an RPC, for a transport used without Raft.
func handle(_ request: RaftRequest) -> RaftResponse {
    .timeoutNow(TimeoutNowResponse(header: RPCHeader()))
}

/// A request the sample sends.
let request = RequestVoteRequest(header: RPCHeader(), term: 1, candidate: "node-1", lastLogIndex: 0, lastLogTerm: 0)
