import RaftTestKit
import SwiftRaft
import Synchronization

// Shared by the InmemTransport tests: requests told apart by a number, a stand-in for Raft on the
// receiving side, a recorder of completions that tests can wait on, and a clock that counts the
// timers set on it. Nothing here sleeps: the in-memory transport hands a request to the peer's
// handler before `send` returns (unless a fault delays it), and whatever must wait for time to
// pass runs on the simulator's virtual clock, which moves only when nothing else can run.

func header(_ server: ServerAddress) -> RPCHeader {
    RPCHeader(id: ServerID(server.rawValue), address: server)
}

/// The server at `address`, with its address as its ID.
func server(_ address: ServerAddress) -> Server {
    Server(id: ServerID(address.rawValue), address: address)
}

/// An AppendEntries request told apart from others by `number`, carried as its previous index.
func append(_ number: UInt64, from leader: ServerAddress = "a") -> AppendEntriesRequest {
    AppendEntriesRequest(
        header: header(leader),
        term: 7,
        leader: leader,
        prevLogEntry: number,
        prevLogTerm: 7,
        leaderCommitIndex: number
    )
}

/// A RequestVote told apart from others by its term.
func vote(_ term: UInt64, from candidate: ServerAddress = "a") -> RequestVoteRequest {
    RequestVoteRequest(header: header(candidate), term: term, candidate: candidate, lastLogIndex: 0, lastLogTerm: 0)
}

/// Snapshot bytes to send.
final class BytesSource: SnapshotSource {
    private let remaining: Mutex<[UInt8]>

    init(_ text: String) { remaining = Mutex(Array(text.utf8)) }

    func read(maxLength: Int) throws -> [UInt8] {
        remaining.withLock { bytes in
            let chunk = Array(bytes.prefix(maxLength))
            bytes.removeFirst(chunk.count)
            return chunk
        }
    }

    func close() {}
}

struct NotARaftError: Error {}

/// Connects every pair of `transports`, both ways.
func mesh(_ transports: InmemTransport...) {
    for from in transports {
        for to in transports where to !== from { from.connect(to) }
    }
}

/// Stands in for Raft on one transport: installed as its RPC handler, it records what arrived,
/// in order, and answers as a cooperative server would, holds RPCs unanswered, or fails them.
final class Peer: Sendable {
    enum Behavior: Sendable {
        /// Answers every RPC inside the handler.
        case answer
        /// Holds every RPC until ``Peer/takeHeld()``.
        case hold
        /// Holds the first RPC and answers every later one.
        case holdFirst
        /// Fails every RPC with this error.
        case fail(any Error)
    }

    private struct State {
        var behavior: Behavior
        var received: [String] = []
        var held: [(RPC, RaftResponse)] = []
    }

    /// The address it answers as; not the transport, which holds the handler and so this peer.
    let address: ServerAddress
    private let state: Mutex<State>

    init(_ transport: InmemTransport, _ behavior: Behavior = .answer) {
        self.address = transport.localAddress
        self.state = Mutex(State(behavior: behavior))
        transport.setRPCHandler { rpc in self.handle(rpc) }
    }

    /// What arrived, one line per RPC, e.g. "AppendEntries 3".
    var received: [String] { state.withLock { $0.received } }

    /// The RPCs held so far, each with the answer a cooperative server would give; they are no
    /// longer held afterwards.
    func takeHeld() -> [(RPC, RaftResponse)] {
        state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
    }

    private func handle(_ rpc: RPC) {
        let (line, response) = Self.process(rpc, as: address)
        enum Step { case answer, hold, fail(any Error) }
        let step = state.withLock { state -> Step in
            state.received.append(line)
            switch state.behavior {
            case .answer:
                return .answer
            case .hold:
                state.held.append((rpc, response))
                return .hold
            case .holdFirst:
                state.held.append((rpc, response))
                state.behavior = .answer
                return .hold
            case .fail(let error):
                return .fail(error)
            }
        }
        switch step {
        case .answer: rpc.respond(response)
        case .hold: break
        case .fail(let error): rpc.respond(error: error)
        }
    }

