import NIOCore
import Synchronization
import SwiftRaft

/// Every connection of one transport, so ``NetworkTransport/close()`` can end them all, and the
/// pool of idle outgoing connections (hashicorp/raft's `connPool`).
final class TransportConnections: Sendable {
    private struct State {
        var closed = false
        /// Idle outgoing connections per peer; the most recently returned is reused first.
        var idle: [ServerAddress: [ClientConnection]] = [:]
        /// Every open channel: accepted, pooled, in use, pipelines.
        var channels: [ObjectIdentifier: any Channel] = [:]
        var pipelines: [ObjectIdentifier: NetworkPipeline] = [:]
        var accepted = 0
        var dialed = 0
        /// ``NetworkTransport/close()`` has finished.
        var closeFinished = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let maxPool: Int

    init(maxPool: Int) {
        self.maxPool = max(maxPool, 0)
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
                self.state.withLock { state in
                    state.channels[key] = nil
                    state.pipelines[key] = nil
                }
            }
        }
        return registered
    }

    /// Records an open pipeline, so closing the transport closes it; false once closed.
    func register(_ pipeline: NetworkPipeline, on channel: any Channel) -> Bool {
        let key = ObjectIdentifier(channel)
        return state.withLock { state in
            guard !state.closed, state.channels[key] != nil else { return false }
            state.pipelines[key] = pipeline
            return true
        }
    }

    /// How many connections the listener has accepted, and this transport has dialed, so far.
    var counts: (accepted: Int, dialed: Int) { state.withLock { ($0.accepted, $0.dialed) } }

    /// How many idle connections to `target` the pool holds.
    func idleCount(to target: ServerAddress) -> Int { state.withLock { $0.idle[target]?.count ?? 0 } }

    // MARK: Pool

    /// An idle connection to `target`, if one is still open.
    func takeIdle(_ target: ServerAddress) -> ClientConnection? {
        state.withLock { state in
            while let connection = state.idle[target]?.popLast() {
                // The peer may have closed it while it sat here.
                if connection.isActive { return connection }
            }
            return nil
        }
    }

    /// Keeps `connection` for a later call to its target if it is open, the transport is not
    /// closed and the pool has room; otherwise closes it.
    func putIdle(_ connection: ClientConnection) {
        let kept = state.withLock { state in
            guard !state.closed, connection.isActive, state.idle[connection.target, default: []].count < maxPool else {
                return false
            }
            state.idle[connection.target, default: []].append(connection)
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
