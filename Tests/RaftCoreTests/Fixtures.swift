import RaftCore

/// Building blocks for tests that drive a single ``RaftInstance`` by hand: servers, logs,
/// restored state, and the requests a peer would send.
enum Fixture {
    /// Server `n<number>` at `127.0.0.1:<7000 + number>`.
    static func server(_ number: Int, suffrage: ServerSuffrage = .voter) -> Server {
        Server(suffrage: suffrage, id: ServerID("n\(number)"), address: ServerAddress("127.0.0.1:\(7000 + number)"))
    }

    /// The server with `id` (`n<number>`), as ``server(_:suffrage:)`` builds it.
    static func server(id: ServerID, suffrage: ServerSuffrage = .voter) -> Server {
        server(Int(id.rawValue.dropFirst())!, suffrage: suffrage)
    }

    /// Voters `n1…n<voters>`, then non-voters numbered after them.
    static func configuration(voters: Int, nonvoters: Int = 0) -> Configuration {
        Configuration(
            servers: (1...voters).map { server($0) }
                + (0..<nonvoters).map { server(voters + 1 + $0, suffrage: .nonvoter) }
        )
    }

    /// The configuration as log entry 1 of term 1, as a bootstrap writes it.
    static func configurationEntry(_ configuration: Configuration, index: UInt64 = 1, term: UInt64 = 1) -> Log {
        Log(index: index, term: term, type: .configuration, data: ConfigurationCodec.encode(configuration))
    }

    /// A command entry whose data names its position, so entries at the same index but of
    /// different terms differ.
    static func command(index: UInt64, term: UInt64) -> Log {
        Log(index: index, term: term, type: .command, data: Array("i\(index)t\(term)".utf8))
    }

    /// A log: the configuration at index 1 (term 1), then one command per element of `terms`.
    static func log(_ configuration: Configuration, terms: [UInt64]) -> [Log] {
        var entries = [configurationEntry(configuration)]
        for (offset, term) in terms.enumerated() {
            entries.append(command(index: UInt64(offset + 2), term: term))
        }
        return entries
    }

    static func options(_ id: ServerID, configure: (inout RaftInstance.Options) -> Void = { _ in }) -> RaftInstance.Options {
        var options = RaftInstance.Options(localID: id, localAddress: server(id: id).address)
        configure(&options)
        return options
    }

    /// An instance of a cluster of `voters` voters whose durable log holds the configuration at
    /// index 1 and a command for each of `terms` after it.
    static func instance(
        _ id: ServerID = "n1",
        voters: Int = 3,
        nonvoters: Int = 0,
        term: UInt64 = 1,
        vote: (term: UInt64, candidate: ServerID)? = nil,
        terms: [UInt64] = [],
        seed: UInt64 = 1,
        configure: (inout RaftInstance.Options) -> Void = { _ in }
    ) -> RaftInstance {
        let configuration = configuration(voters: voters, nonvoters: nonvoters)
        let restored = RaftInstance.RestoredState(
            hardState: HardState(currentTerm: term, lastVoteTerm: vote?.term ?? 0, lastVoteCandidate: vote?.candidate),
            entries: log(configuration, terms: terms)
        )
        return RaftInstance(options: options(id, configure: configure), restored: restored, random: SplitMix64(seed: seed))
    }

    static func header(_ id: ServerID) -> RPCHeader {
        RPCHeader(protocolVersion: 3, id: id, address: server(id: id).address)
    }

    static func appendEntries(
        from leader: ServerID,
        term: UInt64,
        prev: (index: UInt64, term: UInt64),
        entries: [Log] = [],
        commit: UInt64 = 0
    ) -> RaftRequest {
        .appendEntries(
            AppendEntriesRequest(
                header: header(leader),
                term: term,
                leader: server(id: leader).address,
                prevLogEntry: prev.index,
                prevLogTerm: prev.term,
                entries: entries,
                leaderCommitIndex: commit
            )
        )
    }

    static func heartbeat(from leader: ServerID, term: UInt64) -> RaftRequest {
        .appendEntries(AppendEntriesRequest(header: header(leader), term: term, leader: server(id: leader).address))
    }

