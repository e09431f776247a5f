/// Parses the `host:port` addresses raftkv's flags and redirects carry.
enum HostPort {
    /// `host:port` (`[v6]:port` too) as its parts; nil when it is not one.
    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// The `host:port` of an `http://host:port/path` URL, as a `307`'s `Location` gives it.
    static func fromURL(_ url: String) -> String? {
        guard url.hasPrefix("http://") else { return nil }
        let authority = url.dropFirst("http://".count).prefix { $0 != "/" && $0 != "?" }
        return parse(String(authority)) != nil ? String(authority) : nil
    }
}
