import SwiftRaft
import Testing

/// `Config` carries hashicorp/raft's defaults and rejects what hashicorp/raft's ValidateConfig
/// rejects, naming the field.
@Suite struct ConfigTests {
    @Test func defaultsMatchHashicorpDefaultConfig() throws {
        let config = Config.defaultConfig(localID: "a")
        #expect(config.protocolVersion == 3)
        #expect(config.heartbeatTimeout == .seconds(1))
        #expect(config.electionTimeout == .seconds(1))
        #expect(config.commitTimeout == .milliseconds(50))
        #expect(config.maxAppendEntries == 64)
        #expect(config.batchApplyCh == false)
        #expect(config.shutdownOnRemove == true)
        #expect(config.trailingLogs == 10240)
        #expect(config.snapshotInterval == .seconds(120))
        #expect(config.snapshotThreshold == 8192)
        #expect(config.leaderLeaseTimeout == .milliseconds(500))
        #expect(config.preVoteDisabled == false)
        #expect(config.noSnapshotRestoreOnStart == false)
        try config.validate()
    }

    // A stalled disk deposes its leader after five seconds by default, and the check can be
    // turned off.
    @Test func maxStorageStallDefaultsToFiveSecondsAndNilIsValid() throws {
        var config = Config.defaultConfig(localID: "a")
        #expect(config.maxStorageStall == .seconds(5))
        config.maxStorageStall = nil
        try config.validate()
    }

    // Lease reads are opt-in; the clock-drift bound leaves most of a default heartbeat timeout as lease.
    @Test func leaseReadsAreOffByDefaultAndTheDefaultDriftBoundIsValidWithThem() throws {
        var config = Config.defaultConfig(localID: "a")
        #expect(config.leaseReads == false)
        #expect(config.maxClockDrift == .milliseconds(50))
        config.leaseReads = true
        try config.validate()
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var field: String
        var change: @Sendable (inout Config) -> Void
        var testDescription: String { field }
    }

    static let invalidCases: [Case] = [
        Case(field: "LocalID") { $0.localID = "" },
        Case(field: "ProtocolVersion") { $0.protocolVersion = 2 },
        Case(field: "ProtocolVersion") { $0.protocolVersion = 4 },
        Case(field: "HeartbeatTimeout") { $0.heartbeatTimeout = .milliseconds(4) },
        Case(field: "ElectionTimeout") { $0.electionTimeout = .milliseconds(4) },
        Case(field: "ElectionTimeout") { $0.electionTimeout = .milliseconds(900) },
        Case(field: "CommitTimeout") { $0.commitTimeout = .microseconds(500) },
        Case(field: "MaxAppendEntries") { $0.maxAppendEntries = 0 },
        Case(field: "MaxAppendEntries") { $0.maxAppendEntries = 1025 },
        Case(field: "SnapshotInterval") { $0.snapshotInterval = .milliseconds(4) },
        Case(field: "LeaderLeaseTimeout") { $0.leaderLeaseTimeout = .milliseconds(4) },
        Case(field: "LeaderLeaseTimeout") { $0.leaderLeaseTimeout = .seconds(2) },
        Case(field: "MaxInflightAppends") { $0.maxInflightAppends = 0 },
        Case(field: "MaxInflightBytes") { $0.maxInflightBytes = 0 },
        Case(field: "MaxPendingApplies") { $0.maxPendingApplies = 0 },
        Case(field: "LogCacheCapacity") { $0.logCacheCapacity = 10 },
        Case(field: "RPCTimeout") { $0.rpcTimeout = .zero },
        Case(field: "StagingCatchUpEntries") { $0.stagingCatchUpEntries = 0 },
        Case(field: "StagingStabilityWindow") { $0.stagingStabilityWindow = .milliseconds(-1) },
        Case(field: "MaxStorageStall") { $0.maxStorageStall = .zero },
        Case(field: "MaxStorageStall") { $0.maxStorageStall = .seconds(1) },
        Case(field: "MaxClockDrift") { $0.maxClockDrift = .milliseconds(-1) },
        Case(field: "MaxClockDrift") { config in
            config.leaseReads = true
            config.maxClockDrift = config.heartbeatTimeout
        },
    ]

