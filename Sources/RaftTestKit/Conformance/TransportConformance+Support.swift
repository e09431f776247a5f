import SwiftRaft
import Synchronization

// The machinery the transport checks share: the group of transports a check runs on, a stand-in
// for Raft on the receiving side, a ledger of every completion handed to a transport, waiting
// without polling, bounding waits, and comparing what arrived with what was sent.

extension TransportConformance {
    // MARK: Time

    /// The RPC timeout of checks whose calls must succeed: so long that a loaded machine never
    /// turns a slow answer into a failure. Checks that need a call to fail never wait for it.
    static let patientTimeout = Duration.seconds(60)

    /// The RPC timeout of the checks that wait for timeouts, short so those checks are quick.
    static let shortTimeout = Duration.milliseconds(200)

    /// How long any one wait may take before the check calls it a hang. Far beyond any
    /// legitimate delay, and below ``patientTimeout``, so a call that must fail without waiting
    /// out its timeout (a peer with no handler, a stopped peer, a closed transport) is caught too.
    static let hangLimit = Duration.seconds(30)

    /// How long a call with ``shortTimeout`` may take to fail once its peer stays silent: fifty
    /// times the timeout, generous enough for a loaded machine, and still well below
    /// ``patientTimeout``, so a transport that ignores the timeout it was given fails the check.
    static let timeoutCheckLimit = shortTimeout * 50

    /// The error the test server answers with when told to fail RPCs.
    struct Refusal: Error, CustomStringConvertible {
        var description: String { "the conformance test server refuses this RPC" }
    }

    /// Signals that ``within(_:_:fileID:line:_:)``'s limit passed first.
    private struct Expired: Error {}

    /// Runs `operation` in a task of its own and returns what it returns, or fails the check once
    /// `limit` has passed: a transport that hangs must fail a check, not hang it. An operation
    /// still running then is cancelled and abandoned rather than awaited, since what hangs may
    /// well ignore cancellation too.
    static func within<T: Sendable>(
        _ limit: Duration,
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        let work = Task {
            do { outcome.settle(.success(try await operation())) } catch { outcome.settle(.failure(error)) }
        }
        let timer = Task {
            // Real time on purpose: this bounds a wait, it does not pace the check.
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            outcome.settle(.failure(Expired()))
        }
        let result = await withTaskCancellationHandler {
            await outcome.value()
        } onCancel: {
            outcome.settle(.failure(CancellationError()))
        }
        timer.cancel()
        work.cancel()
        switch result {
        case .success(let value):
            return value
        case .failure(is Expired):
            throw ConformanceFailure("\(what()) did not finish within \(limit)", fileID: fileID, line: line)
        case .failure(let error):
            throw error
        }
    }

    // MARK: Completions

    /// Every completion the checks hand to a transport goes through here, so a check can tell
    /// that each was called exactly once: at least once because the check waits for it, at most
    /// once because a second call is recorded here instead of being passed on, and reported when
    /// the check ends, after its transports are closed.
    final class Ledger: Sendable {
        private let violations = Mutex<[String]>([])

        /// Wraps `forward` so only its first call goes through; later calls are recorded as
        /// broken rules, naming `what` the completion was for.
        func once<Value: Sendable>(
            _ what: @escaping @Sendable @autoclosure () -> String,
            _ forward: @escaping @Sendable (Result<Value, any Error>) -> Void
        ) -> @Sendable (Result<Value, any Error>) -> Void {
            let calls = Mutex(0)
            return { result in
                let count = calls.withLock { count in
                    count += 1
                    return count
                }
                if count == 1 {
                    forward(result)
                } else {
                    self.violations.withLock { $0.append("the completion of \(what()) was called \(count) times, the last with \(result)") }
                }
            }
        }

        /// Throws if any completion was called more than once.
        func requireNoneCalledTwice() throws {
            let found = violations.withLock { $0 }
            if !found.isEmpty { throw ConformanceFailure(found.joined(separator: "; ")) }
        }
    }

    // MARK: The group under test

