/// When each acknowledged write of a load came back, and from which node: what a fault schedule
/// asks to know whether (and how fast) the cluster served writes again after a fault.
public struct WriteAcknowledgements: Sendable {
    /// One acknowledged write: when its answer arrived, and the index of the node that gave it
    /// (-1 when unknown).
    public typealias Acknowledgement = (at: ContinuousClock.Instant, node: Int)

    /// Every acknowledgement, in the order they were recorded.
    public private(set) var all: [Acknowledgement] = []

    /// No acknowledgements yet.
    public init() {}

    /// Records a write acknowledged at `instant` by node `node`.
    public mutating func record(at instant: ContinuousClock.Instant, node: Int) {
        all.append((instant, node))
    }

    /// The first write acknowledged after `instant`, when node `faulted` was killed or paused
    /// at `instant` until `healed` (restarted or continued; nil: not yet): answers from
    /// `faulted` before `healed` do not count, since it sent them just before it stopped. A
    /// leader paused for less than an election comes back leading, and then the first answer
    /// after the fault is its own.
    public func firstAfter(_ instant: ContinuousClock.Instant, faulted: Int, healed: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        all.lazy.filter { ack in
            guard ack.at > instant else { return false }
            guard ack.node == faulted else { return true }
            return healed.map { ack.at > $0 } ?? false
        }.map(\.at).min()
    }

    /// The failover around a fault at `instant` (see ``firstAfter(_:faulted:healed:)``): from the
    /// last acknowledged write before it to the first after it. Nil if there was none after, or
    /// none before (a fault that struck before the first write tells nothing about failover,
    /// even once writes flow).
    public func failover(around instant: ContinuousClock.Instant, faulted: Int, healed: ContinuousClock.Instant?) -> Duration? {
        guard let before = all.lazy.filter({ $0.at <= instant }).map(\.at).max(),
            let after = firstAfter(instant, faulted: faulted, healed: healed)
        else { return nil }
        return after - before
    }
}
