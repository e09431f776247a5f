#if canImport(Glibc)
import Glibc
#endif
import SwiftRaft
import Testing

/// The dedicated threads behind storage and FSM work.
@Suite(.timeLimit(.minutes(1))) struct ThreadExecutorTests {
    @Test func jobsRunOnAThreadNamedForTheExecutor() async throws {
        let executor = ThreadExecutor(name: "raft-fsm-test-node")
        defer { executor.shutdown() }
        let names = try await withTaskExecutorPreference(executor) {
            var seen: [String] = []
            for _ in 0..<100 {
                try await Task.sleep(for: .microseconds(1))  // every step a new job on the executor
                seen.append(Self.currentThreadName())
            }
            return seen
        }
        #if os(Linux)
        #expect(Set(names) == ["raft-fsm-test-n"], "Linux keeps the first 15 bytes of the name")
        #endif
    }

    private static func currentThreadName() -> String {
        #if os(Linux)
        let descriptor = open("/proc/thread-self/comm", O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: "\n")
        #else
        return ""
        #endif
    }
}

extension String {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.last == character { text.removeLast() }
        return String(text)
    }
}
