import Foundation
import RaftKVClient
public import RaftTestKit
import Synchronization

/// Concurrent clients writing and reading a small set of keys on a raftkv cluster over HTTP,
/// recording every operation with its outcome in a ``HistoryRecorder`` for the linearizability
/// checker, and keeping counts, latencies and the times of acknowledged writes.
///
/// Each client owns one ``KVClient`` per node (one connection each) and performs one operation at
/// a time: a put of a value no other operation writes (`c<client>-<n>`), or a linearizable get.
/// It talks to one node; on a `307` it follows the `Location` to the leader once, and stays with
/// the leader from then on. The outcome follows raftkv's error mapping:
///
/// | answer | put | get |
/// | --- | --- | --- |
/// | `200` | ok | ok, the body is the value |
/// | `404` | – | ok, absent |
/// | `307` after one redirect, `503`, other `4xx` | fail (not applied) | fail |
/// | `500`, `504` | unknown (may have committed) | fail (reads change nothing) |
/// | no connection could be made | fail (nothing was sent) | fail |
/// | timeout, connection lost, unreadable answer | unknown | unknown |
///
/// After a `503` the client pauses briefly and tries the same node again; after a failure to
/// connect it pauses and moves on to the next node, and after a lost answer it moves on at once.
public final class LoadDriver: Sendable {
    /// The shape of the load.
    public struct Options: Sendable {
        /// How many clients run at once.
        public var clients: Int
        /// How many keys they share (`k0` … `k<keys-1>`): few keys make operations overlap.
        public var keys: Int
        /// The share of gets among operations, 0…1.
        public var readFraction: Double
        /// How long one HTTP request may take before its outcome is unknown.
        public var requestTimeout: Duration
        /// The pause after a `503` (no leader known) before the client tries again.
        public var retryPause: Duration

        /// A load of `clients` clients on `keys` keys, half reads.
        public init(
            clients: Int = 8, keys: Int = 8, readFraction: Double = 0.5,
            requestTimeout: Duration = .seconds(1), retryPause: Duration = .milliseconds(50)
        ) {
            self.clients = clients
            self.keys = keys
            self.readFraction = readFraction
            self.requestTimeout = requestTimeout
            self.retryPause = retryPause
        }
    }

    /// How the operations so far ended.
    public struct Counts: Sendable, Equatable {
        /// Puts acknowledged (`200`).
        public var writesOK = 0
        /// Puts certainly not applied.
        public var writesFailed = 0
        /// Puts whose outcome is unknown.
        public var writesUnknown = 0
        /// Gets answered (`200` or `404`).
        public var readsOK = 0
        /// Gets that failed or timed out.
        public var readsFailed = 0
        /// `307`s followed to the leader.
        public var redirects = 0

        /// Every operation so far.
        public var total: Int { writesOK + writesFailed + writesUnknown + readsOK + readsFailed }
    }

    /// The load's options.
    public let options: Options
    /// The history every operation is recorded in.
    public let recorder: HistoryRecorder
    private let endpoints: [(host: String, port: Int)]

    private struct State {
        var counts = Counts()
        var writeLatencies: [Duration] = []
        var readLatencies: [Duration] = []
        var acknowledgedWrites = WriteAcknowledgements()
        var unexpected: [String] = []
        var inFlight: [Int: (operation: KeyValueOperation, node: Int, since: ContinuousClock.Instant)] = [:]
        var started: ContinuousClock.Instant?
        var stopped: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)
    private let running = Mutex<Task<Void, Never>?>(nil)

    /// A load on the nodes at `endpoints` (HTTP `host:port`, in the cluster's node order, so a
    /// `Location` naming one of them can be followed), recording into `recorder`.
    public init(endpoints: [String], options: Options = Options(), recorder: HistoryRecorder = HistoryRecorder()) {
        self.endpoints = endpoints.map { endpoint in
            let colon = endpoint.lastIndex(of: ":")!
            return (String(endpoint[..<colon]), Int(endpoint[endpoint.index(after: colon)...])!)
        }
        self.options = options
        self.recorder = recorder
    }

