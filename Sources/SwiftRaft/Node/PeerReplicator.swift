import DequeModule
import Synchronization

/// The AppendEntries lane to one follower: sends in order through the transport's pipeline when
/// it has one (many requests in flight, answers in order), else one request at a time, and hands
/// every answer or failure back to the node with the context the core needs.
///
/// Heartbeats and votes do not use this lane, so a big batch waiting for window space never
/// delays them.
final class PeerReplicator: Sendable {
    let peer: Server
    private let outbound = WorkQueue<OutboundRequest>()
    private let clock: any RaftClock
    /// The pipeline in use, for ``takeStalledPipeline(sentBefore:)``.
    private let currentLane = Mutex<Lane?>(nil)

    /// One open pipeline and the contexts of its requests whose answers have not arrived, oldest
    /// first, with when each was sent. Each pipeline has its own, so a broken one's late failures
    /// never consume the contexts of its replacement.
    private final class Lane: Sendable {
        let pipeline: any AppendPipeline
        let awaitingAnswers = Mutex<Deque<(context: RequestContext, sentAt: Duration)>>([])
        init(_ pipeline: any AppendPipeline) { self.pipeline = pipeline }
    }

    init(peer: Server, clock: any RaftClock) {
        self.peer = peer
        self.clock = clock
    }

    func send(_ request: OutboundRequest) { outbound.append(request) }

    /// The pipeline, taken out of use, if its oldest unanswered request was sent before `instant`
    /// (by the node's clock); the caller closes it. Asked when the follower has just answered a
    /// heartbeat: the pipeline's connection is then stuck while the follower is not, as a TCP
    /// connection that lost packets during a partition sits in retransmission back-off long after
    /// the network healed. Closed, its requests fail, the leader probes the follower again, and
    /// the next request opens a new connection.
    func takeStalledPipeline(sentBefore instant: Duration) -> (any AppendPipeline)? {
        currentLane.withLock { lane -> (any AppendPipeline)? in
            guard let current = lane, let oldest = current.awaitingAnswers.withLock({ $0.first }), oldest.sentAt < instant else {
                return nil
            }
            lane = nil
            return current.pipeline
        }
    }

    func run(transport: any Transport, node: Raft, pipelining: Bool, rpcTimeout: Duration) async {
        let clock = self.clock
        await withDiscardingTaskGroup { group in
            var lane: Lane?
            var mayPipeline = pipelining
            await outbound.consume { requests in
                for outbound in requests {
                    guard case .appendEntries(let request) = outbound.request else { continue }
                    if let open = lane, currentLane.withLock({ $0 !== open }) {
                        // Taken as stalled and closed: its requests fail on their own; start afresh.
                        lane = nil
                    }
                    if lane == nil && mayPipeline {
                        do {
                            let opened = Lane(try await transport.appendEntriesPipeline(id: peer.id, target: peer.address))
                            lane = opened
                            currentLane.withLock { $0 = opened }
                            group.addTask { await Self.forwardAnswers(of: opened, to: node) }
                        } catch {
                            // No pipeline (unsupported, or the peer is down): replicate synchronously
                            // and try again after the next success.
                            mayPipeline = false
                        }
                    }
                    if let open = lane {
                        let sentAt = clock.now
                        open.awaitingAnswers.withLock { $0.append((outbound.context, sentAt)) }
                        do {
                            try await open.pipeline.appendEntries(request)
                            continue
                        } catch {
                            // The pipeline broke; answers still owed arrive as failures on its
                            // stream. This request was never sent: report it failed.
                            _ = open.awaitingAnswers.withLock { $0.popLast() }
                            await open.pipeline.close()
                            lane = nil
                            currentLane.withLock { if $0 === open { $0 = nil } }
                            mayPipeline = false
                            await node.requestFailed(context: outbound.context, error: error)
                            continue
                        }
                    }
                    do {
                        let response = try await clock.withTimeout(rpcTimeout, "AppendEntries to \(peer.id)") {
                            try await transport.appendEntries(id: self.peer.id, target: self.peer.address, request)
                        }
                        mayPipeline = pipelining
                        await node.responseArrived(.appendEntries(response), context: outbound.context)
                    } catch {
                        await node.requestFailed(context: outbound.context, error: error)
                    }
                }
            }
            await lane?.pipeline.close()
        }
    }

    private static func forwardAnswers(of lane: Lane, to node: Raft) async {
        for await answer in lane.pipeline.responses {
            guard let context = lane.awaitingAnswers.withLock({ $0.popFirst()?.context }) else { continue }
            switch answer.result {
            case .success(let response): await node.responseArrived(.appendEntries(response), context: context)
            case .failure(let error): await node.requestFailed(context: context, error: error)
            }
        }
    }

    func finish() { outbound.finish() }
}
