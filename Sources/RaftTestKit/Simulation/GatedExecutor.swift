public import SwiftRaft
import DequeModule
import Synchronization

/// An executor that can be held shut: while closed, the work given to it waits, in order; once
/// opened, it runs on the executor it wraps. Put in front of a node's storage executor, it is a
/// disk whose writes hang — the node sees its writes (and loads) never finish — without
/// blocking a thread, which in a ``Simulation`` would stop the whole world, as every executor
/// there is the simulation's one.
public final class GatedExecutor: RaftExecutor {
    private struct State {
        var closed = false
        var held: Deque<@Sendable () -> Void> = []
    }

    private let wrapped: any RaftExecutor
    private let state = Mutex(State())

    /// An open gate in front of `wrapped`.
    public init(wrapping wrapped: any RaftExecutor) {
        self.wrapped = wrapped
    }

    /// Holds work given from now on until ``open()``.
    public func close() {
        state.withLock { $0.closed = true }
    }

    /// Passes the held work on, in order, and later work straight through.
    public func open() {
        // Under the lock, so work given meanwhile cannot overtake what was held. The wrapped
        // executor never calls back into this one, so the locks cannot deadlock.
        state.withLock { state in
            state.closed = false
            for work in state.held { wrapped.execute(work) }
            state.held.removeAll()
        }
    }

    /// Whether work is being held.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Runs `work` on the wrapped executor, or holds it while closed.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            if state.closed {
                state.held.append(work)
            } else {
                wrapped.execute(work)
            }
        }
    }

    /// Shuts the wrapped executor down.
    public func shutdown() { wrapped.shutdown() }
}
