#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`): cheap enough to read twice per operation.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Suspends until the monotonic clock reaches `deadline` (nanoseconds).
public func sleep(until deadline: UInt64) async {
    let now = monotonicNanoseconds()
    guard deadline > now else { return }
    try? await Task.sleep(for: .nanoseconds(Int64(deadline - now)))
}

/// A CPU-accounting sample, as hraft-bench's `hostcpu` takes: the whole machine's busy and total
/// jiffies from `/proc/stat`, and this process's user and system CPU time from `getrusage`.
public struct CPUSample {
    public var wall: UInt64
    public var machineBusy: UInt64 = 0
    public var machineTotal: UInt64 = 0
    public var userSeconds: Double = 0
    public var systemSeconds: Double = 0
    /// Context switches of all this process's threads: waits for something (voluntary) and
    /// preemptions (involuntary).
    public var voluntarySwitches = 0
    public var involuntarySwitches = 0
    /// Page faults served without I/O (this process's memory growing).
    public var minorFaults = 0

    public static func take() -> CPUSample {
        var sample = CPUSample(wall: monotonicNanoseconds())
        if let line = firstLine(of: "/proc/stat") {
            // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; like
            // hostcpu, everything but idle and iowait counts as busy.
            for (position, field) in line.split(separator: " ").dropFirst().enumerated() {
                let value = UInt64(field) ?? 0
                sample.machineTotal += value
                if position != 3 && position != 4 { sample.machineBusy += value }
            }
        }
        var usage = rusage()
        #if os(Linux)
        let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let who = RUSAGE_SELF
        #endif
        if getrusage(who, &usage) == 0 {
            sample.userSeconds = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            sample.systemSeconds = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
            sample.voluntarySwitches = Int(usage.ru_nvcsw)
            sample.involuntarySwitches = Int(usage.ru_nivcsw)
            sample.minorFaults = Int(usage.ru_minflt)
        }
        return sample
    }

    private static func firstLine(of path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let bytes = buffer.prefix(while: { $0 != 0 && $0 != 10 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// CPU use between two samples: this process's CPU seconds, and, in percent of one core as
/// hraft-bench reports them, the whole machine's, this process's and everything else's.
public struct CPUUsage {
    public var userSeconds: Double
    public var systemSeconds: Double
    public var hostPercent: Double
    public var selfPercent: Double
    public var otherPercent: Double
    public var voluntarySwitches: Int
    public var involuntarySwitches: Int
    public var minorFaults: Int

    public init(from a: CPUSample, to b: CPUSample) {
        userSeconds = b.userSeconds - a.userSeconds
        systemSeconds = b.systemSeconds - a.systemSeconds
        voluntarySwitches = b.voluntarySwitches - a.voluntarySwitches
        involuntarySwitches = b.involuntarySwitches - a.involuntarySwitches
        minorFaults = b.minorFaults - a.minorFaults
        let cores = Double(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1))
        hostPercent = b.machineTotal > a.machineTotal
            ? 100 * cores * Double(b.machineBusy - a.machineBusy) / Double(b.machineTotal - a.machineTotal) : 0
        let wall = Double(b.wall - a.wall) / 1e9
        selfPercent = wall > 0 ? 100 * (userSeconds + systemSeconds) / wall : 0
        otherPercent = max(hostPercent - selfPercent, 0)
    }
}

/// Nearest-rank percentile of sorted nanosecond latencies, in microseconds (hraft-bench's `pct`).
public func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(max(Int(p * Double(sorted.count) + 0.5), 0), sorted.count - 1)
    return Double(sorted[index]) / 1e3
}

/// The time now as RFC 3339 in UTC, to the second ("2026-11-21T19:51:02Z").
public func utcTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// The compiler that built this binary, as precisely as conditional compilation can tell.
public let swiftVersion: String = {
    #if compiler(>=6.4)
    return "6.4+"
    #elseif compiler(>=6.3.2)
    return "6.3.2+"
    #elseif compiler(>=6.3.1)
    return "6.3.1"
    #elseif compiler(>=6.3)
    return "6.3"
    #elseif compiler(>=6.2)
    return "6.2"
    #elseif compiler(>=6.1)
    return "6.1"
    #else
    return "6.0"
    #endif
}()

/// Rounds to one decimal, as hraft-bench does for its latencies and rates.
public func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }

/// Rounds to three decimals.
public func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
