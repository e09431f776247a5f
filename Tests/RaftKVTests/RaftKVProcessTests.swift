import Foundation
import RaftKVClient
import Testing

/// Three real `raftkv` processes on loopback: the HTTP contract end to end.
@Suite(.serialized) struct RaftKVProcessTests {
    // Three processes elect a leader that followers know by its HTTP address; a PUT on the leader answers 200 "ok index=N", a PUT on a follower 307 to the leader's URL (and is not applied), a GET on the leader returns the value, and SIGTERM makes every process exit 0.
    @Test(.timeLimit(.minutes(2))) func aThreeProcessClusterServesTheHTTPContract() async throws {
        let binary = try RaftKVProcess.locateBinary()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raftkv-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var nodes: [RaftKVProcess] = []
        var clients: [String: KVClient] = [:]
        defer {
            for node in nodes { node.send(SIGKILL) }
            try? FileManager.default.removeItem(atPath: directory)
        }

        let ports = try await RaftKVProcess.freePorts(6)
        let raftAddresses = (0..<3).map { "127.0.0.1:\(ports[$0])" }
        let peers = (0..<3).map { "n\($0 + 1)=\(raftAddresses[$0])" }.joined(separator: ",")
        let timing = ["--heartbeat-timeout", "500", "--election-timeout", "500", "--leader-lease-timeout", "250"]
        for index in 0..<3 {
            let node = try RaftKVProcess(
                binary: binary, id: "n\(index + 1)", raft: raftAddresses[index], http: "127.0.0.1:\(ports[index + 3])",
                directory: directory, extraArguments: ["--peers", peers] + timing
            )
            nodes.append(node)
            clients[node.id] = node.client()
        }
        let logs = { nodes.map { $0.logTail() }.joined(separator: "\n") }

        // A leader every node names by its HTTP address (published through the log).
        let leaderHTTP = try await waitForAgreedLeader(nodes, clients, deadline: .now + .seconds(60))
        let leaderNode = try #require(nodes.first { $0.httpAddress == leaderHTTP }, "\(logs())")
        let follower = try #require(nodes.first { $0.httpAddress != leaderHTTP })
        let leader = try #require(clients[leaderNode.id])

        let put = try await leader.put(key: "greeting", value: "hello", timeout: .seconds(10))
        #expect(put.status == 200, "\(put.text)\n\(logs())")
        #expect(put.text.wholeMatch(of: /ok index=[0-9]+\n/) != nil, "\(put.text)")

        let followerClient = try #require(clients[follower.id])
        let redirected = try await followerClient.put(key: "elsewhere", value: "x", timeout: .seconds(10))
        #expect(redirected.status == 307)
        #expect(redirected.location == "http://\(leaderHTTP)/kv/elsewhere")

        let read = try await leader.get(key: "greeting", timeout: .seconds(10))
        #expect(read.status == 200)
        #expect(read.text == "hello")
        let neverApplied = try await leader.get(key: "elsewhere", timeout: .seconds(10))
        #expect(neverApplied.status == 404)

        for client in clients.values { await client.close() }
        for node in nodes { node.send(SIGTERM) }
        for node in nodes {
            let status = try await node.exitStatus(by: .now + .seconds(30))
            #expect(status == 0, "\(node.id) exit status \(String(describing: status))\n\(node.logTail())")
        }
    }

    /// Polls every node's `/status` until all name the same leader HTTP address and that node
    /// says it leads; returns the address. Throws at `deadline`.
    private func waitForAgreedLeader(
        _ nodes: [RaftKVProcess], _ clients: [String: KVClient], deadline: ContinuousClock.Instant
    ) async throws -> String {
        var last: [String] = []
        while ContinuousClock.now < deadline {
            var statuses: [KVStatus] = []
            for node in nodes {
                if let status = try? await clients[node.id]?.status(timeout: .seconds(2)) { statuses.append(status) }
            }
            last = statuses.map { "\($0.id): \($0.role) leader=\($0.leader)" }
            if statuses.count == nodes.count, let leader = statuses.first?.leader, !leader.isEmpty,
                statuses.allSatisfy({ $0.leader == leader }),
                statuses.contains(where: { $0.httpAddress == leader && $0.isLeader })
            {
                return leader
            }
            // Polling pace, not synchronisation: the loop exits on what /status says.
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LeaderTimeout(description: "no agreed leader by the deadline; last: \(last)\n" + nodes.map { $0.logTail() }.joined(separator: "\n"))
    }

    struct LeaderTimeout: Error, CustomStringConvertible {
        let description: String
    }
}
