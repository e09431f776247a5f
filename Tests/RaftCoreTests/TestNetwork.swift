import RaftCore

/// A tiny deterministic harness that plays the shell for several ``RaftInstance``s.
///
/// After every input it takes the node's `Ready`s and does what ``Ready`` asks, in its order:
/// queues ``Ready/messages`` and ``Ready/replies``; records the writes; when the writes complete
/// (at once, unless the node holds them) applies them to the node's durable state, queues the
/// after-persist sends and calls ``RaftInstance/persisted(writeID:)`` for each completed write, as
/// the shell does; collects committed entries; serves entry loads from the durable log.
///
/// Messages wait in one queue until a test delivers them (``stabilize()``, ``deliver(where:)``,
/// ``run(ticks:)``). A request that meets a cut link, a down node or a random drop turns into a
/// ``RequestFailure/unreachable`` for its sender, as a transport timeout would. A response goes
/// back with the sender's own ``RequestContext``.
///
/// The network checks Raft's safety properties after every step and records breaches in
/// ``violations``: Election Safety (one leader per term), Leader Completeness (a new leader holds
/// every committed entry), State Machine Safety (a committed index never changes its entry, and
/// each node hands out committed entries in order, once).
struct TestNetwork {
    struct Node {
        var server: Server
        var options: RaftInstance.Options
        var instance: RaftInstance
        var isUp = true
        var incarnation = 0
        /// Whether the node answers pre-vote requests (hashicorp/raft before 1.7 does not).
        var supportsPreVote = true
        /// Whether the node knows the ReadIndex RPC (hashicorp/raft does not).
        var supportsReadIndex = true
        /// Term, vote and log as they would be on disk.
        var durableHardState = HardState()
        var durableLog: [Log] = []
        /// Writes taken from `Ready`s and not yet complete, oldest first.
        var pendingWrites: [PendingWrite] = []
        /// When set, writes wait for ``TestNetwork/completeWrites(_:count:)``.
        var holdsWrites = false
        /// Committed entries handed out since the node last started.
        var applied: [Log] = []
        var stateChanges: [Ready.StateChange] = []
        var verifications: [(token: UInt64, stillLeader: Bool)] = []
        var readIndexes: [(token: UInt64, result: Result<UInt64, ReadIndexRejection>)] = []
        var warnings: [String] = []
        var seed: UInt64
    }

    struct PendingWrite {
        var writeID: UInt64?
        var hardState: HardState?
        var truncateFrom: UInt64?
        var entries: [Log]
        var messages: [OutboundRequest]
        var replies: [OutboundReply]
    }

    /// Something in transit.
    struct Envelope: CustomStringConvertible {
        enum Payload {
            case request(RaftRequest)
            case response(RaftResponse)
            case failure(RequestFailure)
        }

        var from: ServerID
        var to: ServerID
        var payload: Payload
        /// The requester's context (for a request, its own; for an answer, the question's).
        var context: RequestContext
        /// The requester's incarnation when it asked; answers to a restarted node are discarded.
        var requesterIncarnation: Int

        var isRequest: Bool {
            if case .request = payload { return true }
            return false
        }

        /// Whether this is part of a campaign: pre-vote or vote requests and their answers.
        var isElectionTraffic: Bool {
            context.kind == .requestVote || context.kind == .requestPreVote
        }

        /// The entries carried, if this is an AppendEntries request.
        var entries: [Log] {
            if case .request(.appendEntries(let request)) = payload { return request.entries }
            return []
        }

        /// Whether this is a successful AppendEntries response.
        var isSuccessfulAppendResponse: Bool {
            if case .response(.appendEntries(let response)) = payload { return response.success }
            return false
        }

        var description: String { "\(from)→\(to) \(payload) \(context.kind)" }
    }

    struct Link: Hashable {
        var a: ServerID
        var b: ServerID
        init(_ x: ServerID, _ y: ServerID) { (a, b) = x < y ? (x, y) : (y, x) }
    }

    private struct PendingRequest {
        var requester: ServerID
        var requesterIncarnation: Int
        var context: RequestContext
        var responder: ServerID
        var responderIncarnation: Int
    }

