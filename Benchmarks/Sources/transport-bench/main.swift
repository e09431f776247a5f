// transport-bench: swift-raft's counterpart of the anchor Benchmarks/anchor/pipeline-bench:
// the raw throughput of the TCP NetworkTransport, no Raft.
//
// Two NetworkTransports on 127.0.0.1 in this process. The receiver answers every AppendEntries
// with Success at once. The sender builds a fresh AppendEntriesRequest per RPC (term 7, its own
// address as leader, PrevLogEntry advancing by E, the same E entries of P bytes every time) and
// sends for a warm-up plus a measured window, either
//   pipeline: through appendEntriesPipeline, as fast as it accepts (it suspends while its window,
//             128 requests by default as hashicorp/raft 1.1.2's, is full), a second task reading
//             the answers; RPC latency = just before the send call -> the answer read;
//   sync:     one appendEntries call at a time, awaiting each.
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
import RaftNetworkTransport
import Synchronization
import SwiftRaft

/// Answers every RPC arriving on `transport` at once, the way the anchor's receiver goroutine
/// does: AppendEntries with Success and LastLog = PrevLogEntry + E, anything else with an error.
/// It does nothing else, so the benchmark measures the transport, not the receiver.
func serve(_ transport: NetworkTransport, on executor: (any TaskExecutor)? = nil) -> Task<Void, Never> {
    Task(executorPreference: executor) {
        for await rpc in transport.consumer { answer(rpc) }
    }
}

/// What every answer shares. A static, not a global: globals of main.swift belong to the main
/// actor.
enum Reply {
    static let header = RPCHeader(protocolVersion: 3)
}

/// The receiver's whole work for one RPC.
@inline(__always)
func answer(_ rpc: RPC) {
    guard case .appendEntries(let request) = rpc.command else {
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

/// The send times of pipelined requests, by sequence number, for the task reading the answers.
///
/// `AppendPipelineResult` carries no start time (hashicorp's future has `Start()`), and answers
/// come in send order, so the reader's n-th answer belongs to the n-th send. A ring of relaxed
/// atomics costs no lock on the hot path. It is `@unchecked Sendable` because it owns raw
/// memory; that is safe because slot n is written before request n is sent and read after its
/// answer, and the pipeline's window (smaller than the ring) keeps the sender from reaching
/// request n + capacity before answer n has been read: the transport's own synchronisation
/// between sending and answering orders the write before the read.
final class StartTimes: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Atomic<UInt64>>
    private let capacity: Int

    init(window: Int) {
        var capacity = 1024
        while capacity < 2 * window { capacity *= 2 }
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity { (slots + index).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    func set(_ sequence: Int, _ nanoseconds: UInt64) {
        slots[sequence & (capacity - 1)].store(nanoseconds, ordering: .relaxed)
    }

    func get(_ sequence: Int) -> UInt64 {
        slots[sequence & (capacity - 1)].load(ordering: .relaxed)
    }
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

/// Latencies and errors as the answer-reading task saw them.
struct ReaderTally: Sendable {
    var latencies: [UInt64] = []
    var errors = 0
}

/// The pipeline mode: sends until the window ends, another task reading answers, then waits for
/// the answers still out before closing the pipeline (the anchor's consumer does the same).
func runPipeline(
    sender: NetworkTransport,
    target: ServerAddress,
    maker: RequestMaker,
    window: Int,
    entries: Int,
    measured: Window,
    executor: (any TaskExecutor)?
) async -> Measurement {
    var measurement = Measurement()
    let pipeline: any AppendPipeline
    do {
        pipeline = try await sender.appendEntriesPipeline(id: "recv", target: target)
    } catch {
        measurement.failure = "opening the pipeline: \(error)"
        return measurement
    }
    let starts = StartTimes(window: window)
    let answered = Atomic<Int>(0)
    let reader = Task(executorPreference: executor) {
        var tally = ReaderTally()
        tally.latencies.reserveCapacity(1 << 20)
        var sequence = 0
        for await answer in pipeline.responses {
            let end = monotonicNanoseconds()
            switch answer.result {
            case .success:
                if measured.contains(end) { tally.latencies.append(end - starts.get(sequence)) }
            case .failure:
                tally.errors += 1
            }
            sequence += 1
            answered.store(sequence, ordering: .relaxed)
        }
        return tally
    }

    var prev: UInt64 = 0
    var sent = 0
    var before: CPUSample?
    while true {
        let now = monotonicNanoseconds()
        if before == nil && now >= measured.start { before = CPUSample.take() }
        if now >= measured.end { break }
        starts.set(sent, now)
        do {
            try await pipeline.appendEntries(maker.request(prev: prev))
        } catch {
            writeStandardError("transport-bench: pipeline send: \(error)\n")
            measurement.failure = "pipeline send: \(error)"
            break
        }
        sent += 1
        prev += UInt64(entries)
    }
    let after = CPUSample.take()
    if let before { measurement.usage = CPUUsage(from: before, to: after) }

    // Every answer still out arrives, or the transport's 10 s timeout fails it; only then close,
    // so closing does not turn answers in flight into errors.
    let deadline = monotonicNanoseconds() + 15_000_000_000
    while answered.load(ordering: .relaxed) < sent && monotonicNanoseconds() < deadline && measurement.failure == nil {
        try? await Task.sleep(for: .milliseconds(1))
    }
    await pipeline.close()
    let tally = await reader.value
    measurement.latencies = tally.latencies
    measurement.errors = tally.errors
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
    let server = serve(probe)
    let answered = (try? await sender.appendEntries(id: "probe", target: probe.localAddress, request)) != nil
    // The request was read off the socket in full before it could be answered.
    let bytes = received.value
    await probe.close()
    await server.value
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

func run(_ options: Options) async -> Int32 {
    let group: MultiThreadedEventLoopGroup? = options.eventLoops.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
    var transportOptions = NetworkTransport.Options(maxPool: options.maxPool)
    if let group { transportOptions.eventLoopGroup = group }
    if let window = options.pipelineWindow { transportOptions.pipelineWindow = window }

    let receiver: NetworkTransport
    let sender: NetworkTransport
    do {
        receiver = try await NetworkTransport.bind(to: "127.0.0.1:0", options: transportOptions)
        sender = try await NetworkTransport.bind(to: "127.0.0.1:0", options: transportOptions)
    } catch {
        writeStandardError("transport-bench: fatal: \(error)\n")
        return 1
    }
    // With --tasks-on-event-loop, each side's tasks run on its transport's own loop (the same
    // loop unless --event-loops gives the group more than one).
    let executor: (any TaskExecutor)? = options.tasksOnEventLoop ? sender.taskExecutor : nil
    let server = serve(receiver, on: options.tasksOnEventLoop ? receiver.taskExecutor : nil)
    let maker = RequestMaker(leader: sender.localAddress, entries: options.entries, payload: options.payload)
    let wireBytes = await measureWireBytes(sender: sender, request: maker.request(prev: 999_999), options: transportOptions)
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
                    measured: measured,
                    executor: executor
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
    await server.value
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
