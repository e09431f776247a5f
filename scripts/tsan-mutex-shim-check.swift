// The self-check of scripts/tsan-mutex-shim.c that scripts/sanitize.sh runs before a `thread` run:
// four threads take turns on one Mutex, which contends it into the kernel's hand-over. With the
// shim preloaded, ThreadSanitizer must report nothing for the counter kept under the lock, and must
// still report the one kept without it (`racy` argument); without the shim it reports both.
import Dispatch
import Synchronization

final class Counters: @unchecked Sendable {
    // @unchecked Sendable: deliberately not; `locked` is only touched under `lock`, and `unlocked`
    // is the race the check expects ThreadSanitizer to catch.
    let lock = Mutex(())
    var locked = 0
    var unlocked = 0
}

let counters = Counters()
let racy = CommandLine.arguments.dropFirst().first == "racy"
DispatchQueue.concurrentPerform(iterations: 4) { _ in
    for _ in 0..<50_000 {
        counters.lock.withLock { _ in counters.locked += 1 }
        if racy { counters.unlocked += 1 }
    }
}
print(counters.locked == 200_000 ? "ok" : "lost increments: \(counters.locked)")
