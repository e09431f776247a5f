import Foundation
import NIOCore
import NIOPosix
import RaftKVClient

/// One `raftkv` process started by a test: its flags, its log file, signals and exit.
final class RaftKVProcess: @unchecked Sendable {
    // @unchecked: `process` is a Foundation `Process`, whose methods are thread-safe; every
    // other stored property is an immutable `let` of a Sendable type.
    let id: String
    let raftAddress: String
    let httpAddress: String
    let logPath: String
    private let process: Process

    /// Starts `binary` with the given addresses and data directory under `directory`, logging to
    /// `<directory>/<id>.log`.
    init(binary: URL, id: String, raft: String, http: String, directory: String, extraArguments: [String]) throws {
        self.id = id
        self.raftAddress = raft
        self.httpAddress = http
        self.logPath = "\(directory)/\(id).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process = Process()
        process.executableURL = binary
        process.arguments = ["--id", id, "--raft", raft, "--http", http, "--data", "\(directory)/\(id)"] + extraArguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// A client for this node's HTTP API.
    func client() -> KVClient {
        let (host, port) = Self.split(httpAddress)
        return KVClient(host: host, port: port)
    }

    var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM, SIGKILL, …) if the process still runs.
    func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// The exit status once the process exited normally; nil if it still runs at `deadline` or
    /// was killed by a signal. Polls, since Foundation offers no async wait.
    func exitStatus(by deadline: ContinuousClock.Instant) async throws -> Int32? {
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }

    /// The last lines of the node's log, for a failing expectation's message.
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return "--- \(id) log ---\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    static func split(_ address: String) -> (String, Int) {
        let colon = address.lastIndex(of: ":")!
        return (String(address[..<colon]), Int(address[address.index(after: colon)...])!)
    }

    /// The `raftkv` executable SwiftPM built beside the test bundle (the test target depends on
    /// the RaftKV target, so it is always built with the tests).
    static func locateBinary() throws -> URL {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidates = [
            executable.deletingLastPathComponent(),
            Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for directory in candidates {
            let binary = directory.appendingPathComponent("raftkv")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        throw LocateError(description: "no raftkv binary next to the tests in \(candidates.map(\.path))")
    }

    struct LocateError: Error, CustomStringConvertible {
        let description: String
    }

    /// `count` loopback ports that were free a moment ago (each bound to port 0, then released).
    static func freePorts(_ count: Int) async throws -> [Int] {
        var channels: [any Channel] = []
        for _ in 0..<count {
            channels.append(try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get())
        }
        let ports = channels.compactMap { $0.localAddress?.port }
        for channel in channels { try await channel.close() }
        return ports
    }
}
