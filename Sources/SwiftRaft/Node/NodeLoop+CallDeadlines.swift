import HeapModule

/// The deadline of a call whose caller gave a timeout and that the node is working on: an
/// appended proposal (`apply`, `barrier`, a membership change) or a read.
struct CallDeadline: Comparable {
    /// Whose deadline it is.
    enum Caller {
        /// An appended proposal: the command's log index and its caller.
        case proposal(index: UInt64, waiter: ApplyWaiter)
        /// A ``Raft/readIndex(timeout:)`` caller, by token.
        case read(token: UInt64)
    }

    var deadline: Duration
    /// Breaks ties in arrival order, so expiry order never depends on the heap's layout.
    var sequence: UInt64
    var caller: Caller

    static func < (lhs: CallDeadline, rhs: CallDeadline) -> Bool {
        (lhs.deadline, lhs.sequence) < (rhs.deadline, rhs.sequence)
    }

    static func == (lhs: CallDeadline, rhs: CallDeadline) -> Bool {
        lhs.deadline == rhs.deadline && lhs.sequence == rhs.sequence
    }
}

/// Timeouts of calls the node is working on (`apply`, `barrier` and membership calls once their
/// command is in the log; reads): the loop keeps their deadlines in a heap and expires them on
/// its ticks, so a call with a timeout costs a heap insertion, not a task or a timer, and is
/// answered at most one tick late.
extension NodeLoop {
    static let minimumDeadlinePruneThreshold = 4096

    /// Starts watching the deadline of `waiter`'s caller, if it has one. Call once its command is
    /// appended: before that, its timeout is the limiter's (``RaftError/Code/enqueueTimeout``).
    func trackDeadline(of waiter: ApplyWaiter, index: UInt64) {
        guard let deadline = waiter.deadline else { return }
        trackDeadline(deadline, of: .proposal(index: index, waiter: waiter))
    }

    func trackDeadline(_ deadline: Duration, of caller: CallDeadline.Caller) {
        nextToken += 1
        callDeadlines.insert(CallDeadline(deadline: deadline, sequence: nextToken, caller: caller))
    }

    /// Answers every caller whose deadline has passed with ``RaftError/Code/timeout``; the node
    /// keeps tracking their commands. Deadlines of callers answered long ago are dropped once
    /// they are many, so a busy leader's heap stays about as large as its pending calls.
    func expireCallDeadlines() {
        guard !callDeadlines.isEmpty else { return }
        let now = environment.clock.now
        while let first = callDeadlines.min, first.deadline <= now {
            callDeadlines.removeMin()
            switch first.caller {
            case .proposal(let index, let waiter):
                // Committed but not yet handed to the FSM (a leader whose own disk lags commits
                // on its followers' writes): the caller may be told it will be applied.
                if let pending = pendingApplies[index], index <= core.currentCommitIndex,
                    core.entry(at: index)?.term == pending.term
                {
                    waiter.markCommitted()
                }
                waiter.timedOut()
            case .read(let token):
                readTimedOut(token)
            }
        }
        if callDeadlines.count > callDeadlinesPruneThreshold {
            callDeadlines = Heap(callDeadlines.unordered.filter { !isAnswered($0.caller) })
            callDeadlinesPruneThreshold = max(2 * callDeadlines.count, Self.minimumDeadlinePruneThreshold)
        }
    }

    private func isAnswered(_ caller: CallDeadline.Caller) -> Bool {
        switch caller {
        case .proposal(_, let waiter): return waiter.isFinished
        case .read(let token): return readWaiters[token] == nil
        }
    }
}
