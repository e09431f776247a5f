import Foundation
import RaftKVClient
import RaftKVHarness
import RaftTestKit
import Testing

/// raftkv with `--tls-cert`, `--tls-key` and `--tls-ca`: Raft traffic between the processes
/// runs over mutual TLS (the certificates of Tests/RaftTLSTests/Fixtures).
@Suite(.serialized) struct RaftKVTLSTests {
    private static let certificates = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("RaftTLSTests/Fixtures").path

    // Three processes, each presenting its own certificate and admitting only the others',
    // elect a leader and replicate a write that every node then serves; SIGHUP reloads a
    // node's certificate files without a restart.
    @Test(.timeLimit(.minutes(2))) func threeProcessesOverMutualTLSElectReplicateAndServe() async throws {
        let directory = try TemporaryDirectory(prefix: "raftkv-tls")
        var options = RaftKVCluster.Options(
            heartbeatTimeout: .milliseconds(500), electionTimeout: .milliseconds(500), leaderLeaseTimeout: .milliseconds(250),
            extraArguments: ["--tls-ca", "\(Self.certificates)/ca.pem", "--tls-allowed-peers", "node-1,node-2,node-3"]
        )
        options.nodeArguments = { number in
            ["--tls-cert", "\(Self.certificates)/node-\(number).pem", "--tls-key", "\(Self.certificates)/node-\(number).key"]
        }
        let cluster = try RaftKVCluster.start(executable: try RaftKVBinary.besideTestBundle(), nodes: 3, directory: directory.path, options: options)
        defer {
            cluster.shutdown()
            directory.remove()
        }
        let logs = { cluster.indices.map { cluster.nodes[$0].process.logTail() }.joined(separator: "\n") }

        let leader = try await cluster.waitForLeader(within: .seconds(60))
        let put = try await cluster.client(leader).put(key: "sealed", value: "tls", timeout: .seconds(10))
        #expect(put.status == 200, "\(put.text)\n\(logs())")
        let data = try await cluster.waitForConvergence(within: .seconds(30))
        #expect(data["sealed"] == "tls", "\(logs())")
        // The whole log: the layer says what it uses once, at startup, long before the tail.
        let startup = cluster.nodes[0].process.log(from: 0)
        #expect(startup.contains("TLS using CN=node-1"), "\(startup)")

        // SIGHUP re-reads the certificate files, and the node keeps serving.
        cluster.nodes[0].process.signal(SIGHUP)
        let deadline = ContinuousClock.now + .seconds(30)
        while !cluster.nodes[0].process.log(from: 0).contains("TLS reloaded; new connections use CN=node-1"), ContinuousClock.now < deadline {
            // Polling pace, not synchronisation: the loop exits on what the node logged.
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(cluster.nodes[0].process.log(from: 0).contains("TLS reloaded; new connections use CN=node-1"), "\(logs())")
        let after = try await cluster.client(leader).put(key: "after-reload", value: "tls", timeout: .seconds(10))
        #expect(after.status == 200, "\(after.text)\n\(logs())")
    }

    // The TLS files go together: one without the others is refused before anything starts.
    @Test func aCertificateWithoutAKeyAndAuthorityIsRefused() async throws {
        let directory = try TemporaryDirectory(prefix: "raftkv-tls-flags")
        defer { directory.remove() }
        let process = RaftKVProcess(
            name: "n1", executable: try RaftKVBinary.besideTestBundle(),
            arguments: ["--id", "n1", "--raft", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", "\(directory.path)/n1", "--tls-cert", "\(Self.certificates)/node-1.pem"],
            logPath: "\(directory.path)/n1.log"
        )
        try process.start()
        let exit = try await process.waitForExit(within: .seconds(30))
        #expect(exit != .exited(0))
        #expect(process.log(from: 0).contains("--tls-cert, --tls-key and --tls-ca go together"), "\(process.log(from: 0))")
    }
}
