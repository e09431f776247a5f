import NIOCore
import Synchronization
import SwiftRaft

/// Where Raft's answers to one connection's RPCs wait for its event loop.
///
/// Raft answers from its own thread, often many at once (a pipeline's batches after one disk
/// write). Each answer is put here, and only the first into an empty inbox schedules a task on
/// the event loop, which takes them all: one task, one wake-up of the loop and one write per
/// burst of answers instead of one per answer.
final class AnswerInbox: Sendable {
    typealias Answer = (sequence: UInt64, result: Result<RaftResponse, any Error>)

    private struct State {
        var answers: [Answer] = []
        var scheduled = false
        /// The connection's handler; nil once the connection has ended, which also breaks the
        /// reference cycle between handler and inbox.
        var handler: NIOLoopBound<ServerConnectionHandler>?
    }

    private let eventLoop: any EventLoop
    private let state: Mutex<State>

    init(handler: NIOLoopBound<ServerConnectionHandler>, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.state = Mutex(State(handler: handler))
    }

    /// Adds Raft's answer to request `sequence`. On the event loop itself (a heartbeat handler
    /// answering at once) it is handed over directly.
    func add(_ sequence: UInt64, _ result: Result<RaftResponse, any Error>) {
        if eventLoop.inEventLoop {
            let handler = state.withLock { $0.handler }
            handler?.value.answer(sequence, result)
            return
        }
        let schedule = state.withLock { state -> NIOLoopBound<ServerConnectionHandler>? in
            guard let handler = state.handler else { return nil }
            state.answers.append((sequence, result))
            guard !state.scheduled else { return nil }
            state.scheduled = true
            return handler
        }
        if let handler = schedule {
            eventLoop.execute { handler.value.takeAnswers() }
        }
    }

    /// Takes every waiting answer, in the order given. Event loop only.
    func take() -> [Answer] {
        state.withLock { state in
            state.scheduled = false
            defer { state.answers.removeAll(keepingCapacity: true) }
            return state.answers
        }
    }

    /// The connection has ended: later answers are dropped.
    func close() {
        state.withLock { state in
            state.handler = nil
            state.answers.removeAll()
        }
    }
}
