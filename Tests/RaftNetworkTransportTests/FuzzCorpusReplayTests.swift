#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(Fuzzing) @testable import RaftNetworkTransport
import SwiftRaft
import RaftTestTraits
import Testing

/// The wire fuzzers' corpus (`Fuzz/Corpus`, Docs/fuzzing.md), replayed through the entry points
/// the fuzzers call, with the same checks, on every test run: every input a fuzzer found
/// interesting, and every input that once crashed one, must decode or fail with a `WireError`,
/// and the same way when it is split into reads.
@Suite("Fuzz corpus replay: wire", .offCooperativePool)
struct WireFuzzCorpusReplayTests {
    // A request stream decodes to the same requests, or the same error, in one read and split into reads.
    @Test("request stream corpus")
    func requestStream() throws {
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-wire-request") {
            bytes.withUnsafeBytes { bytes in
                let split = WireFuzzing.readRequests(bytes, readSize: splitReadSize(bytes.count))
                #expect(WireFuzzing.readRequests(bytes, readSize: 0) == split, "\(name)")
            }
        }
    }

    // A response stream decodes to the same responses, or the same error, in one read and split into reads.
    @Test("response stream corpus")
    func responseStream() throws {
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-wire-response") {
            bytes.withUnsafeBytes { bytes in
                let split = WireFuzzing.readResponses(bytes, readSize: splitReadSize(bytes.count))
                #expect(WireFuzzing.readResponses(bytes, readSize: 0) == split, "\(name)")
            }
        }
    }

    // An AppendEntries value decodes the same twice with one decoder, and what decodes survives encoding and decoding.
    @Test("AppendEntries corpus")
    func appendEntries() throws {
        // One decoder for all, as the fuzzer keeps one for its whole run.
        let decoder = WireFuzzing.ValueDecoder()
        for (name, bytes) in try FuzzCorpus.inputs("fuzz-append-entries") {
            let (first, second) = bytes.withUnsafeBytes { bytes in
                (
                    Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) },
                    Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) }
                )
            }
            #expect(first == second, "\(name)")
            guard case .success(let request) = first else { continue }
            let reDecoded = WireFuzzing.encodedValue(of: request).withUnsafeBytes { encoded in
                Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(encoded, with: decoder) }
            }
            #expect(reDecoded == .success(request), "\(name)")
        }
    }
}

/// The read size the replay splits an input of `count` bytes into: single bytes for the shortest
/// inputs, then at most 16 reads. The fuzzers split every input at every byte; a debug build takes
/// about 0.1 ms a read, which over the whole corpus would take many seconds.
private func splitReadSize(_ count: Int) -> Int {
    max(1, count / 16)
}

/// Reads the fuzzers' committed corpus, `Fuzz/Corpus/<target>/`, found from this file's path so
/// the tests run from any working directory.
enum FuzzCorpus {
    static let directory: String = {
        let file = "\(#filePath)"
        let folder = file.lastIndex(of: "/").map { String(file[..<$0]) } ?? "."
        return folder + "/../../Fuzz/Corpus"
    }()

    /// Every input of `target`, by name, sorted; at least one, or it throws.
    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let names = try Fixtures.fileNames(in: directory + "/" + target)
        guard !names.isEmpty else { throw FixtureError("no inputs in \(directory)/\(target)") }
        return try names.map { ($0, try Fixtures.readBytes(directory + "/" + target + "/" + $0)) }
    }
}