    static func requestVote(
        from candidate: ServerID,
        term: UInt64,
        last: (index: UInt64, term: UInt64),
        leadershipTransfer: Bool = false
    ) -> RaftRequest {
        .requestVote(
            RequestVoteRequest(
                header: header(candidate),
                term: term,
                candidate: server(id: candidate).address,
                lastLogIndex: last.index,
                lastLogTerm: last.term,
                leadershipTransfer: leadershipTransfer
            )
        )
    }

    static func requestPreVote(from candidate: ServerID, term: UInt64, last: (index: UInt64, term: UInt64)) -> RaftRequest {
        .requestPreVote(
            RequestPreVoteRequest(header: header(candidate), term: term, lastLogIndex: last.index, lastLogTerm: last.term)
        )
    }

    static func voteResponse(from voter: ServerID, term: UInt64, granted: Bool) -> RaftResponse {
        .requestVote(RequestVoteResponse(header: header(voter), term: term, granted: granted))
    }

    static func preVoteResponse(from voter: ServerID, term: UInt64, granted: Bool) -> RaftResponse {
        .requestPreVote(RequestPreVoteResponse(header: header(voter), term: term, granted: granted))
    }

    static func appendResponse(
        from follower: ServerID,
        term: UInt64,
        lastLog: UInt64,
        success: Bool,
        noRetryBackoff: Bool = false
    ) -> RaftResponse {
        .appendEntries(
            AppendEntriesResponse(
                header: header(follower),
                term: term,
                lastLog: lastLog,
                success: success,
                noRetryBackoff: noRetryBackoff
            )
        )
    }
}

// MARK: - Driving one instance by hand

extension RaftInstance {
    /// Reports every write handed out so far complete.
    mutating func persistAll() {
        persisted(writeID: lastWriteID)
    }

    /// Ticks until the election timer fires (the instance becomes a candidate) and returns that
    /// tick's `Ready`.
    mutating func tickUntilCampaign(maxTicks: Int = 10_000) -> Ready {
        for _ in 0..<maxTicks {
            tick()
            if currentRole == .candidate { return takeReady() }
            _ = takeReady()
        }
        return takeReady()
    }

    /// Ticks until the instance sends a round of pre-vote requests (a first campaign, or a
    /// candidate's retry) and returns that tick's `Ready`.
    mutating func tickUntilPreVoteRound(maxTicks: Int = 10_000) -> Ready {
        for _ in 0..<maxTicks {
            tick()
            let ready = takeReady()
            if ready.messages.contains(where: { $0.context.kind == .requestPreVote }) { return ready }
        }
        return takeReady()
    }

    /// Runs a whole campaign in which every peer grants: the pre-vote (if enabled), then the vote.
    /// Persists the leader's no-op and returns the `Ready` taken right after winning.
    mutating func winElection() -> Ready {
        var ready = tickUntilCampaign()
        if options.preVote {
            for request in ready.messages where request.context.kind == .requestPreVote {
                receive(
                    response: Fixture.preVoteResponse(from: request.target.id, term: currentTerm, granted: true),
                    context: request.context
                )
            }
            ready = takeReady()
        }
        persistAll()
        for request in ready.messagesAfterPersist where request.context.kind == .requestVote {
            receive(
                response: Fixture.voteResponse(from: request.target.id, term: currentTerm, granted: true),
                context: request.context
            )
        }
        return takeReady()
    }
}

extension Ready {
    /// All outbound requests, whenever they may be sent.
    var allMessages: [OutboundRequest] { messages + messagesAfterPersist }
    /// All replies, whenever they may be sent.
    var allReplies: [OutboundReply] { replies + repliesAfterPersist }

    /// The AppendEntries requests (not heartbeats) among ``messages``, with their contexts.
    var appends: [(target: ServerID, request: AppendEntriesRequest, context: RequestContext)] {
        messages.compactMap { message in
            guard case .appendEntries(let request) = message.request, message.context.kind == .appendEntries else {
                return nil
            }
            return (message.target.id, request, message.context)
        }
    }
}

extension OutboundReply {
    var appendEntries: AppendEntriesResponse? {
        if case .appendEntries(let response) = response { return response }
        return nil
    }

    var requestVote: RequestVoteResponse? {
        if case .requestVote(let response) = response { return response }
        return nil
    }

    var requestPreVote: RequestPreVoteResponse? {
        if case .requestPreVote(let response) = response { return response }
        return nil
    }
}
