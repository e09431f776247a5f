import SwiftRaft

extension NetworkTransport {
    /// The error a caller gets for a peer's error answer. Over the wire only the text survives,
    /// so codes are recovered for the texts swift-raft and hashicorp/raft send for them; any
    /// other text is a failed RPC, as with the in-memory transport.
    static func remoteError(_ text: String, rpc: RPCType, target: ServerAddress) -> RaftError {
        if rpc == .requestPreVote && text.contains("unexpected command") {
            // hashicorp/raft without pre-vote support in its RPC loop (it then counts a
            // pre-vote it sent the same way, as a grant).
            return RaftError(.preVoteUnsupported, "\(target) does not support RequestPreVote: \(text)")
        }
        if text == RaftError.shutdown.message {
            return RaftError(.shutdown, "\(target) answered \(rpc): \(text)")
        }
        if text.hasPrefix("operation not supported with current protocol version") {
            return RaftError(.unsupportedProtocol, "\(target) answered \(rpc): \(text)")
        }
        return RaftError(.unreachable, "\(target) failed the \(rpc) RPC: \(text)")
    }

    /// The error a caller gets when a call's connection failed.
    func surfaced(_ error: any Error, rpc: RPCType, target: ServerAddress, timeout: Duration?) -> RaftError {
        if isClosed { return shutdownError }
        switch error {
        case let error as RaftError:
            return error
        case ClientCallError.timedOut:
            return RaftError(.timeout, "\(rpc) to \(target) timed out after \(timeout ?? options.timeout)")
        case ClientCallError.closed(let answerStarted):
            if rpc == .requestPreVote && !answerStarted {
                // hashicorp/raft before 1.7 closes the connection on the unknown type 4.
                return RaftError(
                    .preVoteUnsupported,
                    "\(target) closed the connection on RequestPreVote: it predates pre-vote (hashicorp/raft < 1.7)"
                )
            }
            if rpc == .readIndex && !answerStarted {
                // hashicorp/raft closes the connection on a type byte it does not know; so does
                // a swift-raft server that crashed meanwhile, which the caller's retry will tell.
                return RaftError(
                    .unsupportedProtocol,
                    "\(target) closed the connection on ReadIndex without answering: it does not know the RPC"
                        + " (hashicorp/raft has none), or it went down"
                )
            }
            return RaftError(.unreachable, "connection to \(target) closed before the \(rpc) answer arrived")
        case ClientCallError.malformed(let wireError):
            return RaftError(.corrupt, "malformed \(rpc) answer from \(target): \(wireError)")
        case ClientCallError.unexpectedAnswer:
            return RaftError(.corrupt, "\(target) sent an answer no request asked for")
        default:
            return RaftError(.unreachable, "\(rpc) to \(target) failed: \(error)")
        }
    }

    /// A request not sent because it encodes past the frame limit peers enforce.
    static func tooLarge(_ rpc: RPCType, size: Int, limit: Int, target: ServerAddress) -> RaftError {
        RaftError(.invalidArgument, "\(rpc) to \(target) encodes to \(size) bytes, over maxFrameSize \(limit): not sent")
    }

    /// What calls get once the transport is closed.
    var shutdownError: RaftError { RaftError(.transportShutdown, "transport \(localAddress) is closed") }

    /// Throws ``SwiftRaft/RaftError/Code/transportShutdown`` once the transport is closed.
    func checkOpen() throws(RaftError) {
        if isClosed { throw shutdownError }
    }
}
