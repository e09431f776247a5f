#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// One `raftkv` process, started and restarted with the same flags (so the same data directory),
/// its stdout and stderr appended to one log file across restarts, and driven with signals the way
/// an operator or a crash would: SIGKILL, SIGSTOP/SIGCONT, SIGTERM.
///
/// Safe to use from any thread. It never waits on the cooperative pool: waiting for an exit polls
/// with a deadline.
public final class RaftKVProcess: Sendable {
    /// How a process ended.
    public enum Exit: Hashable, Sendable, CustomStringConvertible {
        /// It returned or called `exit` with this status.
        case exited(Int32)
        /// A signal ended it.
        case signalled(Int32)

        /// `exit 0`, `signal 9`.
        public var description: String {
            switch self {
            case .exited(let status): return "exit \(status)"
            case .signalled(let signal): return "signal \(signal)"
            }
        }
    }

    /// The node's ID, for messages.
    public let name: String
    /// The `raftkv` binary.
    public let executable: String
    /// The flags every start passes.
    public let arguments: [String]
    /// Where the process's stdout and stderr go, appended across restarts.
    public let logPath: String

    private struct State {
        // Foundation's `Process` is only touched under this lock.
        var process: Process?
        var starts = 0
        var exit: Exit?
        var paused = false
    }

    private let state = Mutex(State())

    /// Describes a process; ``start()`` launches it.
    public init(name: String, executable: String, arguments: [String], logPath: String) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
    }

    deinit {
        state.withLock { state in
            if let process = state.process, process.isRunning { deliver(SIGKILL, to: process.processIdentifier) }
        }
    }

    /// Launches the process (again, if it ran before and has exited): same flags, same data
    /// directory, same log file, with a line in the log marking the start.
    public func start() throws {
        try state.withLock { state in
            if let process = state.process, process.isRunning {
                throw RaftKVHarnessError("\(name) is already running (pid \(process.processIdentifier))")
            }
            let descriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw RaftKVHarnessError("cannot open \(logPath): \(String(cString: strerror(errno)))")
            }
            let log = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            state.starts += 1
            log.write(Data("=== start \(state.starts): \(executable) \(arguments.joined(separator: " "))\n".utf8))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            do {
                try process.run()
            } catch {
                throw RaftKVHarnessError("cannot start \(executable): \(error)")
            }
            state.process = process
            state.exit = nil
            state.paused = false
        }
    }

    /// The running process's ID, nil when it is not running.
    public var pid: Int32? {
        state.withLock { state in
            guard let process = state.process, process.isRunning else { return nil }
            return process.processIdentifier
        }
    }

    /// Whether the process runs (paused counts as running).
    public var isRunning: Bool { pid != nil }

    /// Whether it was stopped with SIGSTOP and not continued since.
    public var isPaused: Bool { state.withLock { $0.paused && $0.process?.isRunning == true } }

    /// How many times it was started.
    public var starts: Int { state.withLock { $0.starts } }

    /// Sends `signal` to the running process; does nothing when it is not running.
    public func signal(_ signal: Int32) {
        state.withLock { state in
            guard let process = state.process, process.isRunning else { return }
            deliver(signal, to: process.processIdentifier)
            if signal == SIGSTOP { state.paused = true }
            if signal == SIGCONT { state.paused = false }
        }
    }

    /// Kills it at once (SIGKILL), as a crash or a power cut would, and waits until it is gone.
    public func kill() async {
        signal(SIGKILL)
        _ = try? await waitForExit(within: .seconds(30))
    }

    /// Freezes it (SIGSTOP): its sockets stay open and nothing answers, as a long pause would.
    public func pause() { signal(SIGSTOP) }

    /// Lets a paused process go on (SIGCONT).
    public func resume() { signal(SIGCONT) }

    /// Asks it to shut down gracefully (SIGTERM) and returns how it ended.
    public func terminate(within limit: Duration = .seconds(30)) async throws -> Exit {
        signal(SIGCONT)
        signal(SIGTERM)
        return try await waitForExit(within: limit)
    }

    /// Waits until the process has exited (polling, so no thread blocks) and returns how; throws
    /// after `limit`.
    public func waitForExit(within limit: Duration) async throws -> Exit {
        let deadline = ContinuousClock.now + limit
        while true {
            let exit: Exit? = state.withLock { state in
                guard let process = state.process else { return state.exit }
                guard !process.isRunning else { return nil }
                let status = process.terminationStatus
                let exit: Exit = process.terminationReason == .uncaughtSignal ? .signalled(status) : .exited(status)
                state.exit = exit
                state.paused = false
                return exit
            }
            if let exit { return exit }
            guard ContinuousClock.now < deadline else {
                throw RaftKVHarnessError("\(name) still runs after \(limit); its log is \(logPath)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The last `count` lines of the log, for failure messages.
    public func logTail(_ count: Int = 10) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log at \(logPath))" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count).joined(separator: "\n")
    }

    /// The log's length in bytes: remember it before a restart to read only what came after.
    public var logLength: Int {
        (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
    }

    /// The log from byte `offset` on.
    public func log(from offset: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// `kill(2)`, out of reach by that name inside ``RaftKVProcess`` (whose `kill()` shadows it).
private func deliver(_ signal: Int32, to pid: pid_t) {
    _ = kill(pid, signal)
}

/// A failure of the harness: a process that would not start or stop, a cluster that found no
/// leader or did not converge in time. The message says what and where to look.
public struct RaftKVHarnessError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String

    /// Creates an error saying `description`.
    public init(_ description: String) { self.description = description }
}
