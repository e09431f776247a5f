import RaftTestKit
import Synchronization
import SwiftRaft
import Testing

/// Membership changes through the public API, on virtual time: hashicorp/raft's `AddVoter`,
/// `AddNonvoter`, `DemoteVoter` and `RemoveServer`.
@Suite struct MembershipClusterTests {
    static func address(_ id: ServerID) -> ServerAddress { ServerAddress(id.rawValue) }

    static func commands(_ count: Int, prefix: String) -> [[UInt8]] {
        (0..<count).map { Array("\(prefix)\($0)".utf8) }
    }

    static func recorded(_ fsm: any FSM) throws -> [[UInt8]] { try #require(fsm as? RecordingFSM).commands }

    // A cluster grows from three voters to five: each new server receives the whole log and then counts toward the quorum.
    @Test func addingVotersGrowsTheClusterFromThreeToFive() async throws {
        try await TestCluster.run(nodes: 5, seed: 401, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(20, prefix: "before") { _ = try await leader.apply(command) }
            for id: ServerID in ["node-4", "node-5"] {
                let index = try await leader.addVoter(id: id, address: Self.address(id))
                #expect(leader.getConfiguration().index == index)
            }
            for command in Self.commands(20, prefix: "after") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            for id in cluster.ids {
                #expect(try await cluster.raft(id).getConfiguration().configuration == cluster.fullConfiguration, "\(id)")
                #expect(try Self.recorded(await cluster.fsm(id)) == Self.commands(20, prefix: "before") + Self.commands(20, prefix: "after"))
            }
            // Five voters: losing two still leaves a quorum.
            let others = cluster.ids.filter { $0 != leader.config.localID }
            await cluster.crash(others[0])
            await cluster.crash(others[1])
            _ = try await leader.apply(Array("with three of five".utf8))
        }
    }

    // Growing from one server to five and shrinking back to one, under a client that keeps writing: no acknowledged write is lost.
    @Test func growingFromOneToFiveAndShrinkingBackUnderLoadLosesNoWrite() async throws {
        try await TestCluster.run(nodes: 5, seed: 407, initialMembers: 1) { cluster in
            let leader = try await cluster.waitForLeader()
            #expect(leader.config.localID == "node-1")
            let acknowledged = Mutex<[[UInt8]]>([])
            let stop = Mutex(false)
            let client = cluster.spawn {
                var attempt = 0
                while !stop.withLock({ $0 }) {
                    attempt += 1
                    let command = Array("write-\(attempt)".utf8)
                    if (try? await leader.apply(command, timeout: .milliseconds(100))) != nil {
                        acknowledged.withLock { $0.append(command) }
                    }
                    try await cluster.sleep(.milliseconds(1))
                }
            }
            for id in cluster.ids.dropFirst() {
                try await leader.addVoter(id: id, address: Self.address(id))
                try await cluster.sleep(.milliseconds(20))
            }
            #expect(leader.getConfiguration().configuration == cluster.fullConfiguration)
            for id in cluster.ids.dropFirst().reversed() {
                try await leader.removeServer(id: id)
                try await cluster.sleep(.milliseconds(20))
            }
            stop.withLock { $0 = true }
            try await client.value
            #expect(leader.state == .leader)
            #expect(leader.getConfiguration().configuration.servers.map(\.id) == ["node-1"])
            try await leader.barrier()
            let written = acknowledged.withLock { $0 }
            #expect(written.count > 50)
            // Every acknowledged write, once; a write whose outcome was unknown may be there too.
            let applied = try Self.recorded(await cluster.fsm("node-1"))
            #expect(Set(applied).count == applied.count)
            #expect(Set(written).isSubset(of: Set(applied)))
        }
    }

    // A crashed voter is replaced: the new server is added and the dead one removed, and the cluster keeps its fault tolerance.
    @Test func aCrashedVoterIsReplacedByANewServer() async throws {
        try await TestCluster.run(nodes: 4, seed: 408, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            for command in Self.commands(10, prefix: "c") { _ = try await leader.apply(command) }
            let dead = try #require(cluster.ids.prefix(3).first { $0 != leader.config.localID })
            await cluster.crash(dead)
            try await leader.addVoter(id: "node-4", address: Self.address("node-4"))
            try await leader.removeServer(id: dead)
            let members = Set(leader.getConfiguration().configuration.voters.map(\.id))
            #expect(members == Set(cluster.ids.filter { $0 != dead }))
            try await cluster.waitForApplied(leader.commitIndex, on: ["node-4"])
            #expect(try Self.recorded(await cluster.fsm("node-4")).prefix(10) == Self.commands(10, prefix: "c")[...])
            // Three voters again: one more may fail.
            let another = try #require(members.first { $0 != leader.config.localID })
            await cluster.crash(another)
            _ = try await leader.apply(Array("still a quorum".utf8))
        }
    }

    // A server removed while cut off never learns of it and campaigns again and again: the others refuse it (it is no member of their configuration), so their leader and term stay as they are.
    @Test func aRemovedServerThatKeepsCampaigningDoesNotDisturbTheCluster() async throws {
        try await TestCluster.run(nodes: 3, seed: 409) { cluster in
            let leader = try await cluster.waitForLeader()
            let outcast = try #require(cluster.ids.first { $0 != leader.config.localID })
            await cluster.isolate(outcast)
            try await leader.removeServer(id: outcast)
            try await cluster.sleep(.seconds(1))
            let term = leader.currentTerm
            await cluster.heal()
            try await cluster.sleep(.seconds(2))
            #expect(leader.state == .leader)
            #expect(leader.currentTerm == term)
            #expect(try await cluster.raft(outcast).state != .leader)
            _ = try await leader.apply(Array("undisturbed".utf8))
        }
    }

    // A removed follower leaves the quorum: a two-voter cluster commits with both.
    @Test func removingAFollowerShrinksTheConfiguration() async throws {
        try await TestCluster.run(nodes: 3, seed: 402) { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = try #require(cluster.ids.first { $0 != leader.config.localID })
            try await leader.removeServer(id: follower)
            #expect(!leader.getConfiguration().configuration.contains(follower))
            await cluster.crash(follower)
            _ = try await leader.apply(Array("two voters".utf8))
        }
    }

    // hashicorp/raft: a leader that removes itself steps down once the change commits, and with ShutdownOnRemove shuts down; the others elect a leader.
    @Test func aLeaderThatRemovesItselfStepsDownAndShutsDown() async throws {
        try await TestCluster.run(nodes: 3, seed: 403) { cluster in
            let leader = try await cluster.waitForLeader()
            let leaderID = leader.config.localID
            try await leader.removeServer(id: leaderID)
            try await cluster.waitUntil("the removed leader to shut down") { leader.state == .shutdown }
            let survivors = cluster.ids.filter { $0 != leaderID }
            let next = try await cluster.waitForLeader(among: survivors)
            #expect(!next.getConfiguration().configuration.contains(leaderID))
            _ = try await next.apply(Array("without the old leader".utf8))
        }
    }

    // A non-voter receives the log but never votes or leads; promoted with AddVoter, demoted with DemoteVoter.
    @Test func aNonvoterReplicatesAndCanBePromotedAndDemoted() async throws {
        try await TestCluster.run(nodes: 4, seed: 404, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            try await leader.addNonvoter(id: "node-4", address: Self.address("node-4"))
            for command in Self.commands(10, prefix: "c") { _ = try await leader.apply(command) }
            try await cluster.waitForConvergence()
            #expect(try Self.recorded(await cluster.fsm("node-4")) == Self.commands(10, prefix: "c"))
            #expect(leader.getConfiguration().configuration.server(withID: "node-4")?.suffrage == .nonvoter)

            try await leader.addVoter(id: "node-4", address: Self.address("node-4"))
            #expect(leader.getConfiguration().configuration.isVoter("node-4"))
            try await leader.demoteVoter(id: "node-4")
            #expect(leader.getConfiguration().configuration.server(withID: "node-4")?.suffrage == .nonvoter)
            // With the three voters cut off from each other, the non-voter never campaigns.
            for id in cluster.ids { await cluster.isolate(id) }
            try await cluster.sleep(.seconds(2))
            #expect(try await cluster.raft("node-4").state == .follower)
        }
    }

    // The prevIndex guard: a change based on an outdated configuration is refused; a follower refuses with notLeader.
    @Test func aStalePrevIndexOrAFollowerIsRefused() async throws {
        try await TestCluster.run(nodes: 4, seed: 405, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            let before = leader.getConfiguration().index
            try await leader.addNonvoter(id: "node-4", address: Self.address("node-4"), prevIndex: before)
            await #expect(throws: RaftError(.invalidArgument, "")) {
                try await leader.removeServer(id: "node-4", prevIndex: before)
            }
            let follower = try #require(await cluster.followers.first { $0.getConfiguration().configuration.isVoter($0.config.localID) })
            await #expect(throws: RaftError.notLeader(nil)) { try await follower.removeServer(id: "node-4") }
        }
    }

    // Changes made back to back are applied one at a time, in order: the second waits for the first to commit.
    @Test func concurrentChangesAreAppliedOneAtATime() async throws {
        try await TestCluster.run(nodes: 5, seed: 406, initialMembers: 3) { cluster in
            let leader = try await cluster.waitForLeader()
            let first = cluster.spawn { try await leader.addVoter(id: "node-4", address: Self.address("node-4")) }
            let second = cluster.spawn { try await leader.addVoter(id: "node-5", address: Self.address("node-5")) }
            let indexes = [try await first.value, try await second.value]
            #expect(indexes[0] != indexes[1])
            #expect(leader.getConfiguration().configuration == cluster.fullConfiguration)
            try await cluster.waitForConvergence()
        }
    }
}
