#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The demo's output: a live progress line that rewrites itself on a terminal (`\r`), and event
/// lines printed above it. Off a terminal (a CI log, a pipe) progress comes as plain lines, fewer
/// of them.
final class ProgressLine: Sendable {
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private let state = Mutex((showing: false, lastPlain: ContinuousClock.now - .seconds(60)))

    /// Shows `text` as the current progress.
    func update(_ text: String) {
        state.withLock { state in
            if isTerminal {
                write("\r\u{1B}[K  " + text)
                state.showing = true
            } else if ContinuousClock.now - state.lastPlain >= .seconds(2) {
                write("  " + text + "\n")
                state.lastPlain = ContinuousClock.now
            }
        }
    }

    /// Prints `text` as a line of its own, above the progress line.
    func event(_ text: String) {
        state.withLock { state in
            if state.showing {
                write("\r\u{1B}[K")
                state.showing = false
            }
            write(text + "\n")
        }
    }

    private func write(_ text: String) {
        writeToStandardOutput(text)
    }
}

/// Writes `text` to file descriptor 1 at once, bypassing stdio's buffer (whose `stdout` global
/// Swift 6 rightly calls shared mutable state).
private func writeToStandardOutput(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
