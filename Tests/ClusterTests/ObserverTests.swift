import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// Observers through the public API, on virtual time: hashicorp/raft's `RegisterObserver`, whose
/// events are leadership, roles, peers, failing followers, vote requests, and (beyond it) snapshots.
@Suite struct ObserverTests {
    /// Reads an observer's stream inside the simulation and keeps what it read.
    final class Collector: Sendable {
        final class Seen: Sendable {
            let list = Mutex<[RaftObservation]>([])
        }

        let observer: RaftObserver
        private let seen = Seen()
        private let reader: Task<Void, any Error>

        init(_ cluster: TestCluster, bufferSize: Int = 1024, filter: (@Sendable (RaftObservation) -> Bool)? = nil) {
            let observer = RaftObserver(bufferSize: bufferSize, filter: filter)
            let seen = self.seen
            self.observer = observer
            self.reader = cluster.spawn {
                for await observation in observer.observations { seen.list.withLock { $0.append(observation) } }
            }
        }

        var observations: [RaftObservation] { seen.list.withLock { $0 } }

        func events(of node: ServerID) -> [RaftEvent] { observations.filter { $0.node == node }.map(\.event) }

        /// Ends the stream and returns everything observed.
        func finish() async throws -> [RaftObservation] {
            observer.finish()
            try await reader.value
            return observations
        }
    }

    static func isVoteRequest(_ event: RaftEvent) -> Bool {
        if case .voteRequested = event { return true }
        return false
    }

