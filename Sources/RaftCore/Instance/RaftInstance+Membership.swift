/// A change to the cluster's membership, as hashicorp/raft's `AddVoter`, `AddNonvoter`,
/// `DemoteVoter` and `RemoveServer` request it.
public enum ConfigurationChange: Hashable, Sendable, CustomStringConvertible {
    /// Adds a voter, or makes a non-voter a voter; updates the address of one already there.
    case addVoter(ServerID, ServerAddress)
    /// Adds a non-voter; a server already there keeps its suffrage and takes the address.
    case addNonvoter(ServerID, ServerAddress)
    /// Makes a voter a non-voter.
    case demoteVoter(ServerID)
    /// Removes a server.
    case removeServer(ServerID)
    /// Adds a server as a staged voter (``ServerSuffrage/staging``): it receives the log like a
    /// non-voter, and the leader makes it a voter by itself once it has caught up (see
    /// ``RaftInstance/Options/stagingCatchUpEntries``). A voter stays a voter; a non-voter
    /// becomes staged; either takes the address. swift-raft's addition: hashicorp/raft reserves
    /// the suffrage but never assigns it.
    case addStaging(ServerID, ServerAddress)

    /// `AddVoter n4@10.0.0.4:7000` and so on.
    public var description: String {
        switch self {
        case .addVoter(let id, let address): return "AddVoter \(id)@\(address)"
        case .addNonvoter(let id, let address): return "AddNonvoter \(id)@\(address)"
        case .demoteVoter(let id): return "DemoteVoter \(id)"
        case .removeServer(let id): return "RemoveServer \(id)"
        case .addStaging(let id, let address): return "AddStaging \(id)@\(address)"
        }
    }
}

/// Why the core refused a configuration change.
public enum ConfigurationChangeRejection: Error, Hashable, Sendable {
    /// This server is not the leader; the known leader, if any, is named.
    case notLeader(leader: Server?)
    /// The latest configuration (at `latestIndex`) is not committed yet: one change at a time.
    case changeInProgress(latestIndex: UInt64)
    /// The caller's `prevIndex` is not the latest configuration's index (hashicorp/raft's
    /// "configuration changed since").
    case configurationChanged(prevIndex: UInt64, latestIndex: UInt64)
    /// The change would leave an invalid configuration (no voter, a duplicate address, …).
    case invalid(ConfigurationError)
    /// This leader is handing leadership over.
    case leadershipTransferInProgress
    /// The change alters the voters, and fewer than `required` (a quorum of the new
    /// configuration's voters) of them are known reachable: only those in `reachable` are (the
    /// leader, voters heard from within the lease, and voters the change adds).
    case wouldLoseQuorum(reachable: [ServerID], required: Int)
}

extension Configuration {
    /// This configuration with `change` made, by hashicorp/raft's `nextConfiguration` rules;
    /// validated.
    public func applying(_ change: ConfigurationChange) throws(ConfigurationError) -> Configuration {
        var next = self
        switch change {
        case .addVoter(let id, let address):
            if let position = next.servers.firstIndex(where: { $0.id == id }) {
                next.servers[position].suffrage = .voter
                next.servers[position].address = address
            } else {
                next.servers.append(Server(suffrage: .voter, id: id, address: address))
            }
        case .addNonvoter(let id, let address):
            if let position = next.servers.firstIndex(where: { $0.id == id }) {
                next.servers[position].address = address
            } else {
                next.servers.append(Server(suffrage: .nonvoter, id: id, address: address))
            }
        case .demoteVoter(let id):
            if let position = next.servers.firstIndex(where: { $0.id == id }) {
                next.servers[position].suffrage = .nonvoter
            }
        case .removeServer(let id):
            next.servers.removeAll { $0.id == id }
        case .addStaging(let id, let address):
            if let position = next.servers.firstIndex(where: { $0.id == id }) {
                if next.servers[position].suffrage != .voter { next.servers[position].suffrage = .staging }
                next.servers[position].address = address
            } else {
                next.servers.append(Server(suffrage: .staging, id: id, address: address))
            }
        }
        try next.validate()
        return next
    }
}

