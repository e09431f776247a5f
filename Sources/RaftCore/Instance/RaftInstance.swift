import DequeModule

/// The Raft protocol as a pure, deterministic state machine: the *instance* of the
/// instance/shell/directive split (swift-cluster-membership's words; etcd-io/raft's `RawNode`).
///
/// It performs no I/O, reads no clock and draws randomness only from the generator it is given.
/// The shell feeds it inputs — ``tick()``, ``receive(_:token:)``, ``receive(response:context:)``,
/// ``requestFailed(context:reason:)``, ``propose(_:)``, ``persisted(writeID:)`` — and then
/// takes a ``Ready`` describing what to write, send and apply. The same inputs always produce
/// the same `Ready`s.
///
/// Behaviour follows the Raft paper and hashicorp/raft, with these choices:
/// - **Pre-vote** (on by default): an election starts only if a quorum would vote for it, so a
///   rejoining, partitioned server does not raise everyone's term.
/// - **Check-quorum**: a leader that has not heard from a quorum within the lease steps down.
/// - **Leader stickiness**: a server that heard from a live leader recently refuses votes.
/// - **Figure 8**: only entries of the leader's own term are committed by counting replicas.
/// - **Persistence order**: votes are granted and entries acknowledged only after they are
///   durable (``Ready/repliesAfterPersist``); a leader counts itself toward a quorum only for
///   entries it has persisted.
/// - **Commit index propagation**: sent eagerly in the next AppendEntries (an empty one if
///   needed), and again to idle followers once per lease (or after a failed heartbeat) in case
///   one restarted and forgot it, rather than on hashicorp/raft's CommitTimeout poll.
public struct RaftInstance: Sendable {
    // MARK: Configuration and randomness

    /// The settings this instance runs with.
    public let options: Options
    var random: SplitMix64

    // MARK: Durable state (as known in memory)

    var hardState: HardState
    var hardStateDirty = false
    var window: LogWindow
    /// Highest index known durable in the local log.
    var persistedIndex: UInt64
    /// The newest snapshot this server holds (taken, installed or restored): 0 when none.
    var snapshotIndex: UInt64
    /// The term of ``snapshotIndex``.
    var snapshotTerm: UInt64
    /// The first index the log store still holds: entries before it were compacted into a
    /// snapshot, and a follower that needs them gets the snapshot instead.
    var firstStoredIndex: UInt64
    /// The InstallSnapshot being written to the snapshot store, if any.
    var installingSnapshot: RequestToken?

    // MARK: Volatile state

    var role: RaftRole = .follower
    var leader: Server?
    var commitIndex: UInt64 = 0
    /// Highest index handed to the shell for applying.
    var handedOutIndex: UInt64
    /// Highest index the shell reported applied by its FSM (``applied(through:)``).
    var appliedIndex: UInt64
    /// Whether the shell reported a write stuck for longer than it tolerates
    /// (``storageStalled()``) and not yet ``storageRecovered()``: this server neither leads nor
    /// campaigns meanwhile.
    public internal(set) var isStorageStalled = false
    /// AppendEntries held back while the FSM is far behind the commit index, oldest first.
    var deferredAppends: Deque<(request: AppendEntriesRequest, token: RequestToken)> = []
    var latestConfiguration: Configuration {
        // Derived facts are asked for on every answer a leader gets; compute them once per change.
        didSet { cacheVoters() }
    }
    private(set) var voters: [Server] = []
    private(set) var isLocalVoter = false
    var latestConfigurationIndex: UInt64
    var committedConfiguration: Configuration
    var committedConfigurationIndex: UInt64

    // MARK: Time, in ticks

    var now: UInt64 = 0
    var electionElapsed: UInt64 = 0
    var randomizedElectionTimeout: UInt64 = 0
    /// Tick of the last message from a live leader (for leader stickiness).
    var lastLeaderContact: UInt64?

    // MARK: Candidate state

    var election: Election?

    // MARK: Leader state

