import SwiftRaft
import Synchronization

// The machinery the transport checks share: the group of transports a check runs on, a stand-in
// for Raft on the receiving side, waiting without polling, bounding waits, and the fixed requests
// and answers the checks compare against.

extension TransportConformance {
    // MARK: Time

    /// The RPC timeout of checks whose calls must succeed: so long that a loaded machine never
    /// turns a slow answer into a failure. Checks that need a call to fail never wait for it.
    static let patientTimeout = Duration.seconds(60)

    /// The RPC timeout of the check that waits for timeouts, short so that check is quick.
    static let shortTimeout = Duration.milliseconds(200)

    /// How long any one wait may take before the check calls it a hang. Far beyond any
    /// legitimate delay, and below ``patientTimeout``, so a call that must fail without waiting
    /// out its timeout is caught too.
    static let hangLimit = Duration.seconds(30)

    /// A short timeout's calls may take ten times it (hashicorp/raft's InstallSnapshot and
    /// TimeoutNow); this leaves five times that again before a call counts as hung.
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

    /// Whether `operation` throws, bounded like ``within(_:_:fileID:line:_:)``: a call that must
    /// fail may fail, but not hang. A ``ConformanceFailure`` from `operation` means it returned an
    /// answer (a wrong one), so it counts as not throwing.
    static func throwsWithin(
        _ limit: Duration,
        _ what: @autoclosure () -> String,
        fileID: String = #fileID,
        line: Int = #line,
        _ operation: @escaping @Sendable () async throws -> Void
    ) async throws -> Bool {
        try await within(limit, what(), fileID: fileID, line: line) {
            do {
                try await operation()
                return false
            } catch is ConformanceFailure {
                return false
            } catch {
                return true
            }
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
        private let state: Mutex<(made: [any Transport], servers: [Task<Void, Never>])>

        init(subject: Subject, rpcTimeout: Duration, transports: [any Transport]) {
            self.subject = subject
            self.rpcTimeout = rpcTimeout
            self.transports = transports
            self.state = Mutex((transports, []))
        }

        /// Starts a test server reading `transport`'s consumer.
        func serve(_ transport: any Transport, _ mode: TestServer.Mode = .answer) -> TestServer {
            let server = TestServer(transport, mode)
            // Unstructured, so a server stuck in a transport's code cannot keep a failed check
            // from ending; tear-down cancels it.
            let task = Task { await server.run() }
            state.withLock { $0.servers.append(task) }
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
            try conformanceRequireEqual(
                revived.localAddress,
                stopped.localAddress,
                "address of the restarted transport"
            )
            return revived
        }

        /// Closes every transport made, which ends the servers' consumers, then stops the servers.
        func tearDown() async throws {
            let (made, servers) = state.withLock { ($0.made, $0.servers) }
            let subject = subject
            defer { for server in servers { server.cancel() } }
            try await within(hangLimit, "closing the transports") { await subject.close(made) }
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
    /// read from the data stream (nil if reading failed).
    enum Received: Hashable, Sendable {
        case appendEntries(AppendEntriesRequest)
        case requestVote(RequestVoteRequest)
        case requestPreVote(RequestPreVoteRequest)
        case installSnapshot(InstallSnapshotRequest, data: [UInt8]?)
        case timeoutNow(TimeoutNowRequest)

        /// Reads `command`, draining a snapshot's data on `reader`: a transport's snapshot stream
        /// may block while bytes are in transit, and Raft reads it off Swift's cooperative pool.
        static func reading(_ command: RPCCommand, on reader: ThreadExecutor) async -> Received {
            switch command {
            case .appendEntries(let request): return .appendEntries(request)
            case .requestVote(let request): return .requestVote(request)
            case .requestPreVote(let request): return .requestPreVote(request)
            case .timeoutNow(let request): return .timeoutNow(request)
            case .installSnapshot(let request, let data):
                let bytes = try? await Task(executorPreference: reader) { try data.readAll() }.value
                return .installSnapshot(request, data: bytes)
            }
        }

        /// The AppendEntries request, if this is one.
        var appendEntries: AppendEntriesRequest? {
            if case .appendEntries(let request) = self { return request }
            return nil
        }
    }

    /// Stands in for Raft on one transport: reads its consumer one RPC at a time, as Raft does,
    /// records every request in arrival order, and answers, holds or refuses it as told.
    final class TestServer: Sendable {
        /// What the server does with each RPC that arrives.
        enum Mode: Sendable {
            /// Answers at once with ``TransportConformance/answer(to:from:)``.
            case answer
            /// Keeps it unanswered until ``TestServer/release()``.
            case hold
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
            /// The consumer has finished.
            var finished = false
        }

        let transport: any Transport
        let state: Watched<State>

        init(_ transport: any Transport, _ mode: Mode) {
            self.transport = transport
            self.state = Watched(State(mode: mode))
        }

        /// Serves until the consumer finishes or the task is cancelled.
        func run() async {
            let reader = ThreadExecutor(name: "transport-conformance-reader-\(transport.localAddress)")
            for await rpc in transport.consumer {
                let received = await Received.reading(rpc.command, on: reader)
                let pending = Pending(rpc: rpc, received: received)
                let (answers, refused) = state.update { state -> ([Pending], Bool) in
                    state.received.append(received)
                    switch state.mode {
                    case .answer:
                        return ([pending], false)
                    case .hold:
                        state.held.append(pending)
                        return ([], false)
                    case .refuse:
                        return ([], true)
                    case .answerInSwappedPairs:
                        guard let earlier = state.held.popLast() else {
                            state.held.append(pending)
                            return ([], false)
                        }
                        return ([pending, earlier], false)
                    }
                }
                if refused { rpc.respond(error: Refusal()) }
                for answer in answers { respond(answer) }
            }
            reader.shutdown()
            state.update { $0.finished = true }
        }

        /// Every request received so far, in arrival order.
        var received: [Received] { state.value.received }

        /// Switches to `mode` for the RPCs that arrive from now on.
        func setMode(_ mode: Mode) { state.update { $0.mode = mode } }

        /// Answers everything held, and from now on every RPC at once.
        func release() {
            let held = state.update { state -> [Pending] in
                state.mode = .answer
                defer { state.held = [] }
                return state.held
            }
            for pending in held { respond(pending) }
        }

        /// Returns once `count` requests have arrived.
        func waitUntilReceived(_ count: Int) async throws {
            try await within(hangLimit, "the peer receiving \(count) requests (it has \(received.count))") {
                try await self.state.wait { $0.received.count >= count }
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
            throw ConformanceFailure("\(what()): reading the data failed", fileID: fileID, line: line)
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
}
