import DequeModule

/// The AppendEntries lane to one follower: its pipeline when the transport has one (many requests
/// in flight, answers in order), else one request at a time. Loop-confined.
final class ReplicationLane {
    let peer: Server
    let metrics: PeerMetrics
    /// Numbers this lane's one-at-a-time sends.
    let serial: UInt64
    var pipeline: (any AppendPipeline)?
    var pipelineSerial: UInt64 = 0
    /// Whether to try a pipeline for the next request (off after one broke, on again after a
    /// one-at-a-time request succeeds).
    var mayPipeline: Bool
    /// When each unanswered pipelined request was sent, oldest first.
    var sentTimes: Deque<Duration> = []
    /// One-at-a-time mode: a request is in flight, and these wait for it.
    var oneInFlight = false
    /// When the one-at-a-time request in flight was sent.
    var oneSentAt: Duration = .zero
    var waiting: Deque<OutboundRequest> = []

    init(peer: Server, serial: UInt64, mayPipeline: Bool, metrics: PeerMetrics) {
        self.peer = peer
        self.metrics = metrics
        self.serial = serial
        self.mayPipeline = mayPipeline
    }

    func closePipeline() {
        pipeline?.close()
        pipeline = nil
        sentTimes.removeAll()
    }
}

/// Sending the core's requests through the transport. Every answer comes back as an input on the
/// mailbox, from whatever thread the transport completes it on.
extension NodeLoop {
    func send(_ requests: [OutboundRequest]) {
        for outbound in requests {
            switch outbound.context.kind {
            case .appendEntries:
                sendAppend(outbound)
            case .heartbeat:
                sendHeartbeat(outbound)
            case .requestVote, .requestPreVote, .timeoutNow, .readIndex:
                sendDirect(outbound, timeout: config.rpcTimeout)
            case .installSnapshot:
                // Snapshots travel as ``Ready/snapshotTransfers`` (see `sendSnapshot`), with the
                // data the core never sees; a bare request here would have nothing to stream.
                mailbox.post(.failed(outbound.context, RaftError(.invalidArgument, "InstallSnapshot sent without its data")))
            }
        }
    }

    /// How long a heartbeat may take: one heartbeat interval (a tenth of the heartbeat timeout),
    /// at least 20 ms, at most ``Config/rpcTimeout``. A heartbeat is answered without touching a
    /// disk, so one that is not back when the next is due says its connection is dead (after a
    /// partition, a TCP connection can sit in retransmission back-off long after the network
    /// healed); the transport drops that connection, and the next heartbeat — which the core
    /// sends only once this one is resolved — dials afresh. The floor keeps a loaded machine's
    /// scheduling delays from being taken for dead connections with very short timeouts.
    var heartbeatRPCTimeout: Duration {
        min(config.rpcTimeout, max(config.heartbeatTimeout / 10, .milliseconds(20)))
    }

    /// Sends one request outside the lanes, so it waits behind nothing.
    private func sendDirect(_ outbound: OutboundRequest, timeout: Duration) {
        let mailbox = mailbox, context = outbound.context
        transport.send(outbound.request, to: outbound.target, timeout: timeout) { result in
            switch result {
            case .success(let response): mailbox.post(.response(response, context))
            case .failure(let error): mailbox.post(.failed(context, error))
            }
        }
    }

    /// Sends a heartbeat outside the lanes, timing its round trip (`raft.replication.heartbeat`,
    /// answered ones only, as hashicorp/raft).
    private func sendHeartbeat(_ outbound: OutboundRequest) {
        let mailbox = mailbox, context = outbound.context, clock = environment.clock
        let timer = metrics(for: outbound.target.id).heartbeat
        let sent = clock.now
        transport.send(outbound.request, to: outbound.target, timeout: heartbeatRPCTimeout) { result in
            switch result {
            case .success(let response):
                timer.record(clock.now - sent)
                mailbox.post(.response(response, context))
            case .failure(let error): mailbox.post(.failed(context, error))
            }
        }
    }

    private func lane(for peer: Server) -> ReplicationLane {
        if let existing = lanes[peer.id], existing.peer == peer { return existing }
        if let replaced = lanes[peer.id] { abandon(replaced) }
        nextSerial += 1
        let lane = ReplicationLane(
            peer: peer,
            serial: nextSerial,
            mayPipeline: config.maxInflightAppends > 1,
            metrics: metrics(for: peer.id)
        )
        lanes[peer.id] = lane
        return lane
    }

