#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(Fuzzing) @testable import RaftNetworkTransport
import SwiftRaft
import Testing

/// The wire fuzzers' corpus (`Fuzz/Corpus`, Docs/fuzzing.md), replayed through the entry points
/// the fuzzers call, with the same checks, on every test run: every input a fuzzer found
/// interesting, and every input that once crashed one, must decode or fail with a `WireError`,
/// and the same way however it is split into reads.
@Suite("Fuzz corpus replay: wire")
struct WireFuzzCorpusReplayTests {
    // A request stream decodes to the same requests, or the same error, in one read and byte by byte.
    @Test("request stream corpus", arguments: FuzzCorpus.names("fuzz-wire-request"))
    func requestStream(_ name: String) throws {
        let bytes = try FuzzCorpus.input("fuzz-wire-request", name)
        bytes.withUnsafeBytes { bytes in
            #expect(WireFuzzing.readRequests(bytes, readSize: 0) == WireFuzzing.readRequests(bytes, readSize: splitReadSize(bytes.count)))
        }
    }

    // A response stream decodes to the same responses, or the same error, in one read and byte by byte.
    @Test("response stream corpus", arguments: FuzzCorpus.names("fuzz-wire-response"))
    func responseStream(_ name: String) throws {
        let bytes = try FuzzCorpus.input("fuzz-wire-response", name)
        bytes.withUnsafeBytes { bytes in
            #expect(WireFuzzing.readResponses(bytes, readSize: 0) == WireFuzzing.readResponses(bytes, readSize: splitReadSize(bytes.count)))
        }
    }

    // An AppendEntries value decodes the same twice with one decoder, and what decodes survives encoding and decoding.
    @Test("AppendEntries corpus", arguments: FuzzCorpus.names("fuzz-append-entries"))
    func appendEntries(_ name: String) throws {
        let bytes = try FuzzCorpus.input("fuzz-append-entries", name)
        let decoder = WireFuzzing.ValueDecoder()
        let (first, second) = bytes.withUnsafeBytes { bytes in
            (
                Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) },
                Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) }
            )
        }
        #expect(first == second)
        guard case .success(let request) = first else { return }
        let reDecoded = WireFuzzing.encodedValue(of: request).withUnsafeBytes { encoded in
            Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(encoded, with: decoder) }
        }
        #expect(reDecoded == .success(request))
    }
}

/// The read size the replay splits an input of `count` bytes into: one byte, as the fuzzers do,
/// except for the two 70 KB golden AppendEntries frames, which byte by byte take seconds in a
/// debug build (every smaller input already splits at every byte).
private func splitReadSize(_ count: Int) -> Int {
    count <= 16 << 10 ? 1 : 997
}

/// Reads the fuzzers' committed corpus, `Fuzz/Corpus/<target>/`, found from this file's path so
/// the tests run from any working directory.
enum FuzzCorpus {
    static let directory: String = {
        let file = "\(#filePath)"
        let folder = file.lastIndex(of: "/").map { String(file[..<$0]) } ?? "."
        return folder + "/../../Fuzz/Corpus"
    }()

    /// The names of `target`'s inputs, sorted.
    static func names(_ target: String) -> [String] {
        guard let dir = opendir(directory + "/" + target) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }

    /// The bytes of input `name` of `target`.
    static func input(_ target: String, _ name: String) throws -> [UInt8] {
        try Fixtures.readBytes(directory + "/" + target + "/" + name)
    }
}