    /// Starts the clients; they run until ``stop()``.
    public func start() {
        state.withLock { $0.started = ContinuousClock.now }
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<options.clients {
                    group.addTask { await self.runClient(client) }
                }
            }
        }
        running.withLock { $0 = task }
    }

    /// Stops the clients: each finishes (or times out) the operation it is in, then closes its
    /// connections.
    public func stop() async {
        stopping.store(true, ordering: .relaxed)
        let task = running.withLock { $0 }
        await task?.value
        state.withLock { $0.stopped = ContinuousClock.now }
    }

    /// The counts so far.
    public var counts: Counts { state.withLock { $0.counts } }

    /// Latencies of acknowledged puts so far.
    public var writeLatencies: LatencySummary { LatencySummary(state.withLock { $0.writeLatencies }) }

    /// Latencies of answered gets so far.
    public var readLatencies: LatencySummary { LatencySummary(state.withLock { $0.readLatencies }) }

    /// How long the load ran (until now, while it runs).
    public var elapsed: Duration {
        state.withLock { state in
            guard let started = state.started else { return .zero }
            return (state.stopped ?? ContinuousClock.now) - started
        }
    }

    /// Answers the load did not expect (a `400`, say, or a request that hung), first few only:
    /// bugs to report.
    public var unexpectedAnswers: [String] { state.withLock { $0.unexpected } }

    /// The clients whose current request has run longer than `limit`, described: a request
    /// outliving its timeout by far means a client (or the node's HTTP server) that hangs.
    public func requests(runningLongerThan limit: Duration) -> [String] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.inFlight.sorted { $0.key < $1.key }.compactMap { client, request in
                let running = now - request.since
                return running > limit ? "client \(client): \(request.operation) on node \(request.node) for \(running.millisecondsText)" : nil
            }
        }
    }

    /// One progress line: elapsed time, acknowledged writes and reads, failed and unknown.
    public var progressLine: String {
        let counts = counts
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Int(Double(counts.writesOK + counts.readsOK) / seconds) : 0
        return "\(String(format: "%5.1f", seconds)) s  writes \(counts.writesOK)  reads \(counts.readsOK)  "
            + "failed \(counts.writesFailed + counts.readsFailed)  unknown \(counts.writesUnknown)  \(rate) ops/s"
    }

    /// Every write acknowledged so far: when, and by which node.
    public var acknowledgedWrites: WriteAcknowledgements { state.withLock { $0.acknowledgedWrites } }

    private func runClient(_ client: Int) async {
        var connections = endpoints.map { KVClient(host: $0.host, port: $0.port) }
        var random = SystemRandomNumberGenerator()
        var target = client % endpoints.count
        var sequence = 0
        while !stopping.load(ordering: .relaxed) {
            let key = "k\(Int.random(in: 0..<options.keys, using: &random))"
            let operation: KeyValueOperation
            if Double.random(in: 0..<1, using: &random) < options.readFraction {
                operation = .get(key: key)
            } else {
                sequence += 1
                operation = .put(key: key, value: "c\(client)-\(sequence)")
            }
            let result = await perform(operation, client: client, connections: &connections, target: &target)
            if result == .noLeader {
                try? await Task.sleep(for: options.retryPause)
            }
        }
        for connection in connections { await connection.close() }
    }

    private enum Attempt { case done, noLeader }

    /// Performs one operation, recorded from before its first request to after its last.
    private func perform(
        _ operation: KeyValueOperation, client: Int, connections: inout [KVClient], target: inout Int
    ) async -> Attempt {
        let pending = recorder.invoke(client: client, operation)
        let start = ContinuousClock.now
        var redirected = false
        while true {
            let response: KVResponse
            state.withLock { $0.inFlight[client] = (operation, target, ContinuousClock.now) }
            defer { state.withLock { _ = $0.inFlight.removeValue(forKey: client) } }
            do {
                let connection = connections[target], timeout = options.requestTimeout
                switch operation {
                case .put(let key, let value): response = try await connection.put(key: key, value: value, timeout: timeout)
                case .get(let key): response = try await connection.get(key: key, timeout: timeout)
                case .delete(let key): response = try await connection.delete(key: key, timeout: timeout)
                }
            } catch KVClientError.connectFailed {
                // Nothing was sent. The node is down: pause before the next node, which may still
                // redirect here until it notices.
                finish(pending, operation, .fail, since: start)
                target = (target + 1) % connections.count
                return .noLeader
            } catch {
                finish(pending, operation, .unknown, since: start)
                target = (target + 1) % connections.count
                return .done
            }
            switch response.status {
            case 200:
                finish(pending, operation, operation.isWrite ? .ok : .ok(value: response.text), since: start, node: target)
                return .done
            case 404 where !operation.isWrite:
                finish(pending, operation, .ok(value: nil), since: start)
                return .done
            case 307 where !redirected:
                guard let location = response.location, let leader = index(ofLocation: location) else {
                    noteUnexpected("307 with Location \(response.location ?? "none")")
                    finish(pending, operation, .fail, since: start)
                    return .done
                }
                redirected = true
                target = leader
                state.withLock { $0.counts.redirects += 1 }
            case 307:
                // Redirected twice: the cluster is between leaders.
                finish(pending, operation, .fail, since: start)
                return .noLeader
            case 503:
                finish(pending, operation, .fail, since: start)
                return .noLeader
            case 500, 504:
                finish(pending, operation, operation.isWrite ? .unknown : .fail, since: start)
                return .done
            default:
                noteUnexpected("\(response.status) to \(operation): \(response.text)")
                // A refusal of the request as such: nothing was applied.
                finish(pending, operation, .fail, since: start)
                return .done
            }
        }
    }

    private func finish(
        _ pending: HistoryRecorder.Pending, _ operation: KeyValueOperation, _ outcome: OperationOutcome,
        since start: ContinuousClock.Instant, node: Int = -1
    ) {
        recorder.complete(pending, outcome)
        let now = ContinuousClock.now
        state.withLock { state in
            switch (operation.isWrite, outcome) {
            case (true, .ok):
                state.counts.writesOK += 1
                state.writeLatencies.append(now - start)
                state.acknowledgedWrites.record(at: now, node: node)
            case (true, .fail): state.counts.writesFailed += 1
            case (true, _): state.counts.writesUnknown += 1
            case (false, .ok):
                state.counts.readsOK += 1
                state.readLatencies.append(now - start)
            case (false, _): state.counts.readsFailed += 1
            }
        }
    }

    private func noteUnexpected(_ answer: String) {
        state.withLock { state in
            if state.unexpected.count < 10 { state.unexpected.append(answer) }
        }
    }

    /// The endpoint a `Location` (`http://host:port/path`) names.
    private func index(ofLocation location: String) -> Int? {
        guard location.hasPrefix("http://") else { return nil }
        let authority = location.dropFirst("http://".count).prefix { $0 != "/" }
        return endpoints.firstIndex { "\($0.host):\($0.port)" == authority }
    }
}

/// Percentiles of a set of latencies.
public struct LatencySummary: Sendable {
    /// The samples, sorted.
    public let sorted: [Duration]

    /// Summarizes `samples`.
    public init(_ samples: [Duration]) { sorted = samples.sorted() }

    /// The `fraction` quantile (0.5: the median), nil without samples.
    public func quantile(_ fraction: Double) -> Duration? {
        guard !sorted.isEmpty else { return nil }
        let position = Int((Double(sorted.count - 1) * fraction).rounded())
        return sorted[Swift.min(Swift.max(position, 0), sorted.count - 1)]
    }

    /// The median.
    public var p50: Duration? { quantile(0.5) }
    /// The 99th percentile.
    public var p99: Duration? { quantile(0.99) }
    /// The largest.
    public var maximum: Duration? { sorted.last }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in milliseconds, rounded, for tables: `412 ms`.
    public var millisecondsText: String { "\(Int((seconds * 1000).rounded())) ms" }
}