    /// The transports of one check and the test servers on them; closes all of them when the
    /// check ends, however it ends.
    final class Network: Sendable {
        let subject: Subject
        let rpcTimeout: Duration
        /// The transports ``Subject/makeTransports`` made, in its order.
        let transports: [any Transport]
        /// Counts the calls of every completion the check hands out.
        let ledger = Ledger()
        /// Where test servers read snapshot data: a transport's stream may block while bytes
        /// are in transit, so a handler must not read it on the transport's own thread.
        let reader = ThreadExecutor(name: "conformance-read")
        /// Where test servers answer from when they answer later, on a thread of their own, as
        /// Raft answers from its node's loop.
        let answerer = ThreadExecutor(name: "conformance-answer")
        private let state: Mutex<(made: [any Transport], servers: [TestServer])>

        init(subject: Subject, rpcTimeout: Duration, transports: [any Transport]) {
            self.subject = subject
            self.rpcTimeout = rpcTimeout
            self.transports = transports
            self.state = Mutex((transports, []))
        }

        /// Installs a test server as `transport`'s RPC handler.
        func serve(_ transport: any Transport, _ mode: TestServer.Mode = .answer) -> TestServer {
            let server = TestServer(transport, mode, reader: reader, answerer: answerer)
            state.withLock { $0.servers.append(server) }
            server.start()
            return server
        }

        /// Brings `stopped` back through the subject and adds it to the group.
        func restart(_ stopped: any Transport, peers: [any Transport]) async throws -> any Transport {
            let subject = subject
            let timeout = rpcTimeout
            let revived = try await within(hangLimit, "restarting \(stopped.localAddress)") {
                try await subject.restart(stopped, peers, timeout)
            }
            state.withLock { $0.made.append(revived) }
            try conformanceRequireEqual(revived.localAddress, stopped.localAddress, "address of the restarted transport")
            return revived
        }

        /// Sends `request` from `client` to the server at `address` through
        /// ``Transport/send(_:to:timeout:completion:)`` and returns its result. The wait is not
        /// bounded here: wrap it in ``within(_:_:fileID:line:_:)``.
        func call(
            _ request: RaftRequest,
            from client: any Transport,
            to address: ServerAddress,
            timeout: Duration? = nil
        ) async -> Result<RaftResponse, any Error> {
            let target = Server(id: serverID(address), address: address)
            let timeout = timeout ?? rpcTimeout
            let what = "\(name(of: request)) from \(client.localAddress) to \(address)"
            let ledger = ledger
            return await withCheckedContinuation { continuation in
                client.send(request, to: target, timeout: timeout, completion: ledger.once(what) { continuation.resume(returning: $0) })
            }
        }

        /// Sends an InstallSnapshot with the bytes of `source` through
        /// ``Transport/installSnapshot(_:data:to:timeout:)`` and returns its result, the answer
        /// wrapped as a ``RaftResponse`` like every other call's.
        func installSnapshot(
            _ request: InstallSnapshotRequest,
            data source: ChunkedSource,
            from client: any Transport,
            to address: ServerAddress,
            timeout: Duration? = nil
        ) async -> Result<RaftResponse, any Error> {
            let target = Server(id: serverID(address), address: address)
            do {
                let response = try await client.installSnapshot(request, data: source, to: target, timeout: timeout ?? rpcTimeout)
                return .success(.installSnapshot(response))
            } catch {
                return .failure(error)
            }
        }

        /// Opens a pipeline from `client` to `peer`, wrapped in a probe that records its
        /// completions; nil if the transport does not pipeline, in which case the pipeline rules do
        /// not apply. Rethrows any other error from opening.
        func openPipeline(from client: any Transport, to peer: ServerAddress) async throws -> PipelineProbe? {
            let target = Server(id: serverID(peer), address: peer)
            let pipeline: any AppendPipeline
            do {
                pipeline = try await within(hangLimit, "opening a pipeline to \(peer) (it must return at once)") {
                    try client.appendEntriesPipeline(to: target)
                }
            } catch let error as RaftError where error.code == .pipelineReplicationNotSupported {
                return nil
            }
            return PipelineProbe(pipeline, to: peer, ledger: ledger)
        }