extension RaftInstance {
    /// Whether the latest configuration is committed, so a change may be proposed.
    public var isConfigurationStable: Bool { latestConfigurationIndex == committedConfigurationIndex }

    /// Appends the configuration `change` makes to the latest one, as a leader's log entry
    /// (hashicorp/raft's `appendConfigurationEntry`). The new configuration takes effect at once;
    /// only one may be uncommitted at a time.
    ///
    /// A change that alters the voters is refused (``ConfigurationChangeRejection/wouldLoseQuorum(reachable:required:)``)
    /// unless a quorum of the new configuration's voters is reachable: the leader itself, every
    /// voter that answered within ``Options/leaderLeaseTicks``, and every voter the change adds
    /// that is not yet in the configuration (nothing has been sent to it, so nothing is known of
    /// it; ``ConfigurationChange/addStaging(_:_:)`` is the way not to take that risk). Otherwise a
    /// removal could leave a configuration whose quorum needs a dead server, and no leader could
    /// ever be elected or commit in it. A change that keeps the voters as they are cannot lose a
    /// quorum; a leader that lost one already steps down by check-quorum.
    ///
    /// - Parameters:
    ///   - change: what to change about one server.
    ///   - prevIndex: when not 0, the change is refused unless the latest configuration is still
    ///     the one at this index (a compare-and-swap for operators).
    ///   - appendedAt: the leader's wall-clock time, recorded in the entry.
    /// - Returns: the entry's index.
    public mutating func proposeConfigurationChange(
        _ change: ConfigurationChange,
        prevIndex: UInt64 = 0,
        appendedAt: LogTimestamp = .unset
    ) -> Result<UInt64, ConfigurationChangeRejection> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard leadershipTransfer == nil else { return .failure(.leadershipTransferInProgress) }
        if prevIndex > 0 && prevIndex != latestConfigurationIndex {
            return .failure(.configurationChanged(prevIndex: prevIndex, latestIndex: latestConfigurationIndex))
        }
        guard isConfigurationStable else { return .failure(.changeInProgress(latestIndex: latestConfigurationIndex)) }
        let next: Configuration
        do {
            next = try latestConfiguration.applying(change)
        } catch {
            return .failure(.invalid(error))
        }
        if Set(next.voters.map(\.id)) != Set(voters.map(\.id)) {
            let reachable = reachableVoters(of: next)
            let required = next.voters.count / 2 + 1
            if reachable.count < required { return .failure(.wouldLoseQuorum(reachable: reachable, required: required)) }
        }
        return .success(appendConfiguration(next, appendedAt: appendedAt))
    }

    /// The voters of `next` a leader can count on: itself, the voters it heard from within the
    /// lease, and the voters `next` adds to the latest configuration (unknown, so given the
    /// benefit of the doubt).
    func reachableVoters(of next: Configuration) -> [ServerID] {
        let lease = UInt64(options.leaderLeaseTicks)
        return next.voters.map(\.id).filter { id in
            if id == options.localID { return true }
            guard let peer = peers.first(where: { $0.server.id == id }) else { return true }
            return now - peer.lastContact <= lease
        }
    }

    /// Appends `configuration` as the leader's next entry; returns its index.
    mutating func appendConfiguration(_ configuration: Configuration, appendedAt: LogTimestamp) -> UInt64 {
        let index = window.lastIndex + 1
        appendAsLeader(Proposal(type: .configuration, data: ConfigurationCodec.encode(configuration), appendedAt: appendedAt))
        return index
    }

    /// Called when a configuration commits: a leader that is no longer a voter in it steps down
    /// (hashicorp/raft's leader loop does, and shuts down with `ShutdownOnRemove`).
    mutating func stepDownIfRemoved() {
        guard role == .leader, !committedConfiguration.isVoter(options.localID) else { return }
        ready.warnings.append(
            "stepping down: the committed configuration at \(committedConfigurationIndex) "
                + (committedConfiguration.contains(options.localID) ? "makes this server a non-voter" : "removes this server")
        )
        ready.removedFromConfiguration = true
        becomeFollower(term: hardState.currentTerm, leader: nil)
    }
}
