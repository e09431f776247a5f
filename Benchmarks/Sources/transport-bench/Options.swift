#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchReporting

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
    /// The sender's task prefers its transport's ``NetworkTransport/taskExecutor`` (its event
    /// loop) instead of Swift's global pool, so a request and its answer go round without waking
    /// a thread: how the transport's documentation advises running an `async` caller that makes
    /// one RPC at a time. (The receiver's handler runs on its loop either way.)
    var tasksOnEventLoop = false
    /// A directory with ca.pem, node-1.pem/.key and node-2.pem/.key (what
    /// scripts/make-test-certificates.sh writes): both transports then run over mutual TLS
    /// (RaftTLS), the sender as node-1 and the receiver as node-2.
    var tlsDirectory: String?
    var label = ""

    static let usage = """
        usage: transport-bench [--mode pipeline|sync|both] [--entries 64] [--payload 128]
                               [--duration 5] [--warmup 1] [--max-pool 3]
                               [--event-loops N] [--pipeline-window N]
                               [--tasks-on-event-loop true] [--tls DIR] [--label TEXT]

        Two swift-raft NetworkTransports on 127.0.0.1 in this process; the receiver answers
        every AppendEntries with Success at once. The sender sends AppendEntries of --entries
        entries of --payload bytes for --warmup plus --duration seconds, through
        appendEntriesPipeline (pipeline) or one appendEntries call at a time (sync). Prints one
        JSON line per mode with the field names of the anchor's pipeline-bench
        (Benchmarks/anchor/pipeline-bench). --event-loops gives both transports an event loop group of N threads
        (default: the transport's shared one-thread group). --pipeline-window overrides the
        transport's window (default 128). --tasks-on-event-loop true runs the sender's task on its
        transport's taskExecutor (its event loop) instead of Swift's global pool, removing the
        thread hand-offs between it and the loop (the receiver's handler always runs on the loop).
        --tls DIR runs both transports over mutual TLS with the certificates in DIR (ca.pem,
        node-1.pem/.key, node-2.pem/.key, as scripts/make-test-certificates.sh DIR writes them). Durations are seconds ("5", "0.5") or Go units
        ("5s", "500ms"). Flags may be written --flag value or --flag=value.
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        for (name, value) in try CommandLineFlags.split(arguments) {
            switch name {
            case "entries": options.entries = try CommandLineFlags.integer(value, name, minimum: 0)
            case "payload": options.payload = try CommandLineFlags.integer(value, name, minimum: 0)
            case "duration": options.duration = try CommandLineFlags.seconds(value, name)
            case "warmup": options.warmup = try CommandLineFlags.seconds(value, name, allowZero: true)
            case "mode":
                guard ["pipeline", "sync", "both"].contains(value) else {
                    throw UsageError("--mode must be pipeline, sync or both, got \(value)")
                }
                options.mode = value
            case "max-pool": options.maxPool = try CommandLineFlags.integer(value, name, minimum: 0)
            case "event-loops": options.eventLoops = try CommandLineFlags.integer(value, name, minimum: 1)
            case "pipeline-window": options.pipelineWindow = try CommandLineFlags.integer(value, name, minimum: 1)
            case "tasks-on-event-loop":
                guard let flag = Bool(value) else { throw UsageError("--tasks-on-event-loop takes true or false") }
                options.tasksOnEventLoop = flag
            case "tls": options.tlsDirectory = value
            case "label": options.label = value
            default: throw UsageError("unknown flag --\(name)")
            }
        }
        return options
    }

    /// The modes to run, in order.
    var modes: [String] { mode == "both" ? ["pipeline", "sync"] : [mode] }
}
