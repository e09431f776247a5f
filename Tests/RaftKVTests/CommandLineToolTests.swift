import Foundation
import RaftKVHarness
import Testing

/// Every executable product of the package answers `--help` and refuses a flag it does not know,
/// pointing to `--help`. `swift build --build-tests` builds the executables beside this bundle.
@Suite(.timeLimit(.minutes(1)))
struct CommandLineToolTests {
    /// The package's executable products (Package.swift's `.executable` entries).
    static let tools = ["raft-demo", "raftkv", "raftkv-demo", "raftkv-bench"]

    // `--help` prints the tool's usage and options on standard output and exits 0 without running anything.
    @Test(arguments: tools) func helpPrintsTheUsageAndExitsZero(tool: String) async throws {
        let run = try await ToolRun.finish(tool, ["--help"])
        #expect(run.status == 0, "\(tool) --help: \(run.standardError)")
        #expect(run.standardOutput.contains("USAGE: \(tool)"))
        #expect(run.standardOutput.contains("--help"))
    }

    // An unknown flag alone ends the tool with a non-zero status and a pointer to `--help` on standard error (swift-argument-parser reports a missing required flag before an unknown one).
    @Test(arguments: tools) func anUnknownFlagIsRefusedWithAHint(tool: String) async throws {
        let run = try await ToolRun.finish(tool, ["--bogus"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("See '\(tool) --help'"), "\(tool) --bogus: \(run.standardError)")
    }

    // Added to a command line that is otherwise complete, an unknown flag is refused by name before the tool starts anything.
    @Test(arguments: tools) func anUnknownFlagIsNamed(tool: String) async throws {
        // raftkv's data directory: never created when the flag is refused, removed in case it was not.
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("raftkv-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let raftkv = try RaftKVBinary.besideTestBundle()
        let complete: [String: [String]] = [
            "raft-demo": [],
            "raftkv": ["--id", "n1", "--raft", "127.0.0.1:1", "--http", "127.0.0.1:2", "--data", data],
            "raftkv-demo": ["--raftkv", raftkv],
            "raftkv-bench": ["--raftkv", raftkv],
        ]
        let run = try await ToolRun.finish(tool, try #require(complete[tool]) + ["--bogus"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("Unknown option '--bogus'"), "\(tool) --bogus: \(run.standardError)")
        #expect(run.standardError.contains("See '\(tool) --help'"))
    }
}

/// One run of a built executable, to completion.
struct ToolRun {
    var status: Int32
    var standardOutput: String
    var standardError: String

    /// Runs `tool` (found beside the test bundle) with `arguments` and waits for it to exit,
    /// without holding a thread of the cooperative pool: the wait is Foundation's termination
    /// handler. The output is read once the process has exited, which is enough for the short
    /// usage texts these tests ask for (a pipe holds 64 KiB).
    static func finish(_ tool: String, _ arguments: [String]) async throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try RaftKVBinary.besideTestBundle(named: tool))
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                continuation.resume(returning: ToolRun(
                    status: process.terminationStatus,
                    standardOutput: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                    standardError: String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                ))
            }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
