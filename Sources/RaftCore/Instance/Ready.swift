/// Everything the shell must do after feeding the core some inputs, in this order:
///
/// 1. send ``messages`` and ``replies`` (they depend on nothing unwritten);
/// 2. persist, in order: ``hardState``, then delete log entries from ``truncateFrom`` on, then
///    store ``entriesToPersist`` as one batch (group commit: one sync for the lot);
/// 3. when that is durable, send ``messagesAfterPersist`` and ``repliesAfterPersist`` and tell the
///    core with ``RaftInstance/persisted(writeID:)``, passing ``writeID``;
/// 4. hand ``committedEntries`` to the FSM, in order;
/// 5. load ``entryLoads`` from the log store and return them with
///    ``RaftInstance/entriesLoaded(_:for:)``;
/// 6. compact the log through ``compactThrough`` (ordered after the write), send
///    ``snapshotTransfers`` and write ``snapshotInstalls`` to the snapshot store.
///
/// Steps 2–3 of successive `Ready`s must complete in the order the `Ready`s were taken; steps 1, 4
/// and 5 may overlap with earlier writes. This split is what lets a leader send entries to its
/// followers while its own disk write is still in progress.
public struct Ready: Sendable {
    /// Names this `Ready`'s write, when it has one, for ``RaftInstance/persisted(writeID:)``.
    public var writeID: UInt64?
    /// Term and vote to make durable, if they changed.
    public var hardState: HardState?
    /// Delete every log entry at this index and after, before storing new entries.
    public var truncateFrom: UInt64?
    /// New entries to make durable, consecutive.
    public var entriesToPersist: [Log] = []
    /// Requests that may be sent at once.
    public var messages: [OutboundRequest] = []
    /// Replies that may be sent at once.
    public var replies: [OutboundReply] = []
    /// Requests to send only once this `Ready`'s writes are durable (vote requests).
    public var messagesAfterPersist: [OutboundRequest] = []
    /// Replies to send only once this `Ready`'s writes are durable (granted votes, accepted entries).
    public var repliesAfterPersist: [OutboundReply] = []
    /// Newly committed and durable entries, in order, to apply to the FSM.
    public var committedEntries: [Log] = []
    /// Entries to load from the log store for lagging followers.
    public var entryLoads: [EntryLoad] = []
    /// Delete log entries from the first held through this index: a snapshot covers them. Do it
    /// after this `Ready`'s write, in the same order as writes.
    public var compactThrough: UInt64?
    /// Followers to send the newest snapshot to.
    public var snapshotTransfers: [SnapshotTransfer] = []
    /// Snapshots leaders sent, to write to the snapshot store.
    public var snapshotInstalls: [SnapshotInstall] = []
    /// Set when role, term or known leader changed.
    public var stateChange: StateChange?
    /// Outcomes of ``RaftInstance/verifyLeader(_:)`` calls: true if a quorum still follows.
    public var verifications: [(token: UInt64, stillLeader: Bool)] = []
    /// Answers to `RaftInstance.requestReadIndex(_:)`: the index to read at, or why not.
    public var readIndexes: [(token: UInt64, result: Result<UInt64, ReadIndexRejection>)] = []
    /// Anomalies worth logging (a peer sent something the core had to ignore).
    public var warnings: [String] = []
    /// This server led, and a committed configuration no longer has it as a voter: it stepped
    /// down (with hashicorp/raft's `ShutdownOnRemove`, the shell then shuts the node down).
    public var removedFromConfiguration = false
    /// A leadership transfer ended: true when this server stepped down, false when it timed out
    /// (this server still leads).
    public var leadershipTransferSucceeded: Bool?
    /// Staged servers this leader found caught up and promoted to voter by appending a
    /// configuration entry (the shell logs them).
    public var stagedVoterPromotions: [StagedVoterPromotion] = []

    /// A staged server the leader promoted.
    public struct StagedVoterPromotion: Hashable, Sendable {
        /// The server promoted.
        public var id: ServerID
        /// Its match index when it was promoted.
        public var match: UInt64
        /// The leader's last index before the configuration entry.
        public var lastIndex: UInt64
        /// The index of the configuration entry that makes it a voter.
        public var configurationIndex: UInt64
    }

    /// A change of role, term or leader.
    public struct StateChange: Hashable, Sendable {
        /// The role now.
        public var role: RaftRole
        /// The term now.
        public var term: UInt64
        /// The leader now known, if any.
        public var leader: Server?
        /// The commit index at the moment of the change; a deposed leader's proposals above it
        /// have an unknown outcome.
        public var commitIndex: UInt64
    }

    /// Whether anything must be written before ``messagesAfterPersist`` and
    /// ``repliesAfterPersist`` may go.
    public var needsPersistence: Bool {
        hardState != nil || truncateFrom != nil || !entriesToPersist.isEmpty
    }

    /// Whether there is nothing to do.
    public var isEmpty: Bool {
        !needsPersistence && messages.isEmpty && replies.isEmpty && messagesAfterPersist.isEmpty
            && repliesAfterPersist.isEmpty && committedEntries.isEmpty && entryLoads.isEmpty
            && compactThrough == nil && snapshotTransfers.isEmpty && snapshotInstalls.isEmpty
            && stateChange == nil && verifications.isEmpty && readIndexes.isEmpty && warnings.isEmpty && !removedFromConfiguration
            && leadershipTransferSucceeded == nil && stagedVoterPromotions.isEmpty
    }
}