    private(set) var nodes: [Node] = []
    private(set) var queue: [Envelope] = []
    private var cutLinks: Set<Link> = []
    private var pendingRequests: [UInt64: PendingRequest] = [:]
    private var nextToken: UInt64 = 1
    private var random: SplitMix64

    /// Probability that a request or response is lost in transit.
    var dropRate: Double = 0
    /// When set, every `Ready` taken is recorded here as text (for determinism checks).
    var trace: [String]?
    /// When set, every envelope delivered is recorded here as text (for debugging).
    var deliveryLog: [String]?

    /// Which server led each term.
    private(set) var leaderOfTerm: [UInt64: ServerID] = [:]
    /// Every entry known committed, by index.
    private(set) var committed: [UInt64: Log] = [:]
    /// Breaches of Raft's safety properties, and harness anomalies.
    private(set) var violations: [String] = []
    /// How many ``EntryLoad``s the nodes asked for.
    private(set) var entryLoadCount = 0
    private var checkedCommit: [ServerID: UInt64] = [:]

    // MARK: - Building

    /// A cluster of `voters` voters and `nonvoters` non-voters (`n1`, `n2`, …), every one
    /// bootstrapped with the same configuration, as hashicorp/raft's `MakeCluster` does.
    init(
        voters: Int = 3,
        nonvoters: Int = 0,
        seed: UInt64 = 1,
        configure: (inout RaftInstance.Options) -> Void = { _ in }
    ) {
        self.random = SplitMix64(seed: seed ^ 0x5EED)
        let configuration = Fixture.configuration(voters: voters, nonvoters: nonvoters)
        for (offset, server) in configuration.servers.enumerated() {
            addNode(server, restored: RaftInstance.RestoredState(), seed: seed &* 1000 &+ UInt64(offset), configure: configure)
            do {
                try nodes[offset].instance.bootstrap(configuration)
            } catch {
                violations.append("bootstrap of \(server.id) failed: \(error)")
            }
            drain(offset)
        }
    }

    /// A cluster whose servers start from the given durable state (each log must already hold
    /// the configuration).
    init(
        restored: [(server: Server, state: RaftInstance.RestoredState)],
        seed: UInt64 = 1,
        configure: (inout RaftInstance.Options) -> Void = { _ in }
    ) {
        self.random = SplitMix64(seed: seed ^ 0x5EED)
        for (offset, entry) in restored.enumerated() {
            addNode(entry.server, restored: entry.state, seed: seed &* 1000 &+ UInt64(offset), configure: configure)
        }
    }

    private mutating func addNode(
        _ server: Server,
        restored: RaftInstance.RestoredState,
        seed: UInt64,
        configure: (inout RaftInstance.Options) -> Void
    ) {
        var options = RaftInstance.Options(localID: server.id, localAddress: server.address)
        configure(&options)
        var node = Node(
            server: server,
            options: options,
            instance: RaftInstance(options: options, restored: restored, random: SplitMix64(seed: seed)),
            seed: seed
        )
        node.durableHardState = restored.hardState
        node.durableLog = restored.entries
        nodes.append(node)
        checkedCommit[server.id] = restored.baseIndex
    }

    // MARK: - Looking

    func index(of id: ServerID) -> Int {
        guard let index = nodes.firstIndex(where: { $0.server.id == id }) else {
            preconditionFailure("no node \(id)")
        }
        return index
    }

    /// The node's instance.
    subscript(id: ServerID) -> RaftInstance { nodes[index(of: id)].instance }

    func node(_ id: ServerID) -> Node { nodes[index(of: id)] }

    var ids: [ServerID] { nodes.map(\.server.id) }

    /// The running leader of the highest term, if any.
    var leader: ServerID? {
        nodes.filter { $0.isUp && $0.instance.currentRole == .leader }
            .max { $0.instance.currentTerm < $1.instance.currentTerm }?.server.id
    }

    /// Running nodes that believe they lead.
    var leaders: [ServerID] {
        nodes.filter { $0.isUp && $0.instance.currentRole == .leader }.map(\.server.id)
    }

    /// The node's log, from its instance.
    func log(_ id: ServerID) -> [Log] {
        let instance = self[id]
        guard instance.lastIndex > 0 else { return [] }
        return (1...instance.lastIndex).compactMap { instance.entry(at: $0) ?? durableEntry(id, at: $0) }
    }

