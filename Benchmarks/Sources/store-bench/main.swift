// store-bench: FileLogStore's durable append rate next to the disk's own fdatasync rate, measured
// in the same run on the same directory, plus random getLog reads.
//
// The limit of a write-ahead log is one fdatasync per batch: a batch cannot become durable faster
// than the disk syncs. So every append case is printed beside a raw loop that writes the same
// number of bytes into a preallocated, already-synced file and fdatasyncs (the anchor's
// fsync-bench in "overwrite" mode), into a file reserved with posix_fallocate (how FileLogStore
// preallocates), and appending to a growing file (the anchor's "append" mode, what a log without
// preallocation pays). One JSON line per case.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import BenchReporting
import RaftFileStores
import SwiftRaft

/// store-bench's command line, through swift-argument-parser: `--help` describes it and an
/// unknown flag is refused with a pointer to `--help`. Flags keep the names (and the
/// `--no-sync true` form) the benchmark docs and result files use.
struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-bench",
        abstract: "FileLogStore's durable append rate beside the disk's own fdatasync rate, and random reads.",
        discussion: """
            For each batch size: a raw write+fdatasync loop on a preallocated file and on a growing \
            file, then FileLogStore.storeLogs with fsync on; then random getLog on a store holding \
            --read-entries entries. --duration seconds per case. Prints one JSON line per case, as \
            each case ends. --open-bytes measures instead how long opening a log of each size \
            (entries of --payload bytes) takes and the peak RSS of a process that only opens it, \
            with the page cache dropped first when permitted ("cache":"cold") and again warm. \
            $BENCH_DIR, if set, is the default --dir (as for the anchor's hraft-bench).
            """
    )

    @Option(name: .customLong("dir"), help: "Where the scratch files go (default: $BENCH_DIR, or /tmp/swift-raft-bench).")
    var directoryFlag: String?

    @Option(help: "Seconds per case.")
    var duration = 5.0

    @Option(help: "Bytes per entry.")
    var payload = 128

    @Option(name: .customLong("batches"), help: "Batch sizes, comma-separated.")
    var batchList = "1,64,256"

    @Option(help: "Entries in the store that random reads pick from.")
    var readEntries = 200_000

    /// Appends without fdatasync: the store's own CPU cost, the ceiling the disk then lowers.
    @Option(help: "true appends without fdatasync (unsafe; measures the store's CPU ceiling).")
    var noSync = false

    @Option(help: "A label copied into every JSON line.")
    var label = ""

    /// Log sizes, in bytes of payload, whose open cost to measure instead of the append and read
    /// cases.
    @Option(name: .customLong("open-bytes"), help: "Log sizes in bytes, comma-separated, whose open cost to measure instead.")
    var openBytesList = ""

    /// Internal: open the log in this directory, report, exit (run in a child, for its peak RSS).
    @Option(help: .hidden)
    var openOnly: String?

    /// Where the scratch files go.
    var directory: String {
        directoryFlag ?? getenv("BENCH_DIR").map { String(cString: $0) } ?? "/tmp/swift-raft-bench"
    }

    /// The batch sizes to measure.
    var batches: [Int] { Self.integers(batchList) ?? [] }

    /// The log sizes whose open cost to measure; empty for the append and read cases.
    var openBytes: [Int] { Self.integers(openBytesList) ?? [] }

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard payload >= 0 else { throw ValidationError("--payload must not be negative") }
        guard readEntries >= 1 else { throw ValidationError("--read-entries must be at least 1") }
        guard let batches = Self.integers(batchList), !batches.isEmpty, batches.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--batches needs positive integers separated by commas, got \(batchList)")
        }
        guard Self.integers(openBytesList) != nil else {
            throw ValidationError("--open-bytes needs integers separated by commas, got \(openBytesList)")
        }
    }

    /// "1,64,256" as integers; nil if any is not one. The empty list is empty.
    static func integers(_ list: String) -> [Int]? {
        var values: [Int] = []
        for item in list.split(separator: ",") {
            guard let value = Int(item) else { return nil }
            values.append(value)
        }
        return values
    }
}

/// Ends the run on a failure of the system (the command line is `Options`' to refuse).
func fail(_ message: String) -> Never {
    let text = "store-bench: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func check(_ result: Int32, _ what: String) {
    if result < 0 { fail("\(what): \(String(cString: strerror(errno)))") }
}

/// A fresh scratch directory under `base`, removed by `remove()`.
struct Scratch {
    let path: String

    init(in base: String, name: String) {
        _ = mkdir(base, 0o755)
        path = "\(base)/store-bench-\(getpid())-\(name)"
        remove()
        check(mkdir(path, 0o755), "mkdir \(path)")
    }

    func remove() {
        try? PosixFileSystem().removeTree(path)
    }
}

