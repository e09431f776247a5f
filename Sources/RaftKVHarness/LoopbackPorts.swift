#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Free TCP ports on 127.0.0.1 for the processes a harness starts.
///
/// A port is free when a bind to it succeeds; the probe socket is closed at once, so another
/// program could take the port before the node binds it. Ports come from below Linux's ephemeral
/// range (where the kernel picks clients' ports) and are never handed out twice by one test
/// process, which keeps that race to other programs choosing the same random port.
public enum LoopbackPorts {
    private static let handedOut = Mutex<Set<UInt16>>([])

    /// A port on 127.0.0.1 that nothing listens on now and this process has not handed out.
    public static func next() throws -> Int {
        for _ in 0..<500 {
            let port = UInt16.random(in: 20_000..<32_000)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if isFree(port) { return Int(port) }
        }
        throw RaftKVHarnessError("no free loopback port found below the ephemeral range")
    }

    private static func isFree(_ port: UInt16) -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 }
        }
    }
}
