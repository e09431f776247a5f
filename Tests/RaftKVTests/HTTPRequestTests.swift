@testable import RaftKV
import RaftKVClient
import Testing

/// Request targets and addresses as raftkv parses them.
@Suite struct HTTPRequestTests {
    // A target splits into percent-encoded path segments and decoded query parameters; a bare parameter (`?stale`) has the value "".
    @Test func aTargetSplitsIntoSegmentsAndQuery() {
        let request = HTTPRequest(method: "GET", uri: "/kv/a%2Fb?stale&to=n%32")
        #expect(request.segments == ["kv", "a%2Fb"])
        #expect(request.query == ["stale": "", "to": "n2"])
        #expect(HTTPRequest(method: "GET", uri: "/kv").segments == ["kv"])
    }

    // Keys survive the client's percent-encoding and the server's decoding unchanged, whatever their characters.
    @Test(arguments: ["plain", "a/b", "with space", "50%", "q?x=1&y", "clé ✓", "~._-"])
    func keysRoundTripThroughPercentEncoding(_ key: String) {
        let path = KVClient.path(ofKey: key)
        #expect(!path.dropFirst(4).contains("/"))
        #expect(PercentEncoding.decode(path.dropFirst(4)) == key)
    }

    // `host:port` addresses parse (IPv6 in brackets too), and a redirect's URL yields its authority.
    @Test func addressesParse() {
        #expect(HostPort.parse("127.0.0.1:8001")! == ("127.0.0.1", 8001))
        #expect(HostPort.parse("[::1]:7000")! == ("::1", 7000))
        #expect(HostPort.parse("nope") == nil)
        #expect(HostPort.parse(":80") == nil)
        #expect(HostPort.parse("h:70000") == nil)
        #expect(HostPort.fromURL("http://127.0.0.1:8002/servers") == "127.0.0.1:8002")
        #expect(HostPort.fromURL("https://x:1/") == nil)
    }
}