        /// Closes every transport made, so every call still waiting completes; then removes the
        /// test servers' handlers, lets the servers' threads end, and checks that no completion
        /// was called twice.
        func tearDown() async throws {
            let (made, servers) = state.withLock { ($0.made, $0.servers) }
            let subject = subject
            defer {
                for server in servers { server.stop() }
                reader.shutdown()
                answerer.shutdown()
            }
            try await within(hangLimit, "closing the transports") { await subject.close(made) }
            try ledger.requireNoneCalledTwice()
        }
    }

    /// Runs `body` on `count` fresh transports with `rpcTimeout`, and closes them afterwards.
    static func withNetwork<T>(
        _ subject: Subject,
        count: Int,
        rpcTimeout: Duration,
        _ body: (Network) async throws -> T
    ) async throws -> T {
        let transports = try await within(hangLimit, "making \(count) transports") {
            try await subject.makeTransports(count, rpcTimeout)
        }
        let network = Network(subject: subject, rpcTimeout: rpcTimeout, transports: transports)
        let result: T
        do {
            try conformanceRequireEqual(transports.count, count, "number of transports made")
            try conformanceRequireEqual(
                Set(transports.map(\.localAddress)).count,
                count,
                "number of distinct addresses among the transports made"
            )
            result = try await body(network)
        } catch {
            try? await network.tearDown()
            throw error
        }
        try await network.tearDown()
        return result
    }

    // MARK: The server side

    /// An RPC as a test server received it: the request, and for InstallSnapshot the bytes it
    /// read from the data stream (nil if there was none or reading failed).
    enum Received: Hashable, Sendable {
        case appendEntries(AppendEntriesRequest)
        case requestVote(RequestVoteRequest)
        case requestPreVote(RequestPreVoteRequest)
        case installSnapshot(InstallSnapshotRequest, data: [UInt8]?)
        case timeoutNow(TimeoutNowRequest)
        case readIndex(ReadIndexRequest)

        /// A request other than InstallSnapshot, as received.
        init(_ request: RaftRequest) {
            switch request {
            case .appendEntries(let request): self = .appendEntries(request)
            case .requestVote(let request): self = .requestVote(request)
            case .requestPreVote(let request): self = .requestPreVote(request)
            case .timeoutNow(let request): self = .timeoutNow(request)
            case .installSnapshot(let request): self = .installSnapshot(request, data: nil)
            case .readIndex(let request): self = .readIndex(request)
            }
        }

        /// The AppendEntries request, if this is one.
        var appendEntries: AppendEntriesRequest? {
            if case .appendEntries(let request) = self { return request }
            return nil
        }
    }

    /// Stands in for Raft on one transport: installed as its RPC handler, it records every
    /// request in arrival order and answers, holds or refuses it as told. Like Raft's, the
    /// handler never blocks: snapshot data is read on another thread.
    final class TestServer: Sendable {
        /// What the server does with each RPC that arrives.
        enum Mode: Sendable {
            /// Answers at once, inside the handler, with ``TransportConformance/answer(to:from:)``.
            case answer
            /// Answers after the handler has returned, from another thread.
            case answerLater
            /// Keeps it unanswered until ``TestServer/release(reversed:)``.
            case hold
            /// Holds the next RPC until released, and answers every later one at once.
            case holdOne
            /// Answers with ``TransportConformance/Refusal``.
            case refuse
            /// Holds one RPC until the next arrives, then answers the newer one first: answers
            /// come back in a different order than requests went out.
            case answerInSwappedPairs
        }

        struct Pending: Sendable {
            let rpc: RPC
            let received: Received
        }

        struct State: Sendable {
            var mode: Mode
            var received: [Received] = []
            var held: [Pending] = []
        }

        let transport: any Transport
        let state: Watched<State>
        private let reader: ThreadExecutor
        private let answerer: ThreadExecutor

        init(_ transport: any Transport, _ mode: Mode, reader: ThreadExecutor, answerer: ThreadExecutor) {
            self.transport = transport
            self.state = Watched(State(mode: mode))
            self.reader = reader
            self.answerer = answerer
        }

        /// Installs the server as the transport's RPC handler.
        func start() {
            transport.setRPCHandler { rpc in self.handle(rpc) }
        }

        /// Removes the handler (which also releases the server).
        func stop() {
            transport.setRPCHandler(nil)
        }

        /// Every request received so far, in arrival order.
        var received: [Received] { state.value.received }

