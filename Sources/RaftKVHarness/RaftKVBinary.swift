import Foundation

/// Where the `raftkv` executable is.
public enum RaftKVBinary {
    /// The `raftkv` SwiftPM built beside the running test bundle: a test target that depends on
    /// the `RaftKV` executable target makes SwiftPM build it into the same products directory
    /// (`.build/<triple>/debug/`). On macOS the bundle's executable sits a few folders deeper
    /// (`X.xctest/Contents/MacOS/X`), so the search walks up a few levels.
    public static func besideTestBundle(named name: String = "raftkv") throws -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let start = FileManager.default.fileExists(atPath: executable) && executable != "/proc/self/exe"
            ? executable : (Bundle.main.executablePath ?? CommandLine.arguments[0])
        var directory = URL(fileURLWithPath: start).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw RaftKVHarnessError("no \(name) executable beside \(start) or up to 4 folders above it: build with `swift build --build-tests`")
    }
}
