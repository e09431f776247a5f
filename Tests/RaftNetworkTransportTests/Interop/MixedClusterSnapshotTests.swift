import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// Snapshots across implementations: a leader of one implementation that compacted its log past a
/// follower of the other catches it up through InstallSnapshot, over TCP, between swift-raft and
/// hashicorp/raft 1.1.2 (`GoPeers/node`, real processes). The snapshot one side's FSM wrote is
/// restored by the other side's (both are "COUNT DIGEST", see ``DigestFSM``), so the nodes end
/// with identical FSMs, and the log after the snapshot replicates as before.
///
/// In both tests the lagging follower is stopped while the leader writes past it, snapshots
/// (a small threshold, checked every 100 to 200 ms) and compacts its log to its last 10 entries;
/// it then restarts from its stores, holding a log that ends before the leader's first entry.
/// The lagging follower never snapshots itself (its implementation's default threshold, 8192, is
/// far above what the test writes), so a snapshot index on it is one it was sent. Restarted once
/// more, it starts from its stored copy of the other implementation's snapshot.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(4)),
    .serialized
)
struct MixedClusterSnapshotTests {
    /// Snapshots after 100 new entries, keeping 10 entries of log behind each: 500 entries
    /// written past a follower leave nothing it could catch up from.
    static let compactingSettings = SnapshotSettings(
        threshold: 100,
        interval: .milliseconds(100),
        trailingLogs: 10,
        // swift-raft's minimum (maxAppendEntries): the leader's memory holds nothing the follower
        // needs either.
        logCacheCapacity: 64
    )

