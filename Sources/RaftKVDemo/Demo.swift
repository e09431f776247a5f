#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import RaftKVClient
import RaftKVHarness
import RaftTestKit
import SwiftRaft
import Synchronization

/// One run of the demo, step by step; ``run()`` says whether every check passed.
final class Demo {
    let raftkv: String
    let duration: Duration
    let clients: Int
    let keep: Bool
    let output = ProgressLine()
    let directory: TemporaryDirectory
    let cleanup: Cleanup

    /// Small snapshot settings, so the old leader, down for a few thousand writes, finds its
    /// missing entries compacted away and catches up through InstallSnapshot.
    static let trailingLogs = 256
    static let options = RaftKVCluster.Options(
        heartbeatTimeout: .milliseconds(500), electionTimeout: .milliseconds(500),
        snapshotThreshold: 1024, snapshotIntervalSeconds: 1, trailingLogs: trailingLogs, logLevel: "info"
    )
    static let keys = 16
    /// The entries a leader keeps in memory, whether or not its log store still has them.
    static let leaderLogWindow = Config(localID: "raftkv-demo").logCacheCapacity

    init(raftkv: String, duration: Duration, clients: Int, keep: Bool) throws {
        self.raftkv = raftkv
        self.duration = duration
        self.clients = clients
        self.keep = keep
        directory = try TemporaryDirectory(prefix: "raftkv-demo")
        cleanup = Cleanup(directory: directory, keep: keep)
    }

    func run() async throws -> Bool {
        let interrupts = cleanup.onInterrupt(output)
        defer { withExtendedLifetime(interrupts) {} }
        var checks: [(String, Bool)] = []
        let summary: Summary
        do {
            summary = try await drive(&checks)
        } catch {
            output.event("FAILED: \(error)")
            cleanup.finish(passed: false, output)
            return false
        }
        let passed = checks.allSatisfy(\.1)
        summary.print(checks: checks, to: output)
        cleanup.finish(passed: passed, output)
        return passed
    }

