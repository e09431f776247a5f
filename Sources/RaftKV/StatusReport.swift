#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RaftKVClient
import SwiftRaft

/// Builds `GET /status` (as ``RaftKVClient/KVStatus``, the type clients decode it into) and
/// resolves the leader's HTTP address from the store.
struct StatusReport: Sendable {
    let id: String
    let raft: Raft
    let store: KeyValueStore
    let raftAddress: String
    let httpAddress: String

    /// The HTTP address of `leader`, from the replicated map (or this node's own); nil if unknown.
    func leaderHTTP(_ leader: Server?) -> String? {
        guard let leader else { return nil }
        if leader.id.rawValue == id { return httpAddress }
        return store.httpAddress(of: leader.id.rawValue)
    }

    /// The status now.
    func current() -> KVStatus {
        let status = raft.status
        return KVStatus(
            id: id,
            role: status.state.description,
            term: status.term,
            leader: leaderHTTP(status.leader) ?? "",
            leaderID: status.leader?.id.rawValue ?? "",
            commit: status.commitIndex,
            applied: status.appliedIndex,
            lastIndex: status.lastLogIndex,
            raftAddress: raftAddress,
            httpAddress: httpAddress,
            servers: status.configuration.servers.map {
                KVStatus.Server(id: $0.id.rawValue, address: $0.address.rawValue, suffrage: $0.suffrage.description)
            }
        )
    }

    /// The status as JSON bytes.
    func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(current())) ?? Data("{}".utf8))
    }
}