    /// The data of the command entries the node handed to its state machine since it started.
    func appliedCommands(_ id: ServerID) -> [String] {
        node(id).applied.filter { $0.type == .command }.map { String(decoding: $0.data, as: UTF8.self) }
    }

    /// Requests delivered whose answer has not been produced yet.
    var unansweredRequests: Int { pendingRequests.count }

    private func durableEntry(_ id: ServerID, at index: UInt64) -> Log? {
        node(id).durableLog.first { $0.index == index }
    }

    // MARK: - Faults

    mutating func cut(_ a: ServerID, _ b: ServerID) { cutLinks.insert(Link(a, b)) }

    /// Cuts every link of `id`.
    mutating func isolate(_ id: ServerID) {
        for other in ids where other != id { cut(id, other) }
    }

    /// Cuts every link between the groups.
    mutating func partition(_ groups: [[ServerID]]) {
        cutLinks = []
        for (i, group) in groups.enumerated() {
            for other in groups[(i + 1)...].joined() {
                for id in group { cut(id, other) }
            }
        }
    }

    mutating func heal() { cutLinks = [] }

    func isCut(_ a: ServerID, _ b: ServerID) -> Bool { cutLinks.contains(Link(a, b)) }

    /// Stops a node: its unfinished writes are lost, except that with `partialWrite` the oldest one
    /// is cut short after its hard state (and truncation, if `keepTruncation`). Requests it was
    /// answering fail for their senders.
    mutating func crash(_ id: ServerID, partialWrite: Bool = false, keepTruncation: Bool = false) {
        let i = index(of: id)
        guard nodes[i].isUp else { return }
        if partialWrite, let write = nodes[i].pendingWrites.first {
            if let hardState = write.hardState { nodes[i].durableHardState = hardState }
            if keepTruncation, let from = write.truncateFrom { nodes[i].durableLog.removeAll { $0.index >= from } }
        }
        nodes[i].pendingWrites = []
        nodes[i].isUp = false
        for (token, pending) in pendingRequests.sorted(by: { $0.key < $1.key })
        where pending.responder == id && pending.responderIncarnation == nodes[i].incarnation {
            pendingRequests[token] = nil
            queue.append(
                Envelope(
                    from: id,
                    to: pending.requester,
                    payload: .failure(.unreachable),
                    context: pending.context,
                    requesterIncarnation: pending.requesterIncarnation
                )
            )
        }
    }

    /// Starts a stopped node from its durable state, as a shell does after a crash.
    mutating func restart(_ id: ServerID) {
        let i = index(of: id)
        guard !nodes[i].isUp else { return }
        nodes[i].incarnation += 1
        nodes[i].isUp = true
        nodes[i].applied = []
        nodes[i].seed &+= 7919
        let restored = RaftInstance.RestoredState(hardState: nodes[i].durableHardState, entries: nodes[i].durableLog)
        nodes[i].instance = RaftInstance(options: nodes[i].options, restored: restored, random: SplitMix64(seed: nodes[i].seed))
        checkedCommit[id] = 0
    }

    /// Makes the node answer pre-vote requests as a hashicorp/raft server before 1.7 would: the
    /// request fails with ``RequestFailure/preVoteUnsupported``.
    mutating func disablePreVoteSupport(_ id: ServerID) { nodes[index(of: id)].supportsPreVote = false }

    // MARK: - Durability control

    /// From now on the node's writes complete only through ``completeWrites(_:count:)``.
    mutating func holdWrites(_ id: ServerID) { nodes[index(of: id)].holdsWrites = true }

    /// Completes the node's oldest `count` pending writes (all by default) and lets it react.
    mutating func completeWrites(_ id: ServerID, count: Int = .max) {
        let i = index(of: id)
        guard nodes[i].isUp else { return }
        completeWrites(at: i, count: count)
        drain(i)
    }

    /// Stops holding the node's writes and completes those pending.
    mutating func releaseWrites(_ id: ServerID) {
        nodes[index(of: id)].holdsWrites = false
        completeWrites(id)
    }

    /// Tells the node its storage has stalled (``RaftInstance/storageStalled()``), holding its
    /// writes from now on, as a shell does once a write has been stuck too long.
    mutating func stallStorage(_ id: ServerID) {
        let i = index(of: id)
        nodes[i].holdsWrites = true
        nodes[i].instance.storageStalled()
        drain(i)
    }

