// transport-bench: swift-raft's counterpart of the anchor Benchmarks/anchor/pipeline-bench:
// the raw throughput of the TCP NetworkTransport, no Raft.
//
// Two NetworkTransports on 127.0.0.1 in this process. The receiver answers every AppendEntries
// with Success at once. The sender builds a fresh AppendEntriesRequest per RPC (term 7, its own
// address as leader, PrevLogEntry advancing by E, the same E entries of P bytes every time) and
// sends for a warm-up plus a measured window, either
//   pipeline: through appendEntriesPipeline, as fast as it accepts while at most the window
//             (128 requests by default, as hashicorp/raft 1.1.2's) is unanswered: the sending
//             task waits for room as Raft bounds its in-flight appends, each request's completion
//             (on the event loop) records its answer; RPC latency = just before the send call ->
//             the completion;
//   sync:     one appendEntries call at a time, awaiting each (the async convenience over send).
// Counted, as in the anchor: RPCs whose answer arrived inside the measured window. One JSON line
// per mode with the anchor's field names, plus swift_version and a few of our own.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BenchReporting
import NIOCore
import NIOPosix
import Logging
import RaftNetworkTransport
import RaftTLS
import Synchronization
import SwiftRaft

/// Answers every RPC arriving on `transport` at once, the way the anchor's receiver goroutine
/// does: AppendEntries with Success and LastLog = PrevLogEntry + E, anything else with an error.
/// The transport calls the handler on its event loop; it does nothing else, so the benchmark
/// measures the transport, not the receiver.
func serve(_ transport: NetworkTransport) {
    transport.setRPCHandler { rpc in answer(rpc) }
}

/// What every answer shares. A static, not a global: globals of main.swift belong to the main
/// actor.
enum Reply {
    static let header = RPCHeader(protocolVersion: 3)
}

/// The receiver's whole work for one RPC.
@inline(__always)
func answer(_ rpc: RPC) {
    guard case .appendEntries(let request) = rpc.request else {
        rpc.respond(error: RaftError(.invalidArgument, "transport-bench answers AppendEntries only"))
        return
    }
    let lastLog = request.prevLogEntry + UInt64(request.entries.count)
    rpc.respond(.appendEntries(AppendEntriesResponse(header: Reply.header, term: request.term, lastLog: lastLog, success: true)))
}

/// Builds the sender's requests: fresh per RPC, sharing one batch of entries (the anchor shares
/// its `*raft.Log`s the same way; they are only encoded).
struct RequestMaker: Sendable {
    let header = RPCHeader(protocolVersion: 3)
    let leader: ServerAddress
    let batch: [Log]

    init(leader: ServerAddress, entries: Int, payload: Int) {
        self.leader = leader
        let data = (0..<payload).map { UInt8(truncatingIfNeeded: $0) }
        batch = (0..<entries).map { Log(index: 1_000_000 + UInt64($0), term: 7, type: .command, data: data) }
    }

    func request(prev: UInt64) -> AppendEntriesRequest {
        AppendEntriesRequest(
            header: header,
            term: 7,
            leader: leader,
            prevLogEntry: prev,
            prevLogTerm: 7,
            entries: batch,
            leaderCommitIndex: prev
        )
    }
}

/// What the pipeline's completions record, and the sender's window of unanswered requests.
///
/// Completions run on the event loop, in send order; the sending task takes a slot before each
/// send and waits, once `window` are out, until half of them are answered (waking it per answer
/// would cost a thread wake-up per request). One lock, uncontended but for the hand-over.
final class PipelineTally: Sendable {
    private struct State {
        var latencies: [UInt64] = []
        var errors = 0
        var answered = 0
        var inFlight = 0
        var sender: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    private let window: Int

    init(window: Int) {
        self.window = max(window, 1)
        var state = State()
        state.latencies.reserveCapacity(1 << 20)
        self.state = Mutex(state)
    }

