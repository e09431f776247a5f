import SwiftRaft

extension WireResponse {
    /// The wire form of Raft's answer.
    init(_ response: RPCResponse) {
        switch response {
        case .appendEntries(let r): self = .appendEntries(r)
        case .requestVote(let r): self = .requestVote(r)
        case .requestPreVote(let r): self = .requestPreVote(r)
        case .installSnapshot(let r): self = .installSnapshot(r)
        case .timeoutNow(let r): self = .timeoutNow(r)
        }
    }
}

extension NetworkTransport {
    /// The error text sent for a failed RPC. A ``RaftError`` travels as its message alone, which
    /// is hashicorp/raft's text for the same failure (e.g. "raft is already shutdown"), so Go
    /// peers log what they would log among themselves.
    static func wireText(of error: any Error) -> String {
        if let error = error as? RaftError { return error.message.isEmpty ? "\(error.code)" : error.message }
        let text = "\(error)"
        return text.isEmpty ? "rpc failed" : text
    }
}
