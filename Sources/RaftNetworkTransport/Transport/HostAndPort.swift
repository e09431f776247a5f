import NIOCore
import SwiftRaft

/// A `host:port` address split in two, as a ``StreamLayer`` takes it. IPv6 literals are written
/// in brackets, `[::1]:7000`, as Go's `net.JoinHostPort` does.
struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    /// Splits `address`, or throws ``RaftError/Code/invalidArgument`` when it is not `host:port`
    /// with a port in 0…65535.
    init(parsing address: ServerAddress) throws {
        let text = address.rawValue
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw RaftError(.invalidArgument, "address \(text) is not [host]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw RaftError(.invalidArgument, "address \(text) has no port")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw RaftError(.invalidArgument, "address \(text): write IPv6 hosts in brackets, [host]:port")
            }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw RaftError(.invalidArgument, "address \(text) has no valid port")
        }
        self.host = String(host)
        self.port = port
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// The address of a bound socket, as peers would dial it.
    init?(_ address: SocketAddress) {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        self.init(host: ip, port: port)
    }

    /// Whether `host` is the unspecified address (`0.0.0.0`, `::` or empty), which names every
    /// interface when listening but no machine when dialed: peers cannot reach it.
    var isUnspecified: Bool {
        if host.isEmpty { return true }
        guard let address = try? SocketAddress(ipAddress: host, port: 0) else { return false }
        switch address {
        case .v4(let v4): return v4.address.sin_addr.s_addr == 0
        case .v6(let v6): return withUnsafeBytes(of: v6.address.sin6_addr) { $0.allSatisfy { $0 == 0 } }
        case .unixDomainSocket: return false
        }
    }

    /// `host:port`, with IPv6 hosts in brackets.
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
