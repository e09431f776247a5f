/// Why a call on an outgoing connection got no answer. The connection is unusable afterwards;
/// ``NetworkTransport`` turns these into ``SwiftRaft/RaftError``s naming the RPC and the peer.
enum ClientCallError: Error, Sendable {
    /// The RPC's deadline passed; the connection was closed, so a late answer cannot reach a
    /// later call.
    case timedOut
    /// The connection ended before the answer. `answerStarted` says whether part of an answer
    /// had arrived: a peer that closes without a byte of answer is what hashicorp/raft before
    /// 1.7 does on RequestPreVote.
    case closed(answerStarted: Bool)
    /// The answer could not be decoded.
    case malformed(WireError)
    /// An answer arrived that no request asked for: the peer is out of step.
    case unexpectedAnswer
    /// The request encodes to more than the frame limit, so it was not sent: the peer would
    /// close the connection on it.
    case tooLarge(size: Int, limit: Int)
}

/// What a peer sent back for a call on an outgoing connection; either way the connection is
/// still in step and may be reused.
enum CallAnswer: Sendable {
    /// The decoded response.
    case response(WireResponse)
    /// The peer's error text (hashicorp/raft's `errors.New(text)`).
    case refused(String)
}
