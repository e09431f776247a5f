import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// Leadership transfer across implementations, between swift-raft and hashicorp/raft 1.1.2
/// (`GoPeers/node`, real processes): a leader of one implementation catches a named follower of
/// the other up and sends it TimeoutNow; the follower campaigns at once, asking for votes with
/// the LeadershipTransfer flag (without it, a hashicorp/raft 1.1 follower that still knows the old
/// leader refuses its vote), and leads. Writes then go on through it, and every node ends with the
/// same FSM.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(4)),
    .serialized
)
struct MixedClusterTransferTests {
    @Test func aSwiftLeaderHandsLeadershipToANamedGoFollower() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress())
        let goServers = try GoMember.servers(2)
        let configuration = Configuration(servers: [swift.server] + goServers)
        let go = try await GoMember.start(goServers, bootstrappingFirstWith: nil, in: directory.path)
        defer { go.forEach { $0.process.kill() } }

        // Only the Swift node is bootstrapped, so it leads; everyone holds the first 200 commands.
        try await swift.start(bootstrapping: configuration)
        try await swift.waitUntilLeader()
        try await swift.applyCommands(200, prefix: "swift")
        for member in go { #expect(try await member.waitForCount(200) == swift.fsm.digest, "\(member.id)") }

        // The Swift leader hands over to go-2 (not the first Go node, so the choice is the
        // caller's), and returns once it stepped down.
        let raft = try #require(swift.raft)
        try await raft.leadershipTransfer(to: "go-2")
        #expect(raft.state != .leader)
        let target = go[1]
        try await withDeadline(.seconds(10), "go-2 to lead") {
            while try await target.send("state").hasPrefix("state=Leader ") == false {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(try await go[0].state()["state"] == "Follower")
        try await withDeadline(.seconds(10), "the Swift node to follow go-2") {
            while raft.leader?.id != "go-2" { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(raft.leader?.address == goServers[1].address)

        // Writes go on through the new Go leader, and reach every node.
        #expect(try await target.send("apply 200 go") == "ok applied=200 errors=0")
        #expect(try await target.send("barrier") == "ok")
        let digest = try await target.waitForCount(400)
        #expect(try await go[0].waitForCount(400) == digest, "go-1 applied a different history")
        try await swift.fsm.waitForCount(400)
        #expect(swift.fsm.count == 400)
        #expect(swift.fsm.digest == digest, "the Swift node applied a different history")

        let check = checkHistories([("swift-1", swift.history.all)] + (try go.map { ($0.id, try $0.history()) }))
        #expect(check.breaches.isEmpty, "\(check.breaches)")
        await swift.stop()
    }

    @Test func aGoLeaderHandsLeadershipToANamedSwiftFollower() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress())
        let goServers = try GoMember.servers(2)
        let configuration = Configuration(servers: goServers + [swift.server])
        try await swift.start(bootstrapping: nil)
        let go = try await GoMember.start(goServers, bootstrappingFirstWith: configuration, in: directory.path)
        defer { go.forEach { $0.process.kill() } }

        // Only go-1 is bootstrapped, so it leads; everyone holds the first 200 commands.
        let leader = try await GoMember.waitForLeader(among: go)
        #expect(leader.id == "go-1", "only go-1 was bootstrapped")
        #expect(try await leader.send("apply 200 go") == "ok applied=200 errors=0")
        let before = try await leader.waitForCount(200)
        try await swift.fsm.waitForCount(200)
        #expect(swift.fsm.digest == before, "the Swift node applied a different history")

        // The Go leader hands over to the Swift node. hashicorp/raft answers once it left its
        // leader loop (or fails after an election timeout).
        #expect(try await leader.send("transfer swift-1 \(swift.address.rawValue)") == "ok")
        try await swift.waitUntilLeader(timeout: .seconds(10))
        let raft = try #require(swift.raft)
        #expect(raft.state == .leader)
        for member in go {
            try await withDeadline(.seconds(10), "\(member.id) to follow swift-1") {
                while true {
                    let state = try await member.state()
                    if state["state"] == "Follower", state["leader"] == swift.address.rawValue { return }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        // go-2 still knew go-1 as leader when the Swift node asked for its vote: it granted it
        // only if the request carried the LeadershipTransfer flag.
        let go2Log = (try? String(contentsOfFile: go[1].process.logPath, encoding: .utf8)) ?? ""
        #expect(!go2Log.contains("rejecting vote request since we have a leader"), "go-2 (\(go[1].process.logPath)) refused the Swift node's vote request")

        // Writes go on through the new Swift leader, and reach every node.
        try await swift.applyCommands(200, prefix: "swift")
        try await raft.barrier(timeout: .seconds(30))
        #expect(swift.fsm.count == 400)
        let digest = swift.fsm.digest
        for member in go { #expect(try await member.waitForCount(400) == digest, "\(member.id) applied a different history") }

        let check = checkHistories([("swift-1", swift.history.all)] + (try go.map { ($0.id, try $0.history()) }))
        #expect(check.breaches.isEmpty, "\(check.breaches)")
        await swift.stop()
    }
}
