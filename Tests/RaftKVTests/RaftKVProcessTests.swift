import Foundation
import RaftKVClient
import RaftKVHarness
import Testing

/// Three real `raftkv` processes on loopback: the HTTP contract end to end.
@Suite(.serialized) struct RaftKVProcessTests {
    // Three processes elect a leader that followers know by its HTTP address; a PUT on the leader answers 200 "ok index=N", a PUT on a follower 307 to the leader's URL (and is not applied), a GET on the leader or on a follower (which asks the leader for the read index) returns the value, and SIGTERM makes every process exit 0.
    @Test(.timeLimit(.minutes(2))) func aThreeProcessClusterServesTheHTTPContract() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("raftkv-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let options = RaftKVCluster.Options(
            heartbeatTimeout: .milliseconds(500), electionTimeout: .milliseconds(500), leaderLeaseTimeout: .milliseconds(250)
        )
        let cluster = try RaftKVCluster.start(executable: try RaftKVBinary.besideTestBundle(), nodes: 3, directory: directory, options: options)
        defer {
            cluster.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let logs = { cluster.indices.map { cluster.nodes[$0].process.logTail() }.joined(separator: "\n") }

        // A leader every node names, by its HTTP address too (published through the log).
        let leaderIndex = try await cluster.waitForLeader(within: .seconds(60))
        let leaderHTTP = cluster.nodes[leaderIndex].httpAddress
        let followerIndex = try #require(cluster.indices.first { $0 != leaderIndex })
        try await waitUntil(.seconds(30), "the follower to know the leader's HTTP address") {
            try await cluster.status(of: followerIndex).leader == leaderHTTP
        }
        let leader = cluster.client(leaderIndex), follower = cluster.client(followerIndex)

        let put = try await leader.put(key: "greeting", value: "hello", timeout: .seconds(10))
        #expect(put.status == 200, "\(put.text)\n\(logs())")
        #expect(put.text.wholeMatch(of: /ok index=[0-9]+\n/) != nil, "\(put.text)")

        let redirected = try await follower.put(key: "elsewhere", value: "x", timeout: .seconds(10))
        #expect(redirected.status == 307)
        #expect(redirected.location == "http://\(leaderHTTP)/kv/elsewhere")

        let read = try await leader.get(key: "greeting", timeout: .seconds(10))
        #expect(read.status == 200 && read.text == "hello")
        let readOnFollower = try await follower.get(key: "greeting", timeout: .seconds(10))
        #expect(readOnFollower.status == 200 && readOnFollower.text == "hello", "\(readOnFollower.text)")
        let neverApplied = try await leader.get(key: "elsewhere", timeout: .seconds(10))
        #expect(neverApplied.status == 404)

        for (index, exit) in zip(cluster.indices, await cluster.terminateAll()) {
            #expect(exit == .exited(0), "\(cluster.nodes[index].id): \(exit.map { "\($0)" } ?? "still running")\n\(cluster.nodes[index].process.logTail())")
        }
    }

    /// Polls `condition` every 20 ms until it holds; throws after `limit`.
    private func waitUntil(_ limit: Duration, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            // Polling pace, not synchronisation: the loop exits on what the cluster says.
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RaftKVHarnessError("timed out after \(limit) waiting for \(what)")
    }
}
