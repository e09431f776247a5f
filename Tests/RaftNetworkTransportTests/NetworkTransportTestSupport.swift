import Logging
import NIOCore
import NIOPosix
@testable import RaftNetworkTransport
import SwiftRaft
import Synchronization
import Testing

// Shared by the NetworkTransport tests: transports on loopback, a stand-in for Raft on the
// receiving side, raw sockets for peers that misbehave, and waits bounded by generous limits so
// a bug fails a test instead of hanging it. Nothing here sleeps to pace a test.

/// How long any single wait may take before the test calls it a hang.
let hangLimit = Duration.seconds(30)

/// Thrown by ``bounded(_:_:_:)`` when its limit passes.
struct HangError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `operation`, failing with ``HangError`` if it takes longer than `limit`. The limit only
/// bounds the wait; nothing is timed.
func bounded<T: Sendable>(
    _ what: String,
    limit: Duration = hangLimit,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw HangError(description: "\(what) did not finish within \(limit)")
        }
        return value
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
func withTransportPair<T: Sendable>(
    client clientOptions: (inout NetworkTransport.Options) -> Void = { _ in },
    server serverOptions: (inout NetworkTransport.Options) -> Void = { _ in },
    _ body: (NetworkTransport, NetworkTransport) async throws -> T
) async throws -> T {
    let client = try await makeTransport(clientOptions)
    let server: NetworkTransport
    do {
        server = try await makeTransport(serverOptions)
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
func answer(to command: RPCCommand, from server: ServerAddress, snapshotBytes: Int = 0) -> RPCResponse {
    switch command {
    case .appendEntries(let request):
        return .appendEntries(answer(to: request, from: server))
    case .requestVote(let request):
        return .requestVote(
            RequestVoteResponse(header: header(server), term: request.term + 1, peers: [1, 2, 3], granted: request.leadershipTransfer)
        )
    case .requestPreVote(let request):
        return .requestPreVote(RequestPreVoteResponse(header: header(server), term: request.term + 2, granted: true))
    case .installSnapshot(let request, _):
        return .installSnapshot(
            InstallSnapshotResponse(header: RPCHeader(protocolVersion: 0), term: request.term + UInt64(snapshotBytes), success: true)
        )
    case .timeoutNow:
        return .timeoutNow(TimeoutNowResponse(header: header(server)))
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

/// Stands in for Raft on a transport: records what arrives and answers as told.
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
        var received: [RPCCommand] = []
        var held: [RPC] = []
        var snapshots: [[UInt8]?] = []
        var finished = false
        var waiters: [(condition: @Sendable (State) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let transport: NetworkTransport
    private let state: Mutex<State>
    private let reader = ThreadExecutor(name: "test-server-snapshot-reader")

    init(_ transport: NetworkTransport, _ mode: Mode = .answer) {
        self.transport = transport
        self.state = Mutex(State(mode: mode))
        Task { await self.run() }
    }

    deinit { reader.shutdown() }

    private func run() async {
        for await rpc in transport.consumer {
            var snapshot: [UInt8]?
            if case .installSnapshot(_, let data) = rpc.command {
                snapshot = try? await Task(executorPreference: reader) { try data.readAll() }.value
            }
            let (mode, wake) = update { state -> Mode in
                state.received.append(rpc.command)
                if case .installSnapshot = rpc.command { state.snapshots.append(snapshot) }
                if case .hold = state.mode { state.held.append(rpc) }
                return state.mode
            }
            for waiter in wake { waiter.resume() }
            switch mode {
            case .answer: rpc.respond(answer(to: rpc.command, from: transport.localAddress, snapshotBytes: snapshot?.count ?? 0))
            case .hold: break
            case .refuse(let text): rpc.respond(error: TextError(text: text))
            }
        }
        let wake = update { $0.finished = true }.1
        for waiter in wake { waiter.resume() }
    }

    /// Every request received so far, in arrival order.
    var received: [RPCCommand] { state.withLock { $0.received } }

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
        for rpc in held { rpc.respond(answer(to: rpc.command, from: transport.localAddress)) }
    }

    /// Returns once `count` requests have arrived.
    func waitUntilReceived(_ count: Int) async throws {
        try await waitUntil("\(count) requests arriving") { $0.received.count >= count }
    }

    /// Returns once the consumer has finished.
    func waitUntilFinished() async throws {
        try await waitUntil("the consumer finishing") { $0.finished }
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

// MARK: Raw sockets

/// A TCP peer that speaks whatever bytes a test gives it, to play a misbehaving or old peer.
final class RawPeer: Sendable {
    let channel: any Channel
    private let box: RawBytes

    private init(channel: any Channel, box: RawBytes) {
        self.channel = channel
        self.box = box
    }

    /// Connects to `address`.
    static func connect(to address: ServerAddress) async throws -> RawPeer {
        let target = try HostAndPort(parsing: address)
        let box = RawBytes()
        let channel = try await ClientBootstrap(group: NetworkTransport.sharedEventLoopGroup)
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
func requestFrame(_ request: WireRequest) -> [UInt8] {
    var buffer = ByteBuffer()
    WireEncoder().encodeRequest(request, into: &buffer)
    return Array(buffer.readableBytesView)
}

/// The bytes of a response frame.
func responseFrame(_ response: WireResponse) -> [UInt8] {
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