    var peers: [PeerProgress] = []
    var heartbeatElapsed: UInt64 = 0
    var leaseElapsed: UInt64 = 0
    var heartbeatRound: UInt64 = 0
    var pendingVerifications: Deque<(token: UInt64, round: UInt64)> = []
    /// ReadIndex requests not yet answered, oldest first.
    var pendingReads: Deque<PendingRead> = []
    /// The heartbeat round the newest read confirmation uses (0: none yet this leadership).
    var readRound: UInt64 = 0
    /// The index of this leader's no-op: reads wait until it commits.
    var termStartIndex: UInt64 = 0
    /// Set once this leader sent TimeoutNow in its term: the target's election bypasses the
    /// voters' leader stickiness, so this leader's lease (``leaseBasis``) no longer holds.
    var leaseForfeited = false
    /// A follower's reads forwarded to the leader.
    var forwardedReads = ForwardedReads()
    /// Peers known to lack the pre-vote RPC.
    var peersWithoutPreVote: Set<ServerID> = []
    /// The leadership transfer under way, if any.
    var leadershipTransfer: LeadershipTransfer?
    /// Set once a pre-vote round held back its election because its quorum relied on
    /// ``peersWithoutPreVote``; cleared when a leader is heard from or this server leads.
    var preVoteDeferredToOlderPeers = false

    // MARK: Output being accumulated

    var ready = Ready()
    var stateChanged = false
    var truncatedFrom: UInt64?
    var unpersistedFrom: UInt64
    /// Writes handed out and not yet reported durable, oldest first.
    var pendingWrites: Deque<PendingWrite> = []
    var nextWriteID: UInt64 = 0

    /// What a handed-out write will change on disk.
    struct PendingWrite: Sendable {
        var id: UInt64
        var truncateFrom: UInt64?
        var lastEntry: (index: UInt64, term: UInt64)?
    }

    /// Creates an instance from what the shell loaded from its stores.
    ///
    /// - Parameters:
    ///   - options: timing, limits and identity.
    ///   - restored: the durable state found at startup.
    ///   - random: the generator for election timeouts; seed it for reproducible runs.
    public init(options: Options, restored: RestoredState, random: SplitMix64) {
        self.options = options
        self.random = random
        self.hardState = restored.hardState
        self.window = LogWindow(baseIndex: restored.baseIndex, baseTerm: restored.baseTerm, entries: restored.entries)
        self.persistedIndex = window.lastIndex
        self.unpersistedFrom = window.lastIndex + 1
        self.snapshotIndex = restored.baseIndex
        self.snapshotTerm = restored.baseTerm
        self.firstStoredIndex = min(restored.firstStoredIndex ?? (restored.baseIndex + 1), restored.baseIndex + 1)
        self.commitIndex = restored.baseIndex
        self.handedOutIndex = restored.baseIndex
        self.appliedIndex = restored.baseIndex
        self.latestConfiguration = restored.baseConfiguration
        self.latestConfigurationIndex = restored.baseConfigurationIndex
        self.committedConfiguration = restored.baseConfiguration
        self.committedConfigurationIndex = restored.baseConfigurationIndex
        for entry in restored.entries where entry.type == .configuration {
            if let configuration = try? ConfigurationCodec.decode(entry.data) {
                latestConfiguration = configuration
                latestConfigurationIndex = entry.index
            }
        }
        cacheVoters()
        resetElectionTimer()
    }

    // MARK: - Observable state

