import NIOCore
import Synchronization
import SwiftRaft

/// Every connection of one transport, so ``NetworkTransport/close()`` can end them all, and the
/// pool of idle outgoing connections (hashicorp/raft's `connPool`).
///
/// A pooled connection is handed out only while its channel is active and it has been idle no
/// longer than ``maxIdleTime``: one that sat unused that long most likely outlived a partition
/// or a peer restart, and may be dead without this side knowing (a reset that never arrived, a
/// firewall that forgot it); a new connection costs one round trip, a dead one a whole timeout.
final class TransportConnections: Sendable {
    private struct Idle {
        let connection: ClientConnection
        /// When it was returned to the pool.
        let since: NIODeadline
    }

    private struct State {
        var closed = false
        /// Idle outgoing connections per peer, oldest first; the most recently returned is
        /// reused first.
        var idle: [ServerAddress: [Idle]] = [:]
        /// Every open channel: accepted, pooled, in use, pipelines.
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Open pipelines, connected or not yet.
        var pipelines: [ObjectIdentifier: NetworkPipeline] = [:]
        var accepted = 0
        var dialed = 0
        /// ``NetworkTransport/close()`` has finished.
        var closeFinished = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let maxPool: Int
    /// How long a connection may sit idle in the pool and still be handed out; nil: no bound.
    let maxIdleTime: TimeAmount?

    init(maxPool: Int, maxIdleTime: Duration?) {
        self.maxPool = max(maxPool, 0)
        self.maxIdleTime = maxIdleTime.map { TimeAmount($0 > .zero ? $0 : .zero) }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: Registry

    /// Records a connection the listener accepted; false once the transport is closed.
    func registerAccepted(_ channel: any Channel) -> Bool {
        register(channel) { $0.accepted += 1 }
    }

    /// Records a connection this transport dialed; false once the transport is closed.
    func registerDialed(_ channel: any Channel) -> Bool {
        register(channel) { $0.dialed += 1 }
    }

    private func register(_ channel: any Channel, count: (inout State) -> Void) -> Bool {
        let key = ObjectIdentifier(channel)
        let registered = state.withLock { state in
            guard !state.closed else { return false }
            state.channels[key] = channel
            count(&state)
            return true
        }
        if registered {
            channel.closeFuture.whenComplete { _ in
                self.state.withLock { state in state.channels[key] = nil }
            }
        }
        return registered
    }

    /// Records an open pipeline, so closing the transport closes it; false once closed.
    func register(_ pipeline: NetworkPipeline) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.pipelines[ObjectIdentifier(pipeline)] = pipeline
            return true
        }
    }

    /// Forgets a pipeline that has ended.
    func unregister(_ pipeline: NetworkPipeline) {
        _ = state.withLock { state in state.pipelines.removeValue(forKey: ObjectIdentifier(pipeline)) }
    }

    /// How many connections the listener has accepted, and this transport has dialed, so far.
    var counts: (accepted: Int, dialed: Int) { state.withLock { ($0.accepted, $0.dialed) } }

    /// How many idle connections to `target` the pool holds.
    func idleCount(to target: ServerAddress) -> Int { state.withLock { $0.idle[target]?.count ?? 0 } }

    /// How many pipelines are open (connecting, connected, or not yet failed).
    var pipelineCount: Int { state.withLock { $0.pipelines.count } }

    // MARK: Pool

    /// The most recently returned idle connection to `target` that is still open and has not
    /// been idle longer than ``maxIdleTime``, if any. Connections found closed are dropped, and
    /// ones idle too long are closed: everything older than the first of those is older still.
    func takeIdle(_ target: ServerAddress) -> ClientConnection? {
        let now = NIODeadline.now()
        let (found, stale) = state.withLock { state -> (ClientConnection?, [Idle]) in
            while let entry = state.idle[target]?.popLast() {
                if let maxIdleTime, now - entry.since > maxIdleTime {
                    defer { state.idle[target] = nil }
                    return (nil, [entry] + (state.idle[target] ?? []))
                }
                // The peer may have closed it while it sat here.
                if entry.connection.isActive { return (entry.connection, []) }
            }
            return (nil, [])
        }
        for entry in stale { entry.connection.close() }
        return found
    }

    /// Keeps `connection` for a later call to its target if it is open, the transport is not
    /// closed and the pool has room; otherwise closes it.
    func putIdle(_ connection: ClientConnection) {
        let kept = state.withLock { state in
            guard !state.closed, connection.isActive, state.idle[connection.target, default: []].count < maxPool else {
                return false
            }
            state.idle[connection.target, default: []].append(Idle(connection: connection, since: .now()))
            return true
        }
        if !kept { connection.close() }
    }

    // MARK: Closing

    /// Returns once the first ``close()`` caller has called ``closeFinished()``.
    func waitUntilClosed() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state in
                if state.closeFinished { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    /// Releases every ``waitUntilClosed()``.
    func closeFinished() {
        let waiters = state.withLock { state in
            state.closeFinished = true
            defer { state.closeWaiters = [] }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Marks the transport closed and returns what is open, to be closed by the caller; nil if
    /// it was closed already.
    func close() -> (channels: [any Channel], pipelines: [NetworkPipeline])? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.closed = true
            state.idle = [:]
            return (Array(state.channels.values), Array(state.pipelines.values))
        }
    }
}