    // A leadership transfer, seen by every node: the roles each passes through, the new leader, the vote request, and the peers the new leader starts replicating to.
    @Test func observersHearOfRolesTheLeaderVoteRequestsAndPeers() async throws {
        try await TestCluster.run(nodes: 3, seed: 801) { cluster in
            let leader = try await cluster.waitForLeader()
            let old = leader.config.localID
            let collector = Collector(cluster)
            for raft in await cluster.running { raft.registerObserver(collector.observer) }
            let target = try #require(cluster.ids.first { $0 != old })
            let bystander = try #require(cluster.ids.first { $0 != old && $0 != target })
            try await leader.leadershipTransfer(to: target)
            let next = try await cluster.waitForLeader()
            try await cluster.waitUntil("every node to know the new leader") {
                await cluster.running.allSatisfy { $0.leader?.id == target }
            }
            try await cluster.waitUntil("the bystander to hear of it") {
                collector.events(of: bystander).contains(.leaderChanged(leader: next.leader, term: next.currentTerm))
            }
            let observations = try await collector.finish()
            let events = { (node: ServerID) in observations.filter { $0.node == node }.map(\.event) }

            #expect(events(old).contains(.stateChanged(.follower)))
            let targetEvents = events(target)
            #expect(targetEvents.filter { if case .stateChanged = $0 { true } else { false } } == [.stateChanged(.candidate), .stateChanged(.leader)])
            #expect(targetEvents.contains(.leaderChanged(leader: next.leader, term: next.currentTerm)))
            let peers = targetEvents.compactMap { event -> ServerID? in
                if case .peerAdded(let server) = event { return server.id }
                return nil
            }
            #expect(Set(peers) == [old, bystander])
            let request = try #require(
                events(bystander).compactMap { event -> RequestVoteRequest? in
                    if case .voteRequested(let request) = event { return request }
                    return nil
                }.first
            )
            #expect(request.header.id == target)
            #expect(request.leadershipTransfer)
            #expect(!events(old).contains { if case .peerAdded = $0 { true } else { false } })
        }
    }

    // Membership changes made by the leader are told as peers added and removed.
    @Test func aLeaderTellsOfPeersAddedAndRemoved() async throws {
        try await TestCluster.run(nodes: 4, seed: 802, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            let collector = Collector(cluster)
            leader.registerObserver(collector.observer)
            try await leader.addNonvoter(id: "node-4", address: ServerAddress("node-4"))
            let removed = try #require(cluster.ids.first { $0 != leader.config.localID && $0 != "node-4" })
            try await leader.removeServer(id: removed)
            let events = try await collector.finish().map(\.event)
            #expect(
                events == [
                    .peerAdded(Server(suffrage: .nonvoter, id: "node-4", address: ServerAddress("node-4"))),
                    .peerRemoved(Server(suffrage: .voter, id: removed, address: ServerAddress(removed.rawValue))),
                ]
            )
        }
    }

    // A follower the leader cannot reach is told of when it starts failing and when it answers again, not on every retry.
    @Test func aFailingFollowerIsToldWhenItFailsAndWhenItResumesNotOnEveryRetry() async throws {
        try await TestCluster.run(nodes: 3, seed: 803) { cluster in
            let leader = try await cluster.waitForLeader()
            let collector = Collector(cluster) { observation in
                switch observation.event {
                case .heartbeatFailed, .heartbeatResumed: return true
                default: return false
                }
            }
            leader.registerObserver(collector.observer)
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.isolate(follower)
            try await cluster.sleep(.milliseconds(500))   // dozens of retries
            await cluster.heal()
            try await cluster.waitUntil("the follower to answer again") {
                collector.observations.last?.event == .heartbeatResumed(peer: follower)
            }
            try await cluster.sleep(.milliseconds(100))
            let events = try await collector.finish().map(\.event)
            // An answer to a request sent just before the cut may still arrive after the first
            // failure: at most one such flap, then one failure for the whole outage.
            #expect((2...4).contains(events.count), "\(events)")
            for (position, event) in events.enumerated() {
                switch event {
                case .heartbeatFailed(let peer, let lastContact):
                    #expect(position % 2 == 0 && peer == follower, "\(events)")
                    #expect(lastContact != nil)
                case .heartbeatResumed(let peer):
                    #expect(position % 2 == 1 && peer == follower, "\(events)")
                default: Issue.record("unexpected \(event)")
                }
            }
            #expect(collector.observer.droppedCount == 0)
        }
    }

    // Snapshots taken by a node, and one installed from the leader by a follower that fell behind the compacted log.
    @Test func snapshotsTakenAndInstalledAreTold() async throws {
        try await TestCluster.run(nodes: 3, seed: 804, configure: SnapshotClusterTests.frequentSnapshots) { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.crash(follower)
            for command in SnapshotClusterTests.commands(200) { _ = try await leader.apply(command) }
            try await cluster.waitUntil("the leader to compact its log") {
                try await cluster.node(leader.config.localID).stores.logStore.firstIndex() > 1
            }
            try await cluster.restart(follower)
            let collector = Collector(cluster)
            try await cluster.raft(follower).registerObserver(collector.observer)
            leader.registerObserver(collector.observer)
            for command in SnapshotClusterTests.commands(40, prefix: "more") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            try await cluster.waitUntil("the leader to take another snapshot") {
                collector.events(of: leader.config.localID).contains { if case .snapshotTaken = $0 { true } else { false } }
            }
            let observations = try await collector.finish()
            let installed = observations.filter { $0.node == follower }.compactMap { observation -> SnapshotMeta? in
                if case .snapshotInstalled(let meta) = observation.event { return meta }
                return nil
            }
            #expect(installed.count == 1)
            #expect(try #require(installed.first).index >= 180)
            let taken = observations.filter { $0.node == leader.config.localID }.compactMap { observation -> SnapshotMeta? in
                if case .snapshotTaken(let meta) = observation.event { return meta }
                return nil
            }
            #expect(try #require(taken.last).index > 200)
            #expect(try await cluster.node(leader.config.localID).stores.snapshotStore.list().first?.id == taken.last?.id)
        }
    }

    // An observer nobody reads fills its buffer and then drops, counting each drop: elections, replication and applies go on as before.
    @Test func anObserverNobodyReadsDropsEventsAndStallsNothing() async throws {
        try await TestCluster.run(nodes: 3, seed: 805) { cluster in
            let stuck = RaftObserver(bufferSize: 2)
            for raft in await cluster.running { raft.registerObserver(stuck) }
            var leader = try await cluster.waitForLeader()
            for round in 0..<4 {
                for i in 0..<50 { _ = try await leader.apply(Array("r\(round)-\(i)".utf8)) }
                try await leader.leadershipTransfer()
                leader = try await cluster.waitForLeader()
            }
            _ = try await leader.apply(Array("last".utf8))
            try await cluster.waitForConvergence()
            #expect(stuck.observedCount == 2)
            #expect(stuck.droppedCount > 20)
            // Deregistered, it is offered nothing more.
            for raft in await cluster.running { raft.deregisterObserver(stuck) }
            let dropped = stuck.droppedCount
            try await leader.leadershipTransfer()
            _ = try await cluster.waitForLeader()
            #expect(stuck.droppedCount == dropped)
        }
    }

    // A filter keeps only the events it accepts; a node's last event is its shutdown.
    @Test func aFilterKeepsOnlyWhatItAcceptsAndShutdownIsTheLastEvent() async throws {
        try await TestCluster.run(nodes: 3, seed: 806) { cluster in
            let leader = try await cluster.waitForLeader()
            let collector = Collector(cluster) { observation in
                if case .stateChanged = observation.event { return true }
                return false
            }
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await cluster.raft(follower).registerObserver(collector.observer)
            leader.registerObserver(collector.observer)
            _ = try await leader.apply([1])
            await cluster.crash(follower)
            let events = try await collector.finish()
            #expect(events == [RaftObservation(node: follower, event: .stateChanged(.shutdown))])
        }
    }
}