    /// The current role.
    public var currentRole: RaftRole { role }
    /// The current term.
    public var currentTerm: UInt64 { hardState.currentTerm }
    /// The current hard state.
    public var currentHardState: HardState { hardState }
    /// The leader this server currently knows of (itself when leading).
    public var currentLeader: Server? { leader }
    /// The highest index known to be committed.
    public var currentCommitIndex: UInt64 { commitIndex }
    /// The index of the last entry in the local log, durable or not.
    public var lastIndex: UInt64 { window.lastIndex }
    /// The term of the last entry in the local log.
    public var lastTerm: UInt64 { window.lastTerm }
    /// The highest index known durable locally.
    public var lastPersistedIndex: UInt64 { persistedIndex }
    /// The newest configuration in the log, committed or not (it is already in effect).
    public var latestConfigurationState: (configuration: Configuration, index: UInt64) {
        (latestConfiguration, latestConfigurationIndex)
    }
    /// The newest committed configuration.
    public var committedConfigurationState: (configuration: Configuration, index: UInt64) {
        (committedConfiguration, committedConfigurationIndex)
    }
    /// The local server as listed in the latest configuration (or built from the options).
    public var localServer: Server {
        latestConfiguration.server(withID: options.localID)
            ?? Server(suffrage: .voter, id: options.localID, address: options.localAddress)
    }
    /// The entry at `index` if it is still held in memory.
    public func entry(at index: UInt64) -> Log? { window.entry(at: index) }
    /// The newest snapshot this server holds, as (index, term); (0, 0) when none.
    public var lastSnapshot: (index: UInt64, term: UInt64) { (snapshotIndex, snapshotTerm) }
    /// The first index the log store still holds (entries before it were compacted away).
    public var firstLogIndex: UInt64 { firstStoredIndex }
    /// Replication state of each follower, when leading: (id, match index, next index).
    public var replicationState: [(id: ServerID, match: UInt64, next: UInt64)] {
        peers.map { ($0.server.id, $0.match, $0.next) }
    }
    /// Ticks since follower `peer` last answered this leader, or nil when not leading or `peer`
    /// is not replicated to.
    public func ticksSinceContact(with peer: ServerID) -> UInt64? {
        peers.first { $0.server.id == peer }.map { now - $0.lastContact }
    }
    /// Ticks since this instance was created (``tick()`` calls).
    public var currentTick: UInt64 { now }
    /// Ticks since the leader was last heard from, or nil if never.
    public var ticksSinceLeaderContact: UInt64? { lastLeaderContact.map { now - $0 } }

    // MARK: - Taking output

    /// Takes everything the shell must now do. Call after feeding inputs; an empty `Ready` means
    /// there is nothing to do.
    public mutating func takeReady() -> Ready {
        if role != .follower { reassignForwardedReads() }
        if role == .leader {
            advanceReads()
            flushReplication()
        }
        if hardStateDirty {
            ready.hardState = hardState
            hardStateDirty = false
        }
        if let from = truncatedFrom {
            ready.truncateFrom = from
            truncatedFrom = nil
        }
        if unpersistedFrom <= window.lastIndex {
            ready.entriesToPersist = window.entries(from: unpersistedFrom, maxCount: Int.max, maxBytes: Int.max)
            unpersistedFrom = window.lastIndex + 1
        }
        if ready.needsPersistence {
            nextWriteID += 1
            ready.writeID = nextWriteID
            pendingWrites.append(
                PendingWrite(
                    id: nextWriteID,
                    truncateFrom: ready.truncateFrom,
                    lastEntry: ready.entriesToPersist.last.map { ($0.index, $0.term) }
                )
            )
        }
        // Never more than maxApplyBacklog entries handed out and not yet applied: a slow FSM's
        // queue stays bounded, and what waits stays in the window.
        let applyThrough = min(commitIndex, persistedIndex, appliedIndex + UInt64(options.maxApplyBacklog))
        if applyThrough > handedOutIndex {
            ready.committedEntries = window.entries(
                from: handedOutIndex + 1,
                maxCount: Int(applyThrough - handedOutIndex),
                maxBytes: Int.max
            )
            handedOutIndex = applyThrough
        }
        if stateChanged {
            ready.stateChange = .init(role: role, term: hardState.currentTerm, leader: leader, commitIndex: commitIndex)
            stateChanged = false
        }
        trimWindow()
        defer { ready = Ready() }
        return ready
    }

    /// Forgets in-memory entries beyond the window's capacity that are committed, handed out and
    /// durable; a leader loads them back from the log store if a follower needs them.
    private mutating func trimWindow() {
        let excess = window.count - options.logWindowCapacity
        guard excess > 0 else { return }
        let safe = min(commitIndex, handedOutIndex, persistedIndex)
        window.trimPrefix(through: min(safe, window.baseIndex + UInt64(excess)))
    }

    // MARK: - Applying

