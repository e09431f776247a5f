import Logging
import NIOCore
import NIOPosix
@testable import RaftNetworkTransport
import SwiftRaft
import Synchronization
import Testing

// Shared by the NetworkTransport tests: transports on loopback, a stand-in for Raft on the
// receiving side, a recorder of completions, raw sockets for peers that misbehave, and waits
// bounded by generous limits so a bug fails a test instead of hanging it. Nothing here sleeps
// to pace a test.

/// How long any single wait may take before the test calls it a hang.
let hangLimit = Duration.seconds(30)

/// Thrown by ``bounded(_:_:_:)`` when its limit passes.
struct HangError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `operation`, failing with ``HangError`` if it takes longer than `limit`. The limit only
/// bounds the wait; nothing is timed. On a hang the operation is cancelled but not waited for:
/// a wait that ignores cancellation (a NIO future, a continuation) must fail the test, not hang
/// it.
func bounded<T: Sendable>(
    _ what: String,
    limit: Duration = hangLimit,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = FirstOutcome<T>()
    return try await withCheckedThrowingContinuation { continuation in
        outcome.wait(continuation)
        let work = Task {
            do { outcome.settle(.success(try await operation())) } catch { outcome.settle(.failure(error)) }
        }
        let watchdog = Task {
            try? await Task.sleep(for: limit)
            if outcome.settle(.failure(HangError(description: "\(what) did not finish within \(limit)"))) { work.cancel() }
        }
        outcome.onSettle { watchdog.cancel() }
    }
}

/// The first outcome of several racing ones, for one waiter.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Value, any Error>?
        var result: Result<Value, any Error>?
        var onSettle: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<Value, any Error>) {
        state.withLock { $0.waiter = continuation }
    }

    /// Runs `action` once settled (now, if already).
    func onSettle(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.result != nil { return true }
            state.onSettle = action
            return false
        }
        if now { action() }
    }

    /// Records `result` unless another came first; returns whether it was the first.
    @discardableResult
    func settle(_ result: Result<Value, any Error>) -> Bool {
        let settled = state.withLock { state -> (CheckedContinuation<Value, any Error>?, (@Sendable () -> Void)?)? in
            guard state.result == nil else { return nil }
            state.result = result
            defer {
                state.waiter = nil
                state.onSettle = nil
            }
            return (state.waiter, state.onSettle)
        }
        guard let (waiter, action) = settled else { return false }
        waiter?.resume(with: result)
        action?()
        return true
    }
}

/// The `RaftError` code `operation` throws, or nil if it returns.
func raftErrorCode(_ operation: @escaping @Sendable () async throws -> Void) async throws -> RaftError.Code? {
    do {
        try await bounded("a call expected to fail") { try await operation() }
        return nil
    } catch let error as RaftError {
        return error.code
    } catch let error as HangError {
        throw error
    } catch {
        Issue.record("expected a RaftError, got \(error)")
        return nil
    }
}

/// Options for tests: a quiet logger and the given changes.
func testOptions(_ change: (inout NetworkTransport.Options) -> Void = { _ in }) -> NetworkTransport.Options {
    var options = NetworkTransport.Options(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    change(&options)
    return options
}

/// A transport listening on a free loopback port.
func makeTransport(_ change: (inout NetworkTransport.Options) -> Void = { _ in }) async throws -> NetworkTransport {
    try await NetworkTransport.bind(to: "127.0.0.1:0", options: testOptions(change))
}

/// Runs `body` with a client and a server transport, closing both afterwards.
///
/// The pair runs on an event loop of its own, not the process-wide one transports share by
/// default: a full test run drives dozens of pairs at once, and on one shared thread a test that
/// floods its server (the live fuzz test opens thousands of connections) delayed other tests'
/// answers past their 10 s timeouts.
func withTransportPair<T: Sendable>(
    client clientOptions: (inout NetworkTransport.Options) -> Void = { _ in },
    server serverOptions: (inout NetworkTransport.Options) -> Void = { _ in },
    _ body: (NetworkTransport, NetworkTransport) async throws -> T
) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { group.shutdownGracefully { _ in } }
    let client = try await makeTransport { options in
        options.eventLoopGroup = group
        // The client never reaps idle connections unless a test asks for it: tests count dials,
        // and on a loaded machine more than the default 5 s of idleness can pass between two
        // calls (the malformed-input tests dialed twice at load 28), redialing for no reason a
        // test is about.
        options.maxIdleTime = nil
        clientOptions(&options)
    }
    let server: NetworkTransport
    do {
        server = try await makeTransport { options in
            options.eventLoopGroup = group
            serverOptions(&options)
        }
    } catch {
        await client.close()
        throw error
    }
    do {
        let result = try await body(client, server)
        await client.close()
        await server.close()
        return result
    } catch {
        await client.close()
        await server.close()
        throw error
    }
}

