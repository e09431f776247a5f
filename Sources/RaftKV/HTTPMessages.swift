import RaftKVClient

/// A request as the routes see it: method, decoded path, query and body.
struct HTTPRequest: Sendable {
    /// `GET`, `PUT`, …
    var method: String
    /// The request target as sent (`/kv/a%2Fb?stale`), for the `Location` of a redirect.
    var uri: String
    /// The path's segments after the leading `/`, still percent-encoded (`["kv", "a%2Fb"]`).
    var segments: [Substring]
    /// The query's parameters; a parameter without `=` (`?stale`) has the value "".
    var query: [String: String]
    /// The body.
    var body: [UInt8]

    init(method: String, uri: String, body: [UInt8] = []) {
        self.method = method
        self.uri = uri
        self.body = body
        let target = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = target.first ?? ""
        segments = Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
        query = [:]
        if target.count == 2 {
            for parameter in target[1].split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = PercentEncoding.decode(pair[0]) else { continue }
                query[name] = pair.count == 2 ? PercentEncoding.decode(pair[1]) ?? "" : ""
            }
        }
    }
}

/// A response as the routes produce it.
struct HTTPReply: Sendable, Equatable {
    var status: Int
    var headers: [HeaderField] = []
    var body: [UInt8]

    /// One header field (a struct, so replies compare with `==` in tests).
    struct HeaderField: Sendable, Equatable {
        var name: String
        var value: String
    }

    init(status: Int, headers: [HeaderField] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` reply; a newline is added so curl's output ends its line.
    static func text(_ status: Int, _ text: String) -> HTTPReply {
        HTTPReply(status: status, headers: [.init(name: "Content-Type", value: "text/plain; charset=utf-8")], body: Array((text + "\n").utf8))
    }

    /// An `application/json` reply.
    static func json(_ bytes: [UInt8]) -> HTTPReply {
        HTTPReply(status: 200, headers: [.init(name: "Content-Type", value: "application/json")], body: bytes)
    }

    /// The body as text.
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The first header named `name` (compared without case).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