        /// Switches to `mode` for the RPCs that arrive from now on.
        func setMode(_ mode: Mode) { state.update { $0.mode = mode } }

        /// Answers everything held, from another thread, newest first if `reversed`; from now on
        /// every RPC is answered at once.
        func release(reversed: Bool = false) {
            let held = state.update { state -> [Pending] in
                state.mode = .answer
                defer { state.held = [] }
                return state.held
            }
            answerer.execute {
                for pending in reversed ? held.reversed() : held { self.respond(pending) }
            }
        }

        /// Answers, from another thread, the RPCs held so far, newest first; keeps the mode.
        /// Returns how many it took.
        func answerHeldNewestFirst() -> Int {
            let held = state.update { state -> [Pending] in
                defer { state.held = [] }
                return state.held
            }
            answerer.execute {
                for pending in held.reversed() { self.respond(pending) }
            }
            return held.count
        }

        /// Returns once `count` requests have arrived.
        func waitUntilReceived(_ count: Int, within limit: Duration = hangLimit) async throws {
            try await within(limit, "the peer receiving \(count) requests (it has \(received.count))") {
                try await self.state.wait { $0.received.count >= count }
            }
        }

        private func handle(_ rpc: RPC) {
            guard case .installSnapshot(let request) = rpc.request else {
                process(rpc, Received(rpc.request))
                return
            }
            let data = rpc.snapshotData
            reader.execute {
                let bytes = try? data?.readAll()
                data?.close()
                self.process(rpc, .installSnapshot(request, data: bytes))
            }
        }

        private func process(_ rpc: RPC, _ received: Received) {
            let pending = Pending(rpc: rpc, received: received)
            enum Step { case answer([Pending]), answerLater, hold, refuse }
            let step = state.update { state -> Step in
                state.received.append(received)
                switch state.mode {
                case .answer:
                    return .answer([pending])
                case .answerLater:
                    return .answerLater
                case .hold:
                    state.held.append(pending)
                    return .hold
                case .holdOne:
                    state.held.append(pending)
                    state.mode = .answer
                    return .hold
                case .refuse:
                    return .refuse
                case .answerInSwappedPairs:
                    guard let earlier = state.held.popLast() else {
                        state.held.append(pending)
                        return .hold
                    }
                    return .answer([pending, earlier])
                }
            }
            switch step {
            case .answer(let answers): for answer in answers { respond(answer) }
            case .answerLater: answerer.execute { self.respond(pending) }
            case .hold: break
            case .refuse: rpc.respond(error: Refusal())
            }
        }

        private func respond(_ pending: Pending) {
            if let response = TransportConformance.answer(to: pending.received, from: transport.localAddress) {
                pending.rpc.respond(response)
            } else {
                pending.rpc.respond(error: Refusal())
            }
        }
    }

    // MARK: Pipelines

    /// A pipeline under test: sends requests with completions that record, in the order they
    /// are called, which request each answers and how.
    final class PipelineProbe: Sendable {
        /// One completion, as called.
        struct Completion: Sendable {
            /// The position of its request in send order, from 0.
            let index: Int
            let result: Result<AppendEntriesResponse, any Error>

            /// Whether the request failed.
            var failed: Bool {
                if case .failure = result { return true }
                return false
            }
        }

        let pipeline: any AppendPipeline
        let peer: ServerAddress
        private let ledger: Ledger
        private let sentRequests = Mutex<[AppendEntriesRequest]>([])
        /// Every completion called so far, in call order.
        let completions = Watched<[Completion]>([])

        init(_ pipeline: any AppendPipeline, to peer: ServerAddress, ledger: Ledger) {
            self.pipeline = pipeline
            self.peer = peer
            self.ledger = ledger
        }

        /// The requests sent so far, in send order.
        var sent: [AppendEntriesRequest] { sentRequests.withLock { $0 } }

        /// Sends `requests` in order, without waiting for any answer; fails the check if the
        /// sends do not return (a pipeline never waits for room or for a connection).
        func send(_ requests: [AppendEntriesRequest], _ what: String) async throws {
            try await within(hangLimit, "sending \(what) on a pipeline (appendEntries must return at once)") {
                for request in requests { self.send(request) }
            }
        }