    /// Completes the node's stalled writes and tells it its storage recovered.
    mutating func recoverStorage(_ id: ServerID) {
        releaseWrites(id)
        let i = index(of: id)
        nodes[i].instance.storageRecovered()
        drain(i)
    }

    // MARK: - Inputs

    /// Advances the clocks of the given running nodes (all by default) by `times` ticks, taking
    /// their output but delivering nothing.
    mutating func tick(_ only: [ServerID]? = nil, times: Int = 1) {
        for _ in 0..<times {
            for i in nodes.indices where nodes[i].isUp && (only?.contains(nodes[i].server.id) ?? true) {
                nodes[i].instance.tick()
                drain(i)
            }
        }
    }

    /// Ticks every running node, then delivers everything, `ticks` times.
    mutating func run(ticks: Int) {
        for _ in 0..<ticks {
            tick()
            stabilize()
        }
    }

    /// Ticks only `id` until it campaigns, then delivers everything; repeats until it leads (a
    /// campaign can end by learning a newer term). With working links and no rival, `id` wins.
    mutating func elect(_ id: ServerID, attempts: Int = 5) {
        let i = index(of: id)
        for _ in 0..<attempts where nodes[i].instance.currentRole != .leader {
            campaign(id)
            stabilize()
        }
    }

    /// Ticks only `id` until its election timer fires and it starts a campaign (sends pre-vote or
    /// vote requests, or wins alone), delivering nothing.
    mutating func campaign(_ id: ServerID, maxTicks: Int = 10_000) {
        let i = index(of: id)
        for _ in 0..<maxTicks {
            let queued = queue.count
            tick([id])
            if nodes[i].instance.currentRole == .leader { return }
            if queue[queued...].contains(where: { $0.from == id && $0.isRequest && $0.isElectionTraffic }) { return }
            if nodes[i].pendingWrites.contains(where: { write in
                write.messages.contains { $0.context.kind == .requestVote }
            }) {
                return
            }
        }
    }

    /// Proposes commands to `id`; returns the indexes assigned, or nil if it is not the leader.
    @discardableResult
    mutating func propose(_ id: ServerID, _ commands: String...) -> ClosedRange<UInt64>? {
        let i = index(of: id)
        let proposals = commands.map { Proposal(data: Array($0.utf8)) }
        let result = nodes[i].instance.propose(proposals)
        drain(i)
        return try? result.get()
    }

    /// Asks `id` for a membership change; returns the configuration entry's index, or why it was
    /// refused.
    mutating func proposeConfigurationChange(_ id: ServerID, _ change: ConfigurationChange) -> Result<UInt64, ConfigurationChangeRejection> {
        let i = index(of: id)
        let result = nodes[i].instance.proposeConfigurationChange(change)
        drain(i)
        return result
    }

    /// Asks the leader `id` to hand leadership over to `target`.
    mutating func transferLeadership(_ id: ServerID, to target: ServerID) -> Result<ServerID, LeadershipTransferRejection> {
        let i = index(of: id)
        let result = nodes[i].instance.transferLeadership(to: target)
        drain(i)
        return result
    }

    /// Asks the leader `id` to verify its leadership under `token`.
    mutating func verifyLeader(_ id: ServerID, token: UInt64) {
        let i = index(of: id)
        nodes[i].instance.verifyLeader(token)
        drain(i)
    }

    /// Asks `id` for a read index under `token` (a follower forwards it to its leader).
    mutating func requestReadIndex(_ id: ServerID, token: UInt64, leaseHolds: Bool = false) {
        let i = index(of: id)
        nodes[i].instance.requestReadIndex(token, leaseHolds: leaseHolds)
        drain(i)
    }

    /// Makes `id` answer ReadIndex requests as a server that does not know the RPC.
    mutating func withoutReadIndex(_ id: ServerID) {
        nodes[index(of: id)].supportsReadIndex = false
    }

    // MARK: - Delivery

    /// Delivers queued envelopes, in order, until none is left.
    mutating func stabilize(maxSteps: Int = 100_000) {
        deliver(maxSteps: maxSteps) { _ in true }
    }

