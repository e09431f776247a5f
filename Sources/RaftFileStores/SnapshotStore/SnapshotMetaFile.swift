import SwiftRaft

/// The contents of a snapshot's `meta.json`: hashicorp/raft's `fileSnapshotMeta`, a
/// ``SnapshotMeta`` plus the CRC-64 of `state.bin`.
///
/// Written byte for byte as Go's `json.Encoder` writes that struct — fields in declaration order
/// (the embedded `SnapshotMeta`'s flattened first), `[]byte` as padded base64, nil slices as
/// `null`, HTML-sensitive characters escaped, and a closing newline — so a directory written here
/// is indistinguishable from one hashicorp/raft wrote. Read as liberally as Go's `json.Decoder`
/// reads it: member names in any case, unknown members and trailing bytes ignored, `null` for
/// "absent".
struct SnapshotMetaFile: Equatable {
    /// The metadata.
    var meta: SnapshotMeta
    /// The CRC-64 of `state.bin`, 8 bytes big-endian; nil until the state is complete, which
    /// hashicorp/raft writes as `null`.
    var crc: [UInt8]?

    /// Why a `meta.json` could not be read.
    struct DecodingError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Writing

    /// The file's bytes.
    func encoded() -> [UInt8] {
        var out = "{\"Version\":\(meta.version)"
        out += ",\"ID\":" + Self.quoted(meta.id)
        out += ",\"Index\":\(meta.index)"
        out += ",\"Term\":\(meta.term)"
        out += ",\"Peers\":" + Self.bytesField(meta.peers.isEmpty ? nil : meta.peers)
        out += ",\"Configuration\":{\"Servers\":"
        if meta.configuration.servers.isEmpty {
            // A Go `Configuration{}` has a nil `Servers` slice.
            out += "null"
        } else {
            out += "["
            for (position, server) in meta.configuration.servers.enumerated() {
                if position > 0 { out += "," }
                out += "{\"Suffrage\":\(server.suffrage.rawValue)"
                out += ",\"ID\":" + Self.quoted(server.id.rawValue)
                out += ",\"Address\":" + Self.quoted(server.address.rawValue) + "}"
            }
            out += "]"
        }
        out += "},\"ConfigurationIndex\":\(meta.configurationIndex)"
        out += ",\"Size\":\(meta.size)"
        out += ",\"CRC\":" + Self.bytesField(crc)
        // `json.Encoder.Encode` ends every value with a newline.
        out += "}\n"
        return Array(out.utf8)
    }

    private static func bytesField(_ bytes: [UInt8]?) -> String {
        bytes.map { "\"" + Base64.encode($0) + "\"" } ?? "null"
    }

    /// `string` as a JSON string literal, escaped exactly as Go's `encoding/json` escapes it with
    /// HTML escaping on (the `json.Encoder` default): `"` and `\` with a backslash; newline,
    /// carriage return and tab by their short escapes; other control characters, `<`, `>`, `&`,
    /// U+2028 and U+2029 as `\u00XX` (lowercase hex). Go 1.22 and later write U+0008 and U+000C
    /// as `\b` and `\f` instead; both forms read back the same, and this follows the older one,
    /// which is what the Go this project tests against writes.
    static func quoted(_ string: String) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: "\\\"".utf8)
            case "\\": out.append(contentsOf: "\\\\".utf8)
            case "\n": out.append(contentsOf: "\\n".utf8)
            case "\r": out.append(contentsOf: "\\r".utf8)
            case "\t": out.append(contentsOf: "\\t".utf8)
            case "<", ">", "&", "\u{2028}", "\u{2029}", "\u{00}"..."\u{1f}":
                let value = scalar.value
                out.append(contentsOf: "\\u".utf8)
                for shift in stride(from: 12, through: 0, by: -4) {
                    out.append(hex[Int(value >> UInt32(shift) & 0xf)])
                }
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Reading

    /// Reads a `meta.json`'s bytes.
    static func decode(_ bytes: [UInt8]) throws(DecodingError) -> SnapshotMetaFile {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw DecodingError(description: "invalid JSON: \(error)")
        }
        guard case .object = document else {
            throw DecodingError(description: "the document is not a JSON object")
        }
        let version = try integer(document, "Version", as: Int.self)
        let meta = SnapshotMeta(
            version: version,
            id: try string(document, "ID"),
            index: try integer(document, "Index", as: UInt64.self),
            term: try integer(document, "Term", as: UInt64.self),
            peers: try byteField(document, "Peers") ?? [],
            configuration: try configuration(document.member("Configuration")),
            configurationIndex: try integer(document, "ConfigurationIndex", as: UInt64.self),
            size: try integer(document, "Size", as: Int64.self)
        )
        return SnapshotMetaFile(meta: meta, crc: try byteField(document, "CRC"))
    }

    private static func configuration(_ value: JSONValue?) throws(DecodingError) -> Configuration {
        switch value {
        case nil, .null?:
            return Configuration()
        case .object?:
            break
        default:
            throw DecodingError(description: "Configuration is not an object")
        }
        switch value?.member("Servers") {
        case nil, .null?:
            return Configuration()
        case .array(let elements)?:
            var servers: [Server] = []
            for element in elements {
                guard case .object = element else {
                    throw DecodingError(description: "a configuration server is not an object")
                }
                let raw = try integer(element, "Suffrage", as: Int.self)
                guard let suffrage = ServerSuffrage(rawValue: raw) else {
                    throw DecodingError(description: "unknown server suffrage \(raw)")
                }
                servers.append(Server(
                    suffrage: suffrage,
                    id: ServerID(try string(element, "ID")),
                    address: ServerAddress(try string(element, "Address"))
                ))
            }
            return Configuration(servers: servers)
        default:
            throw DecodingError(description: "Configuration.Servers is not an array")
        }
    }

    private static func integer<T: FixedWidthInteger>(
        _ object: JSONValue, _ name: String, as type: T.Type
    ) throws(DecodingError) -> T {
        switch object.member(name) {
        case nil, .null?:
            return 0
        case .number(let text)?:
            // Go refuses fractions, exponents and out-of-range values for integer fields.
            guard let value = T(text, radix: 10) else {
                throw DecodingError(description: "\(name) is not a \(T.self): \(text)")
            }
            return value
        default:
            throw DecodingError(description: "\(name) is not a number")
        }
    }

    private static func string(_ object: JSONValue, _ name: String) throws(DecodingError) -> String {
        switch object.member(name) {
        case nil, .null?: return ""
        case .string(let value)?: return value
        default: throw DecodingError(description: "\(name) is not a string")
        }
    }

    private static func byteField(_ object: JSONValue, _ name: String) throws(DecodingError) -> [UInt8]? {
        switch object.member(name) {
        case nil, .null?:
            return nil
        case .string(let text)?:
            guard let bytes = Base64.decode(text) else {
                throw DecodingError(description: "\(name) is not valid base64")
            }
            return bytes
        default:
            throw DecodingError(description: "\(name) is not a base64 string")
        }
    }
}