        private func send(_ request: AppendEntriesRequest) {
            let index = sentRequests.withLock { sent in
                sent.append(request)
                return sent.count - 1
            }
            let completions = completions
            let what = "pipelined AppendEntries \(index) to \(peer)"
            pipeline.appendEntries(
                request,
                completion: ledger.once(what) { result in
                    completions.update { $0.append(Completion(index: index, result: result)) }
                }
            )
        }

        /// Returns the completions once `count` have been called.
        func waitForCompletions(_ count: Int, within limit: Duration = hangLimit, _ what: String) async throws -> [Completion] {
            try await within(limit, "\(what): \(count) completions (\(completions.value.count) so far)") {
                try await self.completions.wait { $0.count >= count }
            }
            return completions.value
        }

        /// Throws unless `completions` are those of consecutive requests from the `first` sent,
        /// called in send order.
        func requireInSendOrder(_ completions: [Completion], startingAt first: Int = 0, _ what: String) throws {
            let order = completions.map(\.index)
            try conformanceRequire(
                order == Array(first..<first + order.count),
                "\(what): completions were called in the order \(Self.abbreviated(order)), not in send order from \(first)"
            )
        }

        /// Throws unless every one of `completions` failed, and they are those of consecutive
        /// requests from the `first` sent, called in send order.
        func requireAllFailed(_ completions: [Completion], startingAt first: Int = 0, _ what: String) throws {
            try requireInSendOrder(completions, startingAt: first, what)
            for completion in completions {
                if case .success(let response) = completion.result {
                    throw ConformanceFailure("\(what): request \(completion.index) succeeded with \(response)")
                }
            }
        }

        /// Throws unless the completions answer `requests`, in send order, each with the test
        /// server's answer to it.
        func requireAnswered(_ completions: [Completion], _ requests: [AppendEntriesRequest], _ what: String) throws {
            try conformanceRequireEqual(completions.count, requests.count, "\(what): number of completions")
            try requireInSendOrder(completions, what)
            for (completion, request) in zip(completions, requests) {
                switch completion.result {
                case .success(let response):
                    try requireSame(response, answer(to: request, from: peer), "\(what): answer to request \(completion.index)")
                case .failure(let error):
                    throw ConformanceFailure("\(what): request \(completion.index) failed: \(error)")
                }
            }
        }

        private static func abbreviated(_ order: [Int]) -> String {
            order.count <= 20 ? "\(order)" : "\(order.prefix(20)) … (\(order.count) in all)"
        }
    }

    // MARK: Waiting

    /// A value tasks wait on until it satisfies a condition, so checks coordinate through state
    /// changes instead of polling or sleeping.
    final class Watched<Value: Sendable>: Sendable {
        private struct Waiter {
            let id: UInt64
            let condition: @Sendable (Value) -> Bool
            let continuation: CheckedContinuation<Void, any Error>
        }

        private struct State {
            var value: Value
            var waiters: [Waiter] = []
            var nextID: UInt64 = 0
        }

        private let state: Mutex<State>

        init(_ value: Value) { state = Mutex(State(value: value)) }

        /// The current value.
        var value: Value { state.withLock { $0.value } }

        /// Changes the value and wakes every waiter whose condition now holds.
        @discardableResult
        func update<R: Sendable>(_ change: (inout Value) -> R) -> R {
            let (result, ready) = state.withLock { state in
                let result = change(&state.value)
                var ready: [CheckedContinuation<Void, any Error>] = []
                let value = state.value
                state.waiters.removeAll { waiter in
                    guard waiter.condition(value) else { return false }
                    ready.append(waiter.continuation)
                    return true
                }
                return (result, ready)
            }
            for continuation in ready { continuation.resume() }
            return result
        }