    /// Delivers, in queue order, every envelope matching `predicate` (including those the
    /// deliveries produce) until none is left; the others stay queued. Returns how many.
    @discardableResult
    mutating func deliver(maxSteps: Int = 100_000, where predicate: (Envelope) -> Bool) -> Int {
        var delivered = 0
        while delivered < maxSteps, let position = queue.firstIndex(where: predicate) {
            deliver(queue.remove(at: position))
            delivered += 1
        }
        if delivered == maxSteps { violations.append("network did not settle within \(maxSteps) deliveries") }
        return delivered
    }

    /// Delivers the envelope at `position` of the queue.
    mutating func deliver(at position: Int) {
        deliver(queue.remove(at: position))
    }

    /// Discards queued envelopes matching `predicate`, as if they had never been sent: requests
    /// turn into failures for their senders.
    mutating func drop(where predicate: (Envelope) -> Bool) {
        let dropped = queue.filter(predicate)
        queue.removeAll(where: predicate)
        for envelope in dropped { fail(envelope) }
    }

    private mutating func roll(_ probability: Double) -> Bool {
        probability > 0 && Double(random.next() >> 11) / Double(1 << 53) < probability
    }

    private mutating func fail(_ envelope: Envelope) {
        switch envelope.payload {
        case .request, .response:
            let requester = envelope.isRequest ? envelope.from : envelope.to
            queue.append(
                Envelope(
                    from: requester,
                    to: requester,
                    payload: .failure(.unreachable),
                    context: envelope.context,
                    requesterIncarnation: envelope.requesterIncarnation
                )
            )
        case .failure:
            break
        }
    }

    private mutating func deliver(_ envelope: Envelope) {
        deliveryLog?.append("\(envelope) ctx=\(envelope.context)")
        switch envelope.payload {
        case .request(let request):
            let target = index(of: envelope.to)
            guard nodes[target].isUp, !isCut(envelope.from, envelope.to), !roll(dropRate) else {
                fail(envelope)
                return
            }
            // A server that does not know the RPC: the requester's transport reports why.
            let unknownRPC: RequestFailure?
            switch request {
            case .requestPreVote where !nodes[target].supportsPreVote: unknownRPC = .preVoteUnsupported
            case .readIndex where !nodes[target].supportsReadIndex: unknownRPC = .unsupportedByPeer
            default: unknownRPC = nil
            }
            if let unknownRPC {
                queue.append(
                    Envelope(
                        from: envelope.to,
                        to: envelope.from,
                        payload: .failure(unknownRPC),
                        context: envelope.context,
                        requesterIncarnation: envelope.requesterIncarnation
                    )
                )
                return
            }
            if case .appendEntries(let append) = request {
                checkCommitIndexBound(append, from: envelope.from, to: target)
            }
            let token = nextToken
            nextToken += 1
            pendingRequests[token] = PendingRequest(
                requester: envelope.from,
                requesterIncarnation: envelope.requesterIncarnation,
                context: envelope.context,
                responder: envelope.to,
                responderIncarnation: nodes[target].incarnation
            )
            nodes[target].instance.receive(request, token: RequestToken(token))
            drain(target)
        case .response(let response):
            let target = index(of: envelope.to)
            guard nodes[target].isUp, nodes[target].incarnation == envelope.requesterIncarnation else { return }
            guard !isCut(envelope.from, envelope.to), !roll(dropRate) else {
                fail(envelope)
                return
            }
            nodes[target].instance.receive(response: response, context: envelope.context)
            drain(target)
        case .failure(let reason):
            let target = index(of: envelope.to)
            guard nodes[target].isUp, nodes[target].incarnation == envelope.requesterIncarnation else { return }
            nodes[target].instance.requestFailed(context: envelope.context, reason: reason)
            drain(target)
        }
    }

    // MARK: - Playing the shell

    /// Takes and carries out the node's `Ready`s until it has nothing more to do.
    private mutating func drain(_ i: Int) {
        for _ in 0..<10_000 {
            let ready = nodes[i].instance.takeReady()
            if ready.isEmpty {
                checkInvariants(i)
                return
            }
            trace?.append("\(nodes[i].server.id): \(ready)")
            carryOut(ready, at: i)
        }
        violations.append("\(nodes[i].server.id) kept producing output")
    }

