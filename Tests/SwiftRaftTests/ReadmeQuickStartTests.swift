import Foundation
import SwiftRaft
import Synchronization
import Testing

// The README's quick start, run as written: the code between the markers below is the README's
// "Quick start" sample without its imports, and a spec checks that the two stay the same, so the
// sample cannot rot unnoticed. It runs on real time and the default settings, as a reader's copy
// would; nothing here asserts how long anything took.
@Suite(.timeLimit(.minutes(1)))
struct ReadmeQuickStartTests {
    // The quick start elects a leader, commits a command on it, and a follower's notLeader names that leader.
    @Test func theQuickStartRunsAsWritten() async throws {
        // README quick start: begin
        /// The state machine: counts the commands it applies; its snapshot is the count.
        final class Counter: FSM {
            private let count = Mutex(0)
            func apply(_ log: Log) -> (any Sendable)? { count.withLock { $0 += 1; return $0 } }
            func snapshot() throws -> any FSMSnapshot { CountSnapshot(count: count.withLock { $0 }) }
            func restore(from source: any SnapshotSource) throws {
                let text = String(decoding: try source.readAll(), as: UTF8.self)
                count.withLock { $0 = Int(text) ?? 0 }
            }
        }

        struct CountSnapshot: FSMSnapshot {
            let count: Int
            func persist(to sink: any SnapshotSink) throws {
                try sink.write(Array("\(count)".utf8))
                try sink.close()
            }
            func release() {}
        }

        // Three servers whose transports reach one another.
        let servers: [Server] = [
            Server(id: "node-1", address: "node-1"),
            Server(id: "node-2", address: "node-2"),
            Server(id: "node-3", address: "node-3"),
        ]
        let transports = servers.map { InmemTransport(address: $0.address) }
        for transport in transports {
            for peer in transports where peer !== transport { transport.connect(peer) }
        }

        // Each node bootstraps the same configuration (only ever on a brand-new cluster's first start),
        // then starts.
        var nodes: [Raft] = []
        for (server, transport) in zip(servers, transports) {
            let config = Config(localID: server.id)
            let store = InmemStore()                    // log and term; InmemSnapshotStore for snapshots
            let snapshots = InmemSnapshotStore()
            try Raft.bootstrapCluster(config: config, logStore: store, stableStore: store, snapshotStore: snapshots,
                                      configuration: Configuration(servers: servers))
            nodes.append(try await Raft(config: config, fsm: Counter(), logStore: store, stableStore: store,
                                        snapshotStore: snapshots, transport: transport))
        }

        // Wait until every node knows a leader: subscribe first, then look, so no change is missed.
        for node in nodes {
            let changes = node.leadershipChanges()
            if node.leader == nil {
                for await change in changes where change.leader != nil { break }
            }
        }

        // Only the leader applies commands.
        let leader = nodes.first { $0.state == .leader }!
        let result = try await leader.apply(Array("increment".utf8), timeout: .seconds(5))
        print("committed at index \(result.index); the count is now \(result.response!)")

        // A follower refuses with notLeader, naming the leader (ID and address) so a client can go there.
        let follower = nodes.first { $0 !== leader }!
        var redirect: Server?
        do {
            _ = try await follower.apply(Array("increment".utf8), timeout: .seconds(5))
        } catch let error as RaftError where error.code == .notLeader {
            redirect = error.leader
            print("\(follower.config.localID) is not the leader; ask \(error.leader?.id.rawValue ?? "?") at \(error.leader?.address.rawValue ?? "?")")
        }

        for node in nodes { await node.shutdown() }
        // README quick start: end

        #expect(result.index > 0)
        #expect(result.response as? Int == 1)
        #expect(redirect?.id == leader.config.localID)
    }

    // The code above is the README's quick start, line for line (imports aside).
    @Test func theQuickStartIsTheREADMEs() throws {
        let thisFile = URL(fileURLWithPath: "\(#filePath)")
        let readme = thisFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let sample = try Self.quickStartSample(in: String(contentsOf: readme, encoding: .utf8))
        let test = try Self.markedCode(in: String(contentsOf: thisFile, encoding: .utf8))
        let pairs = Array(zip(test, sample))
        let firstDifference = pairs.firstIndex { $0.0 != $0.1 } ?? (test.count == sample.count ? nil : pairs.count)
        #expect(firstDifference == nil, "README.md's quick start and this test differ from the sample's line \((firstDifference ?? 0) + 1): \(sample.dropFirst(firstDifference ?? 0).first ?? "(end)")")
    }

    /// The README's quick start sample (the ```swift block after `<!-- quick start -->`), without
    /// its imports and leading blank lines.
    static func quickStartSample(in readme: String) throws -> [String] {
        let lines = readme.components(separatedBy: "\n")
        let marker = try #require(lines.firstIndex(of: "<!-- quick start -->"))
        #expect(lines[marker + 1] == "```swift")
        let end = try #require(lines[(marker + 2)...].firstIndex(of: "```"))
        let code = lines[(marker + 2)..<end].filter { !$0.hasPrefix("import ") }
        return Array(code.drop { $0.isEmpty })
    }

    /// The lines between this file's begin and end markers, indentation removed.
    static func markedCode(in source: String) throws -> [String] {
        let lines = source.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex { $0.hasSuffix("// README " + "quick start: begin") })
        let end = try #require(lines.firstIndex { $0.hasSuffix("// README " + "quick start: end") })
        return lines[(begin + 1)..<end].map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : $0 }
    }
}
