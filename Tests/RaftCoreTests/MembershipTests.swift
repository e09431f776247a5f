import RaftTestTraits
import Testing

import RaftCore

/// Membership changes in the core, with hashicorp/raft's rules: how each change rewrites the
/// configuration (`nextConfiguration`), one uncommitted change at a time, the `prevIndex` guard,
/// and a leader that steps down once its own removal commits.
@Suite(.offCooperativePool) struct MembershipTests {
    static let base = Fixture.configuration(voters: 3)
    static let n4 = Server(suffrage: .voter, id: "n4", address: "127.0.0.1:7004")

    // MARK: Configuration.applying (hashicorp/raft's nextConfiguration)

    @Test func addVoterAppendsANewVoterOrPromotesAndReaddresses() throws {
        #expect(try Self.base.applying(.addVoter("n4", "127.0.0.1:7004")).servers == Self.base.servers + [Self.n4])
        let withNonvoter = Fixture.configuration(voters: 3, nonvoters: 1)
        let promoted = try withNonvoter.applying(.addVoter("n4", "10.0.0.4:7000"))
        #expect(promoted.server(withID: "n4") == Server(suffrage: .voter, id: "n4", address: "10.0.0.4:7000"))
    }

    @Test func addNonvoterAppendsANonvoterButNeverDemotesAVoter() throws {
        let added = try Self.base.applying(.addNonvoter("n4", "127.0.0.1:7004"))
        #expect(added.server(withID: "n4")?.suffrage == .nonvoter)
        let readdressed = try Self.base.applying(.addNonvoter("n2", "10.0.0.2:7000"))
        #expect(readdressed.server(withID: "n2") == Server(suffrage: .voter, id: "n2", address: "10.0.0.2:7000"))
    }

    @Test func demoteAndRemove() throws {
        #expect(try Self.base.applying(.demoteVoter("n3")).server(withID: "n3")?.suffrage == .nonvoter)
        #expect(try Self.base.applying(.removeServer("n3")).servers.map(\.id) == ["n1", "n2"])
        // Removing a server that is not there changes nothing.
        #expect(try Self.base.applying(.removeServer("n9")) == Self.base)
    }

    @Test func aChangeThatLeavesNoVoterOrADuplicateAddressIsInvalid() {
        let single = Fixture.configuration(voters: 1)
        #expect(throws: ConfigurationError.noVoters) { try single.applying(.removeServer("n1")) }
        #expect(throws: ConfigurationError.self) { try Self.base.applying(.addVoter("n4", Fixture.server(2).address)) }
    }

    // MARK: Proposing

    /// n1 leading term 2, its no-op (2) acknowledged by n2 and n3, so the bootstrap configuration
    /// is committed and both followers are in step.
    static func stableLeader(configure: (inout RaftInstance.Options) -> Void = { _ in }) -> RaftInstance {
        var leader = Fixture.instance("n1", configure: configure)
        let ready = leader.winElection()
        leader.persistAll()
        for probe in ready.appends {
            leader.receive(response: Fixture.appendResponse(from: probe.target, term: 2, lastLog: 2, success: true), context: probe.context)
        }
        _ = leader.takeReady()
        return leader
    }

    // hashicorp/raft: no change before the latest configuration is committed.
    @Test func noChangeBeforeTheLatestConfigurationCommits() {
        var leader = Fixture.instance("n1")
        _ = leader.winElection()
        #expect(leader.proposeConfigurationChange(.removeServer("n3")) == .failure(.changeInProgress(latestIndex: 1)))
    }

    // hashicorp/raft: the new configuration takes effect on the leader as soon as it is appended.
    @Test func aChangeTakesEffectWhenAppendedAndOneAtATime() throws {
        var leader = Self.stableLeader()
        let index = try leader.proposeConfigurationChange(.addVoter("n4", "127.0.0.1:7004")).get()
        #expect(index == 3)
        #expect(leader.latestConfigurationState.index == 3)
        #expect(leader.latestConfigurationState.configuration.isVoter("n4"))
        #expect(!leader.isConfigurationStable)
        let ready = leader.takeReady()
        #expect(ready.entriesToPersist.last?.type == .configuration)
        #expect(Set(ready.appends.map(\.target)) == ["n2", "n3", "n4"])
        #expect(leader.proposeConfigurationChange(.removeServer("n3")) == .failure(.changeInProgress(latestIndex: 3)))
    }

    @Test func prevIndexMustNameTheLatestConfiguration() throws {
        var leader = Self.stableLeader()
        #expect(leader.proposeConfigurationChange(.removeServer("n3"), prevIndex: 7)
            == .failure(.configurationChanged(prevIndex: 7, latestIndex: 1)))
        #expect(throws: Never.self) { try leader.proposeConfigurationChange(.removeServer("n3"), prevIndex: 1).get() }
    }

    @Test func onlyTheLeaderChangesTheConfiguration() {
        var follower = Fixture.instance("n2")
        #expect(follower.proposeConfigurationChange(.removeServer("n3")) == .failure(.notLeader(leader: nil)))
    }

    // hashicorp/raft: a leader whose removal commits steps down (and, with ShutdownOnRemove, shuts down).
    @Test func aLeaderWhoseRemovalCommitsStepsDown() throws {
        var leader = Self.stableLeader()
        let index = try leader.proposeConfigurationChange(.removeServer("n1")).get()
        var ready = leader.takeReady()
        leader.persistAll()
        let toN2 = try #require(ready.appends.first { $0.target == "n2" })
        let toN3 = try #require(ready.appends.first { $0.target == "n3" })
        leader.receive(response: Fixture.appendResponse(from: "n2", term: 2, lastLog: index, success: true), context: toN2.context)
        // The new configuration's voters are n2 and n3: n2's answer alone is not a quorum of it.
        #expect(leader.currentRole == .leader)
        leader.receive(response: Fixture.appendResponse(from: "n3", term: 2, lastLog: index, success: true), context: toN3.context)
        ready = leader.takeReady()
        #expect(leader.currentCommitIndex == index)
        #expect(leader.currentRole == .follower)
        #expect(ready.removedFromConfiguration)
        #expect(ready.committedEntries.last?.index == index)
    }
}
