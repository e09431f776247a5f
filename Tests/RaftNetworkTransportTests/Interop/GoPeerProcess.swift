import Foundation
import Synchronization

/// The Go programs under `GoPeers/` (real hashicorp/raft from Debian's packages), built once per
/// test process with `GoPeers/build.sh`.
enum GoPeers {
    /// Why the interoperability tests cannot run here, or nil when they can.
    static let unavailableReason: String? = {
        if ProcessInfo.processInfo.environment["RAFT_SKIP_INTEROP"] != nil {
            return "skipped: RAFT_SKIP_INTEROP is set (scripts/test.sh --no-interop)"
        }
        guard goExecutable != nil else {
            return "Go is not installed (scripts/setup.sh --interop installs golang-go)"
        }
        guard FileManager.default.fileExists(atPath: "/usr/share/gocode/src/github.com/hashicorp/raft/api.go") else {
            return "hashicorp/raft's Go sources are missing (scripts/setup.sh --interop installs golang-github-hashicorp-raft-dev)"
        }
        return nil
    }()

    /// Whether Go and hashicorp/raft's sources are installed. Asking also builds the programs,
    /// once: the interop suites ask in their `.enabled(if:)` trait, which Swift Testing evaluates
    /// while it plans the run, before any test starts. Built lazily by the first test that needed
    /// them, the build (seconds; a minute with Go's cache cold) held one of the cooperative pool's
    /// two threads, and every other interop test waiting for it held the other, so unrelated
    /// network tests whose servers answer from the pool timed out after 10 s.
    static var isAvailable: Bool {
        _ = built
        return unavailableReason == nil
    }

    private static let goExecutable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/go" } + ["/usr/bin/go", "/usr/lib/go/bin/go"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    private static let sourceDirectory: String = {
        let file = "\(#filePath)"
        let interop = file[..<file.lastIndex(of: "/")!]
        let tests = interop[..<interop.lastIndex(of: "/")!]
        return tests + "/GoPeers"
    }()

    /// Names this checkout's GoPeers folder: FNV-1a of its path, stable across processes (unlike
    /// `hashValue`, which Swift seeds per process).
    private static let checkoutTag: String = {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sourceDirectory.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }()

    /// Builds every program (once) and returns the directory holding the binaries.
    static func binaries() throws -> String {
        try built.get()
    }

    private static let built: Result<String, GoPeerError> = {
        if let unavailableReason { return .failure(GoPeerError(unavailableReason)) }
        // One directory per user and checkout: two checkouts testing at once (a worktree beside
        // the main one) must neither overwrite each other's binaries mid-run nor run the other's.
        let output = NSTemporaryDirectory() + "swift-raft-go-peers-\(getuid())-\(checkoutTag)"
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/bash")
        build.arguments = [sourceDirectory + "/build.sh", output]
        var environment = ProcessInfo.processInfo.environment
        if let go = goExecutable {
            let goDirectory = String(go[..<go.lastIndex(of: "/")!])
            environment["PATH"] = goDirectory + ":" + (environment["PATH"] ?? "")
        }
        build.environment = environment
        let log = Pipe()
        build.standardOutput = log
        build.standardError = log
        do {
            try build.run()
        } catch {
            return .failure(GoPeerError("cannot run GoPeers/build.sh: \(error)"))
        }
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        guard build.terminationStatus == 0 else {
            return .failure(GoPeerError("GoPeers/build.sh failed:\n\(text)"))
        }
        return .success(output)
    }()
}

/// A failure to build, start or talk to a Go peer.
struct GoPeerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One running Go program, driven by lines on its stdin and answering lines on its stdout.
///
/// Its stderr goes to a file (``logPath``) so a failing test can say where to look.
final class GoPeerProcess: Sendable {
    /// The program's arguments, for messages.
    let commandLine: String
    /// Where the program's stderr goes.
    let logPath: String
    private let process: Process
    private let input: FileHandle
    private let lines = LineQueue()

    /// Starts `program` (a name under the built GoPeers) with `arguments`.
    init(_ program: String, _ arguments: [String]) throws {
        let directory = try GoPeers.binaries()
        commandLine = ([program] + arguments).joined(separator: " ")
        logPath = NSTemporaryDirectory() + "go-peer-\(program)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: directory + "/" + program)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: logPath)
        input = stdin.fileHandleForWriting
        try process.run()
        // A dedicated thread reads stdout: the read blocks, and must not do so on Swift's
        // cooperative pool.
        let reader = stdout.fileHandleForReading
        let lines = self.lines
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.push(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            lines.finish()
        }
    }

    deinit { kill() }

    /// The next line the program prints, or an error after `timeout`.
    func nextLine(timeout: Duration = .seconds(30)) async throws -> String {
        guard let line = try await lines.next(timeout: timeout) else {
            // The log is usually gone with the test's directory by the time anyone looks: quote
            // its end, which says why the program stopped.
            let tail = (try? String(contentsOfFile: logPath, encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: " | ")
            throw GoPeerError("\(commandLine) exited; its log is \(logPath), ending: \(tail ?? "unreadable")")
        }
        return line
    }

    /// Sends `command` and returns the one line it answers.
    func send(_ command: String, timeout: Duration = .seconds(30)) async throws -> String {
        try input.write(contentsOf: Data((command + "\n").utf8))
        do {
            return try await nextLine(timeout: timeout)
        } catch {
            throw GoPeerError("\(commandLine): no answer to \"\(command)\": \(error); its log is \(logPath)")
        }
    }

    /// Closes the program's stdin, which tells the programs here to stop.
    func closeInput() {
        try? input.close()
    }

    /// Kills the program at once (SIGKILL), as a crash would.
    func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Lines from a reader thread to async waiters, with a timeout per wait.
private final class LineQueue: Sendable {
    private struct State {
        var lines: [String] = []
        var expired: Set<UInt64> = []
        var finished = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<String?, any Error>)?
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    func push(_ line: String) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.lines.append(line)
            return nil
        }
        waiter?.resume(returning: line)
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<String?, any Error>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    func next(timeout: Duration) async throws -> String? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.expire(id)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<String?, any Error>? = state.withLock { state in
                if !state.lines.isEmpty { return .success(state.lines.removeFirst()) }
                if state.finished { return .success(nil) }
                if state.expired.remove(id) != nil { return .failure(GoPeerError("timed out waiting for a line")) }
                state.waiter = (id, continuation)
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, any Error>? in
            guard let waiter = state.waiter, waiter.id == id else {
                // Not waiting yet: the wait gives up as soon as it starts.
                state.expired.insert(id)
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(throwing: GoPeerError("timed out waiting for a line"))
    }
}
