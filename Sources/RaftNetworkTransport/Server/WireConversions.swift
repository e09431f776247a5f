import SwiftRaft

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
