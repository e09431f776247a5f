import RaftTestKit
import SwiftRaft
import Testing

/// A follower the leader cannot reach is retried forever, with back-off; the leader says so once,
/// at error level with the reason, when it starts failing, and once when it recovers, not at
/// every retry.
@Suite struct UnreachableFollowerLoggingTests {
    @Test func aFollowerThatKeepsFailingIsLoggedOnceAsAnErrorAndOnceWhenItRecovers() async throws {
        let logs = LogCollector()
        try await TestCluster.run(nodes: 3, seed: 97, configure: { $0.logger = logs.logger }) { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(follower)
            for i in 0..<20 {
                _ = try await leader.apply(Array("while-down-\(i)".utf8))
                try await cluster.sleep(.milliseconds(50))   // a second in all: many retries
            }
            try await cluster.restart(follower)
            try await cluster.waitForConvergence()

            let failing = logs.messages(at: .error).filter { $0.text.contains("replication to \(follower) failing") }
            #expect(failing.count == 1, "\(failing.map(\.text))")
            let resumed = logs.messages(at: .info).filter { $0.text.contains("replication to \(follower) resumed") }
            #expect(resumed.count == 1, "\(resumed.map(\.text))")
        }
    }
}
