import RaftCore

/// Three ``RaftInstance``s wired together synchronously, with no I/O, no clock and no tasks: the
/// pure protocol's share of a commit.
///
/// The pump plays the shell's part in the simplest way: every write is durable the moment it is
/// taken, every message is delivered in order right away, and committed entries are only counted.
struct CoreCluster {
    private(set) var nodes: [RaftInstance]
    /// The leader, once ``electFirstNode()`` has run.
    let leaderIndex = 0
    /// Committed entries the nodes handed out for applying, all nodes together.
    private(set) var handedOut = 0

    private enum Envelope {
        case request(from: Int, to: Int, RaftRequest, RequestContext)
        case response(to: Int, RaftResponse, RequestContext)
    }

    private var queue: [Envelope] = []
    private var requesters: [UInt64: (node: Int, context: RequestContext)] = [:]
    private var nextToken: UInt64 = 1
    private let indexOfID: [ServerID: Int]

    /// Builds `size` bootstrapped voters `n0…`, none of them leading yet.
    init(size: Int = 3, maxAppendEntries: Int = 64) {
        let servers = (0..<size).map { Server(id: ServerID("n\($0)"), address: ServerAddress("n\($0)")) }
        let configuration = Configuration(servers: servers)
        var nodes: [RaftInstance] = []
        for (offset, server) in servers.enumerated() {
            var options = RaftInstance.Options(localID: server.id, localAddress: server.address)
            options.maxAppendEntries = maxAppendEntries
            var instance = RaftInstance(
                options: options,
                restored: RaftInstance.RestoredState(),
                random: SplitMix64(seed: UInt64(offset + 1))
            )
            try! instance.bootstrap(configuration)
            nodes.append(instance)
        }
        self.nodes = nodes
        self.indexOfID = Dictionary(uniqueKeysWithValues: servers.enumerated().map { ($0.element.id, $0.offset) })
        stabilize()
    }

    /// Ticks the first node alone until it has won an election and committed its no-op.
    mutating func electFirstNode() {
        var ticks = 0
        while nodes[leaderIndex].currentRole != .leader {
            nodes[leaderIndex].tick()
            stabilize()
            ticks += 1
            precondition(ticks < 10_000, "no leader after \(ticks) ticks")
        }
        stabilize()
    }

    /// Proposes `proposals` on the leader and runs the cluster until everything is committed and
    /// acknowledged.
    mutating func commit(_ proposals: [Proposal]) {
        guard case .success = nodes[leaderIndex].propose(proposals) else {
            preconditionFailure("the leader refused a proposal")
        }
        stabilize()
    }

    /// Takes every node's `Ready` and delivers every message until nothing is left to do.
    mutating func stabilize() {
        var busy = true
        while busy {
            busy = false
            for node in nodes.indices where carryOut(node) { busy = true }
            if !queue.isEmpty {
                busy = true
                deliverQueued()
            }
        }
    }

    /// Carries out one node's `Ready`; returns false if it was empty.
    private mutating func carryOut(_ node: Int) -> Bool {
        let ready = nodes[node].takeReady()
        if ready.isEmpty { return false }
        enqueue(ready.messages, from: node)
        answer(ready.replies)
        if let write = ready.writeID { nodes[node].persisted(writeID: write) }
        enqueue(ready.messagesAfterPersist, from: node)
        answer(ready.repliesAfterPersist)
        handedOut += ready.committedEntries.count
        return true
    }

    private mutating func enqueue(_ requests: [OutboundRequest], from node: Int) {
        for outbound in requests {
            guard let target = indexOfID[outbound.target.id] else { continue }
            queue.append(.request(from: node, to: target, outbound.request, outbound.context))
        }
    }

    private mutating func answer(_ replies: [OutboundReply]) {
        for reply in replies {
            guard let requester = requesters.removeValue(forKey: reply.token.rawValue) else { continue }
            queue.append(.response(to: requester.node, reply.response, requester.context))
        }
    }

    private mutating func deliverQueued() {
        let delivering = queue
        queue.removeAll(keepingCapacity: true)
        for envelope in delivering {
            switch envelope {
            case .request(let from, let to, let request, let context):
                let token = nextToken
                nextToken += 1
                requesters[token] = (from, context)
                nodes[to].receive(request, token: RequestToken(token))
            case .response(let to, let response, let context):
                nodes[to].receive(response: response, context: context)
            }
        }
    }
}

/// A lone leader whose followers are simulated by acknowledging every AppendEntries at once:
/// the leader's own share of the pure protocol's work per commit.
struct CoreLeader {
    private(set) var leader: RaftInstance
    /// Committed entries handed out for applying.
    private(set) var handedOut = 0

    /// Takes the leader of a cluster that has just elected it.
    init(maxAppendEntries: Int = 64) {
        var cluster = CoreCluster(maxAppendEntries: maxAppendEntries)
        cluster.electFirstNode()
        leader = cluster.nodes[cluster.leaderIndex]
    }

    /// Proposes `proposals`, makes them durable, acknowledges every request the leader sends and
    /// takes `Ready`s until the leader has nothing more to do.
    mutating func commit(_ proposals: [Proposal]) {
        guard case .success = leader.propose(proposals) else { preconditionFailure("the leader refused a proposal") }
        while true {
            let ready = leader.takeReady()
            if ready.isEmpty { return }
            if let write = ready.writeID { leader.persisted(writeID: write) }
            handedOut += ready.committedEntries.count
            for outbound in ready.messages + ready.messagesAfterPersist {
                let acknowledgement = AppendEntriesResponse(
                    header: RPCHeader(id: outbound.target.id, address: outbound.target.address),
                    term: outbound.context.term,
                    lastLog: outbound.context.lastIndex,
                    success: true
                )
                leader.receive(response: .appendEntries(acknowledgement), context: outbound.context)
            }
        }
    }
}