    private mutating func carryOut(_ ready: Ready, at i: Int) {
        let id = nodes[i].server.id
        // 1. Sends that depend on nothing unwritten.
        for message in ready.messages { send(message, from: i) }
        for reply in ready.replies { route(reply, from: i) }
        // 2–3. Writes, then the sends that wait for them.
        nodes[i].pendingWrites.append(
            PendingWrite(
                writeID: ready.writeID,
                hardState: ready.hardState,
                truncateFrom: ready.truncateFrom,
                entries: ready.entriesToPersist,
                messages: ready.messagesAfterPersist,
                replies: ready.repliesAfterPersist
            )
        )
        if !nodes[i].holdsWrites { completeWrites(at: i, count: .max) }
        // 4. Committed entries to the state machine.
        for entry in ready.committedEntries { noteApplied(entry, at: i) }
        // 5. Entries a lagging follower needs, from the log store.
        for load in ready.entryLoads {
            entryLoadCount += 1
            let entries = nodes[i].durableLog.filter { $0.index >= load.firstIndex && $0.index <= load.lastIndex }
            nodes[i].instance.entriesLoaded(entries, for: load)
        }
        if let change = ready.stateChange {
            nodes[i].stateChanges.append(change)
            if change.role == .leader { noteLeader(id, term: change.term, at: i) }
        }
        nodes[i].verifications += ready.verifications
        nodes[i].readIndexes += ready.readIndexes
        nodes[i].warnings += ready.warnings
    }

    private mutating func completeWrites(at i: Int, count: Int) {
        var remaining = count
        while remaining > 0, !nodes[i].pendingWrites.isEmpty {
            remaining -= 1
            let write = nodes[i].pendingWrites.removeFirst()
            if let hardState = write.hardState { nodes[i].durableHardState = hardState }
            if let from = write.truncateFrom { nodes[i].durableLog.removeAll { $0.index >= from } }
            for entry in write.entries {
                if let last = nodes[i].durableLog.last, entry.index != last.index + 1 {
                    violations.append("\(nodes[i].server.id) asked to store entry \(entry.index) after \(last.index)")
                }
                nodes[i].durableLog.append(entry)
            }
            for message in write.messages { send(message, from: i) }
            for reply in write.replies { route(reply, from: i) }
            if let writeID = write.writeID { nodes[i].instance.persisted(writeID: writeID) }
        }
    }

    private mutating func send(_ message: OutboundRequest, from i: Int) {
        queue.append(
            Envelope(
                from: nodes[i].server.id,
                to: message.target.id,
                payload: .request(message.request),
                context: message.context,
                requesterIncarnation: nodes[i].incarnation
            )
        )
    }

    private mutating func route(_ reply: OutboundReply, from i: Int) {
        guard let pending = pendingRequests.removeValue(forKey: reply.token.rawValue) else {
            violations.append("\(nodes[i].server.id) answered unknown or already answered request \(reply.token)")
            return
        }
        queue.append(
            Envelope(
                from: nodes[i].server.id,
                to: pending.requester,
                payload: .response(reply.response),
                context: pending.context,
                requesterIncarnation: pending.requesterIncarnation
            )
        )
    }

    // MARK: - Safety checks

    private mutating func noteLeader(_ id: ServerID, term: UInt64, at i: Int) {
        if let existing = leaderOfTerm[term] {
            if existing != id { violations.append("Election Safety: \(existing) and \(id) both lead term \(term)") }
            return
        }
        leaderOfTerm[term] = id
        // Leader Completeness: every entry committed so far is in the new leader's log.
        for (index, entry) in committed where (nodes[i].instance.entry(at: index) ?? durableEntry(id, at: index)) != entry {
            violations.append("Leader Completeness: \(id), leader of term \(term), lacks committed entry \(entry)")
        }
    }

    private mutating func noteCommitted(_ entry: Log, by id: ServerID) {
        if let known = committed[entry.index] {
            if known != entry {
                violations.append("State Machine Safety: \(id) has \(entry) committed where \(known) was committed")
            }
        } else {
            committed[entry.index] = entry
        }
    }

