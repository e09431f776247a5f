import NIOCore
import NIOPosix
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Synchronization
import Testing

/// Counts, for a stream of observations, how many were made off the event loop.
private final class OffLoopCount: Sendable {
    private let count = Atomic(0)
    func observe(onLoop: Bool) { if !onLoop { count.add(1, ordering: .relaxed) } }
    var value: Int { count.load(ordering: .relaxed) }
}

@Suite("NetworkTransport: tasks on the transport's event loop (taskExecutor)")
struct NetworkTransportTaskExecutorTests {
    @Test("A task preferring taskExecutor runs on the event loop, before and after it awaits a call")
    func tasksRunOnTheLoop() async throws {
        try await withTransportPair { client, server in
            _ = TestServer(server)
            let target = server.localAddress
            let loop = client.taskExecutor.eventLoop
            let (before, after) = try await Task(executorPreference: client.taskExecutor) {
                let before = loop.inEventLoop
                _ = try await client.appendEntries(id: "server", target: target, numberedAppend(1, from: client.localAddress))
                return (before, loop.inEventLoop)
            }.value
            #expect(before)
            #expect(after)
        }
    }

    @Test("One call at a time from the loop, answered by an RPC handler that the transport calls on the loop: every answer is the right one")
    func callsAndHandlerOnTheLoop() async throws {
        try await withTransportPair { client, server in
            let serverLoop = server.taskExecutor.eventLoop
            let handlerOffLoop = OffLoopCount()
            server.setRPCHandler { rpc in
                handlerOffLoop.observe(onLoop: serverLoop.inEventLoop)
                rpc.respond(answer(to: rpc.request, from: server.localAddress))
            }
            let target = server.localAddress
            let clientLoop = client.taskExecutor.eventLoop
            let callerOffLoop = OffLoopCount()
            try await bounded("500 calls") {
                try await Task(executorPreference: client.taskExecutor) {
                    for number in 1...500 as ClosedRange<UInt64> {
                        let request = numberedAppend(number, from: client.localAddress, entries: Int(number % 5))
                        let response = try await client.appendEntries(id: "server", target: target, request)
                        callerOffLoop.observe(onLoop: clientLoop.inEventLoop)
                        #expect(response == answer(to: request, from: target))
                    }
                }.value
            }
            #expect(callerOffLoop.value == 0)
            #expect(handlerOffLoop.value == 0)
        }
    }
}

@Suite("NetworkTransport: transport conformance, callers on the event loop", .timeLimit(.minutes(3)))
struct NetworkTransportOnLoopConformanceTests {
    /// Every conformance check again, its own task (and the tasks it starts in groups) preferring
    /// the transports' event loop: the loop must never wait on itself. Each check gets a loop of
    /// its own, so the work it puts on the loop delays no other test's connections.
    @Test(arguments: TransportConformance.checks)
    func conformsWithCallersOnTheLoop(_ check: ConformanceCheck<TransportConformance.Subject>) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        do {
            try await withTaskExecutorPreference(executor) {
                try await check.run(.network(on: group))
            }
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}
