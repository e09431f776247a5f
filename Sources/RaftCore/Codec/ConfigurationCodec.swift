/// Encodes and decodes a ``Configuration`` exactly as hashicorp/raft's `EncodeConfiguration` does,
/// so configuration log entries are byte-compatible with Go nodes.
///
/// The format is one msgpack map, `{"Servers": [{"Address": raw, "ID": raw, "Suffrage": int}, …]}`,
/// with keys in sorted order and strings in the legacy "raw" family. Decoding is liberal: it
/// accepts any string or binary family, either integer family, and skips unknown keys.
public enum ConfigurationCodec {
    /// The entry data for `configuration`.
    public static func encode(_ configuration: Configuration) -> [UInt8] {
        var writer = ConfigurationMessagePackWriter()
        writer.writeMapHeader(1)
        writer.writeRaw("Servers")
        if configuration.servers.isEmpty {
            writer.writeNil()
        } else {
            writer.writeArrayHeader(configuration.servers.count)
        }
        for server in configuration.servers {
            writer.writeMapHeader(3)
            writer.writeRaw("Address")
            writer.writeRaw(server.address.rawValue)
            writer.writeRaw("ID")
            writer.writeRaw(server.id.rawValue)
            writer.writeRaw("Suffrage")
            writer.writeInteger(Int64(server.suffrage.rawValue))
        }
        return writer.bytes
    }

    /// The configuration in `data`, or a ``ConfigurationError/malformed(_:)`` naming what is wrong.
    public static func decode(_ data: ArraySlice<UInt8>) throws(ConfigurationError) -> Configuration {
        var reader = ConfigurationMessagePackReader(data)
        do {
            var servers: [Server] = []
            let fields = try reader.readMapHeader()
            for _ in 0..<fields {
                let key = try reader.readString()
                guard key == "Servers" else {
                    try reader.skipValue()
                    continue
                }
                if try reader.readNilIfPresent() { continue }
                let count = try reader.readArrayHeader()
                servers.reserveCapacity(min(count, 1024))
                for _ in 0..<count {
                    servers.append(try decodeServer(&reader))
                }
            }
            return Configuration(servers: servers)
        } catch {
            throw .malformed(error.description)
        }
    }

    /// The configuration in `data`, or a ``ConfigurationError/malformed(_:)`` naming what is wrong.
    public static func decode(_ data: [UInt8]) throws(ConfigurationError) -> Configuration {
        try decode(data[...])
    }

    private static func decodeServer(_ reader: inout ConfigurationMessagePackReader) throws(ConfigurationMessagePackReader.Error) -> Server {
        var server = Server(suffrage: .voter, id: "", address: "")
        let fields = try reader.readMapHeader()
        for _ in 0..<fields {
            switch try reader.readString() {
            case "Address": server.address = ServerAddress(try reader.readString())
            case "ID": server.id = ServerID(try reader.readString())
            case "Suffrage":
                let raw = try reader.readInteger()
                guard let suffrage = ServerSuffrage(rawValue: Int(raw)) else {
                    throw .invalid("unknown suffrage \(raw)")
                }
                server.suffrage = suffrage
            default: try reader.skipValue()
            }
        }
        return server
    }
}