    /// The shell's FSM has applied every entry through `index`. Until it does, the core hands out
    /// at most ``Options/maxApplyBacklog`` entries beyond it, and a follower whose FSM lags its
    /// commit index by more than twice that holds back AppendEntries carrying entries (their
    /// answers wait), so a slow FSM slows its server's acknowledgments instead of growing a queue.
    public mutating func applied(through index: UInt64) {
        guard index > appliedIndex else { return }
        appliedIndex = index
        while !deferredAppends.isEmpty && !fsmIsFarBehind {
            let (request, token) = deferredAppends.removeFirst()
            handleAppendEntries(request, token: token)
        }
    }

    /// Whether entries are ready to hand out but held back until the FSM applies more: the shell
    /// then reports ``applied(through:)`` as soon as it does.
    public var isWaitingForApplies: Bool {
        min(commitIndex, persistedIndex) > handedOutIndex && handedOutIndex >= appliedIndex + UInt64(options.maxApplyBacklog)
    }

    /// Whether the FSM lags the commit index by more than twice ``Options/maxApplyBacklog``.
    var fsmIsFarBehind: Bool {
        commitIndex > appliedIndex + 2 * UInt64(options.maxApplyBacklog)
    }

    // MARK: - Durability

    /// The shell finished the write of the ``Ready`` whose ``Ready/writeID`` is `writeID`, and
    /// with it every earlier one (writes complete in the order they were taken).
    ///
    /// Its entries count as durable only up to just before any truncation still waiting to be
    /// written: the disk holds them now, but a later write is about to delete them, and an entry
    /// may be acknowledged (or counted toward a quorum) only if it will stay.
    public mutating func persisted(writeID: UInt64) {
        while let write = pendingWrites.first, write.id <= writeID {
            pendingWrites.removeFirst()
            guard let last = write.lastEntry else { continue }
            var durable = last.index
            for later in pendingWrites {
                if let from = later.truncateFrom { durable = min(durable, from - 1) }
            }
            // Entries of this write above `durable` are gone or going; entries at or below it
            // still sit in the window exactly as written (only truncations could change them).
            guard durable > persistedIndex, durable <= window.lastIndex else { continue }
            if durable == last.index && window.term(at: durable) != last.term { continue }
            persistedIndex = durable
        }
        if role == .leader { advanceCommitIndex() }
    }

    /// The ID of the newest write handed out in a ``Ready`` (0 before the first).
    public var lastWriteID: UInt64 { nextWriteID }

    // MARK: - Time

    /// Advances logical time by one tick. Every timeout in ``Options`` is counted in ticks.
    public mutating func tick() {
        now += 1
        switch role {
        case .follower, .candidate:
            electionElapsed += 1
            if electionElapsed >= randomizedElectionTimeout { electionTimerFired() }
        case .leader:
            tickLeader()
        }
    }

    mutating func resetElectionTimer() {
        electionElapsed = 0
        let base = UInt64(role == .candidate ? options.electionTimeoutTicks : options.heartbeatTimeoutTicks)
        randomizedElectionTimeout = base + UInt64.random(in: 0..<max(base, 1), using: &random)
    }

    // MARK: - Role changes

    /// Steps down to follower in `term` (raised if newer), knowing `newLeader` if any.
    ///
    /// - Parameter restartTimer: whether the election timer starts afresh. A candidate or leader
    ///   stepping down always gets a fresh timer (as hashicorp/raft's `runFollower` does); a
    ///   follower that merely adopts a newer term from a vote it refuses keeps its timer running
    ///   (Raft §5.2: only a leader's AppendEntries or a granted vote restarts it).
    mutating func becomeFollower(term: UInt64, leader newLeader: Server?, restartTimer: Bool = true) {
        let wasLeader = role == .leader
        let restart = restartTimer || role != .follower
        if term > hardState.currentTerm {
            hardState.currentTerm = term
            hardStateDirty = true
        }
        if role != .follower || leader != newLeader { stateChanged = true }
        role = .follower
        leader = newLeader
        election = nil
        if wasLeader { leaveLeadership() }
        if restart { resetElectionTimer() }
    }

    mutating func leaveLeadership() {
        finishLeadershipTransferOnStepDown()
        peers.removeAll()
        for pending in pendingVerifications { ready.verifications.append((pending.token, false)) }
        pendingVerifications.removeAll()
        failPendingReads()
    }

