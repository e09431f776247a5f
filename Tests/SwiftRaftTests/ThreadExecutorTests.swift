#if canImport(Glibc)
import Glibc
#endif
import SwiftRaft
import Synchronization
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

    @Test func closuresRunOnTheSameNamedThread() async throws {
        let executor = ThreadExecutor(name: "raft-loop-test-node")
        defer { executor.shutdown() }
        let name = await withCheckedContinuation { continuation in
            executor.execute { continuation.resume(returning: Self.currentThreadName()) }
        }
        #if os(Linux)
        #expect(name == "raft-loop-test-", "Linux keeps the first 15 bytes of the name")
        #endif
    }

    @Test func closuresAndJobsRunInTheOrderTheyWereQueued() async throws {
        let executor = ThreadExecutor(name: "executor-order")
        defer { executor.shutdown() }
        let order = Mutex<[String]>([])
        try await withTaskExecutorPreference(executor) {
            for round in 1...20 {
                // Queued before the task's own next job: it must run first.
                executor.execute { order.withLock { $0.append("closure \(round)") } }
                // Suspends this task, queueing its continuation behind the closure.
                await Task.yield()
                order.withLock { $0.append("job \(round)") }
            }
            try #require(order.withLock { $0.count } == 40)
        }
        #expect(order.withLock { $0 } == (1...20).flatMap { ["closure \($0)", "job \($0)"] })
    }

    @Test func closuresQueuedTogetherRunOneAtATimeInOrder() async throws {
        let executor = ThreadExecutor(name: "executor-fifo")
        defer { executor.shutdown() }
        let seen = Mutex<[Int]>([])
        let running = Mutex(0)
        let overlaps = Mutex(0)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for number in 0..<1_000 {
                executor.execute {
                    let concurrent = running.withLock { count in
                        count += 1
                        return count
                    }
                    if concurrent > 1 { overlaps.withLock { $0 += 1 } }
                    seen.withLock { $0.append(number) }
                    running.withLock { $0 -= 1 }
                    if number == 999 { done.resume() }
                }
            }
        }
        #expect(seen.withLock { $0 } == Array(0..<1_000))
        #expect(overlaps.withLock { $0 } == 0)
    }

    // An idle thread spins for a while, then sleeps; work must wake it in either state. With no
    // spinning it is asleep whenever the queue is empty; with a long spin it is usually spinning.
    @Test(arguments: [0, 100_000])
    func workQueuedOnAnIdleThreadRuns(spinIterations: Int) async throws {
        let executor = ThreadExecutor(name: "executor-wake", spinIterations: spinIterations)
        defer { executor.shutdown() }
        for round in 1...200 {
            let ran = await withCheckedContinuation { continuation in
                executor.execute { continuation.resume(returning: round) }
            }
            #expect(ran == round)
        }
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
