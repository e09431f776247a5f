import RaftTestKit
import SwiftRaft
import Testing

/// The read-only parts of the node's API, on a live cluster.
@Suite struct NodeAPITests {
    @Test func leadershipChangesReportGainingAndLosingLeadership() async throws {
        try await TestCluster.run(nodes: 3, seed: 51) { cluster in
            let streams = try await cluster.ids.asyncMap { try await cluster.raft($0).leadershipChanges() }
            let leader = try await cluster.waitForLeader()
            let position = try #require(cluster.ids.firstIndex(of: leader.config.localID))
            var changes = streams[position].makeAsyncIterator()
            let gained = try #require(await changes.next(where: { $0.isLeader }))
            #expect(gained.leader?.id == leader.config.localID)

            await cluster.isolate(leader.config.localID)
            let lost = try #require(await changes.next(where: { !$0.isLeader }))
            #expect(lost.term >= gained.term)
            await cluster.heal()
        }
    }

    // One reading, every field from the same instant: what a service reports without parsing stats().
    @Test func statusReportsStateTermLeaderAndIndexesTogether() async throws {
        try await TestCluster.run(nodes: 3, seed: 53) { cluster in
            let leader = try await cluster.waitForLeader()
            let result = try await leader.apply(Array("x".utf8))
            try await cluster.waitForConvergence()
            let onLeader = leader.status
            #expect(onLeader.state == .leader)
            #expect(onLeader.leader?.id == leader.config.localID)
            #expect(onLeader.lastContact == .zero)
            #expect(onLeader.commitIndex >= result.index && onLeader.appliedIndex >= result.index)
            #expect(onLeader.lastLogIndex == leader.lastIndex)
            #expect(onLeader.configuration.servers.count == 3)

            let follower = try #require(await cluster.followers.first)
            let onFollower = follower.status
            #expect(onFollower.state == .follower)
            #expect(onFollower.term == onLeader.term)
            #expect(onFollower.leader == onLeader.leader, "a follower names the leader's ID and address")
            #expect(onFollower.lastContact != nil)
        }
    }

    // Raft closes the transport it was given when it shuts down, as hashicorp/raft does (ClosableTransport).
    @Test func shutdownClosesTheTransport() async throws {
        let transport = InmemTransport(address: "solo")
        let peer = InmemTransport(address: "peer")
        transport.connect(peer)
        var config = Config(localID: "solo")
        config.logger.logLevel = .critical
        let store = InmemStore()
        let raft = try await Raft(
            config: config, fsm: RecordingFSM(), logStore: store, stableStore: store,
            snapshotStore: InmemSnapshotStore(), transport: transport
        )
        await raft.shutdown()
        let error = await #expect(throws: RaftError.self) {
            _ = try await transport.requestVote(
                id: "peer", target: "peer",
                RequestVoteRequest(header: RPCHeader(), term: 1, candidate: "solo", lastLogIndex: 0, lastLogTerm: 0)
            )
        }
        #expect(error?.code == .transportShutdown)
        await peer.close()
    }

    // Every call made after shutdown fails at once with `shutdown`: none may wait for a loop whose
    // thread has gone (before the mailbox refused posts, a call posted late would never be answered).
    @Test func everyCallAfterShutdownFailsWithShutdown() async throws {
        var config = Config(localID: "solo")
        config.logger.logLevel = .critical
        config.heartbeatTimeout = .milliseconds(50)
        config.electionTimeout = .milliseconds(50)
        config.leaderLeaseTimeout = .milliseconds(50)
        let store = InmemStore()
        let configuration = Configuration(servers: [Server(id: "solo", address: "solo")])
        try Raft.bootstrapCluster(
            config: config, logStore: store, stableStore: store, snapshotStore: InmemSnapshotStore(),
            configuration: configuration
        )
        let raft = try await Raft(
            config: config, fsm: RecordingFSM(), logStore: store, stableStore: store,
            snapshotStore: InmemSnapshotStore(), transport: InmemTransport(address: "solo")
        )
        for await change in raft.leadershipChanges() where change.isLeader { break }
        _ = try await raft.apply(Array("before".utf8))

        // Two shutdowns at once: the second waits for the first, both return.
        async let first: Void = raft.shutdown()
        async let second: Void = raft.shutdown()
        _ = await (first, second)
        #expect(raft.state == .shutdown)

        func expectShutdown(_ call: String, _ body: () async throws -> Void) async {
            let error = await #expect(throws: RaftError.self, "\(call) after shutdown") { try await body() }
            #expect(error?.code == .shutdown, "\(call) after shutdown")
        }
        await expectShutdown("apply") { _ = try await raft.apply(Array("after".utf8)) }
        await expectShutdown("barrier") { try await raft.barrier() }
        await expectShutdown("verifyLeader") { try await raft.verifyLeader() }
        await expectShutdown("bootstrapCluster") { try await raft.bootstrapCluster(configuration) }
        await raft.shutdown()
    }

    @Test func statsUseHashicorpKeys() async throws {
        try await TestCluster.run(nodes: 3, seed: 52) { cluster in
            let leader = try await cluster.waitForLeader()
            _ = try await leader.apply([1, 2, 3])
            let stats = leader.stats()
            for key in [
                "state", "term", "last_log_index", "last_log_term", "commit_index", "applied_index",
                "fsm_pending", "last_snapshot_index", "last_snapshot_term", "protocol_version",
                "protocol_version_min", "protocol_version_max", "snapshot_version_min",
                "snapshot_version_max", "latest_configuration", "latest_configuration_index",
                "num_peers", "last_contact",
            ] {
                #expect(stats[key] != nil, "missing \(key)")
            }
            #expect(stats["state"] == "Leader")
            #expect(stats["num_peers"] == "2")
            #expect(stats["last_contact"] == "0")
            #expect(stats["commit_index"] == "\(leader.commitIndex)")
            try await cluster.waitForConvergence()
            #expect(leader.stats()["fsm_pending"] == "0")
        }
    }

    @Test func followersKnowTheirLeaderAndLastContact() async throws {
        try await TestCluster.run(nodes: 3, seed: 53) { cluster in
            let leader = try await cluster.waitForLeader()
            try await cluster.waitForConvergence()
            for follower in await cluster.followers {
                #expect(follower.leader?.id == leader.config.localID)
                #expect(follower.leader?.address == ServerAddress(leader.config.localID.rawValue))
                let contact = try #require(follower.lastContact)
                #expect(contact <= .milliseconds(100))
            }
            #expect(leader.lastContact == .zero)
        }
    }

    @Test func getConfigurationReturnsTheBootstrapConfiguration() async throws {
        try await TestCluster.run(nodes: 3, seed: 54) { cluster in
            let leader = try await cluster.waitForLeader()
            let (configuration, index) = leader.getConfiguration()
            #expect(configuration == cluster.fullConfiguration)
            #expect(index == 1)
        }
    }
}

extension AsyncStream.Iterator {
    /// The next element satisfying `predicate`, or nil when the stream ends.
    mutating func next(where predicate: (Element) -> Bool) async -> Element? {
        while let element = await next() {
            if predicate(element) { return element }
        }
        return nil
    }
}
