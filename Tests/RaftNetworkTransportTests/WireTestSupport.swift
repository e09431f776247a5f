#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import RaftFileStores
@testable import RaftNetworkTransport
import SwiftRaft
import Testing

/// The number in environment variable `name` (a knob for longer fuzz runs), or nil when it is
/// unset or not a number.
func environmentNumber(_ name: String) -> UInt64? {
    getenv(name).flatMap { UInt64(String(cString: $0)) }
}

/// Reads the Go-generated fixtures under `Fixtures/` (see `GoPeers/golden/README.md`).
enum Fixtures {
    /// `Tests/RaftNetworkTransportTests/Fixtures`, found from this file's path so the tests run
    /// from any working directory.
    static let directory: String = {
        let file = "\(#filePath)"
        let folder = file.lastIndex(of: "/").map { String(file[..<$0]) } ?? "."
        return folder + "/Fixtures"
    }()

    /// The bytes of `<subdirectory>/<name>.hex`.
    static func hex(_ subdirectory: String, _ name: String) throws -> [UInt8] {
        let text = try readBytes("\(directory)/\(subdirectory)/\(name).hex")
        return try decodeHex(String(decoding: text, as: UTF8.self))
    }

    /// The names (without `.hex`) of the hex files in `subdirectory`, sorted.
    static func names(in subdirectory: String) throws -> [String] {
        try fileNames(in: "\(directory)/\(subdirectory)").filter { $0.hasSuffix(".hex") }.map { String($0.dropLast(4)) }
    }

    /// The names of the files in the folder at `path`, sorted, without hidden ones.
    static func fileNames(in path: String) throws -> [String] {
        let entries: [DirectoryEntry]
        do {
            entries = try PosixFileSystem().contentsOfDirectory(path)
        } catch {
            throw FixtureError("cannot list \(path): \(error)")
        }
        return entries.filter { !$0.isDirectory && !$0.name.hasPrefix(".") }.map(\.name).sorted()
    }

    /// The lines of `<subdirectory>/index.txt` that are not comments.
    static func index(_ subdirectory: String) throws -> [String] {
        let text = String(decoding: try readBytes("\(directory)/\(subdirectory)/index.txt"), as: UTF8.self)
        return text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
    }

    /// The bytes of the file at `path`.
    static func readBytes(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw FixtureError("cannot open \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}

/// A fixture that is missing or unreadable.
struct FixtureError: Error, CustomStringConvertible {
    /// What went wrong.
    var description: String
    /// Creates the error.
    init(_ description: String) { self.description = description }
}

/// Parses lowercase or uppercase hex, ignoring whitespace.
func decodeHex(_ text: String) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var high: UInt8?
    for c in text.utf8 {
        let nibble: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
        case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"): continue
        default: throw FixtureError("not hex: \(c)")
        }
        if let h = high {
            bytes.append(h << 4 | nibble)
            high = nil
        } else {
            high = nibble
        }
    }
    guard high == nil else { throw FixtureError("odd number of hex digits") }
    return bytes
}

/// Hex for failure messages, shortened for big frames.
func hexString(_ bytes: some Collection<UInt8>, limit: Int = 200) -> String {
    let digits = Array("0123456789abcdef")
    var out = ""
    for (i, b) in bytes.enumerated() {
        if i == limit {
            out += "…(\(bytes.count) bytes)"
            break
        }
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return out
}

/// A ByteBuffer holding `bytes`.
func buffer(_ bytes: some Sequence<UInt8>) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: 64)
    buffer.writeBytes(Array(bytes))
    return buffer
}

/// Encodes a request frame with a fresh encoder.
func encodedRequest(_ request: RaftRequest) -> [UInt8] {
    var out = ByteBufferAllocator().buffer(capacity: 256)
    WireEncoder().encodeRequest(request, into: &out)
    return Array(out.readableBytesView)
}

/// Encodes a response frame (error text, then the response or nil) with a fresh encoder.
func encodedResponse(_ response: RaftResponse?, error: String = "") -> [UInt8] {
    var out = ByteBufferAllocator().buffer(capacity: 256)
    let encoder = WireEncoder()
    if error.isEmpty, let response {
        encoder.encodeResponse(response, into: &out)
    } else {
        encoder.encodeError(error, response: response, into: &out)
    }
    return Array(out.readableBytesView)
}

/// Decodes a whole request frame (type byte, value) the way the server does, through the
/// frame parser, and requires exactly one request and nothing left over.
func decodeRequestFrame(_ bytes: [UInt8], limits: WireLimits = WireLimits()) throws -> RaftRequest {
    var parser = RequestFrameParser(limits: limits)
    var input = buffer(bytes)
    guard case .request(let request)? = try parser.next(from: &input) else {
        throw FixtureError("no request in \(hexString(bytes))")
    }
    if case .installSnapshot = request {
        // The snapshot data, if the frame carries it, is not this helper's business.
    } else if input.readableBytes != 0 {
        throw FixtureError("\(input.readableBytes) bytes left after the request")
    }
    return request
}

/// Decodes a whole response frame the way the client does: frame decoder, then the value by
/// the type the client expects.
func decodeResponseFrame(_ bytes: [UInt8], as type: RPCType) throws -> (error: String, response: RaftResponse) {
    var decoder = ResponseFrameDecoder()
    var input = buffer(bytes)
    guard let frame = try decoder.next(from: &input) else { throw FixtureError("incomplete response \(hexString(bytes))") }
    guard input.readableBytes == 0 else { throw FixtureError("\(input.readableBytes) bytes left after the response") }
    return (frame.error, try WireDecoder().decodeResponse(type, from: frame.body))
}

/// Runs `body` and returns the WireError it throws, failing the test if it throws nothing
/// or another error.
func wireError<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> WireError? {
    do {
        let value = try body()
        Issue.record("expected a WireError, decoded \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as WireError {
        return error
    } catch {
        Issue.record("expected a WireError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
