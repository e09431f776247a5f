import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// Real hashicorp/raft 1.1.2 NetworkTransport traffic over TCP (`Fixtures/captures`, made by
/// `GoPeers/capture`): what its client sends decodes here, and what its server answered to our
/// frames decodes here too.
@Suite("Wire format: captures of hashicorp/raft 1.1.2 over TCP", .offCooperativePool)
struct WireCaptureTests {
    private static let header = Golden.legacyHeader
    private static let leader = Golden.leaderAddress

    /// Runs a captured client byte stream through the server's frame decoder, byte by byte.
    private func parts(of name: String) throws -> [RequestFramePart] {
        let bytes = try Fixtures.hex("captures", name)
        var parser = RequestFrameParser()
        var input = ByteBufferAllocator().buffer(capacity: bytes.count)
        var parts: [RequestFramePart] = []
        for byte in bytes {
            input.writeInteger(byte)
            while let part = try parser.next(from: &input) { parts.append(part) }
        }
        #expect(input.readableBytes == 0)
        return coalescingSnapshotData(parts)
    }

    @Test("1.1.2 client: heartbeat")
    func clientHeartbeat() throws {
        #expect(try parts(of: "client-append-heartbeat")
            == [.request(.appendEntries(AppendEntriesRequest(header: Self.header, term: 5, leader: Self.leader)))])
    }

    @Test("1.1.2 client: AppendEntries with entries")
    func clientAppendEntries() throws {
        let entries = [
            Log(index: 11, term: 4, type: .noop),
            Log(index: 12, term: 4, type: .command, data: Golden.pattern(40, 2), extensions: Array("x".utf8)),
            Log(index: 13, term: 4, type: .configuration, data: Golden.pattern(300, 5)),
        ]
        #expect(try parts(of: "client-append-entries") == [.request(.appendEntries(AppendEntriesRequest(
            header: Self.header, term: 4, leader: Self.leader, prevLogEntry: 10, prevLogTerm: 3, entries: entries, leaderCommitIndex: 9)))])
    }

    @Test("1.1.2 client: RequestVote, and one its caller saw fail")
    func clientVotes() throws {
        #expect(try parts(of: "client-vote") == [.request(.requestVote(RequestVoteRequest(
            header: Self.header, term: 70000, candidate: Self.leader, lastLogIndex: 5_000_000_000, lastLogTerm: 129, leadershipTransfer: true)))])
        #expect(try parts(of: "client-vote-error") == [.request(.requestVote(RequestVoteRequest(
            header: Self.header, term: 13, candidate: Self.leader, lastLogIndex: 0, lastLogTerm: 0)))])
    }

    @Test("1.1.2 client: TimeoutNow")
    func clientTimeoutNow() throws {
        #expect(try parts(of: "client-timeout-now") == [.request(.timeoutNow(TimeoutNowRequest(header: Self.header)))])
    }

    @Test("1.1.2 client: InstallSnapshot with its 300 bytes of data")
    func clientInstallSnapshot() throws {
        let snapshot = Array("SNAPDATA".utf8) + Golden.pattern(292, 9)
        #expect(try parts(of: "client-install-snapshot") == [
            .request(.installSnapshot(InstallSnapshotRequest(
                header: Self.header, snapshotVersion: 1, term: 9, leader: Self.leader, lastLogIndex: 1234, lastLogTerm: 8,
                configuration: Array("cfg".utf8), configurationIndex: 7, size: 300))),
            .snapshotData(buffer(snapshot)),
            .snapshotEnd,
        ])
    }

    @Test("1.1.2 client: three pipelined AppendEntries back to back")
    func clientPipeline() throws {
        let expected: [RequestFramePart] = (0..<3).map { (i: UInt64) in
            .request(.appendEntries(AppendEntriesRequest(
                header: Self.header, term: 6, leader: Self.leader, prevLogEntry: 20 + i, prevLogTerm: 6,
                entries: [Log(index: 21 + i, term: 6, type: .command, data: Array("cmd-\(i)".utf8))], leaderCommitIndex: 20)))
        }
        #expect(try parts(of: "client-pipeline") == expected)
    }

    /// The 1.1.2 server's answers to our golden request frames (`server-<case>` answers
    /// `req-<case>`), decoded as our client would.
    @Test("1.1.2 server: answers to our frames decode", arguments: [
        ("server-append-heartbeat", RPCType.appendEntries, "", RaftResponse.appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 5, lastLog: 0, success: true, noRetryBackoff: true))),
        ("server-append-empty", .appendEntries, "", .appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 300, lastLog: 200, success: true, noRetryBackoff: true))),
        ("server-append-entries", .appendEntries, "", .appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 4_294_967_303, lastLog: 132, success: true))),
        ("server-append-empty-data", .appendEntries, "", .appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 6, lastLog: 1, success: true))),
        ("server-append-newtime", .appendEntries, "", .appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 7, lastLog: 4, success: true))),
        ("server-append-zoned", .appendEntries, "", .appendEntries(AppendEntriesResponse(
            header: Golden.legacyHeader, term: 8, lastLog: 2, success: true))),
        ("server-vote", .requestVote, "", .requestVote(RequestVoteResponse(header: Golden.legacyHeader, term: 70000, granted: true))),
        ("server-vote-plain", .requestVote, "boom", .requestVote(RequestVoteResponse(header: Golden.emptyHeader, term: 0, granted: false))),
        ("server-install-snapshot", .installSnapshot, "", .installSnapshot(InstallSnapshotResponse(
            header: Golden.emptyHeader, term: 9, success: true))),
        ("server-install-snapshot-negative", .installSnapshot, "", .installSnapshot(InstallSnapshotResponse(
            header: Golden.emptyHeader, term: 1, success: false))),
        ("server-timeout-now", .timeoutNow, "", .timeoutNow(TimeoutNowResponse(header: Golden.emptyHeader))),
    ] as [(String, RPCType, String, RaftResponse)])
    func serverAnswers(_ name: String, _ type: RPCType, _ error: String, _ expected: RaftResponse) throws {
        let (decodedError, response) = try decodeResponseFrame(try Fixtures.hex("captures", name), as: type)
        #expect(decodedError == error)
        #expect(response == expected)
    }

    @Test("1.1.2 server decoded our frames to the values we encoded")
    func serverDecodedOurFrames() throws {
        let lines = try Fixtures.index("captures")
        func line(_ name: String) -> String { lines.first { $0.hasPrefix(name + " |") } ?? "" }
        // Our encoder's bytes equal these golden frames (WireGoldenTests), so this is 1.1.2
        // reading what swift-raft sends.
        #expect(line("server-append-entries").contains(
            "Term:4294967303 Leader:\"127.0.0.1:7000\" PrevLogEntry:127 PrevLogTerm:128 LeaderCommitIndex:65535"))
        #expect(line("server-append-entries").contains("{Index:131 Term:65536 Type:5 Data:70000 bytes Extensions:33 bytes}"))
        #expect(line("server-append-heartbeat").contains("Entries(nil=true)"))
        #expect(line("server-append-empty").contains("LeaderCommitIndex:5000000000 Entries(nil=false):[]"))
        #expect(line("server-vote").contains("Term:70000"))
        #expect(line("server-vote").contains("LastLogIndex:5000000000 LastLogTerm:129 LeadershipTransfer:true"))
        #expect(line("server-install-snapshot").contains(
            "SnapshotVersion:1 Term:9 Leader:\"127.0.0.1:7000\" LastLogIndex:1234 LastLogTerm:8 Peers:31 bytes Configuration:130 bytes ConfigurationIndex:7 Size:300} + 300 snapshot bytes"))
        #expect(line("server-timeout-now").contains("TimeoutNowRequest{RPCHeader:{ProtocolVersion:3}}"))
    }

    @Test("1.1.2 server closes the connection on RequestPreVote and unknown types, without a byte")
    func serverClosesOnUnknownTypes() throws {
        #expect(try Fixtures.hex("captures", "server-prevote").isEmpty)
        #expect(try Fixtures.hex("captures", "server-unknown-type").isEmpty)
        #expect(try Fixtures.index("captures").contains { $0.hasPrefix("server-prevote | connection closed without a reply") })
    }

    @Test("every capture file is checked here")
    func everyCaptureIsCovered() throws {
        let checked: Set<String> = [
            "client-append-heartbeat", "client-append-entries", "client-vote", "client-vote-error", "client-timeout-now",
            "client-install-snapshot", "client-pipeline",
            "server-append-heartbeat", "server-append-empty", "server-append-entries", "server-append-empty-data",
            "server-append-newtime", "server-append-zoned", "server-vote", "server-vote-plain", "server-install-snapshot",
            "server-install-snapshot-negative", "server-timeout-now", "server-prevote", "server-unknown-type",
        ]
        #expect(Set(try Fixtures.names(in: "captures")) == checked)
    }
}

/// Joins consecutive snapshot chunks, whose boundaries depend on how the bytes arrived, so a
/// stream compares equal however it was split.
func coalescingSnapshotData(_ parts: [RequestFramePart]) -> [RequestFramePart] {
    var out: [RequestFramePart] = []
    for part in parts {
        if case .snapshotData(var chunk) = part, case .snapshotData(var previous)? = out.last {
            previous.writeBuffer(&chunk)
            out[out.count - 1] = .snapshotData(previous)
        } else {
            out.append(part)
        }
    }
    return out
}
