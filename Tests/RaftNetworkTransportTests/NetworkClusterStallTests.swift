import NIOCore
import RaftNetworkTransport
import SwiftRaft
import Testing

/// A partition that stalls a follower's connections silently (no reset, no close) and then heals:
/// the connections opened before it sit in TCP's retransmission back-off for seconds after the
/// network works again. The follower must catch up on new connections as soon as it answers a
/// heartbeat, not when the old ones wake up.
@Suite(.timeLimit(.minutes(2)), .serialized)
struct NetworkClusterStallTests {
    @Test func aFollowerWhoseConnectionsStalledCatchesUpOnNewOnesAsSoonAsItAnswersAHeartbeat() async throws {
        let layer = StallingStreamLayer()
        var options = NetworkTransport.Options()
        options.streamLayer = layer
        // The transport's own timeout never rescues a stuck pipeline within this test.
        options.timeout = .seconds(60)
        options.logger.logLevel = .critical
        try await SwiftMember.withCluster(options: options) { members in
            let leader = try await SwiftMember.waitForLeader(among: members)
            let raft = try #require(leader.raft)
            let follower = try #require(members.first { $0 !== leader })
            let port = try #require(follower.address.rawValue.split(separator: ":").last.flatMap { Int($0) })

            try await leader.applyCommands(20, prefix: "before")
            try await follower.fsm.waitForCount(20)

            // The partition: for two seconds nothing reaches the follower, and the leader keeps
            // committing with the other node (pipelined requests pile up on the stuck connection).
            layer.stall(port: port)
            for i in 0..<40 {
                _ = try await raft.apply(Array("during-\(i)".utf8), timeout: .seconds(10))
                try await Task.sleep(for: .milliseconds(50))
            }
            // The network heals; what the old connections hold moves again only after a minute.
            layer.lift(port: port, heldConnectionsResumeAfter: .seconds(60))
            try await leader.applyCommands(10, prefix: "after")
            try await withDeadline(.seconds(20), "the follower to catch up on new connections") {
                try await follower.fsm.waitForCount(70, timeout: .seconds(30))
            }
            #expect(follower.fsm.digest == leader.fsm.digest)
        }
    }
}