/// Latencies and counts of one timed loop.
struct Run {
    var operations = 0
    var latencies: [UInt64] = []
    var seconds = 0.0
    var cpu: CPUUsage

    /// Calls `body` until `duration` seconds have passed, timing each call.
    static func loop(for duration: Double, _ body: () throws -> Void) rethrows -> Run {
        var latencies: [UInt64] = []
        latencies.reserveCapacity(1 << 16)
        let before = CPUSample.take()
        let start = monotonicNanoseconds()
        let end = start + UInt64(duration * 1e9)
        var now = start
        while now < end {
            try body()
            let done = monotonicNanoseconds()
            latencies.append(done - now)
            now = done
        }
        let after = CPUSample.take()
        latencies.sort()
        return Run(operations: latencies.count, latencies: latencies, seconds: Double(now - start) / 1e9, cpu: CPUUsage(from: before, to: after))
    }

    func report(into json: inout JSONLine) {
        json.add("count", operations)
        json.add("duration_s", round3(seconds))
        json.add("p50_us", round1(percentile(latencies, 0.50)))
        json.add("p99_us", round1(percentile(latencies, 0.99)))
        json.add("p999_us", round1(percentile(latencies, 0.999)))
        json.add("max_us", round1(Double(latencies.last ?? 0) / 1e3))
        json.add("self_cpu_pct", round1(cpu.selfPercent))
        json.add("other_cpu_pct", round1(cpu.otherPercent))
    }
}

func header(_ bench: String, _ options: Options) -> JSONLine {
    var json = JSONLine()
    json.add("bench", bench)
    if !options.label.isEmpty { json.add("label", options.label) }
    return json
}

func finish(_ json: JSONLine) {
    var json = json
    json.add("swift_version", swiftVersion)
    json.add("ts", utcTimestamp())
    // print() is line-buffered on a terminal but not in a pipe; each result must leave now.
    let line = json.text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

/// How the raw loop's file is prepared.
enum RawMode: String {
    /// Filled with zeros and synced: no size or extent change per sync (the anchor's "overwrite").
    case overwrite
    /// Reserved with `posix_fallocate`, as FileLogStore's segments are: the size does not change,
    /// but the first write to each block converts an unwritten extent.
    case fallocated
    /// Grows with every write (the anchor's "append").
    case append
}

/// The disk's limit: write `size` bytes and fdatasync, in a loop, into a file prepared as `mode`
/// says.
func rawSync(size: Int, mode: RawMode, options: Options) {
    let preallocated = mode != .append
    let scratch = Scratch(in: options.directory, name: "raw")
    defer { scratch.remove() }
    let path = scratch.path + "/data"
    let descriptor = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0o644)
    check(descriptor, "open \(path)")
    defer { close(descriptor) }
    let fileSize = 64 << 20
    if mode == .fallocated {
        check(-posix_fallocate(descriptor, 0, off_t(fileSize)), "posix_fallocate")
        check(fsync(descriptor), "fsync")
    }
    if mode == .overwrite {
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for offset in stride(from: 0, to: fileSize, by: zeros.count) {
            check(Int32(truncatingIfNeeded: pwrite(descriptor, zeros, zeros.count, off_t(offset))), "pwrite")
        }
        check(fsync(descriptor), "fsync")
    }
    let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    var offset = 0
    let run = Run.loop(for: options.duration) {
        check(Int32(truncatingIfNeeded: pwrite(descriptor, bytes, bytes.count, off_t(offset))), "pwrite")
        check(fdatasync(descriptor), "fdatasync")
        offset += size
        if preallocated && offset + size > fileSize { offset = 0 }
    }
    var json = header("fsync", options)
    json.add("mode", mode.rawValue)
    json.add("sync", "fdatasync")
    json.add("write_bytes", size)
    json.add("dir", options.directory)
    json.add("fsyncs_per_s", round1(Double(run.operations) / run.seconds))
    json.add("mb_per_s", round1(Double(run.operations * size) / run.seconds / 1e6))
    run.report(into: &json)
    finish(json)
}

func entries(from index: UInt64, count: Int, payload: [UInt8]) -> [Log] {
    (0..<count).map { Log(index: index + UInt64($0), term: 1, data: payload) }
}

/// FileLogStore.storeLogs with fsync on, `batch` entries per call.
func appends(batch: Int, options: Options) throws {
    let scratch = Scratch(in: options.directory, name: "append-\(batch)")
    defer { scratch.remove() }
    let store = try FileLogStore(directory: scratch.path, options: .init(sync: !options.noSync))
    defer { try? store.close() }
    let payload = [UInt8](repeating: 0x5a, count: options.payload)
    var next: UInt64 = 1
    let run = try Run.loop(for: options.duration) {
        try store.storeLogs(entries(from: next, count: batch, payload: payload))
        next += UInt64(batch)
    }
    var json = header("logstore-append", options)
    json.add("batch", batch)
    json.add("sync", !options.noSync)
    json.add("payload", options.payload)
    json.add("dir", options.directory)
    json.add("batches_per_s", round1(Double(run.operations) / run.seconds))
    json.add("entries_per_s", round1(Double(run.operations * batch) / run.seconds))
    json.add("mb_per_s", round1(Double(run.operations * batch * options.payload) / run.seconds / 1e6))
    run.report(into: &json)
    finish(json)
}