    private func sendAppend(_ outbound: OutboundRequest) {
        guard case .appendEntries(let request) = outbound.request else { return }
        let lane = lane(for: outbound.target)
        if lane.pipeline == nil && lane.mayPipeline {
            do {
                lane.pipeline = try transport.appendEntriesPipeline(to: lane.peer)
                nextSerial += 1
                lane.pipelineSerial = nextSerial
            } catch {
                // No pipeline (unsupported, or the peer is down): one at a time, and try again
                // after the next success.
                lane.mayPipeline = false
            }
        }
        let mailbox = mailbox, context = outbound.context
        if !request.entries.isEmpty { lane.metrics.appendEntriesLogs.increment(by: request.entries.count) }
        if let pipeline = lane.pipeline {
            lane.sentTimes.append(roundNow)
            let path = AppendPath.pipeline(lane.pipelineSerial)
            pipeline.appendEntries(request) { result in mailbox.post(.appendAnswer(result, context, via: path)) }
            return
        }
        guard !lane.oneInFlight else {
            lane.waiting.append(outbound)
            return
        }
        lane.oneInFlight = true
        lane.oneSentAt = roundNow
        let path = AppendPath.oneAtATime(lane.serial)
        transport.send(outbound.request, to: lane.peer, timeout: config.rpcTimeout) { result in
            let answer: Result<AppendEntriesResponse, any Error>
            switch result {
            case .success(.appendEntries(let response)): answer = .success(response)
            case .success(let other): answer = .failure(RaftError(.corrupt, "AppendEntries was answered with \(other)"))
            case .failure(let error): answer = .failure(error)
            }
            mailbox.post(.appendAnswer(answer, context, via: path))
        }
    }

    /// Updates the lane an AppendEntries answer came back on (the core hears of it separately).
    func appendAnswered(_ result: Result<AppendEntriesResponse, any Error>, context: RequestContext, via path: AppendPath) {
        guard let lane = lanes[context.peer] else { return }
        switch path {
        case .pipeline(let serial):
            guard serial == lane.pipelineSerial, lane.pipeline != nil else { return }
            let sent = lane.sentTimes.popFirst()
            if case .success = result, let sent { lane.metrics.appendEntriesRPC.record(roundNow - sent) }
            if case .failure = result {
                // Broken: everything still in flight on it fails too. One at a time from here.
                lane.closePipeline()
                lane.mayPipeline = false
            }
        case .oneAtATime(let serial):
            guard serial == lane.serial else { return }
            lane.oneInFlight = false
            if case .success = result { lane.metrics.appendEntriesRPC.record(roundNow - lane.oneSentAt) }
            if case .success = result { lane.mayPipeline = config.maxInflightAppends > 1 }
            let waiting = lane.waiting
            lane.waiting.removeAll()
            send(Array(waiting))
        }
    }

    /// Asked when a follower has just answered a heartbeat: if a pipelined request has waited
    /// longer than half a heartbeat timeout, the pipeline's connection is stuck while the follower
    /// is not (as a TCP connection that lost packets during a partition sits in retransmission
    /// back-off long after the network healed). Closed, its requests fail, the core probes the
    /// follower again, and the next request opens a new pipeline. Half a heartbeat timeout is far
    /// beyond a healthy follower's disk write, and short enough that a follower cut off briefly
    /// is caught up soon after it answers again.
    func closeStalledPipeline(to peer: ServerID) {
        guard let lane = lanes[peer], lane.pipeline != nil, let oldest = lane.sentTimes.first,
            oldest < environment.clock.now - config.heartbeatTimeout / 2
        else { return }
        logger.info("replication to \(peer) stalled on its connection: opening a new one")
        lane.closePipeline()
    }

    /// Drops every lane (this node stopped leading, or is shutting down).
    func closeAllLanes() {
        for id in lanes.keys.sorted() { lanes[id].map(abandon) }
        lanes.removeAll()
    }

    /// Closes a lane: its pipeline fails what it has in flight, and requests still waiting for
    /// their turn are reported failed, so the core never counts them as in flight.
    private func abandon(_ lane: ReplicationLane) {
        lane.closePipeline()
        let error = RaftError(.pipelineShutdown, "replication lane to \(lane.peer.id) closed")
        for outbound in lane.waiting { mailbox.post(.failed(outbound.context, error)) }
        lane.waiting.removeAll()
    }
}