        /// Returns once `condition` holds; throws `CancellationError` if the task is cancelled
        /// first.
        func wait(until condition: @escaping @Sendable (Value) -> Bool) async throws {
            let id = state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let ready = state.withLock { state -> Bool? in
                        if condition(state.value) { return true }
                        if Task.isCancelled { return false }
                        state.waiters.append(Waiter(id: id, condition: condition, continuation: continuation))
                        return nil
                    }
                    switch ready {
                    case true?: continuation.resume()
                    case false?: continuation.resume(throwing: CancellationError())
                    case nil: break
                    }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                waiter?.resume(throwing: CancellationError())
            }
        }
    }

    /// The first of several results, awaited by one task.
    private final class Outcome<T: Sendable>: Sendable {
        private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<Result<T, any Error>, Never>?)>(
            (nil, nil)
        )

        /// Records `result` unless one was recorded already.
        func settle(_ result: Result<T, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>, Never>? in
                guard state.result == nil else { return nil }
                state.result = result
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: result)
        }

        /// The first result recorded.
        func value() async -> Result<T, any Error> {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    // MARK: Comparing

    /// Throws unless `result` is the test server at `peer`'s answer to `request`.
    static func requireAnswer(
        _ result: Result<RaftResponse, any Error>,
        to received: Received,
        from peer: ServerAddress,
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line
    ) throws {
        switch result {
        case .success(let response):
            guard let expected = answer(to: received, from: peer) else {
                throw ConformanceFailure("\(what()): succeeded with \(response), but the server refused it", fileID: fileID, line: line)
            }
            try requireSame(response, expected, what(), fileID: fileID, line: line)
        case .failure(let error):
            throw ConformanceFailure("\(what()): failed with \(error)", fileID: fileID, line: line)
        }
    }

    /// Throws unless `result` is a failure.
    static func requireFailure<Value>(
        _ result: Result<Value, any Error>,
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line
    ) throws {
        if case .success(let value) = result {
            throw ConformanceFailure("\(what()): succeeded with \(value) instead of failing", fileID: fileID, line: line)
        }
    }

    /// Throws ``ConformanceFailure`` unless `actual == expected`, naming the first field that
    /// differs: the values carry entries of up to 70 KB, too much to print whole.
    static func requireSame<T: Equatable>(
        _ actual: T,
        _ expected: T,
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line
    ) throws {
        guard actual != expected else { return }
        let difference = firstDifference(actual, expected, at: "") ?? "\(actual), expected \(expected)"
        throw ConformanceFailure("\(what()): \(difference)", fileID: fileID, line: line)
    }

    /// Where two values first differ, found by reflection; nil if reflection sees no difference.
    private static func firstDifference(_ actual: Any, _ expected: Any, at path: String) -> String? {
        let actualMirror = Mirror(reflecting: actual)
        let expectedMirror = Mirror(reflecting: expected)
        let place = path.isEmpty ? "" : " at \(path)"
        if actualMirror.children.isEmpty && expectedMirror.children.isEmpty {
            let got = String(reflecting: actual)
            let wanted = String(reflecting: expected)
            return got == wanted ? nil : "got \(got)\(place), expected \(wanted)"
        }
        if actualMirror.children.count != expectedMirror.children.count {
            return "got \(actualMirror.children.count) elements\(place), expected \(expectedMirror.children.count)"
        }
        for (position, (got, wanted)) in zip(actualMirror.children, expectedMirror.children).enumerated() {
            let label = got.label.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? "\(path)[\(position)]"
            if let difference = firstDifference(got.value, wanted.value, at: label) { return difference }
        }
        return nil
    }

    /// Throws ``ConformanceFailure`` unless `actual` holds exactly `expected`, naming the first
    /// byte that differs.
    static func requireSameBytes(
        _ actual: [UInt8]?,
        _ expected: [UInt8],
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line
    ) throws {
        guard let actual else {
            throw ConformanceFailure("\(what()): the RPC carried no data, or reading it failed", fileID: fileID, line: line)
        }
        guard actual != expected else { return }
        let firstDifferent = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(actual.count, expected.count)
        throw ConformanceFailure(
            "\(what()): got \(actual.count) bytes, expected \(expected.count); first difference at byte \(firstDifferent)",
            fileID: fileID,
            line: line
        )
    }

    /// The RPC's name, for messages.
    static func name(of request: RaftRequest) -> String {
        switch request {
        case .appendEntries(let request): return request.isHeartbeat ? "heartbeat" : "AppendEntries"
        case .requestVote: return "RequestVote"
        case .requestPreVote: return "RequestPreVote"
        case .timeoutNow: return "TimeoutNow"
        case .installSnapshot: return "InstallSnapshot"
        case .readIndex: return "ReadIndex"
        }
    }
}
