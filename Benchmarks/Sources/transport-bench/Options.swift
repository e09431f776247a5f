#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// transport-bench's command line: the anchor pipeline-bench's flags (same names, same defaults),
/// plus the few knobs that only the Swift transport has.
struct Options {
    var entries = 64
    var payload = 128
    /// Measured seconds per mode.
    var duration = 5.0
    /// Warm-up seconds per mode: load on, not measured.
    var warmup = 1.0
    /// "pipeline", "sync" or "both" (pipeline first, then sync, on the same two transports).
    var mode = "both"
    var maxPool = 3
    /// Threads of a NIO event loop group made for this run and shared by both transports; nil
    /// keeps the transport's default (``NetworkTransport/sharedEventLoopGroup``, one thread).
    var eventLoops: Int?
    /// The pipeline's window in requests; nil keeps the transport's default (128, as
    /// hashicorp/raft 1.1.2).
    var pipelineWindow: Int?
    /// An experiment, not the anchor's shape: the sender's and the receiver's tasks prefer the
    /// transports' event loop as their executor (Swift's task executor preference) instead of
    /// Swift's global pool, so a request and its answer can go round without waking a thread.
    var tasksOnEventLoop = false
    var label = ""

    static let usage = """
        usage: transport-bench [--mode pipeline|sync|both] [--entries 64] [--payload 128]
                               [--duration 5] [--warmup 1] [--max-pool 3]
                               [--event-loops N] [--pipeline-window N]
                               [--tasks-on-event-loop true] [--label TEXT]

        Two swift-raft NetworkTransports on 127.0.0.1 in this process; the receiver answers
        every AppendEntries with Success at once. The sender sends AppendEntries of --entries
        entries of --payload bytes for --warmup plus --duration seconds, through
        appendEntriesPipeline (pipeline) or one appendEntries call at a time (sync). Prints one
        JSON line per mode with the field names of shared/anchors/hashicorp-bench's
        pipeline-bench. --event-loops gives both transports an event loop group of N threads
        (default: the transport's shared one-thread group). --pipeline-window overrides the
        transport's window (default 128). --tasks-on-event-loop runs the sender's and the
        receiver's tasks on the (first) event loop instead of Swift's global pool: an experiment
        measuring what the thread hops between the two cost. Durations are seconds ("5", "0.5") or Go units
        ("5s", "500ms"). Flags may be written --flag value or --flag=value.
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "-h" || argument == "--help" || argument == "-help" { throw UsageError(nil) }
            guard argument.hasPrefix("-") else { throw UsageError("unexpected argument \(argument)") }
            var name = String(argument.drop(while: { $0 == "-" }))
            let value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard let next = remaining.popFirst() else { throw UsageError("flag --\(name) needs a value") }
                value = next
            }
            switch name {
            case "entries": options.entries = try integer(value, name, minimum: 0)
            case "payload": options.payload = try integer(value, name, minimum: 0)
            case "duration": options.duration = try seconds(value, name)
            case "warmup": options.warmup = try seconds(value, name, allowZero: true)
            case "mode":
                guard ["pipeline", "sync", "both"].contains(value) else {
                    throw UsageError("--mode must be pipeline, sync or both, got \(value)")
                }
                options.mode = value
            case "max-pool": options.maxPool = try integer(value, name, minimum: 0)
            case "event-loops": options.eventLoops = try integer(value, name, minimum: 1)
            case "pipeline-window": options.pipelineWindow = try integer(value, name, minimum: 1)
            case "tasks-on-event-loop":
                guard let flag = Bool(value) else { throw UsageError("--tasks-on-event-loop takes true or false") }
                options.tasksOnEventLoop = flag
            case "label": options.label = value
            default: throw UsageError("unknown flag --\(name)")
            }
        }
        return options
    }

    /// The modes to run, in order.
    var modes: [String] { mode == "both" ? ["pipeline", "sync"] : [mode] }

    private static func integer(_ text: String, _ name: String, minimum: Int) throws(UsageError) -> Int {
        guard let value = Int(text), value >= minimum else {
            throw UsageError("--\(name) needs an integer of at least \(minimum), got \(text)")
        }
        return value
    }

    /// Bare seconds ("5", "0.5") or one number with a Go unit ("5s", "500ms").
    private static func seconds(_ text: String, _ name: String, allowZero: Bool = false) throws(UsageError) -> Double {
        var value = Double(text)
        if value == nil {
            let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1), ("m", 60)]
            for (unit, scale) in units where text.hasSuffix(unit) {
                if let number = Double(text.dropLast(unit.count)) {
                    value = number * scale
                    break
                }
            }
        }
        guard let value, value.isFinite, value > 0 || (allowZero && value == 0) else {
            throw UsageError("--\(name) needs \(allowZero ? "zero or more" : "a positive number of") seconds, got \(text)")
        }
        return value
    }
}

/// A command-line mistake; a nil message asks for the usage text alone.
struct UsageError: Error {
    var message: String?
    init(_ message: String?) { self.message = message }
}
