import RaftTestTraits
import Testing

import RaftCore

/// The configuration entry's bytes, which must match hashicorp/raft's `EncodeConfiguration`
/// (go-msgpack, `MsgpackHandle{}`: maps with sorted keys, strings as legacy raw) so Go and Swift
/// servers can share a log. Decoding is liberal and never traps on hostile input.
@Suite(.offCooperativePool) struct ConfigurationCodecTests {
    /// Bytes from the reference's notation: hex bytes, and `"text"` for the raw bytes of ASCII text
    /// (length prefixes are written out as hex, exactly as captured from Go).
    static func bytes(_ notation: String) -> [UInt8] {
        var result: [UInt8] = []
        var rest = Substring(notation)
        while let first = rest.first {
            if first == " " || first == "\n" {
                rest = rest.dropFirst()
            } else if first == "\"" {
                let body = rest.dropFirst()
                let close = body.firstIndex(of: "\"")!
                result += Array(body[..<close].utf8)
                rest = body[body.index(after: close)...]
            } else {
                let pair = rest.prefix(2)
                result.append(UInt8(pair, radix: 16)!)
                rest = rest.dropFirst(2)
            }
        }
        return result
    }

    static let twoServers = Configuration(servers: [
        Server(suffrage: .voter, id: "n1", address: "127.0.0.1:7000"),
        Server(suffrage: .nonvoter, id: "n2", address: "127.0.0.1:7001"),
    ])

    /// hashicorp/raft's encoding of ``twoServers`` (reference §4.3; identical in go-msgpack 0.5.5 and v2).
    static let twoServersGolden = bytes(
        """
        81 a7"Servers" 92
           83 a7"Address" ae"127.0.0.1:7000" a2"ID" a2"n1" a8"Suffrage" 00
           83 a7"Address" ae"127.0.0.1:7001" a2"ID" a2"n2" a8"Suffrage" 01
        """
    )