    @Test(arguments: invalidCases)
    func anInvalidValueIsRejectedWithAMessageNamingTheField(_ invalid: Case) {
        var config = Config(localID: "a")
        invalid.change(&config)
        let error = #expect(throws: RaftError.self) { try config.validate() }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains(invalid.field) == true, "\(error?.message ?? "") should name \(invalid.field)")
    }

    @Test func raftRefusesToStartWithAnInvalidConfig() async {
        var config = Config(localID: "a")
        config.maxAppendEntries = 0
        let store = InmemStore()
        let error = await #expect(throws: RaftError.self) {
            _ = try await Raft(
                config: config,
                fsm: NoopFSM(),
                logStore: store,
                stableStore: store,
                snapshotStore: DiscardSnapshotStore(),
                transport: InmemTransport(address: "a")
            )
        }
        #expect(error?.code == .invalidConfig)
    }
}

/// An FSM that ignores everything.
struct NoopFSM: FSM {
    func apply(_ log: Log) -> (any Sendable)? { nil }
    func snapshot() throws -> any FSMSnapshot { throw RaftError(.nothingNewToSnapshot, "nothing") }
    func restore(from source: any SnapshotSource) throws {}
}

/// A node refuses to start on stores it cannot trust, with a typed error instead of a crash.
@Suite struct StartupTests {
    /// Starts a node on a log store holding `entries`.
    static func start(withLog entries: [Log]) async throws {
        let store = InmemStore()
        try store.storeLogs(entries)
        let raft = try await Raft(
            config: Config(localID: "a"),
            fsm: NoopFSM(),
            logStore: store,
            stableStore: store,
            snapshotStore: DiscardSnapshotStore(),
            transport: InmemTransport(address: "a")
        )
        await raft.shutdown()
    }

    @Test func aLogWithAGapIsRejectedAsCorrupt() async throws {
        let error = await #expect(throws: RaftError.self) {
            try await Self.start(withLog: [Log(index: 1, term: 1), Log(index: 3, term: 1)])
        }
        #expect(error?.code == .corrupt)
    }

    @Test func aLogThatDoesNotStartAtOneWithoutASnapshotIsRejected() async throws {
        let error = await #expect(throws: RaftError.self) {
            try await Self.start(withLog: [Log(index: 5, term: 1), Log(index: 6, term: 1)])
        }
        #expect(error?.code == .corrupt)
    }

    @Test func aSingleNodeBootstrapsElectsItselfAndApplies() async throws {
        let store = InmemStore()
        let snapshots = InmemSnapshotStore()
        var config = Config(localID: "solo")
        config.heartbeatTimeout = .milliseconds(20)
        config.electionTimeout = .milliseconds(20)
        config.leaderLeaseTimeout = .milliseconds(10)
        config.commitTimeout = .milliseconds(5)
        try Raft.bootstrapCluster(
            config: config,
            logStore: store,
            stableStore: store,
            snapshotStore: snapshots,
            configuration: Configuration(servers: [Server(id: "solo", address: "solo")])
        )
        #expect(throws: RaftError(.cantBootstrap, "")) {
            try Raft.bootstrapCluster(
                config: config,
                logStore: store,
                stableStore: store,
                snapshotStore: snapshots,
                configuration: Configuration(servers: [Server(id: "solo", address: "solo")])
            )
        }
        let raft = try await Raft(
            config: config,
            fsm: NoopFSM(),
            logStore: store,
            stableStore: store,
            snapshotStore: snapshots,
            transport: InmemTransport(address: "solo")
        )
        // Real time here: wait for the election through the leadership stream (subscribed before
        // the state is checked, so the change cannot slip between the two).
        let changes = raft.leadershipChanges()
        if raft.state != .leader {
            for await change in changes where change.isLeader { break }
        }
        #expect(raft.state == .leader)
        let result = try await raft.apply([42])
        #expect(result.index == raft.lastIndex)
        await raft.shutdown()
        #expect(raft.state == .shutdown)
    }
}
