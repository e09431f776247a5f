/// One HTTP response from a raftkv node, as ``KVClient`` read it.
public struct KVResponse: Sendable {
    /// The status code: 200, 307, 404, 503, …
    public let status: Int
    /// The header fields in the order they arrived.
    public let headers: [(name: String, value: String)]
    /// The body's bytes.
    public let body: [UInt8]

    /// Creates a response (``KVClient`` makes them; tests may too).
    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The `Location` header, which a follower's `307` carries: the leader's URL for the same path.
    public var location: String? { header("Location") }

    /// The first header field named `name` (compared without case), if any.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// Why a ``KVClient`` request produced no response.
public enum KVClientError: Error, Sendable, Equatable {
    /// The TCP connection could not be made; the text says why.
    case connectFailed(String)
    /// No complete response arrived within the request's timeout. The connection was closed; for
    /// a write, the outcome is unknown.
    case timedOut
    /// The server closed the connection before the response was complete. For a write that was
    /// sent, the outcome is unknown.
    case connectionClosed
    /// The response could not be parsed, or its body was not what the call expected.
    case malformedResponse(String)
}