    private func expectMalformed(_ data: [UInt8], _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ConfigurationError.self, comment, sourceLocation: sourceLocation) {
            try ConfigurationCodec.decode(data)
        }
        if let error {
            guard case .malformed = error else {
                Issue.record("expected .malformed, got \(error)", sourceLocation: sourceLocation)
                return
            }
        }
    }

    // MARK: Encoding

    // hashicorp/raft EncodeConfiguration: {"Servers":[{"Address","ID","Suffrage"}…]}, keys sorted, raw strings, fixint suffrage.
    @Test func encodesExactlyAsHashicorpRaft() {
        #expect(ConfigurationCodec.encode(Self.twoServers) == Self.twoServersGolden)
    }

    // hashicorp/raft: Staging is suffrage 2 on the wire.
    @Test func encodesStagingAsTwo() {
        let configuration = Configuration(servers: [Server(suffrage: .staging, id: "s", address: "a")])
        #expect(ConfigurationCodec.encode(configuration) == Self.bytes(#"81 a7"Servers" 91 83 a7"Address" a1"a" a2"ID" a1"s" a8"Suffrage" 02"#))
    }

    // go-msgpack: an empty (nil) Servers slice is encoded as nil.
    @Test func encodesNoServersAsNil() {
        #expect(ConfigurationCodec.encode(Configuration()) == Self.bytes(#"81 a7"Servers" c0"#))
    }

    // go-msgpack MsgpackHandle{}: strings of 32 bytes or more use raw16 (da), never str8 (d9), which old decoders reject.
    @Test func encodesLongStringsAsRaw16NeverStr8() {
        let short = String(repeating: "a", count: 31)
        let long = String(repeating: "b", count: 40)
        let configuration = Configuration(servers: [Server(id: ServerID(short), address: ServerAddress(long))])
        let expected = Self.bytes(
            "81 a7\"Servers\" 91 83 a7\"Address\" da0028\"\(long)\" a2\"ID\" bf\"\(short)\" a8\"Suffrage\" 00"
        )
        #expect(ConfigurationCodec.encode(configuration) == expected)
        let thirtyTwo = String(repeating: "c", count: 32)
        let boundary = Configuration(servers: [Server(id: ServerID(thirtyTwo), address: "x")])
        #expect(
            ConfigurationCodec.encode(boundary)
                == Self.bytes("81 a7\"Servers\" 91 83 a7\"Address\" a1\"x\" a2\"ID\" da0020\"\(thirtyTwo)\" a8\"Suffrage\" 00")
        )
    }

    // MARK: Decoding

    // hashicorp/raft DecodeConfiguration: the golden bytes decode to the same configuration.
    @Test func decodesHashicorpBytes() throws {
        #expect(try ConfigurationCodec.decode(Self.twoServersGolden) == Self.twoServers)
    }

    // Round trip: decode(encode(c)) == c for every suffrage, and for long and non-ASCII strings.
    @Test func roundTripsConfigurations() throws {
        let configurations = [
            Configuration(),
            Self.twoServers,
            Configuration(servers: (1...20).map {
                Server(
                    suffrage: ServerSuffrage(rawValue: $0 % 3)!,
                    id: ServerID("server-\($0)-é"),
                    address: ServerAddress(String(repeating: "h", count: $0 * 5) + ".example:\($0)")
                )
            }),
        ]
        for configuration in configurations {
            #expect(try ConfigurationCodec.decode(ConfigurationCodec.encode(configuration)) == configuration)
        }
    }

    // Liberal decoding: strings may arrive as str8/str16/str32 or bin8/bin16/bin32 (newer go-msgpack, other encoders).
    @Test func decodeAcceptsEveryStringAndBinaryFamily() throws {
        let variants = [
            #"81 d907"Servers" 91 83 c407"Address" d90e"127.0.0.1:7000" c50002"ID" db00000002"n1" c600000008"Suffrage" 00"#,
            #"81 da0007"Servers" 91 83 c600000007"Address" c40e"127.0.0.1:7000" d902"ID" c50002"n1" d908"Suffrage" 00"#,
        ]
        let expected = Configuration(servers: [Self.twoServers.servers[0]])
        for variant in variants {
            #expect(try ConfigurationCodec.decode(Self.bytes(variant)) == expected, "\(variant)")
        }
    }

    // Liberal decoding: go-msgpack v2 writes ints as signed (d0–d3); 0.5.5 as unsigned (cc–cf); both are accepted.
    @Test(arguments: ["01", "cc01", "cd0001", "ce00000001", "cf0000000000000001", "d001", "d10001", "d200000001", "d30000000000000001"])
    func decodeAcceptsEveryIntegerFamilyForSuffrage(encoded: String) throws {
        let data = Self.bytes(#"81 a7"Servers" 91 83 a7"Address" a1"a" a2"ID" a1"s" a8"Suffrage" "# + encoded)
        #expect(try ConfigurationCodec.decode(data).servers == [Server(suffrage: .nonvoter, id: "s", address: "a")])
    }

    // go-msgpack ErrorIfNoField=false: unknown keys are skipped, whatever their value, at every level; known keys in any order.
    @Test func decodeSkipsUnknownKeysAndAcceptsAnyKeyOrder() throws {
        let data = Self.bytes(
            """
            83 a5"Extra" 82 a1"k" 93 c3 c2 c0 a1"f" cb 3ff0000000000000
               a7"Servers" 91
                  85 a8"Suffrage" 01 a2"ID" a2"n2" a4"Note" c403 010203 a7"Address" ae"127.0.0.1:7001"
                     a4"Ext1" d4 01 ff
               a5"Later" dc0002 ce00000001 d7 05 0000000000000000
            """
        )
        #expect(try ConfigurationCodec.decode(data) == Configuration(servers: [Self.twoServers.servers[1]]))
    }

    // go-msgpack: an empty array of servers decodes like nil.
    @Test func decodeAcceptsAnEmptyServerArray() throws {
        #expect(try ConfigurationCodec.decode(Self.bytes(#"81 a7"Servers" 90"#)) == Configuration())
        #expect(try ConfigurationCodec.decode(Self.bytes(#"80"#)) == Configuration())
    }

    // MARK: Malformed input

    // Hostile input: every truncation of a valid encoding throws .malformed, never traps.
    @Test func everyTruncationThrows() {
        for length in 0..<Self.twoServersGolden.count {
            expectMalformed(Array(Self.twoServersGolden.prefix(length)), "first \(length) bytes")
        }
    }

    // Hostile input: wrong types, out-of-range values and lying lengths throw .malformed.
    @Test(arguments: [
        "91 c0",  // not a map
        #"81 a7"Servers" a3"abc""#,  // Servers not an array
        #"81 a7"Servers" 91 93 01 02 03"#,  // a server that is not a map
        #"81 01 c0"#,  // a key that is not a string
        #"81 a7"Servers" 91 81 a8"Suffrage" 07"#,  // unknown suffrage
        #"81 a7"Servers" 91 81 a8"Suffrage" ff"#,  // negative suffrage
        #"81 a7"Servers" 91 81 a8"Suffrage" cfffffffffffffffff"#,  // beyond Int64
        #"81 a7"Servers" 91 81 a8"Suffrage" a1"0""#,  // suffrage as a string
        #"81 a7"Servers" 91 81 a2"ID" 05"#,  // ID as an integer
        #"81 a7"Servers" ddffffffff"#,  // four billion servers announced, none sent
        #"81 a7"Servers" 91 81 a2"ID" dbffffffff 6e31"#,  // a string longer than the input
        #"81 a5"Extra" c9ffffffff01"#,  // an extension longer than the input
        #"81 a5"Extra" c1"#,  // the never-used tag
        #"dfffffffff a1"k""#,  // four billion keys announced
    ])
    func malformedInputThrows(notation: String) {
        expectMalformed(Self.bytes(notation), "\(notation)")
    }

    // Hostile input: deeply nested unknown values are refused instead of exhausting the stack.
    @Test func deeplyNestedUnknownValueThrows() {
        let nested = [UInt8](repeating: 0x91, count: 10_000) + [0xc0]
        expectMalformed(Self.bytes(#"81 a5"Extra""#) + nested)
    }

    // Hostile input: thousands of corrupted encodings decode or throw, and never trap.
    @Test func corruptedEncodingsNeverTrap() {
        var random = SplitMix64(seed: 42)
        let golden = Self.twoServersGolden
        var decoded = 0
        var refused = 0
        for _ in 0..<5_000 {
            var data = golden
            for _ in 0..<Int(random.next() % 4 + 1) {
                let position = Int(random.next() % UInt64(data.count))
                switch random.next() % 3 {
                case 0: data[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: data.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                default: data.remove(at: position)
                }
                if data.isEmpty { data = [0x80] }
            }
            do {
                _ = try ConfigurationCodec.decode(data)
                decoded += 1
            } catch {
                refused += 1
            }
        }
        #expect(decoded + refused == 5_000)
        #expect(refused > 0)
    }
}