    /// The steps; appends each check's verdict to `checks`. Throws when a step cannot go on (no
    /// leader, say): that is a failure too.
    private func drive(_ checks: inout [(String, Bool)]) async throws -> Summary {
        output.event("Starting 3 raftkv processes on 127.0.0.1 (data and logs in \(directory.path))")
        let cluster = try RaftKVCluster.start(executable: raftkv, nodes: 3, directory: directory.path, options: Self.options)
        cleanup.track(cluster)
        for node in cluster.nodes {
            output.event("  \(node.id): raft \(node.raftAddress), http \(node.httpAddress), pid \(node.process.pid.map(String.init) ?? "?")")
        }
        let firstLeader = try await cluster.waitForLeader(within: .seconds(30))
        let firstStatus = try await cluster.status(of: firstLeader)
        output.event("\(cluster.nodes[firstLeader].id) leads (term \(firstStatus.term))")

        let load = LoadDriver(
            endpoints: cluster.nodes.map(\.httpAddress),
            options: LoadDriver.Options(clients: clients, keys: Self.keys, readFraction: 0.5)
        )
        output.event("Load: \(clients) clients, puts and linearizable gets on \(Self.keys) keys, for \(duration)")
        load.start()
        let started = ContinuousClock.now
        let progress = Task { [output] in
            while !Task.isCancelled {
                output.update(load.progressLine)
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        defer { progress.cancel() }

        // Halfway: the leader dies as in a power cut.
        try await Task.sleep(until: started + duration / 2)
        var victim = await cluster.leader()
        if victim == nil { victim = try await cluster.waitForLeader(within: .seconds(30)) }
        guard let victim else { throw RaftKVHarnessError("no leader to kill") }
        let victimID = cluster.nodes[victim].id
        let before = try? await cluster.status(of: victim, timeout: .milliseconds(500))
        let killed = ContinuousClock.now
        await cluster.kill(victim)
        let term = before.map { String($0.term) } ?? "?", commit = before.map { String($0.commit) } ?? "?"
        output.event("SIGKILL \(victimID), the leader (term \(term), commit index \(commit))")
        let newLeader = try await cluster.waitForLeader(within: .seconds(30))
        let election = ContinuousClock.now - killed
        let elected = try await cluster.status(of: newLeader)
        output.event("\(cluster.nodes[newLeader].id) elected in term \(elected.term), \(election.millisecondsText) after the kill")
        checks.append(("a new leader was elected", newLeader != victim))

        // The survivors go on without it until they have committed past what it holds by more
        // than a leader keeps: the trailing logs behind a snapshot in its log store, and its
        // in-memory log window (raftkv leaves `Config.logCacheCapacity` at its default), from
        // which a leader still serves entries it compacted away. Then it can only catch up
        // through InstallSnapshot. At most a minute: a slow machine catches up from the log.
        let compactPast = elected.lastIndex + UInt64(clients) + UInt64(Self.trailingLogs) + UInt64(Self.leaderLogWindow) + 500
        output.event("\(victimID) stays down until the survivors commit index \(compactPast) (its log ends near \(elected.lastIndex))")
        let compactBy = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < compactBy, let status = try? await cluster.status(of: newLeader), status.commit < compactPast {
            try await Task.sleep(for: .milliseconds(50))
        }
        let snapshot = try? await cluster.request(newLeader, "POST", "/snapshot", timeout: .seconds(10))
        if let snapshot, snapshot.status == 200 {
            let answer = snapshot.text.trimmingCharacters(in: .whitespacesAndNewlines)
            output.event("\(cluster.nodes[newLeader].id) took a snapshot (\(answer)) and compacted its log behind it")
        }

        // The old leader comes back from its data directory and catches up.
        let logOffset = cluster.nodes[victim].process.logLength
        let restarted = ContinuousClock.now
        try cluster.restart(victim)
        output.event("Restarting \(victimID) from its data directory")
        let caughtUp = try await waitForCatchUp(cluster, node: victim)
        let catchUp = ContinuousClock.now - restarted
        // The node logs this line when it installs a snapshot a leader sent (SwiftRaft's NodeLoop).
        let installed = cluster.nodes[victim].process.log(from: logOffset).contains("restoring the FSM from the leader's snapshot")
        output.event(
            "\(victimID) caught up to index \(caughtUp) in \(catchUp.millisecondsText), "
                + (installed ? "through InstallSnapshot (its log shows the leader's snapshot restored)" : "from the leader's log (no snapshot installed)")
        )

        // The load runs its full duration, and a little past the catch-up when that ends later.
        try await Task.sleep(until: max(started + duration, ContinuousClock.now + .seconds(2)))
        await load.stop()
        progress.cancel()
        output.event("Load stopped: \(load.progressLine.trimmingCharacters(in: .whitespaces))")
        for answer in load.unexpectedAnswers { output.event("  unexpected answer: \(answer)") }

        // Checks: the same data everywhere, nothing acknowledged lost, a linearizable history.
        let data: [String: String]
        do {
            data = try await cluster.waitForConvergence(within: .seconds(60))
            checks.append(("all 3 nodes hold the same data (\(data.count) keys)", true))
        } catch {
            output.event("  \(error)")
            checks.append(("all 3 nodes hold the same data", false))
            data = (try? await cluster.data(of: newLeader, stale: true)) ?? [:]
        }
        let lost = DurabilityCheck.lostWrites(in: load.recorder.history, final: data)
        for problem in lost.prefix(5) { output.event("  lost: \(problem)") }
        checks.append(("no acknowledged write lost", lost.isEmpty))
        DurabilityCheck.recordFinalReads(data, keys: (0..<Self.keys).map { "k\($0)" }, into: load.recorder, client: clients)
        let history = load.recorder.history
        let verdict = LinearizabilityChecker.check(history)
        if !verdict.isLinearizable { output.event("  \(verdict)") }
        checks.append(("history linearizable (\(history.count) operations)", verdict.isLinearizable))

        let exits = await cluster.terminateAll()
        output.event("SIGTERM: " + zip(cluster.nodes, exits).map { "\($0.id) \($1.map(\.description) ?? "did not exit")" }.joined(separator: ", "))

        return Summary(
            load: load, clients: clients, election: election, failover: load.acknowledgedWrites.failover(around: killed, faulted: victim, healed: restarted),
            catchUp: catchUp, installedSnapshot: installed, restartedID: victimID
        )
    }

    /// Waits until `node`'s applied index reaches the leader's (read just before it), and returns it.
    private func waitForCatchUp(_ cluster: RaftKVCluster, node: Int) async throws -> UInt64 {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let leader = await cluster.leader(), leader != node,
                let leading = try? await cluster.status(of: leader, timeout: .milliseconds(500)),
                let status = try? await cluster.status(of: node, timeout: .milliseconds(500)),
                status.applied >= leading.applied
            {
                return status.applied
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RaftKVHarnessError("\(cluster.nodes[node].id) did not catch up within 60 s; its log is \(cluster.nodes[node].process.logPath)")
    }
}

/// What the demo kills and removes when it ends, or when it is interrupted.
final class Cleanup: Sendable {
    private let directory: TemporaryDirectory
    private let keep: Bool
    private let cluster = Mutex<RaftKVCluster?>(nil)

    init(directory: TemporaryDirectory, keep: Bool) {
        self.directory = directory
        self.keep = keep
    }

    func track(_ cluster: RaftKVCluster) { self.cluster.withLock { $0 = cluster } }

    /// Kills every process and removes the directory (kept with `--keep`, or when a check failed,
    /// so the node logs can be read).
    func finish(passed: Bool, _ output: ProgressLine) {
        cluster.withLock { $0?.shutdown() }
        if keep || !passed {
            output.event("Data and node logs kept in \(directory.path)")
        } else {
            directory.remove()
        }
    }

    /// On Ctrl-C (or SIGTERM, or the terminal going away), kills every process started and
    /// exits; the returned sources must be kept alive while the demo runs.
    func onInterrupt(_ output: ProgressLine) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM, SIGHUP].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                output.event("Interrupted: killing every raftkv process started")
                // Interrupted is not failed: the directory goes unless --keep.
                finish(passed: true, output)
                exit(130)
            }
            source.resume()
            return source
        }
    }
}