/// Random getLog over a store of `readEntries` entries.
func randomReads(options: Options) throws {
    let scratch = Scratch(in: options.directory, name: "reads")
    defer { scratch.remove() }
    let store = try FileLogStore(directory: scratch.path, options: .init(sync: false))
    defer { try? store.close() }
    let payload = [UInt8](repeating: 0x5a, count: options.payload)
    var next: UInt64 = 1
    while next <= UInt64(options.readEntries) {
        let count = min(1024, options.readEntries - Int(next) + 1)
        try store.storeLogs(entries(from: next, count: count, payload: payload))
        next += UInt64(count)
    }
    var random = SystemRandomNumberGenerator()
    let run = try Run.loop(for: options.duration) {
        let log = try store.getLog(index: UInt64.random(in: 1...UInt64(options.readEntries), using: &random))
        precondition(log.data.count == options.payload)
    }
    var json = header("logstore-getlog", options)
    json.add("entries", options.readEntries)
    json.add("payload", options.payload)
    json.add("reads_per_s", round1(Double(run.operations) / run.seconds))
    run.report(into: &json)
    finish(json)
}

/// Opens the log in `directory` and reports how long that took and this process's peak RSS.
func openOnly(_ directory: String, options: Options) throws {
    let start = monotonicNanoseconds()
    let store = try FileLogStore(directory: directory, options: .init(sync: false))
    let opened = monotonicNanoseconds()
    let last = try store.lastIndex()
    try store.close()
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    var json = header("logstore-open", options)
    json.add("entries", Int(last))
    json.add("open_ms", round3(Double(opened - start) / 1e6))
    json.add("peak_rss_mb", round1(Double(usage.ru_maxrss) / 1024))
    json.add("cache", getenv("STORE_BENCH_CACHE").map { String(cString: $0) } ?? "warm")
    finish(json)
}

/// Builds a log of about `bytes` bytes of payload, then opens it in child processes: once after
/// dropping the page cache (when this process may), once warm.
func openCost(bytes: Int, options: Options) throws {
    let scratch = Scratch(in: options.directory, name: "open-\(bytes)")
    defer { scratch.remove() }
    let store = try FileLogStore(directory: scratch.path, options: .init(sync: false))
    let payload = [UInt8](repeating: 0x5a, count: options.payload)
    let total = bytes / max(options.payload, 1)
    var next: UInt64 = 1
    while next <= UInt64(total) {
        let count = min(1024, total - Int(next) + 1)
        try store.storeLogs(entries(from: next, count: count, payload: payload))
        next += UInt64(count)
    }
    try store.close()
    sync()
    let cold = dropPageCache()
    for cache in cold ? ["cold", "warm"] : ["warm", "warm"] {
        runChild(["--open-only", scratch.path, "--payload", "\(options.payload)", "--label", options.label], cache: cache)
    }
}

/// Asks the kernel to drop clean page-cache pages; false if this process may not.
func dropPageCache() -> Bool {
    let descriptor = open("/proc/sys/vm/drop_caches", O_WRONLY)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    return write(descriptor, "3\n", 2) == 2
}

/// Runs this program again with `arguments` and waits for it.
func runChild(_ arguments: [String], cache: String) {
    let path = "/proc/self/exe"
    var argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let variables: [String] = ["STORE_BENCH_CACHE=\(cache)"]
    var environment: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
    defer { for pointer in environment { free(pointer) } }
    var pid: pid_t = 0
    check(posix_spawn(&pid, path, nil, nil, &argv, &environment) == 0 ? 0 : -1, "posix_spawn")
    var status: Int32 = 0
    check(waitpid(pid, &status, 0), "waitpid")
}

let options = Options.parseOrExit()
do {
    if let directory = options.openOnly {
        try openOnly(directory, options: options)
        exit(0)
    }
    if !options.openBytes.isEmpty {
        for bytes in options.openBytes { try openCost(bytes: bytes, options: options) }
        exit(0)
    }
    for batch in options.batches {
        // Each batch size's limit is measured right before it, in the same conditions.
        for mode in [RawMode.overwrite, .fallocated, .append] where !options.noSync {
            rawSync(size: batch * options.payload, mode: mode, options: options)
        }
        try appends(batch: batch, options: options)
    }
    try randomReads(options: options)
} catch {
    fail("\(error)")
}
