import DequeModule

/// When each recent tick of the core happened, by the node's monotonic clock: what turns the
/// core's lease (counted in ticks, ``RaftInstance/leaseBasis``) into time.
///
/// Ticks are counted as they are fed to the core, and a busy or paused node feeds them late, so
/// the core's tick count runs behind real time, which would stretch a lease measured in ticks.
/// Measuring from the instant of the tick the lease started in, and reading the clock when the
/// read is answered, keeps a lease from outliving a pause.
struct TickInstants {
    /// Ticks older than this many are forgotten: any lease counted from them has expired.
    let capacity: Int
    private var firstTick: UInt64 = 0
    private var instants: Deque<Duration> = []

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    /// Notes that the core's tick count reached `tick` at `instant`.
    mutating func record(tick: UInt64, at instant: Duration) {
        if instants.isEmpty || tick != firstTick + UInt64(instants.count) {
            instants.removeAll()
            firstTick = tick
        }
        instants.append(instant)
        if instants.count > capacity {
            instants.removeFirst()
            firstTick += 1
        }
    }

    /// When the core's tick count reached `tick`, if still remembered.
    func instant(of tick: UInt64) -> Duration? {
        guard tick >= firstTick, tick - firstTick < UInt64(instants.count) else { return nil }
        return instants[Int(tick - firstTick)]
    }
}
