import Logging
@testable import RaftKV
import RaftKVClient
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// raftkv's HTTP server and the KVClient, together on loopback.
@Suite struct HTTPServerTests {
    /// A latch a handler waits on until the test opens it; the test can wait for a handler to
    /// reach it.
    final class Gate: Sendable {
        private struct State {
            var open = false
            var waiters: [CheckedContinuation<Void, Never>] = []
            var arrived = false
            var arrivalWatchers: [CheckedContinuation<Void, Never>] = []
        }

        private let state = Mutex(State())

        /// Called by a handler: returns once the gate is open.
        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (open, watchers) = state.withLock { state in
                    state.arrived = true
                    defer { state.arrivalWatchers = [] }
                    if !state.open { state.waiters.append(continuation) }
                    return (state.open, state.arrivalWatchers)
                }
                for watcher in watchers { watcher.resume() }
                if open { continuation.resume() }
            }
        }

        /// Returns once a handler has reached the gate.
        func waitForArrival() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let arrived = state.withLock { state in
                    if !state.arrived { state.arrivalWatchers.append(continuation) }
                    return state.arrived
                }
                if arrived { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    private static func server(gate: Gate) async throws -> HTTPServer {
        var logger = Logger(label: "raftkv-test")
        logger.logLevel = .warning
        return try await HTTPServer.bind(host: "127.0.0.1", port: 0, logger: logger) { request in
            if request.segments.first == "slow" { await gate.wait() }
            return .text(200, "\(request.method) \(request.uri) \(request.body.count)")
        }
    }

    private static func client(of server: HTTPServer) -> KVClient {
        let (host, port) = HostPort.parse(server.localAddress)!
        return KVClient(host: host, port: port)
    }

    // A request answered in time comes back whole: status, headers and body, over one kept-alive connection for the next request.
    @Test func requestsAreAnsweredOverOneConnection() async throws {
        let gate = Gate()
        let server = try await Self.server(gate: gate)
        let client = Self.client(of: server)
        let first = try await client.request("PUT", "/kv/a", body: Array("value".utf8), timeout: .seconds(10))
        let second = try await client.get(key: "a b", timeout: .seconds(10))
        #expect(first.status == 200)
        #expect(first.text == "PUT /kv/a 5\n")
        #expect(first.header("content-length") == "12")
        #expect(second.text == "GET /kv/a%20b 0\n")
        #expect(first.header("Connection") == nil)
        await client.close()
        try await testGracefulShutdown { trigger in
            trigger.triggerGracefulShutdown()
            try await server.run()
        }
    }

    // A request that outlives its timeout throws timedOut and drops the connection; the client's next request connects again and succeeds.
    @Test func aTimedOutRequestDropsTheConnectionAndTheNextReconnects() async throws {
        let gate = Gate()
        let server = try await Self.server(gate: gate)
        let client = Self.client(of: server)
        // Connected first, so the 200 ms bound the next request gets is spent waiting for an
        // answer, not connecting (which took longer than that on a machine at load 48).
        let first = try await client.request("GET", "/fast", timeout: .seconds(10))
        #expect(first.text == "GET /fast 0\n")
        await #expect(throws: KVClientError.timedOut) {
            try await client.request("GET", "/slow", timeout: .milliseconds(200))
        }
        let next = try await client.request("GET", "/fast", timeout: .seconds(10))
        #expect(next.text == "GET /fast 0\n")
        gate.open()
        await client.close()
        try await testGracefulShutdown { trigger in
            trigger.triggerGracefulShutdown()
            try await server.run()
        }
    }

    // On a graceful shutdown the server refuses new connections but answers the request in flight (with Connection: close) before run() returns.
    @Test(.timeLimit(.minutes(1))) func aGracefulShutdownAnswersRequestsInFlight() async throws {
        let gate = Gate()
        let server = try await Self.server(gate: gate)
        let client = Self.client(of: server)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                let inFlight = Task { try await client.request("POST", "/slow", timeout: .seconds(30)) }
                await gate.waitForArrival()
                trigger.triggerGracefulShutdown()
                // The listener closes: a new client cannot connect.
                let (host, port) = HostPort.parse(server.localAddress)!
                var refused = false
                while !refused {
                    let latecomer = KVClient(host: host, port: port)
                    do {
                        _ = try await latecomer.request("GET", "/fast", timeout: .seconds(5))
                        await latecomer.close()
                    } catch KVClientError.connectFailed {
                        refused = true
                    } catch {
                        // Accepted just before the listener closed, then dropped: try again.
                        await latecomer.close()
                    }
                }
                gate.open()
                let answer = try await inFlight.value
                #expect(answer.status == 200)
                #expect(answer.header("Connection") == "close")
                try await group.waitForAll()
            }
        }
        await client.close()
    }
}
