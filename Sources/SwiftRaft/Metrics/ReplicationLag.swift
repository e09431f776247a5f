import DequeModule

/// The leader's log length at each tick, kept as long as some follower may lack an entry it
/// covers: what `raft.replication.lag.time` is measured against.
///
/// A follower whose match index is `m` lacks every entry after `m`; the first sample whose
/// `lastIndex` exceeds `m` is the earliest tick at which the leader already held one of them,
/// and its age is the follower's lag. Sampling at ticks makes the lag a lower bound at tick
/// resolution: entries appended since the previous tick count as no lag, so a follower that keeps
/// up under load reads 0, one that stopped reads its outage. Loop-confined.
struct ReplicationLag {
    private var samples: Deque<(at: Duration, lastIndex: UInt64)> = []
    /// Bounds the samples when a follower stays behind for long: about 3.4 minutes of 50 ms
    /// ticks. Older samples are dropped, and a lag older than the oldest kept reads as its age.
    static let capacity = 4096

    /// Forgets everything (this node stopped or started leading).
    mutating func reset() { samples.removeAll() }

    /// Records the leader's last index now, and drops samples every follower is past.
    mutating func sample(at now: Duration, lastIndex: UInt64, slowestMatch: UInt64) {
        while let first = samples.first, first.lastIndex <= slowestMatch { samples.removeFirst() }
        if let last = samples.last, last.lastIndex == lastIndex {
            // Nothing appended since: the earlier sample already marks when these entries came.
        } else {
            if samples.count == Self.capacity { samples.removeFirst() }
            samples.append((now, lastIndex))
        }
    }

    /// How long a follower at `match` has lacked an entry, as of `now`: zero if it lacks none
    /// that the samples cover.
    func lag(of match: UInt64, now: Duration) -> Duration {
        // The samples' lastIndex only grows: find the first one past `match`.
        var low = 0, high = samples.count
        while low < high {
            let middle = (low + high) / 2
            if samples[middle].lastIndex > match { high = middle } else { low = middle + 1 }
        }
        guard low < samples.count else { return .zero }
        return now - samples[low].at
    }
}
