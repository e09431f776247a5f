import Foundation

/// Where PEM-encoded certificates or a key come from: a file, read again on every reload, or a
/// value already in memory (from a secret store, say).
public enum PEMSource: Sendable, Hashable, CustomStringConvertible {
    /// A PEM file at this path.
    case file(String)
    /// PEM text in memory.
    case pem(String)

    /// The path, or "PEM in memory": never the PEM itself, which may be a private key.
    public var description: String {
        switch self {
        case .file(let path): return path
        case .pem: return "PEM in memory"
        }
    }

    /// The PEM bytes. Reads the file, so it is only called off the cooperative pool.
    func bytes() throws(TLSStreamLayerError) -> [UInt8] {
        switch self {
        case .pem(let text):
            return Array(text.utf8)
        case .file(let path):
            do {
                return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw TLSStreamLayerError(.unreadableFile, "cannot read \(path): \(error.localizedDescription)")
            }
        }
    }
}