    private mutating func noteApplied(_ entry: Log, at i: Int) {
        let id = nodes[i].server.id
        let expected = (nodes[i].applied.last?.index ?? 0) + 1
        if entry.index != expected {
            violations.append("\(id) handed out entry \(entry.index) where \(expected) was next")
        }
        nodes[i].applied.append(entry)
        noteCommitted(entry, by: id)
    }

    private mutating func checkInvariants(_ i: Int) {
        let id = nodes[i].server.id
        let instance = nodes[i].instance
        if instance.currentRole == .leader { noteLeader(id, term: instance.currentTerm, at: i) }
        let from = (checkedCommit[id] ?? 0) + 1
        let through = instance.currentCommitIndex
        if through >= from {
            for index in from...through {
                guard let entry = instance.entry(at: index) ?? durableEntry(id, at: index) else {
                    violations.append("\(id) claims index \(index) committed but does not hold it")
                    continue
                }
                noteCommitted(entry, by: id)
            }
        }
        checkedCommit[id] = max(checkedCommit[id] ?? 0, through)
    }

    /// Commit Index Bound: an AppendEntries never carries a commit index that would make a
    /// hashicorp/raft follower commit an entry the leader does not hold. That follower accepts a
    /// request whose previous entry matches, overwrites only entries that conflict with the
    /// request's, keeps any suffix beyond them, and commits `min(leaderCommitIndex, its last
    /// index)`: every entry up to that index must then be the leader's.
    private mutating func checkCommitIndexBound(_ request: AppendEntriesRequest, from leaderID: ServerID, to target: Int) {
        guard !request.isHeartbeat, request.term >= nodes[target].instance.currentTerm else { return }
        let follower = nodes[target].instance
        let followerID = nodes[target].server.id
        let leader = nodes[index(of: leaderID)].instance
        func followerEntry(_ index: UInt64) -> Log? { follower.entry(at: index) ?? durableEntry(followerID, at: index) }
        func leaderEntry(_ index: UInt64) -> Log? { leader.entry(at: index) ?? durableEntry(leaderID, at: index) }
        if request.prevLogEntry > 0 {
            guard let previous = followerEntry(request.prevLogEntry), previous.term == request.prevLogTerm else { return }
        }
        // The follower's log as hashicorp/raft would leave it after accepting.
        var log: [UInt64: Log] = [:]
        var last = follower.lastIndex
        for entry in request.entries {
            if let existing = followerEntry(entry.index), existing.term == entry.term { continue }
            last = entry.index - 1
            break
        }
        for entry in request.entries where entry.index > last {
            log[entry.index] = entry
        }
        last = max(last, request.entries.last?.index ?? 0)
        let followerCommit = min(request.leaderCommitIndex, last)
        guard followerCommit > 0 else { return }
        let start = max(request.prevLogEntry, 1)
        guard followerCommit >= start else { return }
        for index in start...followerCommit {
            let entry = log[index] ?? followerEntry(index)
            // Everything up to the leader's commit index is committed; the record of committed
            // entries outlives the sender's log, which a later term may have rewritten.
            guard let expected = committed[index] ?? leaderEntry(index) else { continue }
            if entry != expected {
                violations.append(
                    "Commit Index Bound: \(leaderID) sent \(followerID) commit index \(request.leaderCommitIndex) "
                        + "with entries through \(request.entries.last?.index ?? request.prevLogEntry); a hashicorp/raft "
                        + "follower would commit its entry \(index) (\(entry.map { "term \($0.term)" } ?? "missing")), "
                        + "which is not the leader's"
                )
                return
            }
        }
    }

    /// Log Matching (Raft §5.3): if two logs hold an entry with the same index and term, the logs
    /// are identical up to that index. Returns the breaches found.
    func logMatchingViolations() -> [String] {
        var found: [String] = []
        let logs = ids.map { ($0, log($0)) }
        for (x, (idX, logX)) in logs.enumerated() {
            for (idY, logY) in logs[(x + 1)...] {
                // Find the highest index where both have the same term; everything before must match.
                let common = min(logX.count, logY.count)
                guard let last = (0..<common).last(where: { logX[$0].term == logY[$0].term }) else { continue }
                if logX[...last] != logY[...last] {
                    found.append("Log Matching: \(idX) and \(idY) agree on \(logX[last]) but differ before it")
                }
            }
        }
        return found
    }
}
