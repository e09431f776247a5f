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
}
