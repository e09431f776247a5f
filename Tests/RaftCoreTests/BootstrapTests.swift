import RaftTestTraits
import Testing

import RaftCore

/// Bootstrapping a brand-new cluster, as hashicorp/raft's `BootstrapCluster`: the configuration
/// becomes log entry 1 of term 1, and only a server with no state may do it.
@Suite(.offCooperativePool) struct BootstrapTests {
    private func freshInstance(_ id: ServerID = "n1") -> RaftInstance {
        RaftInstance(options: Fixture.options(id), restored: RaftInstance.RestoredState(), random: SplitMix64(seed: 1))
    }

    // hashicorp/raft BootstrapCluster: the configuration is written as entry 1 of term 1, with term 1 in the hard state.
    @Test func bootstrapWritesTheConfigurationAsEntryOneOfTermOne() throws {
        var node = freshInstance()
        let configuration = Fixture.configuration(voters: 3)
        try node.bootstrap(configuration)
        let ready = node.takeReady()
        #expect(ready.hardState == HardState(currentTerm: 1))
        #expect(ready.entriesToPersist == [Fixture.configurationEntry(configuration)])
        #expect(ready.entriesToPersist.first?.data == ConfigurationCodec.encode(configuration)[...])
        #expect(ready.stateChange?.term == 1)
        #expect(ready.stateChange?.role == .follower)
        // The configuration is in effect at once, though not committed.
        #expect(node.latestConfigurationState.configuration == configuration)
        #expect(node.latestConfigurationState.index == 1)
        #expect(node.committedConfigurationState.index == 0)
    }

    // hashicorp/raft: bootstrapping a server that already has a term, entries or a snapshot is refused.
    @Test func bootstrapRefusesAServerWithExistingState() {
        let configuration = Fixture.configuration(voters: 3)
        let states: [RaftInstance.RestoredState] = [
            .init(hardState: HardState(currentTerm: 1)),
            .init(entries: [Fixture.configurationEntry(configuration)]),
            .init(baseIndex: 10, baseTerm: 2, baseConfiguration: configuration, baseConfigurationIndex: 3),
        ]
        for state in states {
            var node = RaftInstance(options: Fixture.options("n1"), restored: state, random: SplitMix64(seed: 1))
            #expect(throws: BootstrapError.existingState) { try node.bootstrap(configuration) }
            #expect(node.takeReady().entriesToPersist.isEmpty)
        }
        // Nor can a server be bootstrapped twice.
        var node = freshInstance()
        #expect(throws: Never.self) { try node.bootstrap(configuration) }
        #expect(throws: BootstrapError.existingState) { try node.bootstrap(configuration) }
    }

    // hashicorp/raft checkConfiguration: IDs and addresses must be non-empty and unique, with at least one voter.
    @Test func bootstrapRefusesAnInvalidConfiguration() {
        let n1 = Fixture.server(1)
        let cases: [(Configuration, ConfigurationError)] = [
            (Configuration(servers: [n1, Server(id: "", address: "a:1")]), .emptyID(Server(id: "", address: "a:1"))),
            (Configuration(servers: [n1, Server(id: "n2", address: "")]), .emptyAddress(Server(id: "n2", address: ""))),
            (Configuration(servers: [n1, Server(id: "n1", address: "a:1")]), .duplicateID("n1")),
            (Configuration(servers: [n1, Server(id: "n2", address: n1.address)]), .duplicateAddress(n1.address)),
            (Configuration(servers: [Fixture.server(1, suffrage: .nonvoter)]), .noVoters),
            (Configuration(), .noVoters),
        ]
        for (configuration, error) in cases {
            var node = freshInstance()
            #expect(throws: BootstrapError.invalidConfiguration(error)) { try node.bootstrap(configuration) }
            #expect(node.takeReady().isEmpty)
        }
    }

    // swift-raft: the bootstrapping server must be a voter of the configuration it writes.
    @Test func bootstrapRefusesAConfigurationInWhichTheServerDoesNotVote() {
        var node = freshInstance("n3")
        let configuration = Configuration(servers: [Fixture.server(1), Fixture.server(2), Fixture.server(3, suffrage: .nonvoter)])
        #expect(throws: BootstrapError.notVoter) { try node.bootstrap(configuration) }
        var outsider = freshInstance("n9")
        #expect(throws: BootstrapError.notVoter) { try outsider.bootstrap(Fixture.configuration(voters: 3)) }
    }

