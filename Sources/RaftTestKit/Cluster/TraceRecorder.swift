import Synchronization
public import SwiftRaft

/// Records what every node of a cluster reports (`RaftTraceEvent`), stamped with virtual time,
/// and checks Raft's safety properties as the events arrive:
/// - **election safety**: at most one leader per term;
/// - **state machine safety**: no two nodes commit or apply different entries at one index;
/// - **apply order**: each node applies strictly increasing indexes, the same entries in the same
///   order as every other node; a snapshot restore only ever moves a node's FSM forward.
public final class TraceRecorder: Sendable {
    private struct State {
        var lines: [String] = []
        var leaderOfTerm: [UInt64: ServerID] = [:]
        var committedTerm: [UInt64: UInt64] = [:]
        var applied: [ServerID: [(index: UInt64, term: UInt64)]] = [:]
        var restores: [ServerID: [UInt64]] = [:]
        var violations: [String] = []
    }

    private let state = Mutex(State())
    private let clock: any RaftClock

    /// Creates a recorder stamping events with `clock`.
    public init(clock: any RaftClock) { self.clock = clock }

    /// Every event so far, one line each, with its virtual time.
    public var lines: [String] { state.withLock { $0.lines } }

    /// Every safety violation seen so far; empty when all is well.
    public var violations: [String] { state.withLock { $0.violations } }

    /// The highest index known committed, with its term, for each index seen.
    public var committedEntries: [UInt64: UInt64] { state.withLock { $0.committedTerm } }

    /// The (index, term) of each entry `node` applied since it last started, in order.
    public func applied(by node: ServerID) -> [(index: UInt64, term: UInt64)] {
        state.withLock { $0.applied[node] ?? [] }
    }

    /// The snapshot indexes `node`'s FSM was restored from, over the whole run, in order.
    public func restores(of node: ServerID) -> [UInt64] {
        state.withLock { $0.restores[node] ?? [] }
    }

    /// Forgets what `node` applied: a restarted node's new FSM starts empty and applies again.
    public func nodeRestarted(_ node: ServerID) {
        state.withLock { state in
            state.applied[node] = []
            state.lines.append("[\(clock.now)] \(node) restarted")
        }
    }

    /// Adds a free-form line to the trace (a fault injected, a step of the test).
    public func note(_ line: String) {
        state.withLock { $0.lines.append("[\(clock.now)] \(line)") }
    }

    /// Records one event; pass this as `RaftEnvironment.tracer`.
    public func record(_ event: RaftTraceEvent) {
        let now = clock.now
        state.withLock { state in
            state.lines.append("[\(now)] \(event)")
            switch event {
            case .stateChanged(let node, let role, let term, _):
                guard role == .leader else { return }
                if let other = state.leaderOfTerm[term], other != node {
                    state.violations.append("election safety: \(other) and \(node) both led term \(term)")
                }
                state.leaderOfTerm[term] = node
            case .committed(let node, let index, let term):
                if let known = state.committedTerm[index], known != term {
                    state.violations.append(
                        "state machine safety: \(node) committed \(index)/\(term), another node committed \(index)/\(known)"
                    )
                }
                state.committedTerm[index] = term
            case .applied(let node, let index, let term, _):
                var sequence = state.applied[node] ?? []
                if let last = sequence.last, last.index >= index {
                    state.violations.append("apply order: \(node) applied \(index) after \(last.index)")
                }
                sequence.append((index, term))
                state.applied[node] = sequence
                if let known = state.committedTerm[index], known != term {
                    state.violations.append("state machine safety: \(node) applied \(index)/\(term), committed was \(index)/\(known)")
                }
            case .snapshotRestored(let node, let index, let term):
                state.restores[node, default: []].append(index)
                if let last = state.applied[node]?.last, last.index >= index {
                    state.violations.append("apply order: \(node) restored snapshot \(index) after applying \(last.index)")
                }
                if let known = state.committedTerm[index], known != term {
                    state.violations.append("state machine safety: \(node) restored \(index)/\(term), committed was \(index)/\(known)")
                }
            case .shutdown:
                break
            }
        }
    }
}
