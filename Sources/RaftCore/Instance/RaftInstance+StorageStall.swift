/// A stalled disk (hashicorp/raft#503, a gray failure): a leader whose writes never finish still
/// sends heartbeats, so no one else campaigns, yet it can apply nothing, because its FSM only
/// gets entries durable locally. The shell notices the stall (it knows when each write was
/// handed out) and tells the core, which keeps this server out of leadership until the disk
/// catches up.
extension RaftInstance {
    /// The shell's storage has not finished a write for longer than it tolerates.
    ///
    /// A leader steps down to follower in the same term, knowing no leader, so its heartbeats
    /// stop and the others' election timers run out; its pending verifications fail, and a
    /// leadership transfer under way ends. A candidate gives up its campaign. Until
    /// ``storageRecovered()`` this server does not campaign, not even on TimeoutNow: the
    /// durable writes a campaign needs (its own vote, then the leader's no-op) would queue
    /// behind the stuck one, and a stalled server that won, or that only raised its term in
    /// memory, would disrupt the leader the healthy servers elect meanwhile. It still follows a
    /// leader and answers RPCs; answers that wait for its disk go once the disk catches up.
    public mutating func storageStalled() {
        isStorageStalled = true
        if role != .follower { becomeFollower(term: hardState.currentTerm, leader: nil) }
    }

    /// Every write that had stalled has finished: this server campaigns again when its election
    /// timer runs out, like any follower.
    public mutating func storageRecovered() {
        isStorageStalled = false
    }
}