    /// Sets the hard state's term for a message from a newer term, without changing role.
    mutating func adoptTerm(_ term: UInt64) {
        guard term > hardState.currentTerm else { return }
        hardState.currentTerm = term
        hardStateDirty = true
        stateChanged = true
    }

    // MARK: - Configuration

    /// Applies a configuration entry as soon as it is appended (hashicorp/raft semantics).
    mutating func noteAppended(_ entry: Log) {
        guard entry.type == .configuration else { return }
        do {
            latestConfiguration = try ConfigurationCodec.decode(entry.data)
            latestConfigurationIndex = entry.index
            if role == .leader { syncPeersWithConfiguration() }
        } catch {
            ready.warnings.append("ignoring configuration entry \(entry.index): \(error)")
        }
    }

    /// After a truncation, the latest configuration is the newest one still in the log.
    mutating func revertConfiguration(truncatedFrom index: UInt64) {
        guard latestConfigurationIndex >= index else { return }
        latestConfiguration = committedConfiguration
        latestConfigurationIndex = committedConfigurationIndex
        var position = min(index - 1, window.lastIndex)
        while position > window.baseIndex && position > committedConfigurationIndex {
            if let entry = window.entry(at: position), entry.type == .configuration,
                let configuration = try? ConfigurationCodec.decode(entry.data)
            {
                latestConfiguration = configuration
                latestConfigurationIndex = position
                return
            }
            position -= 1
        }
    }

    mutating func commit(through index: UInt64) {
        guard index > commitIndex else { return }
        commitIndex = index
        if latestConfigurationIndex <= commitIndex && latestConfigurationIndex > committedConfigurationIndex {
            committedConfiguration = latestConfiguration
            committedConfigurationIndex = latestConfigurationIndex
            stepDownIfRemoved()
        }
    }

    // MARK: - Helpers

    var header: RPCHeader {
        RPCHeader(protocolVersion: options.protocolVersion, id: options.localID, address: options.localAddress)
    }

    var quorumSize: Int { voters.count / 2 + 1 }

    private mutating func cacheVoters() {
        voters = latestConfiguration.voters
        isLocalVoter = latestConfiguration.isVoter(options.localID)
    }

    /// Identifies the sender of a request: by header ID, or for peers that predate IDs in headers
    /// (hashicorp/raft 1.1.x), by address through the configuration. A server that has no
    /// configuration yet knows such a peer by its address alone, so that, as in hashicorp/raft, a
    /// cluster in which only one server was bootstrapped can elect it.
    func sender(id: ServerID, address: ServerAddress) -> Server? {
        if !id.rawValue.isEmpty {
            return latestConfiguration.server(withID: id)
                ?? Server(suffrage: .nonvoter, id: id, address: address)
        }
        if let known = latestConfiguration.server(withAddress: address) { return known }
        guard latestConfiguration.servers.isEmpty, !address.rawValue.isEmpty else { return nil }
        return Server(suffrage: .nonvoter, id: ServerID(address.rawValue), address: address)
    }

    /// Whether a live leader was heard from within the follower timeout (leader stickiness).
    var hasLiveLeader: Bool {
        if role == .leader { return true }
        guard leader != nil, let contact = lastLeaderContact else { return false }
        return now - contact < UInt64(options.heartbeatTimeoutTicks)
    }

    /// Whether this server started too recently to vote (``Options/voteRefusalTicksAfterStart``):
    /// it may have answered a leader just before it restarted, and that leader's lease
    /// (``leaseBasis``) counts on it refusing votes for a heartbeat timeout after the answer,
    /// which a restart would otherwise forget.
    var isNewlyStarted: Bool { now < UInt64(options.voteRefusalTicksAfterStart) }

    /// The term of the entry at `index`, from memory or from the snapshot's last entry; nil when
    /// only the log store knows it.
    func knownTerm(at index: UInt64) -> UInt64? {
        if let term = window.term(at: index) { return term }
        if index == snapshotIndex { return snapshotTerm }
        return nil
    }

    func isUpToDate(lastLogIndex: UInt64, lastLogTerm: UInt64) -> Bool {
        lastLogTerm > window.lastTerm || (lastLogTerm == window.lastTerm && lastLogIndex >= window.lastIndex)
    }
}
