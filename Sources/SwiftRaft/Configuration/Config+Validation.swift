extension Config {
    /// The protocol versions swift-raft can speak.
    public static let supportedProtocolVersions = 3...3

    /// Checks every rule hashicorp/raft's `ValidateConfig` checks, plus swift-raft's own, and
    /// throws ``RaftError/Code/invalidConfig`` with a message naming the field and the rule.
    public func validate() throws(RaftError) {
        func invalid(_ message: String) -> RaftError { RaftError(.invalidConfig, message) }
        let minimumTimeout = Duration.milliseconds(5)

        if !Config.supportedProtocolVersions.contains(protocolVersion) {
            throw invalid(
                "ProtocolVersion \(protocolVersion) must be \(Config.supportedProtocolVersions.lowerBound)"
                    + " (swift-raft speaks protocol version 3 only)"
            )
        }
        if localID.rawValue.isEmpty { throw invalid("LocalID cannot be empty") }
        if heartbeatTimeout < minimumTimeout {
            throw invalid("HeartbeatTimeout \(heartbeatTimeout) is too low; it must be at least 5ms")
        }
        if electionTimeout < minimumTimeout {
            throw invalid("ElectionTimeout \(electionTimeout) is too low; it must be at least 5ms")
        }
        if commitTimeout < .milliseconds(1) {
            throw invalid("CommitTimeout \(commitTimeout) is too low; it must be at least 1ms")
        }
        if maxAppendEntries <= 0 { throw invalid("MaxAppendEntries \(maxAppendEntries) must be positive") }
        if maxAppendEntries > 1024 { throw invalid("MaxAppendEntries \(maxAppendEntries) is too large; the limit is 1024") }
        if snapshotInterval < minimumTimeout {
            throw invalid("SnapshotInterval \(snapshotInterval) is too low; it must be at least 5ms")
        }
        if leaderLeaseTimeout < minimumTimeout {
            throw invalid("LeaderLeaseTimeout \(leaderLeaseTimeout) is too low; it must be at least 5ms")
        }
        if leaderLeaseTimeout > heartbeatTimeout {
            throw invalid(
                "LeaderLeaseTimeout \(leaderLeaseTimeout) cannot be larger than HeartbeatTimeout \(heartbeatTimeout)"
            )
        }
        if electionTimeout < heartbeatTimeout {
            throw invalid(
                "ElectionTimeout \(electionTimeout) must be equal or greater than HeartbeatTimeout \(heartbeatTimeout)"
            )
        }
        if maxInflightAppends < 1 { throw invalid("MaxInflightAppends \(maxInflightAppends) must be at least 1") }
        if maxInflightBytes < 1 { throw invalid("MaxInflightBytes \(maxInflightBytes) must be positive") }
        if maxPendingApplies < 1 { throw invalid("MaxPendingApplies \(maxPendingApplies) must be at least 1") }
        if logCacheCapacity < maxAppendEntries {
            throw invalid("LogCacheCapacity \(logCacheCapacity) must be at least MaxAppendEntries \(maxAppendEntries)")
        }
        if maxApplyBacklog < maxAppendEntries {
            throw invalid("MaxApplyBacklog \(maxApplyBacklog) must be at least MaxAppendEntries \(maxAppendEntries)")
        }
        if rpcTimeout < .milliseconds(1) { throw invalid("RPCTimeout \(rpcTimeout) must be at least 1ms") }
        if stagingCatchUpEntries < 1 {
            // 0 would ask a follower to match an index the leader's own new entries keep moving.
            throw invalid("StagingCatchUpEntries \(stagingCatchUpEntries) must be at least 1")
        }
        if let window = stagingStabilityWindow, window < .zero {
            throw invalid("StagingStabilityWindow \(window) cannot be negative")
        }
        if maxClockDrift < .zero { throw invalid("MaxClockDrift \(maxClockDrift) cannot be negative") }
        if leaseReads && maxClockDrift >= heartbeatTimeout - tickInterval * 2 {
            throw invalid(
                "MaxClockDrift \(maxClockDrift) leaves no lease: with LeaseReads it must be less than"
                    + " HeartbeatTimeout \(heartbeatTimeout) less two ticks (\(tickInterval * 2))"
            )
        }
        if let maxStorageStall {
            if maxStorageStall <= .zero {
                throw invalid("MaxStorageStall \(maxStorageStall) must be positive (nil turns the check off)")
            }
            if maxStorageStall <= heartbeatTimeout {
                throw invalid(
                    "MaxStorageStall \(maxStorageStall) must be greater than HeartbeatTimeout \(heartbeatTimeout):"
                        + " a write that slow is not a stalled disk"
                )
            }
        }
    }

    /// The length of one logical tick of the core: fine enough for every timer to be counted in
    /// whole ticks (a twentieth of the heartbeat timeout, a tenth of the lease, at most the commit
    /// timeout), never below one millisecond.
    var tickInterval: Duration {
        let candidates = [heartbeatTimeout / 20, leaderLeaseTimeout / 10, commitTimeout]
        return max(candidates.min()!, .milliseconds(1))
    }

    /// `duration` in ticks, rounded up, at least 1.
    func ticks(_ duration: Duration) -> Int {
        let tick = tickInterval
        let count = Int((duration / tick).rounded(.up))
        return max(count, 1)
    }

    /// The core's options for this configuration.
    func instanceOptions(localAddress: ServerAddress, preVote: Bool) -> RaftInstance.Options {
        var options = RaftInstance.Options(localID: localID, localAddress: localAddress)
        options.protocolVersion = protocolVersion
        options.heartbeatTimeoutTicks = ticks(heartbeatTimeout)
        // Whatever this node's own `leaseReads`: a leader's lease counts on its voters, and the
        // cost, a restarted voter's vote delayed by a heartbeat timeout at most, is small.
        options.voteRefusalTicksAfterStart = options.heartbeatTimeoutTicks
        options.electionTimeoutTicks = ticks(electionTimeout)
        options.heartbeatIntervalTicks = max(ticks(heartbeatTimeout) / 10, 1)
        options.leaderLeaseTicks = ticks(leaderLeaseTimeout)
        options.retryBackoffTicks = ticks(commitTimeout)
        options.maxRetryBackoffTicks = max(ticks(heartbeatTimeout) / 2, options.retryBackoffTicks)
        options.maxAppendEntries = maxAppendEntries
        options.maxInflightAppends = maxInflightAppends
        options.maxInflightBytes = maxInflightBytes
        options.preVote = preVote
        options.logWindowCapacity = logCacheCapacity
        options.trailingLogs = trailingLogs
        options.maxApplyBacklog = maxApplyBacklog
        options.stagingCatchUpEntries = stagingCatchUpEntries
        options.stagingStabilityTicks = stagingStabilityWindow.map { ticks($0) }
        return options
    }
}