    /// Takes a slot for one more request, waiting while the window is full.
    func takeSlot() async {
        let full = state.withLock { state -> Bool in
            guard state.inFlight >= window else {
                state.inFlight += 1
                return false
            }
            return true
        }
        guard full else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.inFlight < window {
                    state.inFlight += 1
                    return true
                }
                state.sender = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Records one answer to a request sent at `start` (ns), answered now.
    func record(start: UInt64, result: Result<AppendEntriesResponse, any Error>, measured: Window) {
        let end = monotonicNanoseconds()
        let success = (try? result.get()) != nil
        let (sender, firstError) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            if success {
                if measured.contains(end) { state.latencies.append(end - start) }
            } else {
                state.errors += 1
            }
            state.answered += 1
            return (release(&state), !success && state.errors == 1)
        }
        if firstError, case .failure(let error) = result {
            writeStandardError("transport-bench: pipeline send: \(error)\n")
        }
        sender?.resume()
    }

    /// Gives back a slot taken and not used.
    func giveBack() {
        let sender = state.withLock { state in release(&state) }
        sender?.resume()
    }

    /// Frees a slot; returns the sender to wake (with its slot taken) once half the window is.
    private func release(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        state.inFlight -= 1
        guard let sender = state.sender, state.inFlight <= window / 2 else { return nil }
        state.sender = nil
        state.inFlight += 1  // the slot the woken sender asked for
        return sender
    }

    var answered: Int { state.withLock { $0.answered } }

    var result: (latencies: [UInt64], errors: Int) { state.withLock { ($0.latencies, $0.errors) } }
}

/// The measured window, in monotonic nanoseconds.
struct Window {
    let start: UInt64
    let end: UInt64

    init(warmup: Double, duration: Double) {
        start = monotonicNanoseconds() + UInt64(warmup * 1e9)
        end = start + UInt64(duration * 1e9)
    }

