/// What the clients of one run do, and on which node.
enum Workload: String, CaseIterable, Sendable {
    /// `PUT /kv/<key>` on the leader: a log entry, committed on a quorum, fsync on each.
    case write
    /// `GET /kv/<key>` on the leader: ReadIndex, one heartbeat round per batch, no log entry.
    case read
    /// `GET /kv/<key>` on the leader of a cluster started with `--lease-reads`.
    case leaseRead = "lease-read"
    /// `GET /kv/<key>` on a follower, which asks the leader for the read index.
    case followerRead = "follower-read"
    /// `GET /kv/<key>?stale` on a follower: its FSM as it is, no check.
    case staleRead = "stale-read"

    /// Whether clients talk to the leader (else to a follower).
    var targetsLeader: Bool {
        switch self {
        case .write, .read, .leaseRead: return true
        case .followerRead, .staleRead: return false
        }
    }
}
