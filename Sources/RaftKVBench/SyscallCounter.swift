#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Counts a process's fsync and fdatasync calls, all threads, with `strace -f -c` attached for a
/// while: what shows that a read workload writes nothing to disk.
///
/// strace is spawned directly, with an empty signal mask: a child inherits its parent's blocked
/// signals, and a Swift process blocks SIGINT on its threads, which would keep strace from
/// hearing the SIGINT that makes it detach and write its summary.
final class SyscallCounter {
    private let pid: pid_t
    private let output: String

    init(tracing target: Int32) throws {
        output = NSTemporaryDirectory() + "/raftkv-bench-strace-\(target)-\(UInt32.random(in: 0...UInt32.max)).txt"
        let arguments = ["/usr/bin/strace", "-q", "-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o", output, "-p", String(target)]
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var spawned = pid_t()
        let status = posix_spawn(&spawned, arguments[0], nil, &attributes, argv, environ)
        guard status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "posix_spawn strace: \(status)"]) }
        pid = spawned
    }

    /// Detaches strace (SIGINT) and returns the calls it counted.
    func finish() async throws -> Int {
        kill(pid, SIGINT)
        var status: Int32 = 0
        // Polled, so that no thread of Swift's pool blocks in waitpid.
        while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        defer { try? FileManager.default.removeItem(atPath: output) }
        let summary = try String(contentsOfFile: output, encoding: .utf8)
        // strace -c's table: "% time  seconds  usecs/call  calls  [errors] syscall".
        var calls = 0
        for line in summary.split(separator: "\n") {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let name = columns.last, name == "fsync" || name == "fdatasync", columns.count >= 5, let count = Int(columns[3])
            else { continue }
            calls += count
        }
        return calls
    }
}
