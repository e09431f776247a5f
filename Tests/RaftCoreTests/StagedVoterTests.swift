import RaftTestTraits
import Testing

import RaftCore

/// Staged voters (``ServerSuffrage/staging``): a server added with `AddStaging` replicates like a
/// non-voter and the leader itself appends `AddVoter` for it once it has stayed caught up for the
/// stability window; and the refusal of a change whose new configuration has no reachable quorum.
@Suite(.offCooperativePool) struct StagedVoterTests {
    /// Three voters and n4, a non-voter in step with them, led by n1 with everything committed.
    static func cluster(nonvoters: Int = 1, configure: (inout RaftInstance.Options) -> Void = { _ in }) -> TestNetwork {
        // Every server starts from the configuration (a non-voter cannot bootstrap).
        let configuration = Fixture.configuration(voters: 3, nonvoters: nonvoters)
        let state = RaftInstance.RestoredState(entries: [Fixture.configurationEntry(configuration)])
        var net = TestNetwork(restored: configuration.servers.map { ($0, state) }, configure: configure)
        net.elect("n1")
        net.stabilize()
        return net
    }

    /// Stages `id` on the leader n1 and lets the staging entry commit.
    static func stage(_ id: ServerID, in net: inout TestNetwork) throws {
        _ = try net.proposeConfigurationChange("n1", .addStaging(id, Fixture.server(id: id).address)).get()
        net.stabilize()
        #expect(net["n1"].isConfigurationStable)
    }

    static func suffrage(of id: ServerID, in net: TestNetwork, on node: ServerID = "n1") -> ServerSuffrage? {
        net[node].latestConfigurationState.configuration.server(withID: id)?.suffrage
    }

    /// The configurations in `node`'s log after the first, in order.
    static func configurationHistory(_ net: TestNetwork, on node: ServerID = "n1") throws -> [Configuration] {
        try net.log(node).filter { $0.type == .configuration }.dropFirst().map { try ConfigurationCodec.decode($0.data) }
    }

    // MARK: AddStaging