// MARK: Requests and answers

/// A full header from `address`.
func header(_ address: ServerAddress) -> RPCHeader {
    RPCHeader(protocolVersion: 3, id: ServerID("id-\(address.rawValue)"), address: address)
}

/// An AppendEntries numbered `number` (its prevLogEntry), with `count` entries of `size` bytes.
func numberedAppend(_ number: UInt64, from leader: ServerAddress, entries count: Int = 2, size: Int = 16) -> AppendEntriesRequest {
    AppendEntriesRequest(
        header: header(leader),
        term: 7,
        leader: leader,
        prevLogEntry: number,
        prevLogTerm: 6,
        entries: (0..<count).map { offset in
            Log(
                index: number + 1 + UInt64(offset),
                term: 7,
                type: .command,
                data: ArraySlice((0..<size).map { UInt8(truncatingIfNeeded: Int(number) &+ $0 &+ offset) })
            )
        },
        leaderCommitIndex: number
    )
}

/// The answer the test server gives to `request`: derived from it, so each caller can tell its
/// own answer from any other.
func answer(to request: AppendEntriesRequest, from server: ServerAddress) -> AppendEntriesResponse {
    AppendEntriesResponse(
        header: header(server),
        term: request.term,
        lastLog: request.prevLogEntry &+ UInt64(request.entries.count),
        success: true,
        noRetryBackoff: request.prevLogEntry.isMultiple(of: 2)
    )
}

/// The test server's answer to any RPC.
func answer(to request: RaftRequest, from server: ServerAddress, snapshotBytes: Int = 0) -> RaftResponse {
    switch request {
    case .appendEntries(let request):
        return .appendEntries(answer(to: request, from: server))
    case .requestVote(let request):
        return .requestVote(
            RequestVoteResponse(header: header(server), term: request.term + 1, peers: [1, 2, 3], granted: request.leadershipTransfer)
        )
    case .requestPreVote(let request):
        return .requestPreVote(RequestPreVoteResponse(header: header(server), term: request.term + 2, granted: true))
    case .installSnapshot(let request):
        return .installSnapshot(
            InstallSnapshotResponse(header: RPCHeader(protocolVersion: 0), term: request.term + UInt64(snapshotBytes), success: true)
        )
    case .timeoutNow:
        return .timeoutNow(TimeoutNowResponse(header: header(server)))
    case .readIndex(let request):
        return .readIndex(ReadIndexResponse(header: header(server), term: request.term + 1, readIndex: request.term + 40))
    }
}

/// Snapshot bytes without a short period, so misplaced or missing bytes show.
func snapshotBytes(_ count: Int) -> [UInt8] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

/// Snapshot data handed out in pieces of at most `chunk` bytes.
final class ByteSource: SnapshotSource {
    private let bytes: [UInt8]
    private let chunk: Int
    private let offset = Mutex(0)

    init(_ bytes: [UInt8], chunk: Int = 100_000) {
        self.bytes = bytes
        self.chunk = chunk
    }

