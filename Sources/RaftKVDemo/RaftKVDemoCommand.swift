// raftkv-demo: the README's first command. Three raftkv processes on loopback, a steady load of
// writes and linearizable reads over HTTP, the leader killed with SIGKILL halfway, a new leader
// elected, the old one restarted and caught up (through InstallSnapshot: its entries are compacted
// away by then), and at the end the checks that make it a demonstration rather than a show: every
// node holds the same data, no acknowledged write was lost, and the whole history of operations
// is linearizable.

import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

@main
struct RaftKVDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftkv-demo",
        abstract: "Runs 3 raftkv processes under load, kills the leader, restarts it, and verifies the data.",
        discussion: """
            Starts three raftkv nodes on 127.0.0.1 in a new directory under /tmp, drives writes and \
            linearizable reads from concurrent HTTP clients, kills the leader with SIGKILL halfway, \
            measures the re-election, restarts the old leader and waits for it to catch up, then \
            checks that all nodes hold the same data, that no acknowledged write was lost and that \
            the history is linearizable. Exits 1 if a check fails. Every process it starts is \
            killed at the end, on Ctrl-C too.
            """
    )

    @Option(help: "The raftkv binary to run.")
    var raftkv = ".build/release/raftkv"

    @Option(help: "Seconds of load; the leader is killed halfway (the load goes on until the old leader has caught up).")
    var duration = 30

    @Option(help: "Concurrent HTTP clients.")
    var clients = 8

    @Flag(help: "Keep the temporary directory (data directories and node logs) afterwards.")
    var keep = false

    func validate() throws {
        guard duration >= 8 else { throw ValidationError("--duration must be at least 8 seconds") }
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard FileManager.default.isExecutableFile(atPath: raftkv) else {
            throw ValidationError("no raftkv binary at \(raftkv): build it with `swift build -c release --product raftkv`")
        }
    }

    func run() async throws {
        let demo = try Demo(raftkv: raftkv, duration: .seconds(duration), clients: clients, keep: keep)
        let passed = try await demo.run()
        if !passed { throw ExitCode.failure }
    }
}