    // AddStaging adds a staged server, stages a non-voter, never demotes a voter, and takes the address.
    @Test func addStagingRewritesTheConfiguration() throws {
        let base = Fixture.configuration(voters: 3, nonvoters: 1)
        #expect(try base.applying(.addStaging("n5", "10.0.0.5:7000")).server(withID: "n5")
            == Server(suffrage: .staging, id: "n5", address: "10.0.0.5:7000"))
        #expect(try base.applying(.addStaging("n4", "10.0.0.4:7000")).server(withID: "n4")
            == Server(suffrage: .staging, id: "n4", address: "10.0.0.4:7000"))
        #expect(try base.applying(.addStaging("n2", "10.0.0.2:7000")).server(withID: "n2")
            == Server(suffrage: .voter, id: "n2", address: "10.0.0.2:7000"))
        #expect(ConfigurationChange.addStaging("n4", "10.0.0.4:7000").description == "AddStaging n4@10.0.0.4:7000")
    }

    // MARK: Promotion

    // A staged server that answers heartbeats but lags by more than stagingCatchUpEntries is not promoted; once it catches up, it is.
    @Test func aStagedServerIsNotPromotedWhileBehindAndIsOnceCaughtUp() throws {
        var net = Self.cluster { $0.stagingCatchUpEntries = 4 }
        try Self.stage("n4", in: &net)
        net.holdWrites("n4")
        for number in 0..<10 { net.propose("n1", "c\(number)") }
        net.run(ticks: 100)
        #expect(Self.suffrage(of: "n4", in: net) == .staging)
        #expect(net["n1"].currentRole == .leader)
        net.releaseWrites("n4")
        net.run(ticks: net["n1"].options.electionTimeoutTicks + 5)
        #expect(Self.suffrage(of: "n4", in: net) == .voter)
        #expect(net["n1"].isConfigurationStable)
        #expect(net.violations.isEmpty)
    }

    // Promotion waits for the whole stability window (stagingStabilityTicks) of being caught up.
    @Test func promotionWaitsForTheStabilityWindow() throws {
        var net = Self.cluster { $0.stagingStabilityTicks = 30 }
        try Self.stage("n4", in: &net)
        net.run(ticks: 29)
        #expect(Self.suffrage(of: "n4", in: net) == .staging)
        net.run(ticks: 5)
        #expect(Self.suffrage(of: "n4", in: net) == .voter)
        // The leader's own AddVoter: every server ends with n4 a voter, once it commits.
        net.stabilize()
        #expect(net["n1"].isConfigurationStable)
        #expect(Self.suffrage(of: "n4", in: net, on: "n3") == .voter)
    }

    // The window starts again when the staged server goes silent for longer than the lease.
    @Test func theWindowRestartsWhenTheServerGoesSilent() throws {
        var net = Self.cluster { $0.stagingStabilityTicks = 30 }
        try Self.stage("n4", in: &net)
        net.run(ticks: 20)
        net.cut("n1", "n4")
        net.run(ticks: net["n1"].options.leaderLeaseTicks + 2)
        net.heal()
        // 20 + 12 + 25 ticks since staging: promoted by now had the window not restarted.
        net.run(ticks: 25)
        #expect(Self.suffrage(of: "n4", in: net) == .staging)
        net.run(ticks: 15)
        #expect(Self.suffrage(of: "n4", in: net) == .voter)
    }

    // The window starts again when the staged server falls more than stagingCatchUpEntries behind.
    @Test func theWindowRestartsWhenTheServerFallsBehind() throws {
        var net = Self.cluster {
            $0.stagingStabilityTicks = 30
            $0.stagingCatchUpEntries = 4
        }
        try Self.stage("n4", in: &net)
        net.run(ticks: 20)
        net.holdWrites("n4")
        for number in 0..<10 { net.propose("n1", "c\(number)") }
        net.run(ticks: 5)
        net.releaseWrites("n4")
        // 20 + 5 + 20 ticks since staging: promoted by now had the window not restarted.
        net.run(ticks: 20)
        #expect(Self.suffrage(of: "n4", in: net) == .staging)
        net.run(ticks: 15)
        #expect(Self.suffrage(of: "n4", in: net) == .voter)
    }

    // Two staged servers are promoted one at a time: each configuration entry makes one of them a voter, in order.
    @Test func severalStagedServersArePromotedOneAtATime() throws {
        var net = Self.cluster(nonvoters: 2)
        try Self.stage("n4", in: &net)
        try Self.stage("n5", in: &net)
        net.run(ticks: 60)
        let history = try Self.configurationHistory(net).map { configuration in
            [configuration.server(withID: "n4")?.suffrage, configuration.server(withID: "n5")?.suffrage]
        }
        #expect(history == [[.staging, .nonvoter], [.staging, .staging], [.voter, .staging], [.voter, .voter]])
        #expect(net.violations.isEmpty)
    }

    // No promotion while a leadership transfer runs: it waits until the transfer has ended.
    @Test func noPromotionDuringALeadershipTransfer() throws {
        var net = Self.cluster { $0.stagingStabilityTicks = 2 }
        try Self.stage("n4", in: &net)
        // n2 never receives TimeoutNow, so the transfer lasts until it times out.
        net.cut("n1", "n2")
        _ = try net.transferLeadership("n1", to: "n2").get()
        net.run(ticks: net["n1"].options.electionTimeoutTicks - 1)
        #expect(net["n1"].isTransferringLeadership)
        #expect(Self.suffrage(of: "n4", in: net) == .staging)
        net.run(ticks: 5)
        #expect(!net["n1"].isTransferringLeadership)
        #expect(net["n1"].currentRole == .leader)
        #expect(Self.suffrage(of: "n4", in: net) == .voter)
    }

    // A new leader promotes a server staged under the old one: the staging is in the replicated configuration.
    @Test func aNewLeaderPromotesAServerStagedUnderTheOldOne() throws {
        var net = Self.cluster { $0.stagingStabilityTicks = 30 }
        try Self.stage("n4", in: &net)
        net.crash("n1")
        // Long enough for n2 or n3 to be elected, and then for the window.
        net.run(ticks: 200)
        let leader = try #require(["n2", "n3"].first { net[$0].currentRole == .leader })
        #expect(Self.suffrage(of: "n4", in: net, on: leader) == .voter)
        #expect(net[leader].isConfigurationStable)
        #expect(net.violations.isEmpty)
    }

    // MARK: Elections

    // A staged server never campaigns, and its votes count toward no quorum.
    @Test func aStagedServerNeverCampaignsAndItsVotesDoNotCount() {
        let configuration = Configuration(
            servers: [Fixture.server(1), Fixture.server(2), Fixture.server(3), Fixture.server(4, suffrage: .staging), Fixture.server(5, suffrage: .staging)]
        )
        let state = RaftInstance.RestoredState(entries: [Fixture.configurationEntry(configuration)])
        var net = TestNetwork(restored: configuration.servers.map { ($0, state) })
        net.tick(["n4"], times: 500)
        #expect(net["n4"].currentRole == .follower)
        #expect(!net.queue.contains { $0.from == "n4" && $0.isElectionTraffic })
        // n1 with only the staged servers: two grants of five servers, but one of three voters.
        net.crash("n2")
        net.crash("n3")
        net.elect("n1")
        #expect(net["n1"].currentRole != .leader)
        #expect(net.violations.isEmpty)
    }

    // MARK: Refusing a change that would lose a reachable quorum

    /// Voters n1 (leading), n2 and n3, and n4, a server with no state that no configuration
    /// lists yet; n3 silent for longer than the lease.
    static func clusterWithN3Unreachable() -> TestNetwork {
        let configuration = Fixture.configuration(voters: 3)
        let state = RaftInstance.RestoredState(entries: [Fixture.configurationEntry(configuration)])
        var net = TestNetwork(restored: configuration.servers.map { ($0, state) } + [(Fixture.server(4), RaftInstance.RestoredState())])
        net.elect("n1")
        net.stabilize()
        net.cut("n1", "n3")
        net.run(ticks: net["n1"].options.leaderLeaseTicks + 2)
        #expect(net["n1"].currentRole == .leader)
        return net
    }

    // Removing a healthy voter while another is unreachable is refused: n1 and n3 would need n3.
    @Test func removingAHealthyVoterWhileAnotherIsUnreachableIsRefused() {
        var net = Self.clusterWithN3Unreachable()
        #expect(net.proposeConfigurationChange("n1", .removeServer("n2")) == .failure(.wouldLoseQuorum(reachable: ["n1"], required: 2)))
        #expect(net.proposeConfigurationChange("n1", .demoteVoter("n2")) == .failure(.wouldLoseQuorum(reachable: ["n1"], required: 2)))
        #expect(net["n1"].latestConfigurationState.index == 1)
    }

    // With every voter reachable, the same removal is accepted.
    @Test func removingAVoterWhileTheOthersAreReachableIsAccepted() throws {
        var net = Self.cluster()
        net.run(ticks: net["n1"].options.leaderLeaseTicks + 2)
        _ = try net.proposeConfigurationChange("n1", .removeServer("n2")).get()
        net.stabilize()
        #expect(net["n1"].latestConfigurationState.configuration.voters.map(\.id) == ["n1", "n3"])
    }

    // Removing the unreachable voter itself, adding a new voter, or adding a non-voter stays allowed.
    @Test func removingTheUnreachableVoterOrAddingServersIsAllowed() throws {
        var net = Self.clusterWithN3Unreachable()
        // n1, n2 and the new n4 (unknown, given the benefit of the doubt) are 3 of 4.
        #expect(throws: Never.self) { try net.proposeConfigurationChange("n1", .addVoter("n4", Fixture.server(4).address)).get() }
        net.stabilize()
        net.run(ticks: 2)
        #expect(throws: Never.self) { try net.proposeConfigurationChange("n1", .removeServer("n3")).get() }
        net.stabilize()
        #expect(net["n1"].isConfigurationStable)
        var other = Self.clusterWithN3Unreachable()
        #expect(throws: Never.self) { try other.proposeConfigurationChange("n1", .addNonvoter("n4", Fixture.server(4).address)).get() }
    }
}
