/// Bootstrapping and inspecting stores before a node runs.
extension Raft {
    /// Whether the stores hold any Raft state: a term, a log entry or a snapshot (hashicorp/raft's
    /// `HasExistingState`). Reads the stores on the calling thread.
    public static func hasExistingState(
        logStore: any LogStore,
        stableStore: any StableStore,
        snapshotStore: any SnapshotStore
    ) throws -> Bool {
        if try stableStore.getUInt64(StableStoreKeys.currentTerm) ?? 0 > 0 { return true }
        if try logStore.lastIndex() > 0 { return true }
        return try !snapshotStore.list().isEmpty
    }

    /// Writes `configuration` as the first log entry of a brand-new cluster, before any node runs
    /// (hashicorp/raft's package-level `BootstrapCluster`): sets the term to 1 and stores entry 1
    /// of term 1. Run it on every server with the identical configuration, or on one server and
    /// let the others join. Reads and writes the stores on the calling thread.
    ///
    /// - Throws: ``RaftError/Code/cantBootstrap`` if the stores hold state already,
    ///   ``RaftError/Code/invalidConfig`` for an invalid `config`, and
    ///   ``RaftError/Code/invalidArgument`` for an invalid configuration.
    public static func bootstrapCluster(
        config: Config,
        logStore: any LogStore,
        stableStore: any StableStore,
        snapshotStore: any SnapshotStore,
        configuration: Configuration
    ) throws {
        try config.validate()
        do {
            try configuration.validate()
        } catch {
            throw RaftError(.invalidArgument, "invalid bootstrap configuration: \(error)")
        }
        guard try !hasExistingState(logStore: logStore, stableStore: stableStore, snapshotStore: snapshotStore) else {
            throw RaftError(.cantBootstrap, "bootstrap only works on new clusters: the stores already hold state")
        }
        try stableStore.setUInt64(StableStoreKeys.currentTerm, 1)
        try logStore.storeLogs([
            Log(index: 1, term: 1, type: .configuration, data: ConfigurationCodec.encode(configuration))
        ])
    }
}
