import Logging
import RaftKVClient
import ServiceLifecycle

/// `--join`: asks a running cluster to add this node, through any member's HTTP API.
///
/// It posts ``RaftKVClient/KVServerJoin`` to `POST /servers`, follows `307`s to the leader, and
/// retries (every half second, starting again from the given member) until the leader answers
/// `200` or the deadline passes; then the service ends (with an error on the deadline, which
/// stops the process). The node is already running, so the leader can replicate to it at once.
struct Joiner: Service {
    /// The HTTP address (`host:port`) of a running member.
    let member: String
    let join: KVServerJoin
    let deadline: Duration
    let requestTimeout: Duration
    let logger: Logger

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await joinCluster() }
    }

    private func joinCluster() async throws {
        let clock = ContinuousClock()
        let giveUp = clock.now + deadline
        var lastProblem = "no attempt made"
        while clock.now < giveUp {
            var target = member
            // At most a few redirects per attempt: two nodes that each name the other as leader
            // (during an election) must not keep this loop spinning.
            for _ in 0..<4 {
                guard let (host, port) = HostPort.parse(target) else {
                    throw Failed(description: "--join \(target): not host:port")
                }
                let client = KVClient(host: host, port: port)
                let answer: Result<KVResponse, any Error>
                do {
                    answer = .success(try await client.addServer(join, timeout: requestTimeout))
                } catch {
                    answer = .failure(error)
                }
                await client.close()
                do {
                    let response = try answer.get()
                    if response.status == 200 {
                        logger.info("joined the cluster", metadata: ["via": "\(target)", "answer": "\(response.text.trimmed)"])
                        return
                    }
                    if response.status == 307, let location = response.location, let next = HostPort.fromURL(location) {
                        target = next
                        continue
                    }
                    lastProblem = "\(target) answered \(response.status): \(response.text.trimmed)"
                } catch {
                    lastProblem = "\(target): \(error)"
                }
                break
            }
            logger.info("join: not added yet; retrying", metadata: ["reason": "\(lastProblem)"])
            // Pacing between attempts against a cluster that has no leader yet.
            try await Task.sleep(for: .milliseconds(500))
        }
        throw Failed(description: "could not join the cluster through \(member) within \(deadline): \(lastProblem)")
    }
}

extension String {
    /// Without leading and trailing whitespace and newlines.
    var trimmed: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
