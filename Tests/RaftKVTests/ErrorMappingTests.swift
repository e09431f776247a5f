@testable import RaftKV
import SwiftRaft
import Testing

/// The contract between raftkv and its clients: which HTTP answer each failure gets.
@Suite struct ErrorMappingTests {
    private let leader = Server(id: "n2", address: "127.0.0.1:7002")

    private func reply(_ error: any Error, _ operation: ErrorMapping.Operation = .write, leaderHTTP: String? = nil) -> HTTPReply {
        ErrorMapping.reply(for: error, operation: operation, uri: "/kv/a%2Fb?x", leaderHTTP: leaderHTTP)
    }

    // A follower that knows the leader's HTTP address answers 307 with the leader's URL for the same path and query, in Location and in the body.
    @Test func notLeaderWithAKnownLeaderIsARedirect() {
        let answer = reply(RaftError.notLeader(leader), leaderHTTP: "127.0.0.1:8002")
        #expect(answer.status == 307)
        #expect(answer.header("Location") == "http://127.0.0.1:8002/kv/a%2Fb?x")
        #expect(answer.text.contains("http://127.0.0.1:8002/kv/a%2Fb?x"))
    }

    // With no leader known, or a leader whose HTTP address is not known yet, the answer is 503: not applied.
    @Test func notLeaderWithoutALeaderIs503() {
        #expect(reply(RaftError.notLeader(nil)).status == 503)
        #expect(reply(RaftError.notLeader(nil)).text.hasPrefix("no leader"))
        #expect(reply(RaftError.notLeader(leader), leaderHTTP: nil).status == 503)
    }

    // Errors raised before a command entered the log are 503: it certainly was not applied.
    @Test(arguments: [RaftError.Code.enqueueTimeout, .leadershipTransferInProgress, .quorumWouldBeLost])
    func errorsBeforeTheLogAre503(_ code: RaftError.Code) {
        #expect(reply(RaftError(code, "x")).status == 503)
        #expect(reply(CancellationError()).status == 503)
    }

    // Errors after which a write may still commit are 500 (leadership lost, shutdown, cancelled, anything unrecognised) or 504 (timeout), and say "outcome unknown".
    @Test func errorsAfterTheLogAreOutcomeUnknown() {
        for (code, status) in [(RaftError.Code.leadershipLost, 500), (.shutdown, 500), (.cancelled, 500), (.timeout, 504), (.storage, 500)] {
            let answer = reply(RaftError(code, "x"))
            #expect(answer.status == status, "\(code)")
            #expect(answer.text.hasPrefix("outcome unknown:"), "\(code)")
        }
        struct Unrecognised: Error {}
        #expect(reply(Unrecognised()).status == 500)
    }

    // A bad argument is 400 and an empty snapshot 409, both certainly not applied.
    @Test func badInputIs4xx() {
        #expect(reply(RaftError(.invalidArgument, "too large")).status == 400)
        #expect(reply(RaftError(.nothingNewToSnapshot, "x"), .control).status == 409)
    }

    // Reads, snapshots and transfers write nothing that could commit later: their failures are 503, timeouts included; a read on a follower is redirected like a write.
    @Test func readAndControlFailuresAre503() {
        for operation in [ErrorMapping.Operation.read, .control] {
            for code in [RaftError.Code.leadershipLost, .timeout, .shutdown] {
                #expect(reply(RaftError(code, "x"), operation).status == 503, "\(operation) \(code)")
            }
        }
        #expect(reply(RaftError.notLeader(leader), .read, leaderHTTP: "127.0.0.1:8002").status == 307)
    }
}
