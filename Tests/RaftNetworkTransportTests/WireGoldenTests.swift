import NIOCore
@testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// Our bytes against go-msgpack 0.5.5's (`Fixtures/golden`, made by `GoPeers/golden`): the
/// encoder must reproduce hashicorp/raft's newest frames byte for byte, and the decoder must
/// read both the newest and 1.1.2's.
@Suite("Wire format: golden bytes from go-msgpack", .offCooperativePool)
struct WireGoldenTests {
    @Test("encoder reproduces the newest hashicorp/raft request bytes", arguments: Golden.requests.filter(\.exact))
    func encodesRequestsByteForByte(_ golden: Golden.RequestCase) throws {
        let expected = try Fixtures.hex("golden", golden.name)
        let actual = encodedRequest(golden.request)
        #expect(actual == expected, "ours \(hexString(actual))\nGo's \(hexString(expected))")
    }

    @Test("encoder reproduces the newest hashicorp/raft response bytes", arguments: Golden.responses.filter(\.exact))
    func encodesResponsesByteForByte(_ golden: Golden.ResponseCase) throws {
        let expected = try Fixtures.hex("golden", golden.name)
        let actual = encodedResponse(golden.response, error: golden.error)
        #expect(actual == expected, "ours \(hexString(actual))\nGo's \(hexString(expected))")
    }

    @Test("decoder reads every golden request, newest and 1.1.2", arguments: Golden.requests + Golden.legacyRequests)
    func decodesRequests(_ golden: Golden.RequestCase) throws {
        let bytes = try Fixtures.hex("golden", golden.name)
        let decoded = try decodeRequestFrame(bytes)
        #expect(decoded == golden.request)
    }

    @Test("decoder reads every golden response, newest and 1.1.2", arguments: Golden.responses + Golden.legacyResponses)
    func decodesResponses(_ golden: Golden.ResponseCase) throws {
        let bytes = try Fixtures.hex("golden", golden.name)
        let (error, response) = try decodeResponseFrame(bytes, as: golden.type)
        #expect(error == golden.error)
        #expect(response == golden.decoded)
    }

    @Test("every golden file has a Swift case, with the same exact/decode mark as index.txt")
    func everyFixtureIsCovered() throws {
        var marks: [String: Bool] = [:]
        for golden in Golden.requests + Golden.legacyRequests { marks[golden.name] = golden.exact }
        for golden in Golden.responses + Golden.legacyResponses { marks[golden.name] = golden.exact }
        let files = try Fixtures.names(in: "golden")
        #expect(Set(files) == Set(marks.keys))
        for line in try Fixtures.index("golden") {
            let fields = line.split(separator: "|").map { $0.trimmingCharacters(in: " ") }
            guard fields.count == 3, let exact = marks[fields[0]] else {
                Issue.record("index line without a Swift case: \(line)")
                continue
            }
            #expect(fields[1] == (exact ? "exact" : "decode"), "\(fields[0])")
        }
    }

    // hashicorp/raft 1.7 grants a pre-vote with the term it was asked about (the candidate's term
    // + 1). "resp-prevote" is such a grant for "req-prevote" (Term 256): decoded from Go's bytes,
    // it must count as a grant for a candidate proposing term 256, not as news of a newer term.
    @Test("a pre-vote grant echoing the proposed term, as hashicorp/raft 1.7 sends it, starts the real election")
    func preVoteGrantWithTheProposedTermIsAGrant() throws {
        let (_, response) = try decodeResponseFrame(try Fixtures.hex("golden", "resp-prevote"), as: .requestPreVote)
        guard case .requestPreVote(let answer) = response else {
            Issue.record("not a RequestPreVote response")
            return
        }
        #expect(answer.granted && answer.term == 256)

        let servers = (0..<3).map { Server(id: ServerID("n\($0 + 1)"), address: ServerAddress("127.0.0.1:\(7000 + $0)")) }
        let restored = RaftInstance.RestoredState(
            hardState: HardState(currentTerm: 255),
            entries: [Log(index: 1, term: 1, type: .configuration, data: ConfigurationCodec.encode(Configuration(servers: servers)))]
        )
        var candidate = RaftInstance(
            options: RaftInstance.Options(localID: "n1", localAddress: "127.0.0.1:7000"), restored: restored, random: SplitMix64(seed: 1)
        )
        var preVote: OutboundRequest?
        for _ in 0..<1_000 where preVote == nil {
            candidate.tick()
            preVote = candidate.takeReady().messages.first { $0.context.kind == .requestPreVote && $0.target.id == "n2" }
        }
        let request = try #require(preVote)
        #expect(request.context.term == 256)
        candidate.receive(response: .requestPreVote(answer), context: request.context)
        #expect(candidate.currentRole == .candidate)
        #expect(candidate.currentTerm == 256)
        #expect(candidate.takeReady().messagesAfterPersist.contains { $0.context.kind == .requestVote })
    }

    @Test("encode then decode gives the value back, entries as slices of one buffer")
    func roundTrips() throws {
        for golden in Golden.requests where golden.exact {
            #expect(try decodeRequestFrame(encodedRequest(golden.request)) == golden.request, "\(golden.name)")
        }
        for golden in Golden.responses where golden.exact {
            #expect(try decodeResponseFrame(encodedResponse(golden.response, error: golden.error), as: golden.type).response
                == golden.decoded, "\(golden.name)")
        }
    }

    @Test("entry Data and Extensions share one copy of the frame")
    func entryBytesShareOneBuffer() throws {
        guard case .appendEntries(let request) = try decodeRequestFrame(try Fixtures.hex("golden", "req-append-entries")) else {
            Issue.record("not an AppendEntries")
            return
        }
        let slices = request.entries.flatMap { [$0.data, $0.extensions] }.filter { !$0.isEmpty }
        #expect(slices.count == 5)
        // A slice's first element sits startIndex elements into its parent array.
        let parents = Set(slices.map { slice in
            slice.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) - UInt(slice.startIndex) }
        })
        #expect(parents.count == 1, "every slice points into the same array")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var text = self
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return String(text)
    }
}