    // Raft §5.2: a bootstrapped single voter elects itself and commits the configuration with its no-op.
    @Test func bootstrappedSingleVoterElectsItselfAndCommitsTheConfiguration() {
        var net = TestNetwork(voters: 1)
        net.run(ticks: 60)
        #expect(net.leader == "n1")
        #expect(net["n1"].currentTerm == 2)
        #expect(net["n1"].committedConfigurationState.index == 1)
        #expect(net.node("n1").applied.map(\.type) == [.configuration, .noop])
    }

    // Raft §5.4.2: in a bootstrapped 3-node cluster the configuration commits only through the first leader's no-op.
    @Test func bootstrappedClusterCommitsTheConfigurationThroughTheFirstLeader() {
        var net = TestNetwork(voters: 3)
        #expect(net.ids.allSatisfy { net[$0].committedConfigurationState.index == 0 })
        net.elect("n2")
        #expect(net.leader == "n2")
        net.run(ticks: 5)
        for id in net.ids {
            #expect(net[id].committedConfigurationState.configuration == Fixture.configuration(voters: 3), "\(id)")
            #expect(net.node(id).applied.map(\.index) == [1, 2], "\(id)")
        }
    }

    // hashicorp/raft: a server started with no configuration joins when a leader contacts it.
    // hashicorp/raft: a server with no configuration never campaigns but does vote, so a cluster in which only one
    // server was bootstrapped elects that server and the others learn the configuration from it.
    @Test func unbootstrappedServerGrantsItsVoteToABootstrappedCandidate() throws {
        var newcomer = freshInstance("n2")
        newcomer.receive(Fixture.requestVote(from: "n1", term: 2, last: (1, 1)), token: RequestToken(1))
        let ready = newcomer.takeReady()
        #expect(ready.repliesAfterPersist.first?.requestVote?.granted == true)
        #expect(ready.hardState == HardState(currentTerm: 2, lastVoteTerm: 2, lastVoteCandidate: "n1"))
    }

    // hashicorp/raft 1.1.x sends no server ID in its headers; a server with no configuration knows such a candidate
    // by its address, and votes for it.
    @Test func unbootstrappedServerGrantsItsVoteToACandidateKnownOnlyByAddress() throws {
        var newcomer = freshInstance("n2")
        let request = RequestVoteRequest(
            header: RPCHeader(protocolVersion: 3, id: "", address: ""),
            term: 2,
            candidate: "10.0.0.1:8300",
            lastLogIndex: 1,
            lastLogTerm: 1
        )
        newcomer.receive(.requestVote(request), token: RequestToken(1))
        let ready = newcomer.takeReady()
        #expect(ready.repliesAfterPersist.first?.requestVote?.granted == true)
        #expect(ready.hardState?.lastVoteCandidate == "10.0.0.1:8300")
    }

    @Test func unbootstrappedServerLearnsTheConfigurationFromTheLeader() throws {
        var leader = Fixture.instance("n1", voters: 2)
        let won = leader.winElection()
        var newcomer = freshInstance("n2")
        let probe = try #require(won.appends.first)
        newcomer.receive(.appendEntries(probe.request), token: RequestToken(1))
        var reply = try #require(newcomer.takeReady().replies.first?.appendEntries)
        #expect(!reply.success)
        #expect(reply.lastLog == 0)
        leader.receive(response: .appendEntries(reply), context: probe.context)
        let retry = try #require(leader.takeReady().appends.first)
        newcomer.receive(.appendEntries(retry.request), token: RequestToken(2))
        let ready = newcomer.takeReady()
        reply = try #require(ready.repliesAfterPersist.first?.appendEntries)
        #expect(reply.success)
        #expect(newcomer.latestConfigurationState.configuration == Fixture.configuration(voters: 2))
        #expect(newcomer.currentLeader?.id == "n1")
    }
}
