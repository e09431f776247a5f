import NIOCore
import Synchronization
import SwiftRaft

/// One request sent with ``NetworkTransport/send(_:to:timeout:completion:)`` (or an
/// InstallSnapshot's request): its encoded frame, its completion, its one timer, and the
/// connection carrying it.
///
/// The completion is called exactly once, by whichever comes first: the answer (from the
/// connection's event loop), the timer (from the loop it was armed on), the connection failing,
/// or the dial failing. A mutex decides which; it is uncontended except in exactly those races.
/// A call that times out closes the connection it was on, so its late answer can never be
/// taken for the next request's, and the next request dials afresh.
final class OutgoingCall: Sendable {
    /// The RPC, for decoding its answer and naming it in errors.
    let type: RPCType
    let target: ServerAddress
    /// The request frame (type byte and value), written as is, again if the call is retried.
    let frame: ByteBuffer
    /// The loop the timer runs on, and a new connection for this call is dialed on.
    let eventLoop: any EventLoop
    /// Whether the connection goes back to the pool once answered (not for InstallSnapshot,
    /// whose connection carries the snapshot's data and is closed afterwards).
    let returnsToPool: Bool
    private let timeout: Duration?
    private let deadline: NIODeadline?
    private let transport: NetworkTransport
    private let completion: @Sendable (Result<RaftResponse, any Error>) -> Void

    private struct State {
        var finished = false
        var timerArmed = false
        var timer: Scheduled<Void>?
        /// The channel carrying the call, or being dialed for it: closed when the call times out.
        var channel: (any Channel)?
        /// Whether the connection came from the pool: one that closes before any byte of the
        /// answer is then retried once on a new connection.
        var reused: Bool
    }

    private let state: Mutex<State>

    init(
        _ type: RPCType,
        frame: ByteBuffer,
        to target: ServerAddress,
        timeout: Duration,
        eventLoop: any EventLoop,
        reused: Bool,
        returnsToPool: Bool = true,
        transport: NetworkTransport,
        completion: @escaping @Sendable (Result<RaftResponse, any Error>) -> Void
    ) {
        self.type = type
        self.frame = frame
        self.target = target
        self.eventLoop = eventLoop
        self.returnsToPool = returnsToPool
        self.timeout = timeout > .zero ? timeout : nil
        self.deadline = timeout > .zero ? .now() + TimeAmount(timeout) : nil
        self.transport = transport
        self.completion = completion
        self.state = Mutex(State(reused: reused))
    }

    /// Whether the call has completed.
    var isFinished: Bool { state.withLock { $0.finished } }

    // MARK: Its progress

    /// Schedules the call's one timer on `loop`, unless it has one already (a retried call keeps
    /// its first) or has no deadline.
    func armTimer(on loop: any EventLoop) {
        guard let deadline else { return }
        let arm = state.withLock { state in
            defer { state.timerArmed = true }
            return !state.timerArmed && !state.finished
        }
        guard arm else { return }
        let scheduled = loop.scheduleTask(deadline: deadline) { self.timedOut() }
        let late = state.withLock { state in
            if state.finished { return true }
            state.timer = scheduled
            return false
        }
        if late { scheduled.cancel() }
    }

    /// Records the channel being dialed for the call, so a timeout can abort the dial; false if
    /// the call is already over, and the dial should be abandoned.
    func attach(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.finished else { return false }
            state.channel = channel
            return true
        }
    }

    /// Records that `connection` carries the call from now on; false if the call is already
    /// over (it timed out before it could be written), in which case nothing must be written.
    func use(_ connection: ClientConnection) -> Bool {
        state.withLock { state in
            guard !state.finished else { return false }
            state.channel = connection.channel
            return true
        }
    }

    /// Hands back a connection the call got but, being over already, did not write to: it is
    /// still in step, so it returns to the pool (or is closed, for a call whose connection
    /// would not).
    func release(_ connection: ClientConnection) {
        if returnsToPool {
            transport.connections.putIdle(connection)
        } else {
            connection.close()
        }
    }

    // MARK: Its end

    /// The peer answered, with a response or an error text; the connection is in step.
    /// Returns the connection to the pool before calling the completion, so a request the
    /// completion sends at once finds it there.
    func answered(_ result: Result<RaftResponse, RaftError>, on connection: ClientConnection) {
        guard let timer = finish() else {
            // The call timed out while its answer was in the socket: its connection is being
            // closed by the timeout, and must not return to the pool.
            return
        }
        timer?.cancel()
        if returnsToPool { transport.connections.putIdle(connection) }
        completion(result.mapError { $0 })
    }

    /// The connection failed before the answer. A pooled connection that closed before any byte
    /// of the answer is retried once on a new connection: Raft's RPCs are safe to repeat, and a
    /// peer that restarted leaves every pooled connection to it dead without this side having
    /// noticed. For RequestPreVote this matters for correctness too: only a fresh connection
    /// closing on the request says the peer predates it.
    func connectionFailed(_ error: ClientCallError) {
        if case .closed(answerStarted: false) = error, !transport.isClosed {
            let retry = state.withLock { state in
                guard !state.finished, state.reused else { return false }
                state.reused = false
                state.channel = nil
                return true
            }
            if retry {
                transport.dial(for: self)
                return
            }
        }
        fail(transport.surfaced(error, rpc: type, target: target, timeout: timeout))
    }

    /// Ends the call with `error`, closing whatever channel carries it.
    func fail(_ error: any Error) {
        guard let timer = finish(closing: true) else { return }
        timer?.cancel()
        completion(.failure(error))
    }

    /// The deadline passed: the call fails, and its connection (or the dial) is closed.
    private func timedOut() {
        guard finish(closing: true) != nil else { return }
        completion(.failure(transport.surfaced(ClientCallError.timedOut, rpc: type, target: target, timeout: timeout)))
    }

    /// Marks the call finished; nil if it was already. Otherwise returns its timer (which the
    /// caller cancels), after closing its channel if `closing`.
    private func finish(closing: Bool = false) -> Scheduled<Void>?? {
        let ended = state.withLock { state -> (Scheduled<Void>?, (any Channel)?)? in
            guard !state.finished else { return nil }
            state.finished = true
            defer {
                state.timer = nil
                state.channel = nil
            }
            return (state.timer, state.channel)
        }
        guard let (timer, channel) = ended else { return nil }
        if closing { channel?.close(promise: nil) }
        return .some(timer)
    }
}
