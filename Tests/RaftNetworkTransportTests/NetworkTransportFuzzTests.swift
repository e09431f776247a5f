#if canImport(Glibc)
import Glibc
#endif
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

/// A live server fed hostile bytes keeps running, keeps its memory, and keeps serving a
/// well-formed peer. (`WireFuzzTests` fuzzes the decoder alone, frame by frame.)
@Suite("NetworkTransport: a live server under fuzzed input", .timeLimit(.minutes(5)))
struct NetworkTransportFuzzTests {
    /// How many mutated frames to send; `RAFT_LIVE_FUZZ_FRAMES` raises it for longer runs.
    private static let frameCount: Int = {
        environmentNumber("RAFT_LIVE_FUZZ_FRAMES").map { Int(clamping: $0) } ?? 100_000
    }()

    /// Frames per connection: the server reads them back to back until one fails, then closes
    /// the connection, so later frames on it test nothing; a fresh connection every few frames
    /// gets most of them read.
    private static let framesPerConnection = 20

    @Test("Mutated and random frames on raw connections: no crash, bounded memory, a good peer still served")
    func fuzzedConnectionsLeaveTheServerServing() async throws {
        let seed = environmentNumber("RAFT_FUZZ_SEED") ?? 0xF022_5EED
        var rng = SplitMix64(seed: seed)
        var mutator = Mutator(seeds: try Golden.allRequestNames.map { try Fixtures.hex("golden", $0) })
        let residentBefore = Self.residentBytes()

        try await withTransportPair(server: { $0.maxFrameSize = 1 << 20 }) { client, server in
            _ = TestServer(server)
            var sent = 0
            var connections = 0
            while sent < Self.frameCount {
                var bytes: [UInt8] = []
                for _ in 0..<min(Self.framesPerConnection, Self.frameCount - sent) {
                    bytes += mutator.mutatedFrame(&rng)
                    sent += 1
                }
                let raw = try await RawPeer.connect(to: server.localAddress, on: server.taskExecutor.eventLoop)
                // The server may close mid-send once a frame fails; that is the point.
                try? await raw.send(bytes)
                await raw.close()
                connections += 1

                if connections % 250 == 0 {
                    let request = numberedAppend(UInt64(connections), from: client.localAddress)
                    let response = try await bounded("a well-formed call after \(sent) fuzzed frames") {
                        try await client.appendEntries(id: "s", target: server.localAddress, request)
                    }
                    #expect(response == answer(to: request, from: server.localAddress))
                }
            }
            let last = numberedAppend(1, from: client.localAddress)
            let response = try await bounded("a well-formed call after the fuzzing") {
                try await client.appendEntries(id: "s", target: server.localAddress, last)
            }
            #expect(response == answer(to: last, from: server.localAddress))
            print("live fuzz (seed \(seed)): \(sent) frames on \(connections) connections")
        }

        // The mutations declare lengths up to 4 GiB; a server that allocated what a frame claims
        // would blow far past this. The bound is loose on purpose: other tests share the process.
        let growth = Self.residentBytes() - residentBefore
        #expect(growth < 1 << 30, "resident memory grew by \(growth >> 20) MiB")
    }

    /// This process's resident set size, from /proc/self/statm.
    private static func residentBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = fread(&buffer, 1, buffer.count, file)
        // "size resident shared ..." in pages.
        let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let resident = Int(fields[1]) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