    func contains(_ time: UInt64) -> Bool { time >= start && time < end }
}

/// What one mode measured.
struct Measurement {
    /// Latencies (ns) of the RPCs answered inside the window, sorted.
    var latencies: [UInt64] = []
    var errors = 0
    var usage: CPUUsage?
    var failure: String?
}

/// The pipeline mode: sends until the window ends, never more than `window` unanswered, then
/// waits for the answers still out before closing the pipeline (the anchor's consumer does the
/// same).
func runPipeline(
    sender: NetworkTransport,
    target: ServerAddress,
    maker: RequestMaker,
    window: Int,
    entries: Int,
    measured: Window
) async -> Measurement {
    var measurement = Measurement()
    let pipeline: any AppendPipeline
    do {
        pipeline = try sender.appendEntriesPipeline(to: Server(id: "recv", address: target))
    } catch {
        measurement.failure = "opening the pipeline: \(error)"
        return measurement
    }
    let tally = PipelineTally(window: window)

    var prev: UInt64 = 0
    var sent = 0
    var before: CPUSample?
    while true {
        await tally.takeSlot()
        let now = monotonicNanoseconds()
        if before == nil && now >= measured.start { before = CPUSample.take() }
        if now >= measured.end {
            tally.giveBack()
            break
        }
        pipeline.appendEntries(maker.request(prev: prev)) { result in
            tally.record(start: now, result: result, measured: measured)
        }
        sent += 1
        prev += UInt64(entries)
    }
    let after = CPUSample.take()
    if let before { measurement.usage = CPUUsage(from: before, to: after) }

    // Every answer still out arrives, or the pipeline's timeout fails it; only then close, so
    // closing does not turn answers in flight into errors.
    let deadline = monotonicNanoseconds() + 15_000_000_000
    while tally.answered < sent && monotonicNanoseconds() < deadline {
        try? await Task.sleep(for: .milliseconds(1))
    }
    pipeline.close()
    let (latencies, errors) = tally.result
    measurement.latencies = latencies
    measurement.errors = errors
    if errors > 0 && latencies.isEmpty { measurement.failure = "every pipelined request failed" }
    return measurement
}

/// The sync mode: one appendEntries call at a time, awaiting each.
func runSync(
    sender: NetworkTransport,
    target: ServerAddress,
    maker: RequestMaker,
    entries: Int,
    measured: Window
) async -> Measurement {
    var measurement = Measurement()
    measurement.latencies.reserveCapacity(1 << 18)
    var prev: UInt64 = 0
    var before: CPUSample?
    while true {
        let now = monotonicNanoseconds()
        if before == nil && now >= measured.start { before = CPUSample.take() }
        if now >= measured.end { break }
        do {
            _ = try await sender.appendEntries(id: "recv", target: target, maker.request(prev: prev))
            let end = monotonicNanoseconds()
            if measured.contains(end) { measurement.latencies.append(end - now) }
        } catch {
            measurement.errors += 1
        }
        prev += UInt64(entries)
    }
    let after = CPUSample.take()
    if let before { measurement.usage = CPUUsage(from: before, to: after) }
    return measurement
}

/// The size of one request on the wire (type byte + msgpack), measured on a throw-away receiver
/// whose connections count their bytes; nil if that failed.
func measureWireBytes(sender: NetworkTransport, request: AppendEntriesRequest, options: NetworkTransport.Options) async -> Int? {
    let received = ByteCount()
    var probeOptions = options
    probeOptions.streamLayer = CountingStreamLayer(received: received)
    guard let probe = try? await NetworkTransport.bind(to: "127.0.0.1:0", options: probeOptions) else { return nil }
    serve(probe)
    let answered = (try? await sender.appendEntries(id: "probe", target: probe.localAddress, request)) != nil
    // The request was read off the socket in full before it could be answered.
    let bytes = received.value
    await probe.close()
    return answered && bytes > 0 ? bytes : nil
}

/// Writes `text` to standard error, unbuffered.
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// Writes one line to standard output now: stdout is a pipe under the compare script, and the
/// line must not wait in a buffer for a teardown that might hang.
func emit(_ json: JSONLine) {
    var line = json.text + "\n"
    line.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
}

/// Exits the process after `seconds`: a wedged teardown must not hang a benchmark script.
func watchdog(seconds: Double, message: String, exitCode: Int32) -> Task<Void, Never> {
    Task.detached {
        do {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        } catch {
            return  // cancelled: the teardown finished
        }
        writeStandardError("transport-bench: \(message)\n")
        exit(exitCode)
    }
}

/// A mutual-TLS layer presenting `directory`/node-`node`.pem and trusting `directory`/ca.pem.
func tlsLayer(_ directory: String, node: Int) async throws -> TLSStreamLayer {
    var logger = Logger(label: "transport-bench.tls")
    logger.logLevel = .warning
    return try await TLSStreamLayer(
        configuration: TLSStreamLayer.Configuration(
            certificateChain: .file("\(directory)/node-\(node).pem"),
            privateKey: .file("\(directory)/node-\(node).key"),
            trustRoots: .file("\(directory)/ca.pem")
        ),
        logger: logger
    )
}

func run(_ options: Options) async -> Int32 {
    let group: MultiThreadedEventLoopGroup? = options.eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
    var transportOptions = NetworkTransport.Options(maxPool: options.maxPool)
    if let group { transportOptions.eventLoopGroup = group }
    if let window = options.pipelineWindow { transportOptions.pipelineWindow = window }

    let receiver: NetworkTransport
    let sender: NetworkTransport
    do {
        var receiverOptions = transportOptions
        var senderOptions = transportOptions
        if let directory = options.tlsDirectory {
            receiverOptions.streamLayer = try await tlsLayer(directory, node: 2)
            senderOptions.streamLayer = try await tlsLayer(directory, node: 1)
        }
        receiver = try await NetworkTransport.bind(to: "127.0.0.1:0", options: receiverOptions)
        sender = try await NetworkTransport.bind(to: "127.0.0.1:0", options: senderOptions)
    } catch {
        writeStandardError("transport-bench: fatal: \(error)\n")
        return 1
    }
    // With --tasks-on-event-loop, the sender's task runs on its transport's own loop (the same
    // loop as the receiver's unless --event-loops gives the group more than one). The receiver
    // needs no task: the transport calls its handler on the loop.
    let executor: (any TaskExecutor)? = options.tasksOnEventLoop ? sender.taskExecutor : nil
    serve(receiver)
    let maker = RequestMaker(leader: sender.localAddress, entries: options.entries, payload: options.payload)
    // The byte-counting probe listens in plaintext, so a TLS sender could not talk to it; over
    // TLS the frames inside are the same bytes anyway.
    let wireBytes = options.tlsDirectory == nil
        ? await measureWireBytes(sender: sender, request: maker.request(prev: 999_999), options: transportOptions) : nil
    let cores = Int(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1))

