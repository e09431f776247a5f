/// A point of the log a snapshot captures: everything through ``index`` and the cluster
/// configuration in force there.
public struct SnapshotPoint: Hashable, Sendable {
    /// The last log index the snapshot covers.
    public var index: UInt64
    /// The term of the entry at ``index``.
    public var term: UInt64
    /// The configuration in force at ``index``: the newest one at or before it.
    public var configuration: Configuration
    /// The log index of ``configuration``.
    public var configurationIndex: UInt64

    /// Creates a snapshot point.
    public init(index: UInt64, term: UInt64, configuration: Configuration, configurationIndex: UInt64) {
        self.index = index
        self.term = term
        self.configuration = configuration
        self.configurationIndex = configurationIndex
    }
}

/// A follower the leader can no longer catch up from its log: the shell sends it the newest
/// snapshot in its store and reports the outcome with
/// ``RaftInstance/receive(response:context:)`` (an ``InstallSnapshotResponse``) or
/// ``RaftInstance/requestFailed(context:reason:)``, passing ``context`` back.
public struct SnapshotTransfer: Hashable, Sendable {
    /// The follower.
    public var target: Server
    /// The InstallSnapshot request, except for what only the snapshot store knows: the shell
    /// fills in ``InstallSnapshotRequest/lastLogIndex``, ``InstallSnapshotRequest/lastLogTerm``,
    /// the configuration, ``InstallSnapshotRequest/peers`` and ``InstallSnapshotRequest/size`` from
    /// the snapshot it opens.
    public var request: InstallSnapshotRequest
    /// To be handed back with the answer. Its ``RequestContext/lastIndex`` is the newest snapshot
    /// index the core knows of; the shell sets it to the index of the snapshot it actually sends.
    public var context: RequestContext
}

/// A snapshot a leader sent to this follower, to be written to the snapshot store. The shell
/// streams the request's data into its store, then reports with
/// ``RaftInstance/snapshotInstalled(token:point:)`` or
/// ``RaftInstance/snapshotInstallFailed(token:reason:)``; the core replies to the leader.
public struct SnapshotInstall: Hashable, Sendable {
    /// The request being answered.
    public var token: RequestToken
    /// What the leader sent.
    public var request: InstallSnapshotRequest
}

/// What the shell must do with its FSM after the core accepted an installed snapshot.
public enum SnapshotInstallOutcome: Hashable, Sendable {
    /// Replace the FSM's state with the snapshot: it is ahead of everything handed out.
    case restoreFSM
    /// Leave the FSM alone: it has already been handed everything the snapshot covers.
    case keepFSM
}
