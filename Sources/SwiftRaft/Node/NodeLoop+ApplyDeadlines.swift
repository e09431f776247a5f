import HeapModule

/// The deadline of an appended proposal whose caller gave a timeout.
struct ApplyDeadline: Comparable {
    var deadline: Duration
    /// Breaks ties in append order, so expiry order never depends on the heap's layout.
    var sequence: UInt64
    /// The command's log index.
    var index: UInt64
    var waiter: ApplyWaiter

    static func < (lhs: ApplyDeadline, rhs: ApplyDeadline) -> Bool {
        (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence)
    }

    static func == (lhs: ApplyDeadline, rhs: ApplyDeadline) -> Bool {
        lhs.deadline == rhs.deadline && lhs.sequence == rhs.sequence
    }
}

/// Timeouts of `apply`, `barrier` and membership calls once their command is in the log: the
/// loop keeps the deadlines in a heap and expires them on its ticks, so a call with a timeout
/// costs a heap insertion, not a task or a timer, and is answered at most one tick late.
extension NodeLoop {
    static let minimumDeadlinePruneThreshold = 4096

    /// Starts watching the deadline of `waiter`'s caller, if it has one. Call once its command is
    /// appended: before that, its timeout is the limiter's (``RaftError/Code/enqueueTimeout``).
    func trackDeadline(of waiter: ApplyWaiter, index: UInt64) {
        guard let deadline = waiter.deadline else { return }
        nextToken += 1
        applyDeadlines.insert(ApplyDeadline(deadline: deadline, sequence: nextToken, index: index, waiter: waiter))
    }

    /// Answers every caller whose deadline has passed with ``RaftError/Code/timeout``; the node
    /// keeps tracking their commands. Deadlines of callers answered long ago are dropped once
    /// they are many, so a busy leader's heap stays about as large as its pending calls.
    func expireApplyDeadlines() {
        guard !applyDeadlines.isEmpty else { return }
        let now = environment.clock.now
        while let first = applyDeadlines.min, first.deadline <= now {
            applyDeadlines.removeMin()
            // Committed but not yet handed to the FSM (a leader whose own disk lags commits on
            // its followers' writes): the caller may be told it will be applied.
            if let pending = pendingApplies[first.index], first.index <= core.currentCommitIndex,
                core.entry(at: first.index)?.term == pending.term
            {
                first.waiter.markCommitted()
            }
            first.waiter.timedOut()
        }
        if applyDeadlines.count > applyDeadlinesPruneThreshold {
            applyDeadlines = Heap(applyDeadlines.unordered.filter { !$0.waiter.isFinished })
            applyDeadlinesPruneThreshold = max(2 * applyDeadlines.count, Self.minimumDeadlinePruneThreshold)
        }
    }
}