    func read(maxLength: Int) throws -> [UInt8] {
        offset.withLock { offset in
            let end = min(bytes.count, offset + min(maxLength, chunk))
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    func close() {}
}

// MARK: The receiving side

/// The RPCs arriving at `transport`, through an RPC handler this installs, which only queues
/// them, as Raft's does. The stream finishes once the transport drops the handler: when it is
/// closed, or another handler replaces this one. (A free function rather than a method, so it
/// cannot clash with the `incomingRPCs()` the test kit is to gain.)
func incomingRPCs(of transport: any Transport) -> AsyncStream<RPC> {
    let (stream, continuation) = AsyncStream.makeStream(of: RPC.self)
    let finisher = StreamFinisher(continuation)
    transport.setRPCHandler { rpc in
        if case .terminated = finisher.continuation.yield(rpc) {
            rpc.snapshotData?.close()
            rpc.respond(error: RaftError.shutdown)
        }
    }
    return stream
}

/// Finishes a stream when the handler capturing it is released.
private final class StreamFinisher: Sendable {
    let continuation: AsyncStream<RPC>.Continuation
    init(_ continuation: AsyncStream<RPC>.Continuation) { self.continuation = continuation }
    deinit { continuation.finish() }
}

/// Records the completions of requests numbered 0, 1, 2, … as they are called: in which order,
/// how often, and whether on an event loop thread, so tests can check each is called exactly
/// once, in send order, from the loop.
final class CompletionRecorder<Response: Sendable>: Sendable {
    private struct State {
        var results: [(index: Int, result: Result<Response, any Error>)] = []
        var offLoop = 0
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    private let eventLoop: (any EventLoop)?

    /// Records completions; with `eventLoop`, counts those not called on it.
    init(eventLoop: (any EventLoop)? = nil) {
        self.eventLoop = eventLoop
    }

    /// The completion for request `index`.
    func completion(_ index: Int) -> @Sendable (Result<Response, any Error>) -> Void {
        { result in self.record(index, result) }
    }

    private func record(_ index: Int, _ result: Result<Response, any Error>) {
        let onLoop = eventLoop?.inEventLoop ?? true
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.results.append((index, result))
            if !onLoop { state.offLoop += 1 }
            let count = state.results.count
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard count >= waiter.count else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for waiter in ready { waiter.resume() }
    }

    /// Every completion so far, in the order they were called.
    var results: [(index: Int, result: Result<Response, any Error>)] { state.withLock { $0.results } }

    /// The request numbers, in the order their completions were called.
    var order: [Int] { results.map(\.index) }

    /// How many completions were called off the event loop.
    var offLoop: Int { state.withLock { $0.offLoop } }

    /// The `RaftError` codes of the completions so far, nil for a success or another error.
    var codes: [RaftError.Code?] {
        results.map { entry in
            if case .failure(let error) = entry.result { return (error as? RaftError)?.code }
            return nil
        }
    }

    /// Returns once `count` completions have been called, and returns them all.
    func wait(for count: Int) async throws -> [(index: Int, result: Result<Response, any Error>)] {
        try await bounded("\(count) completions") {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state in
                    if state.results.count >= count { return true }
                    state.waiters.append((count, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }
        return results
    }
}

/// Stands in for Raft on a transport: installs the RPC handler, records what arrives and answers
/// as told.
final class TestServer: Sendable {
    enum Mode: Sendable {
        /// Answers every RPC at once (reading a snapshot's data first).
        case answer
        /// Keeps every RPC unanswered until ``release()``.
        case hold
        /// Answers with an error carrying this text.
        case refuse(String)
    }

    private struct State {
        var mode: Mode
        var received: [RaftRequest] = []
        var held: [RPC] = []
        var snapshots: [[UInt8]?] = []
        var finished = false
        var waiters: [(condition: @Sendable (State) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let transport: NetworkTransport
    private let state: Mutex<State>
    /// The server's own thread: it takes the RPCs and reads snapshot data there.
    private let reader = ThreadExecutor(name: "test-server")

    init(_ transport: NetworkTransport, _ mode: Mode = .answer) {
        self.transport = transport
        self.state = Mutex(State(mode: mode))
        // Installed before init returns, so no request a test sends next finds it missing.
        let rpcs = incomingRPCs(of: transport)
        // Off the cooperative pool: in a full test run its two threads are shared with hundreds
        // of tests, and a server answering from there once left a 10 s AppendEntries unanswered
        // while CPU-heavy simulations filled the machine. A server of its own answers like a
        // peer process would, whatever the pool is doing.
        Task(executorPreference: reader) { await self.run(rpcs) }
    }

    deinit { reader.shutdown() }

    /// Takes the RPCs one at a time, as Raft's node does, so a snapshot's data is read before
    /// the next request is looked at.
    private func run(_ rpcs: AsyncStream<RPC>) async {
        for await rpc in rpcs {
            var snapshot: [UInt8]?
            if let data = rpc.snapshotData {
                snapshot = try? await Task(executorPreference: reader) { try data.readAll() }.value
                data.close()
            }
            let (mode, wake) = update { state -> Mode in
                state.received.append(rpc.request)
                if case .installSnapshot = rpc.request { state.snapshots.append(snapshot) }
                if case .hold = state.mode { state.held.append(rpc) }
                return state.mode
            }
            for waiter in wake { waiter.resume() }
            switch mode {
            case .answer: rpc.respond(answer(to: rpc.request, from: transport.localAddress, snapshotBytes: snapshot?.count ?? 0))
            case .hold: break
            case .refuse(let text): rpc.respond(error: TextError(text: text))
            }
        }
        let wake = update { $0.finished = true }.1
        for waiter in wake { waiter.resume() }
    }

    /// Every request received so far, in arrival order.
    var received: [RaftRequest] { state.withLock { $0.received } }

    /// The data of every snapshot received, as read (nil where reading failed).
    var snapshots: [[UInt8]?] { state.withLock { $0.snapshots } }

    /// The RPCs held so far.
    var held: [RPC] { state.withLock { $0.held } }

    func setMode(_ mode: Mode) { state.withLock { $0.mode = mode } }

    /// Answers everything held, in arrival order, and every later RPC at once.
    func release() {
        let held = state.withLock { state -> [RPC] in
            state.mode = .answer
            defer { state.held = [] }
            return state.held
        }
        for rpc in held { rpc.respond(answer(to: rpc.request, from: transport.localAddress)) }
    }

    /// Returns once `count` requests have arrived.
    func waitUntilReceived(_ count: Int) async throws {
        try await waitUntil("\(count) requests arriving") { $0.received.count >= count }
    }

    /// Returns once its stream of RPCs has finished: the transport dropped its handler.
    func waitUntilFinished() async throws {
        try await waitUntil("the transport dropping the RPC handler") { $0.finished }
    }

    private func waitUntil(_ what: String, _ condition: @escaping @Sendable (State) -> Bool) async throws {
        try await bounded(what) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state in
                    if condition(state) { return true }
                    state.waiters.append((condition, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    private func update<T>(_ body: (inout State) -> T) -> (T, [CheckedContinuation<Void, Never>]) {
        state.withLock { state in
            let result = body(&state)
            var wake: [CheckedContinuation<Void, Never>] = []
            let snapshot = state
            state.waiters.removeAll { waiter in
                guard waiter.condition(snapshot) else { return false }
                wake.append(waiter.continuation)
                return true
            }
            return (result, wake)
        }
    }
}

/// An error whose description is exactly its text.
struct TextError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}

// MARK: Dialing

/// TCP whose dials can be held back until a test lets them go, to see what a transport does
/// while it is still connecting.
final class GatedStreamLayer: StreamLayer {
    private let tcp = TCPStreamLayer()
    private struct State {
        var holding = false
        var held: [CheckedContinuation<Void, Never>] = []
        var heldWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Dials from now on wait for ``releaseDials()``.
    func holdDials() { state.withLock { $0.holding = true } }

    /// Lets every held dial, and later ones, go on.
    func releaseDials() {
        let held = state.withLock { state in
            state.holding = false
            defer { state.held = [] }
            return state.held
        }
        for dial in held { dial.resume() }
    }

    /// Returns once a dial is being held.
    func waitForHeldDial() async throws {
        try await bounded("a dial being held") {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state in
                    if !state.held.isEmpty { return true }
                    state.heldWaiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    func listen(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        try await tcp.listen(host: host, port: port, group: group, childChannelInitializer: childChannelInitializer)
    }

    func dial(
        host: String,
        port: Int,
        timeout: TimeAmount,
        eventLoop: any EventLoop,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (go, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                guard state.holding else { return (true, []) }
                state.held.append(continuation)
                defer { state.heldWaiters = [] }
                return (false, state.heldWaiters)
            }
            for waiter in waiters { waiter.resume() }
            if go { continuation.resume() }
        }
        return try await tcp.dial(host: host, port: port, timeout: timeout, eventLoop: eventLoop, channelInitializer: channelInitializer)
    }
}

// MARK: Raw sockets

/// A TCP peer that speaks whatever bytes a test gives it, to play a misbehaving or old peer.
final class RawPeer: Sendable {
    let channel: any Channel
    private let box: RawBytes

    private init(channel: any Channel, box: RawBytes) {
        self.channel = channel
        self.box = box
    }

    /// Connects to `address`, on `group` (the process-wide loop unless told otherwise).
    static func connect(to address: ServerAddress, on group: any EventLoopGroup = NetworkTransport.sharedEventLoopGroup) async throws -> RawPeer {
        let target = try HostAndPort(parsing: address)
        let box = RawBytes()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawCollector(box: box))
                }
            }
            .connect(host: target.host, port: target.port)
            .get()
        return RawPeer(channel: channel, box: box)
    }

    /// Sends `bytes`.
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Returns once the other side has closed the connection.
    func waitUntilClosed() async throws {
        let channel = self.channel
        try await bounded("the peer closing the connection") { try await channel.closeFuture.get() }
    }

    /// Returns once at least `count` bytes have arrived, and returns them all.
    func waitForBytes(_ count: Int) async throws -> [UInt8] {
        let box = self.box
        return try await bounded("\(count) bytes arriving") { await box.wait(for: count) }
    }

    func close() async {
        try? await channel.close()
    }
}

/// What a ``RawPeer`` has received, and who waits for it.
final class RawBytes: Sendable {
    private let state = Mutex<(bytes: [UInt8], waiters: [(Int, CheckedContinuation<[UInt8], Never>)])>(([], []))

    func append(_ buffer: ByteBuffer) {
        let ready = state.withLock { state -> [(CheckedContinuation<[UInt8], Never>, [UInt8])] in
            state.bytes.append(contentsOf: buffer.readableBytesView)
            let bytes = state.bytes
            var ready: [(CheckedContinuation<[UInt8], Never>, [UInt8])] = []
            state.waiters.removeAll { waiter in
                guard bytes.count >= waiter.0 else { return false }
                ready.append((waiter.1, bytes))
                return true
            }
            return ready
        }
        for (continuation, bytes) in ready { continuation.resume(returning: bytes) }
    }

    func wait(for count: Int) async -> [UInt8] {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> [UInt8]? in
                if state.bytes.count >= count { return state.bytes }
                state.waiters.append((count, continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

private final class RawCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let box: RawBytes
    init(box: RawBytes) { self.box = box }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        box.append(unwrapInboundIn(data))
    }
}

/// A listener that plays an old or broken server: each connection gets a fresh handler from
/// `behaviour`.
final class RawServer: Sendable {
    let channel: any Channel
    let address: ServerAddress
    private let counter: EventCounter

    init(_ behaviour: @escaping @Sendable () -> any ChannelInboundHandler & Sendable) async throws {
        let counter = EventCounter()
        channel = try await ServerBootstrap(group: NetworkTransport.sharedEventLoopGroup)
            .childChannelInitializer { channel in
                counter.increment()
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(behaviour())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        address = ServerAddress("127.0.0.1:\(channel.localAddress?.port ?? 0)")
        self.counter = counter
    }

    /// How many connections it accepted.
    var acceptedConnections: Int { counter.value }

    func close() async {
        try? await channel.close()
    }
}

final class EventCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Reads the type byte of the first request, and closes the connection if it is `type`, as
/// hashicorp/raft before 1.7 does for RequestPreVote (type 4); otherwise never answers.
final class CloseOnType: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let type: UInt8
    init(_ type: UInt8) { self.type = type }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == type {
            context.close(promise: nil)
        }
    }
}

/// Reads everything and answers nothing.
final class NeverAnswer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// The bytes of a request frame, as a hashicorp/raft client sends them.
func requestFrame(_ request: RaftRequest) -> [UInt8] {
    var buffer = ByteBuffer()
    WireEncoder().encodeRequest(request, into: &buffer)
    return Array(buffer.readableBytesView)
}

/// The bytes of a response frame.
func responseFrame(_ response: RaftResponse) -> [UInt8] {
    var buffer = ByteBuffer()
    WireEncoder().encodeResponse(response, into: &buffer)
    return Array(buffer.readableBytesView)
}

// MARK: Logs

/// Keeps every log message, so tests can check what the transport reported.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func record(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// A logger that records here.
    var logger: Logger {
        Logger(label: "captured") { _ in CapturingLogHandler(logs: self) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged: [String: String] = [:]
        for (key, value) in metadata { merged[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
        logs.record(CapturedLogs.Entry(level: event.level, message: "\(event.message)", metadata: merged))
    }
}
