import Foundation
import RaftNetworkTransport
import RaftTestKit
import SwiftRaft
import Testing

/// Clusters of swift-raft and hashicorp/raft 1.1.2 nodes (`GoPeers/node`, real processes) on
/// loopback: they elect each other, replicate, lose their leader, elect across implementations,
/// and end with identical FSMs.
///
/// The first leader is chosen by bootstrapping only it (``MixedClusterTiming``); later elections
/// are whatever the survivors make of them.
///
/// The time limit only guards against a hang: each test takes under a minute here, and up to
/// five under a sanitizer with other tests beside it.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(15)),
    .serialized
)
struct MixedClusterTests {
    @Test func aSwiftLeaderReplicatesToGoFollowersWhichCarryOnWithoutItAndCatchItUpAfterItsRestart() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = SwiftMember(id: "swift-1", address: try freeLoopbackAddress())
        let goServers = try GoMember.servers(2)
        let configuration = Configuration(servers: [swift.server] + goServers)
        let go = try await GoMember.start(goServers, bootstrappingFirstWith: nil, in: directory.path)
        defer { go.forEach { $0.process.kill() } }

        try await swift.start(bootstrapping: configuration)
        try await swift.waitUntilLeader()
        try await swift.applyCommands(10_000, prefix: "swift")
        let digest = swift.fsm.digest
        #expect(swift.fsm.count == 10_000)
        for member in go {
            #expect(try await member.waitForCount(10_000) == digest, "\(member.id) applied a different history")
        }

        // The Swift leader dies; the Go followers elect one of themselves and carry on.
        await swift.stop()
        let goLeader = try await GoMember.waitForLeader(among: go)
        #expect(try await goLeader.send("apply 1000 go") == "ok applied=1000 errors=0")

        // Back from its stores, the Swift node follows the Go leader and catches up.
        try await swift.start(bootstrapping: nil)
        #expect(try await goLeader.send("barrier") == "ok")
        let finalDigest = try await goLeader.waitForCount(11_000)
        for member in go { #expect(try await member.waitForCount(11_000) == finalDigest, "\(member.id)") }
        try await swift.fsm.waitForCount(11_000)
        #expect(swift.fsm.digest == finalDigest)
        await swift.stop()
    }

    @Test func aGoLeaderReplicatesToSwiftFollowersWhichCarryOnWithoutItAndCatchItUpAfterItsRestart() async throws {
        let directory = try TemporaryDirectory(prefix: "swift-raft-interop")
        defer { directory.remove() }
        let swift = try (1...2).map { SwiftMember(id: ServerID("swift-\($0)"), address: try freeLoopbackAddress()) }
        let goAddress = try freeLoopbackAddress()
        let configuration = Configuration(servers: [Server(id: "go-1", address: goAddress)] + swift.map(\.server))
        for member in swift { try await member.start(bootstrapping: nil) }
        var goLeader = try GoMember(
            id: "go-1", address: goAddress, bootstrapping: configuration, dataDirectory: directory.path + "/go-1"
        )
        defer { goLeader.process.kill() }
        try await goLeader.waitUntilListening()
        #expect(try await GoMember.waitForLeader(among: [goLeader]).id == "go-1")

        // The timeout only guards against a stall: the Go leader applies one command at a time,
        // each a round trip to the Swift followers, which takes seconds here and more than two
        // minutes under ThreadSanitizer beside three other tests.
        #expect(try await goLeader.send("apply 10000 go", timeout: .seconds(600)) == "ok applied=10000 errors=0")
        let digest = try await goLeader.waitForCount(10_000)
        for member in swift {
            try await member.fsm.waitForCount(10_000)
            #expect(member.fsm.digest == digest, "\(member.id) applied a different history")
        }

        // The Go leader dies; the Swift followers elect one of themselves and carry on.
        goLeader.process.kill()
        let swiftLeader = try await SwiftMember.waitForLeader(among: swift)
        try await swiftLeader.applyCommands(1_000, prefix: "swift")

        // Back from its bolt file, the Go node follows the Swift leader and catches up.
        goLeader = try goLeader.restarted()
        try await goLeader.waitUntilListening()
        try await swiftLeader.raft!.barrier(timeout: .seconds(30))
        let finalDigest = try await goLeader.waitForCount(11_000)
        for member in swift {
            try await member.fsm.waitForCount(11_000)
            #expect(member.fsm.digest == finalDigest, "\(member.id)")
        }
        for member in swift { await member.stop() }
    }
}
