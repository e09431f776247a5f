/// Everything that can happen to a node, as its loop receives it. Producers on any thread post
/// one to the node's ``Mailbox``; the loop feeds whatever is waiting to the core in one step.
enum NodeInput: Sendable {
    /// A tick of the node's clock.
    case tick
    /// An incoming RPC from the transport.
    case rpc(RPC)
    /// The answer to a request the core asked for.
    case response(RaftResponse, RequestContext)
    /// A request the core asked for got no answer.
    case failed(RequestContext, any Error)
    /// The outcome of an AppendEntries sent on a follower's lane, and the path it took (which
    /// pipeline, or which lane's one-at-a-time sends), so an answer from a pipeline or lane since
    /// replaced changes nothing but the core's view.
    case appendAnswer(Result<AppendEntriesResponse, any Error>, RequestContext, via: AppendPath)
    /// Writes up to this persist job are durable (and their answers sent).
    case persisted(UInt64)
    /// Entries read for a lagging follower.
    case loaded([Log], EntryLoad)
    /// A caller's proposal, already admitted by ``Config/maxPendingApplies``.
    case propose(Proposal, ApplyWaiter)
    /// A write failed: the node stops.
    case storageFailed(any Error)
    /// Anything rare (verify, bootstrap, shutdown), run on the loop with its state.
    case perform(@Sendable (NodeLoop) -> Void)
}

/// How an AppendEntries went to its follower.
enum AppendPath: Sendable, Equatable {
    /// On the pipeline with this serial number.
    case pipeline(UInt64)
    /// One at a time, on the lane with this serial number.
    case oneAtATime(UInt64)
}
