import RaftNetworkTransport
import SwiftRaft
import Testing

/// Raft over TCP respects the frame limit its peers enforce (`Options.maxFrameSize`): a command
/// that could never be carried is refused by `apply` before it enters the log, and batches are cut
/// below the limit. Before, a 70 MB command was appended, every follower closed the connection on
/// it ("frame larger than the limit"), and the leader retried it forever while every later write
/// waited behind it.
///
/// The limit only guards against a hang: replicating 120 MB to two followers and digesting it
/// takes about a minute here, and six to eight under AddressSanitizer.
@Suite(.timeLimit(.minutes(10)), .serialized)
struct NetworkClusterMessageSizeTests {
    @Test func aCommandOverTheFrameLimitIsRefusedAtOnceAndBatchesAreCutBelowIt() async throws {
        var options = NetworkTransport.Options()
        options.maxFrameSize = 256 << 10
        options.logger.logLevel = .critical
        try await SwiftMember.withCluster(options: options) { members in
            let leader = try await SwiftMember.waitForLeader(among: members)
            let raft = try #require(leader.raft)
            let maxCommandSize = try #require(raft.maxCommandSize)
            #expect(maxCommandSize < 256 << 10 && maxCommandSize > (256 << 10) - 2048)

            let error = await #expect(throws: RaftError.self) {
                _ = try await raft.apply([UInt8](repeating: 1, count: maxCommandSize + 1), timeout: .seconds(1))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("\(maxCommandSize) bytes") == true)

        // 64 commands of 40 KiB (2.5 MiB together) are cut into requests under 256 KiB.
        try await withDeadline(.seconds(60), "64 applies of 40 KiB") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<64 {
                    group.addTask { _ = try await raft.apply([UInt8](repeating: UInt8(i), count: 40 << 10), timeout: .seconds(10)) }
                }
                try await group.waitForAll()
            }
        }
        _ = try await raft.apply([UInt8](repeating: 2, count: maxCommandSize), timeout: .seconds(10))
        for member in members { try await member.fsm.waitForCount(65) }
        #expect(Set(members.map(\.fsm.digest)).count == 1)
        }
    }

    @Test func theDefaultLimitRefusesA70MBCommandAndCarriesThreeConcurrent40MBOnes() async throws {
        var options = NetworkTransport.Options()
        options.logger.logLevel = .critical
        try await SwiftMember.withCluster(options: options) { members in
            let leader = try await SwiftMember.waitForLeader(among: members)
            let raft = try #require(leader.raft)

            let started = ContinuousClock.now
            let error = await #expect(throws: RaftError.self) {
                _ = try await raft.apply([UInt8](repeating: 3, count: 70_000_000), timeout: .seconds(1))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("\(raft.maxCommandSize ?? 0) bytes") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(30), "refused before it was ever sent")

        // The deadline bounds the three together; an apply's own timeout would bound its whole
        // commit, which on a busy machine can take longer than the test cares about. It only
        // guards against a stall: the three take seconds in a normal run, and took more than
        // 120 s under AddressSanitizer with three other tests running beside them.
        try await withDeadline(.seconds(300), "three 40 MB applies") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<3 {
                    group.addTask { _ = try await raft.apply([UInt8](repeating: UInt8(i), count: 40_000_000)) }
                }
                try await group.waitForAll()
            }
        }
        _ = try await raft.apply(Array("after".utf8), timeout: .seconds(10))
        for member in members { try await member.fsm.waitForCount(4) }
        #expect(Set(members.map(\.fsm.digest)).count == 1)
        }
    }
}
