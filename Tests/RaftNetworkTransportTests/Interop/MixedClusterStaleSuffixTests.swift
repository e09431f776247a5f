import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// A hashicorp/raft follower commits `min(LeaderCommitIndex, its own last index)`, so a leader
/// that tells it a commit index beyond what the request made it match lets it commit and apply a
/// stale suffix from an old term. These tests replay that against a real hashicorp/raft 1.1.2
/// node under a swift-raft leader, and check what it applied, not only where it ended.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(4)),
    .serialized
)
struct MixedClusterStaleSuffixTests {
    @Test func aGoNodeRestartedWithUncommittedWritesAppliesOnlyWhatTheSwiftLeaderCommitted() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = try (1...2).map { SwiftMember(id: ServerID("swift-\($0)"), address: try freeLoopbackAddress()) }
        let goAddress = try freeLoopbackAddress()
        let configuration = Configuration(servers: [Server(id: "go-1", address: goAddress)] + swift.map(\.server))

        // The Go node leads (only it is bootstrapped) and commits more than one request's worth
        // of entries (64), so a leader re-sending from index 1 sends a prefix that all matches.
        // Its lease is 3 s: cut off from its followers it keeps leading, and so appends, for that
        // long, however slowly a busy machine runs this test between the two steps.
        for member in swift { try await member.start(bootstrapping: nil) }
        var go = try GoMember(
            id: "go-1", address: goAddress, bootstrapping: configuration, dataDirectory: directory.path + "/go-1", timeout: .seconds(3)
        )
        defer { go.process.kill() }
        try await go.waitUntilListening()
        _ = try await GoMember.waitForLeader(among: [go])
        #expect(try await go.send("apply 200 committed", timeout: .seconds(60)) == "ok applied=200 errors=0")
        for member in swift { try await member.fsm.waitForCount(200) }

        // Both Swift nodes die; the Go leader appends three writes it can never commit, then dies
        // with them on disk.
        for member in swift { await member.stop() }
        let lastBefore = try #require(UInt64(try await go.state()["last"] ?? ""))
        #expect(try await go.send("apply-async 3 stale") == "ok submitted=3")
        let goNode = go
        try await withDeadline(.seconds(10), "the Go node to append its uncommitted writes") {
            while UInt64(try await goNode.state()["last"] ?? "") ?? 0 < lastBefore + 3 {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        go.process.kill()

        // The Swift nodes come back, elect one of themselves, and commit five writes at the
        // indexes where the Go node holds its stale ones.
        for member in swift { try await member.start(bootstrapping: nil) }
        let leader = try await SwiftMember.waitForLeader(among: swift)
        try await leader.applyCommands(5, prefix: "new")

        // The Go node restarts and catches up from the Swift leader.
        go = try go.restarted()
        try await go.waitUntilListening()
        try await leader.raft!.barrier(timeout: .seconds(30))
        try await leader.fsm.waitForCount(205)
        let digest = try await go.waitForCount(205)
        #expect(digest == leader.fsm.digest, "the Go node applied a history other than the committed one")
        let state = try await go.state()
        #expect(state["count"] == "205")

        let goHistory = try go.history()
        #expect(!goHistory.contains { $0.command.hasPrefix("stale") }, "the Go node applied a write that was never committed")
        let check = checkHistories([("go-1", goHistory)] + swift.map { ($0.id.rawValue, $0.history.all) })
        #expect(check.breaches.isEmpty, "\(check.breaches)")
        for member in swift { await member.stop() }
    }
}
