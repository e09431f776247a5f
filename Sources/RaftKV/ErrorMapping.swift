import SwiftRaft

/// How raftkv answers a failed operation: the contract its clients rely on (Docs/getting-started.md
/// repeats it).
///
/// | Answer | Meaning |
/// | --- | --- |
/// | `307` + `Location` | this node is not the leader; the leader's HTTP URL for the same path. Nothing was applied. |
/// | `503` | certainly not applied: no leader known, not queued in time (`enqueueTimeout`), a leadership transfer under way, a membership change that would lose the quorum, shutting down before the command was accepted; and every failed read (reads change nothing). |
/// | `400` / `404` / `405` / `409` | bad input, unknown route or key, wrong method, nothing new to snapshot. Nothing was applied. |
/// | `500` `outcome unknown:` | the command was in the log when leadership was lost (`leadershipLost`), the node shut down (`shutdown`) or the call was cancelled (`cancelled`): it may still commit. |
/// | `504` `outcome unknown:` | the command was in the log when its timeout ran out: it may still commit. |
///
/// Any other error is reported as `500 outcome unknown:`, since nothing proves it was not applied.
enum ErrorMapping {
    /// What kind of operation failed; it decides which side of "applied" an error falls on.
    enum Operation: Sendable {
        /// `raft.apply` or a membership change: a log entry that may have been appended.
        case write
        /// `readIndex` then a read of the store: nothing is written.
        case read
        /// A local snapshot or a leadership transfer: nothing replicated is written.
        case control
    }

    /// The reply for `error`, thrown by an operation of kind `operation` on `uri`.
    ///
    /// - Parameter leaderHTTP: the leader's HTTP address (`host:port`) if this node knows it;
    ///   with a `notLeader` error it makes a `307` instead of a `503`.
    static func reply(for error: any Error, operation: Operation, uri: String, leaderHTTP: String?) -> HTTPReply {
        if error is CancellationError {
            // Thrown before the command entered the log (Raft.apply's contract).
            return .text(503, "cancelled before it was accepted; not applied")
        }
        guard let error = error as? RaftError else {
            return operation == .write ? .text(500, "outcome unknown: \(error)") : .text(503, "failed: \(error)")
        }
        switch error.code {
        case .notLeader:
            return notLeader(uri: uri, leaderHTTP: leaderHTTP, leaderID: error.leader?.id.rawValue)
        case .invalidArgument:
            return .text(400, "bad request: \(error.message)")
        case .nothingNewToSnapshot:
            return .text(409, "nothing new to snapshot: \(error.message)")
        case .enqueueTimeout, .leadershipTransferInProgress, .quorumWouldBeLost, .notVoter:
            return .text(503, "not applied: \(error)")
        default:
            break
        }
        guard operation == .write else {
            // Reads, snapshots and transfers leave no entry behind that could commit later.
            return .text(503, "failed: \(error)")
        }
        if error.code == .timeout {
            return .text(504, "outcome unknown: \(error) (the command may still commit)")
        }
        return .text(500, "outcome unknown: \(error) (the command may still commit)")
    }

    /// The answer of a node that is not the leader: `307` to the leader's HTTP address for the
    /// same request target, or `503` when it knows no leader (or not its HTTP address).
    static func notLeader(uri: String, leaderHTTP: String?, leaderID: String?) -> HTTPReply {
        guard let leaderHTTP, !leaderHTTP.isEmpty else {
            let who = leaderID.map { " (leader \($0) has not published its HTTP address yet)" } ?? ""
            return .text(503, "no leader\(who); not applied")
        }
        let location = "http://\(leaderHTTP)\(uri)"
        var reply = HTTPReply.text(307, "not the leader; the leader is at \(location)")
        reply.headers.append(.init(name: "Location", value: location))
        return reply
    }
}
