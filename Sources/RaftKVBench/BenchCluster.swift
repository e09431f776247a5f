import Foundation
import RaftKVClient
import RaftKVHarness

/// A fresh 3-node raftkv cluster in a directory of its own, with its leader found.
final class BenchCluster: Sendable {
    let cluster: RaftKVCluster
    let leader: Int
    let follower: Int

    init(raftkv: String, leaseReads: Bool, in parent: String) async throws {
        let directory = parent + "/raftkv-bench-\(getpid())-\(leaseReads ? "lease" : "plain")"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let options = RaftKVCluster.Options(logLevel: "error", extraArguments: leaseReads ? ["--lease-reads"] : [])
        let cluster = try RaftKVCluster.start(executable: raftkv, nodes: 3, directory: directory, options: options)
        let leader: Int
        do {
            leader = try await cluster.waitForLeader(within: .seconds(30))
        } catch {
            cluster.shutdown()
            throw error
        }
        self.cluster = cluster
        self.leader = leader
        self.follower = cluster.indices.first { $0 != leader }!
    }

    /// Writes `keys` keys, so reads find values, and waits until every node has them.
    func preload(keys: Int, payload: Int) async throws {
        let client = cluster.client(leader)
        let value = Array(repeating: UInt8(ascii: "v"), count: payload)
        for key in 0..<keys {
            let answer = try await client.request("PUT", "/kv/key\(key)", body: value, timeout: .seconds(5))
            guard answer.status == 200 else { throw RaftKVHarnessError("preload: PUT key\(key) answered \(answer.status) \(answer.text)") }
        }
        _ = try await cluster.waitForConvergence(within: .seconds(30))
    }

    /// The HTTP port of the node a workload's clients talk to.
    func port(for workload: Workload) -> Int { cluster.nodes[workload.targetsLeader ? leader : follower].httpPort }

    /// The process ID of the leader, for strace.
    var leaderPID: Int32? { cluster.nodes[leader].process.pid }

    func shutdown() { cluster.shutdown() }
}