    var status: Int32 = 0
    for mode in options.modes {
        let timestamp = utcTimestamp()
        let measured = Window(warmup: options.warmup, duration: options.duration)
        // With no preference (nil) this is the global pool, as without the wrapper.
        var result = await withTaskExecutorPreference(executor) {
            if mode == "pipeline" {
                return await runPipeline(
                    sender: sender,
                    target: receiver.localAddress,
                    maker: maker,
                    window: transportOptions.pipelineWindow,
                    entries: options.entries,
                    measured: measured
                )
            } else {
                return await runSync(
                    sender: sender,
                    target: receiver.localAddress,
                    maker: maker,
                    entries: options.entries,
                    measured: measured
                )
            }
        }
        result.latencies.sort()

        let rpcs = result.latencies.count
        let rpcsPerSecond = Double(rpcs) / options.duration
        let entriesPerSecond = rpcsPerSecond * Double(options.entries)
        var json = JSONLine()
        json.add("impl", "swift-raft NetworkTransport")
        json.add("bench", "transport-bench")
        if !options.label.isEmpty { json.add("label", options.label) }
        json.add("tls", options.tlsDirectory != nil)
        json.add("mode", mode)
        json.add("entries_per_rpc", options.entries)
        json.add("payload", options.payload)
        json.add("entries_per_s", round1(entriesPerSecond))
        json.add("rpcs_per_s", round1(rpcsPerSecond))
        json.add("mb_per_s", round3(entriesPerSecond * Double(options.payload) / 1e6))
        if let wireBytes {
            json.add("wire_mb_per_s", round3(rpcsPerSecond * Double(wireBytes) / 1e6))
            json.add("wire_bytes_per_rpc", wireBytes)
        }
        json.add("rpcs", rpcs)
        json.add("rpc_p50_us", round1(percentile(result.latencies, 0.50)))
        json.add("rpc_p99_us", round1(percentile(result.latencies, 0.99)))
        json.add("rpc_p999_us", round1(percentile(result.latencies, 0.999)))
        let sum = result.latencies.reduce(0.0) { $0 + Double($1) }
        json.add("rpc_mean_us", round1(rpcs > 0 ? sum / Double(rpcs) / 1e3 : 0))
        json.add("rpc_max_us", round1(Double(result.latencies.last ?? 0) / 1e3))
        json.add("errors", result.errors)
        json.add("duration_s", options.duration)
        json.add("warmup_s", options.warmup)
        json.add("swift_version", swiftVersion)
        json.add("max_pool", options.maxPool)
        json.add("pipeline_window", transportOptions.pipelineWindow)
        json.add("event_loops", options.eventLoops ?? 1)
        json.add("event_loop_group", group == nil ? "shared-default" : "own")
        json.add("tasks_on_event_loop", options.tasksOnEventLoop)
        json.add("cores", cores)
        if let usage = result.usage {
            let cpuSeconds = usage.userSeconds + usage.systemSeconds
            json.add("host_cpu_pct", round1(usage.hostPercent))
            json.add("self_cpu_pct", round1(usage.selfPercent))
            json.add("other_cpu_pct", round1(usage.otherPercent))
            json.add("cpu_user_s", round3(usage.userSeconds))
            json.add("cpu_sys_s", round3(usage.systemSeconds))
            json.add("cpu_us_per_rpc", round3(rpcs > 0 ? cpuSeconds * 1e6 / Double(rpcs) : 0))
            json.add("cpu_ns_per_entry", round1(rpcs > 0 && options.entries > 0 ? cpuSeconds * 1e9 / Double(rpcs * options.entries) : 0))
            let switches = usage.voluntarySwitches + usage.involuntarySwitches
            json.add("ctx_switches_per_rpc", round3(rpcs > 0 ? Double(switches) / Double(rpcs) : 0))
        }
        if let failure = result.failure {
            json.add("error", failure)
            status = 1
        }
        json.add("ts", timestamp)
        emit(json)
    }

    let teardown = watchdog(seconds: 10, message: "warning: teardown did not finish in 10s; exiting anyway", exitCode: status)
    await sender.close()
    await receiver.close()
    try? await group?.shutdownGracefully()
    teardown.cancel()
    return status
}

let options: Options
do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    if let message = error.message {
        writeStandardError("transport-bench: \(message)\n(transport-bench --help lists the flags)\n")
        exit(2)
    }
    print(Options.usage)
    exit(0)
}
exit(await run(options))
