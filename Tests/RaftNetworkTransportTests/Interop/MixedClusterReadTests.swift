import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// ReadIndex is swift-raft's own RPC. hashicorp/raft 1.1.2 (`GoPeers/node`, real processes) does
/// not know its type byte and closes the connection it came on: a Swift follower of a Go leader
/// fails the read with a clear error, and nothing else changes (the cluster keeps its leader and
/// its writes, since the closed connection carried nothing else).
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(3)),
    .serialized
)
struct MixedClusterReadTests {
    @Test func aSwiftFollowerOfAGoLeaderFailsItsReadClearlyAndTheClusterCarriesOn() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress())
        let goServers = try GoMember.servers(2)
        let configuration = Configuration(servers: goServers + [swift.server])
        try await swift.start(bootstrapping: nil)
        let go = try await GoMember.start(goServers, bootstrappingFirstWith: configuration, in: directory.path)
        defer { go.forEach { $0.process.kill() } }

        let leader = try await GoMember.waitForLeader(among: go)
        #expect(try await leader.send("apply 50 go") == "ok applied=50 errors=0")
        try await swift.fsm.waitForCount(50)
        let raft = try #require(swift.raft)
        try await withDeadline(.seconds(10), "the Swift node to know its Go leader") {
            while raft.leader?.id.rawValue != leader.id { try await Task.sleep(for: .milliseconds(20)) }
        }
        let term = raft.currentTerm

        await #expect {
            try await raft.readIndex(timeout: .seconds(5))
        } throws: { error in
            guard let error = error as? RaftError else { return false }
            return error.code == .unsupportedProtocol && error.leader?.id.rawValue == leader.id
                && error.message.contains("ReadIndex")
        }

        // Same leader, same term; writes still reach the Swift follower.
        #expect(raft.currentTerm == term)
        #expect(try await leader.send("apply 50 more") == "ok applied=50 errors=0")
        let digest = try await leader.waitForCount(100)
        try await swift.fsm.waitForCount(100)
        #expect(swift.fsm.digest == digest)
        #expect(raft.leader?.id.rawValue == leader.id)
        await swift.stop()
    }
}