    @Test func aGoLeaderThatCompactedPastASwiftFollowerCatchesItUpWithItsSnapshot() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swiftLog = LogCollector()
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress(), logCollector: swiftLog)
        let goServers = try GoMember.servers(2)
        let configuration = Configuration(servers: goServers + [swift.server])
        try await swift.start(bootstrapping: nil)
        let go = try await GoMember.start(
            goServers, bootstrappingFirstWith: configuration, in: directory.path, snapshots: Self.compactingSettings
        )
        defer { go.forEach { $0.process.kill() } }
        let leader = try await GoMember.waitForLeader(among: go)
        #expect(leader.id == "go-1", "only go-1 was bootstrapped")

        // Everyone holds the first 50 commands: fewer than the threshold, so nobody snapshotted,
        // and the Swift follower has them in its log.
        #expect(try await leader.send("apply 50 before") == "ok applied=50 errors=0")
        try await swift.fsm.waitForCount(50)
        let swiftStats = try #require(swift.raft).stats()
        let swiftLast = try #require(UInt64(swiftStats["last_log_index"] ?? ""))
        #expect(swiftStats["last_snapshot_index"] == "0")

        // The Swift follower stops. The Go leader writes 500 more, snapshots and compacts its bolt
        // log past the entry the Swift follower would need next.
        await swift.stop()
        #expect(try await leader.send("apply 500 during") == "ok applied=500 errors=0")
        try await withDeadline(.seconds(30), "the Go leader to compact its log past \(swiftLast)") {
            while UInt64(try await leader.state()["first"] ?? "") ?? 0 <= swiftLast {
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        // Back from its stores, the Swift follower can only catch up through the Go leader's
        // snapshot, and then from the log after it.
        try await swift.start(bootstrapping: nil)
        #expect(try await leader.send("apply 20 after") == "ok applied=20 errors=0")
        let digest = try await leader.waitForCount(570)
        for member in go { #expect(try await member.waitForCount(570) == digest, "\(member.id) applied a different history") }
        try await swift.fsm.waitForCount(570)
        #expect(swift.fsm.count == 570)
        #expect(swift.fsm.digest == digest, "the Swift follower restored or applied a different history")

        let installed = UInt64(try #require(swift.raft).stats()["last_snapshot_index"] ?? "") ?? 0
        #expect(installed > swiftLast, "the Swift follower holds no snapshot beyond its old log (\(installed))")
        let messages = swiftLog.messages.map(\.text)
        #expect(messages.contains("restoring the FSM from the leader's snapshot"))
        #expect(!messages.contains("starting snapshot"), "the Swift follower took a snapshot of its own")

        // Restarted once more, the Swift node starts from the Go snapshot in its own store and
        // the log after it, and ends where it was.
        await swift.stop()
        try await swift.start(bootstrapping: nil)
        try await swift.fsm.waitForCount(570)
        #expect(swift.fsm.digest == digest, "the Swift node restarted from its copy of the Go snapshot to a different state")
        #expect(swiftLog.messages.contains { $0.text == "restored from snapshot" }, "the restarted Swift node restored no snapshot")

        let check = checkHistories([("swift-1", swift.history.all)] + (try go.map { ($0.id, try $0.history()) }))
        #expect(check.breaches.isEmpty, "\(check.breaches)")
        await swift.stop()
    }

    @Test func aSwiftLeaderThatCompactedPastAGoFollowerCatchesItUpWithItsSnapshot() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = try (1...2).map {
            SwiftMember(id: ServerID("swift-\($0)"), address: try freeLoopbackAddress(), snapshots: Self.compactingSettings)
        }
        let goAddress = try freeLoopbackAddress()
        let configuration = Configuration(servers: swift.map(\.server) + [Server(id: "go-1", address: goAddress)])
        // The Go node keeps its log in bolt: restarted, it holds everything it had when killed,
        // so it needs the snapshot only because the leader's log no longer continues from there.
        var go = try GoMember(id: "go-1", address: goAddress, bootstrapping: nil, dataDirectory: directory.path + "/go-1")
        defer { go.process.kill() }
        try await go.waitUntilListening()
        try await swift[0].start(bootstrapping: configuration)
        try await swift[1].start(bootstrapping: nil)
        let leader = swift[0]
        try await leader.waitUntilLeader()

        // Everyone holds the first 50 commands, and nobody snapshotted.
        try await leader.applyCommands(50, prefix: "before")
        _ = try await go.waitForCount(50)
        let goState = try await go.state()
        let goLast = try #require(UInt64(goState["last"] ?? ""))
        #expect(goState["snap"] == "0")

        // The Go follower dies. The Swift leader writes 500 more, snapshots and compacts its log
        // store past the entry the Go follower would need next; its in-memory cache (64 entries)
        // does not reach back there either.
        go.process.kill()
        try await leader.applyCommands(500, prefix: "during")
        try await withDeadline(.seconds(30), "the Swift leader to compact its log past \(goLast)") {
            while leader.store.firstIndex() <= goLast { try await Task.sleep(for: .milliseconds(20)) }
        }

        // Back from its bolt log, the Go follower catches up through the Swift leader's snapshot,
        // and then from the log after it.
        go = try go.restarted()
        try await go.waitUntilListening()
        try await leader.applyCommands(20, prefix: "after")
        try await leader.fsm.waitForCount(570)
        let digest = leader.fsm.digest
        #expect(try await go.waitForCount(570) == digest, "the Go follower restored or applied a different history")
        try await swift[1].fsm.waitForCount(570)
        #expect(swift[1].fsm.digest == digest, "swift-2 applied a different history")

        let state = try await go.state()
        #expect(state["count"] == "570")
        let installed = UInt64(state["snap"] ?? "") ?? 0
        #expect(installed > goLast, "the Go follower holds no snapshot beyond its old log (\(state))")
        let goLog = (try? String(contentsOfFile: go.process.logPath, encoding: .utf8)) ?? ""
        #expect(goLog.contains("Installed remote snapshot"), "the Go follower's log (\(go.process.logPath)) tells of no snapshot installed")

        // Killed and restarted once more, the Go node starts from the Swift snapshot in its own
        // FileSnapshotStore and the log after it, and ends where it was.
        go.process.kill()
        go = try go.restarted()
        try await go.waitUntilListening()
        #expect(try await go.waitForCount(570) == digest, "the Go node restarted from its copy of the Swift snapshot to a different state")
        let restartLog = (try? String(contentsOfFile: go.process.logPath, encoding: .utf8)) ?? ""
        #expect(restartLog.contains("restored from snapshot"), "the restarted Go node (\(go.process.logPath)) restored no snapshot")

        let check = checkHistories([("go-1", try go.history())] + swift.map { ($0.id.rawValue, $0.history.all) })
        #expect(check.breaches.isEmpty, "\(check.breaches)")
        for member in swift { await member.stop() }
    }
}
