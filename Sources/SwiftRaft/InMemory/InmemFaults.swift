import Synchronization

/// One fault plan for a whole in-memory cluster: partitions, one-way blocks, random loss and
/// random delay, shared by every ``InmemTransport`` that should suffer them.
///
/// Every random decision comes from one seeded SplitMix64 generator, so a simulation that makes
/// its calls in a reproducible order (the test kit's single serial executor) loses and delays
/// exactly the same messages on every replay of a seed.
///
/// A message *hop* is one request travelling to its target, or one reply travelling back. Each
/// hop's fate is decided when it is sent: lost if the plan separates its two ends or a random
/// draw falls below ``dropProbability``; otherwise delayed by a random duration from ``delay``.
public final class InmemFaults: Sendable {
    private struct Link: Hashable {
        var from: ServerAddress
        var to: ServerAddress
    }

    private struct State {
        var random: SplitMix64
        /// The partition groups each server belongs to; servers absent here are in no group.
        var groups: [ServerAddress: Set<Int>] = [:]
        var isolated: Set<ServerAddress> = []
        var blocked: Set<Link> = []
        var dropProbability: Double = 0
        var delay: ClosedRange<Duration>?

        func canDeliver(from: ServerAddress, to: ServerAddress) -> Bool {
            // Faults model the network between servers; a server never loses its own messages.
            if from == to { return true }
            if isolated.contains(from) || isolated.contains(to) { return false }
            if blocked.contains(Link(from: from, to: to)) { return false }
            if let fromGroups = groups[from], let toGroups = groups[to], fromGroups.isDisjoint(with: toGroups) {
                return false
            }
            return true
        }
    }

    private let state: Mutex<State>

    /// Creates a plan with no faults; `seed` fixes every later random loss and delay.
    public init(seed: UInt64) {
        state = Mutex(State(random: SplitMix64(seed: seed)))
    }

    /// Splits the servers into `groups` that cannot exchange messages with each other, replacing
    /// any earlier partition. A server listed in no group is unaffected and reaches everyone; a
    /// server listed in several groups reaches the members of each (a bridge).
    public func partition(_ groups: [[ServerAddress]]) {
        var membership: [ServerAddress: Set<Int>] = [:]
        for (index, group) in groups.enumerated() {
            for address in group { membership[address, default: []].insert(index) }
        }
        state.withLock { $0.groups = membership }
    }

    /// Cuts `address` off from every other server, in both directions, until ``heal()``.
    public func isolate(_ address: ServerAddress) {
        _ = state.withLock { $0.isolated.insert(address) }
    }

    /// Loses every message travelling from `from` to `to`: requests `from` sends to `to`, and
    /// replies `from` sends back to `to`'s requests. Messages the other way still arrive.
    public func block(from: ServerAddress, to: ServerAddress) {
        _ = state.withLock { $0.blocked.insert(Link(from: from, to: to)) }
    }

    /// Undoes ``block(from:to:)`` for that one direction.
    public func unblock(from: ServerAddress, to: ServerAddress) {
        _ = state.withLock { $0.blocked.remove(Link(from: from, to: to)) }
    }

    /// Removes every partition, isolation and block. ``dropProbability`` and ``delay`` stay, since
    /// they describe the network's quality rather than a failure to recover from.
    public func heal() {
        state.withLock { state in
            state.groups = [:]
            state.isolated = []
            state.blocked = []
        }
    }

    /// The probability, in `0...1`, that any one hop is lost, independently of the others.
    public var dropProbability: Double {
        get { state.withLock { $0.dropProbability } }
        set {
            precondition((0...1).contains(newValue), "dropProbability must be within 0...1, got \(newValue)")
            state.withLock { $0.dropProbability = newValue }
        }
    }

    /// The range each hop's delay is drawn from, uniformly; nil means no delay. Independent RPCs
    /// drawing different delays overtake one another, as on a real network; an AppendEntries
    /// pipeline still delivers in send order, like the TCP connection it models.
    public var delay: ClosedRange<Duration>? {
        get { state.withLock { $0.delay } }
        set {
            if let newValue {
                precondition(newValue.lowerBound >= .zero, "delay must not be negative, got \(newValue)")
            }
            state.withLock { $0.delay = newValue }
        }
    }

    /// Whether the partitions, isolations and blocks in force let a message travel from `from` to
    /// `to` (random loss aside).
    public func canDeliver(from: ServerAddress, to: ServerAddress) -> Bool {
        state.withLock { $0.canDeliver(from: from, to: to) }
    }

    /// Decides the fate of one hop from `from` to `to`: nil if it is lost, otherwise how long it
    /// travels. Transports call this once per hop; it advances the seeded generator whenever
    /// ``dropProbability`` is above zero or ``delay`` is set, whether or not the hop is lost, so
    /// a partition does not shift the random sequence seen by later hops.
    public func deliveryDelay(from: ServerAddress, to: ServerAddress) -> Duration? {
        state.withLock { state in
            var lost = !state.canDeliver(from: from, to: to)
            if state.dropProbability > 0 {
                // 53 random bits give every representable Double in [0, 1) its fair chance.
                let draw = Double(state.random.next() >> 11) * 0x1p-53
                if draw < state.dropProbability { lost = true }
            }
            var travel = Duration.zero
            if let range = state.delay {
                let low = Self.nanoseconds(range.lowerBound)
                let high = Self.nanoseconds(range.upperBound)
                travel = .nanoseconds(Int64.random(in: low...high, using: &state.random))
            }
            return lost ? nil : travel
        }
    }

    /// Whole nanoseconds are finer than any delay a simulated network needs, and keep the draw in
    /// `Int64`.
    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