    private static func process(_ rpc: RPC, as server: ServerAddress) -> (String, RaftResponse) {
        let header = header(server)
        switch rpc.request {
        case .appendEntries(let request):
            let lastLog = request.prevLogEntry + UInt64(request.entries.count)
            let response = AppendEntriesResponse(header: header, term: request.term, lastLog: lastLog, success: true)
            return ("AppendEntries \(request.prevLogEntry)", .appendEntries(response))
        case .requestVote(let request):
            return ("RequestVote \(request.term)", .requestVote(RequestVoteResponse(header: header, term: request.term, granted: true)))
        case .requestPreVote(let request):
            return (
                "RequestPreVote \(request.term)",
                .requestPreVote(RequestPreVoteResponse(header: header, term: request.term, granted: true))
            )
        case .installSnapshot(let request):
            let bytes = (try? rpc.snapshotData?.readAll()) ?? []
            rpc.snapshotData?.close()
            let complete = Int64(bytes.count) == request.size
            return (
                "InstallSnapshot \(String(decoding: bytes, as: UTF8.self))",
                .installSnapshot(InstallSnapshotResponse(header: header, term: request.term, success: complete))
            )
        case .timeoutNow:
            return ("TimeoutNow", .timeoutNow(TimeoutNowResponse(header: header)))
        case .readIndex(let request):
            return ("ReadIndex \(request.term)", .readIndex(ReadIndexResponse(header: header, term: request.term, readIndex: request.term)))
        }
    }
}

/// Completions, recorded in the order they are called, each under the tag it was made with;
/// tests wait for a number of them without polling.
final class Recorder<Value: Sendable>: Sendable {
    struct Entry: Sendable {
        let tag: UInt64
        let result: Result<Value, any Error>
    }

    private struct State {
        var entries: [Entry] = []
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// A completion that records its result under `tag`.
    func completion(_ tag: UInt64) -> @Sendable (Result<Value, any Error>) -> Void {
        { result in
            let ready = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.entries.append(Entry(tag: tag, result: result))
                let count = state.entries.count
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
    }

    /// Every completion so far, in call order.
    var entries: [Entry] { state.withLock { $0.entries } }

    /// The tags of the completions so far, in call order.
    var tags: [UInt64] { entries.map(\.tag) }

    /// For each completion so far, its `RaftError` code, or nil for a success.
    var codes: [RaftError.Code?] {
        entries.map { entry in
            guard case .failure(let error) = entry.result else { return nil }
            return (error as? RaftError)?.code
        }
    }

    /// The values of the successful completions so far, in call order.
    var values: [Value] { entries.compactMap { try? $0.result.get() } }

    /// Returns once `count` completions have been called.
    func wait(for count: Int) async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.entries.count >= count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// The simulator's clock, counting the work scheduled on it: the timers a transport arms.
final class CountingClock: RaftClock {
    let base: SimulatedClock
    private let count = Mutex(0)

    init(_ base: SimulatedClock) { self.base = base }

    var now: Duration { base.now }
    var wallClockNow: LogTimestamp { base.wallClockNow }
    func sleep(for duration: Duration) async throws { try await base.sleep(for: duration) }

    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        count.withLock { $0 += 1 }
        base.schedule(after: delay, work)
    }

    /// How many times work was scheduled.
    var scheduled: Int { count.withLock { $0 } }
}

/// A weak reference, readable from any task: whether an object is gone once nothing should hold it.
final class WeakReference: Sendable {
    private struct Reference { weak var object: (any AnyObject & Sendable)? }
    private let reference = Mutex(Reference())

    func watch(_ object: any AnyObject & Sendable) { reference.withLock { $0.object = object } }
    var isReleased: Bool { reference.withLock { $0.object == nil } }
}
