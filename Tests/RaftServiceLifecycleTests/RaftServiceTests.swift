import RaftServiceLifecycle
import RaftTestKit
import ServiceLifecycle
import ServiceLifecycleTestKit
import SwiftRaft
import Testing

/// `RaftService`: a node in a swift-service-lifecycle `ServiceGroup`, on virtual time.
@Suite struct RaftServiceTests {
    // A graceful shutdown of the leader hands leadership to another voter first, so the cluster never waits out an election timeout; then the node shuts down.
    @Test func aGracefulShutdownOfTheLeaderHandsLeadershipOverFirst() async throws {
        try await TestCluster.run(nodes: 3, seed: 1501) { cluster in
            let leader = try await cluster.waitForLeader()
            _ = try await leader.apply(Array("before".utf8))
            try await testGracefulShutdown { trigger in
                let service = cluster.spawn { try await RaftService(raft: leader).run() }
                try await cluster.sleep(.milliseconds(10))
                trigger.triggerGracefulShutdown()
                try await service.value
            }
            #expect(leader.state == .shutdown)
            // Already led by another: nobody waited for a timeout to notice the old leader gone.
            let next = try #require(await cluster.leaders.first)
            #expect(next.config.localID != leader.config.localID)
            _ = try await next.apply(Array("after".utf8))
        }
    }

    // With the transfer turned off, a leader shut down gracefully simply stops; the others elect a leader after their timeout.
    @Test func withoutTheTransferTheLeaderSimplyStops() async throws {
        try await TestCluster.run(nodes: 3, seed: 1502) { cluster in
            let leader = try await cluster.waitForLeader()
            try await testGracefulShutdown { trigger in
                let service = cluster.spawn { try await RaftService(raft: leader, transfersLeadershipOnShutdown: false).run() }
                try await cluster.sleep(.milliseconds(10))
                trigger.triggerGracefulShutdown()
                try await service.value
            }
            #expect(leader.state == .shutdown)
            #expect(await cluster.leaders.isEmpty)
            let others = cluster.ids.filter { $0 != leader.config.localID }
            _ = try await cluster.waitForLeader(among: others)
        }
    }

    // Cancelling the service's task shuts the node down at once.
    @Test func cancellingTheServiceShutsTheNodeDown() async throws {
        try await TestCluster.run(nodes: 3, seed: 1503) { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = try await cluster.raft(try #require(cluster.ids.first { $0 != leader.config.localID }))
            let service = cluster.spawn { try await RaftService(raft: follower).run() }
            try await cluster.sleep(.milliseconds(10))
            service.cancel()
            try await service.value
            #expect(follower.state == .shutdown)
            #expect(leader.state == .leader)
        }
    }

    // A node that stops by itself (a leader removing itself, with shutdownOnRemove) ends its service, so the group notices.
    @Test func aNodeThatStopsByItselfEndsItsService() async throws {
        try await TestCluster.run(nodes: 3, seed: 1504) { cluster in
            let leader = try await cluster.waitForLeader()
            let service = cluster.spawn { try await RaftService(raft: leader).run() }
            try await leader.removeServer(id: leader.config.localID)
            try await service.value
            #expect(leader.state == .shutdown)
        }
    }
}
