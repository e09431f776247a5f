public import SwiftRaft

/// hashicorp/raft's `peers.json`: the configuration an operator writes down to recover a cluster
/// that lost its quorum, for `Raft.recoverCluster(config:fsm:logStore:stableStore:snapshotStore:configuration:)`.
///
/// Two forms are read, as hashicorp/raft reads them:
/// - protocol version 3 (`ReadConfigJSON`): `[{"id": "n1", "address": "10.0.0.1:7000", "non_voter": false}, …]`,
///   where `non_voter` may be left out (a voter);
/// - the older list of addresses (`ReadPeersJSON`): `["10.0.0.1:7000", …]`, every server a voter
///   whose ID is its address.
public enum PeersFile {
    /// The largest file read: a configuration of thousands of servers fits many times over.
    static let maximumSize: Int64 = 1 << 20

    /// Reads and parses the file at `path`.
    ///
    /// - Throws: ``FileStoreError`` when the file cannot be read; `RaftError.Code.invalidArgument`
    ///   naming what is wrong when it is not a valid peers file.
    public static func read(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> Configuration {
        let handle = try fileSystem.open(path, mode: .readOnly)
        defer { try? fileSystem.close(handle) }
        let size = try fileSystem.size(of: handle)
        guard size <= maximumSize else {
            throw RaftError(.invalidArgument, "\(path): a peers file of \(size) bytes is implausibly large")
        }
        do {
            return try parse(try fileSystem.read(handle, count: Int(size), at: 0))
        } catch let error as RaftError {
            throw RaftError(error.code, "\(path): \(error.message)")
        }
    }

    /// Parses a peers file's contents.
    ///
    /// - Throws: `RaftError.Code.invalidArgument` naming what is wrong: not JSON, not a list,
    ///   an entry without an ID or address, a duplicate, or no voter.
    public static func parse(_ bytes: [UInt8]) throws -> Configuration {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw RaftError(.invalidArgument, "not JSON: \(error)")
        }
        guard case .array(let entries) = document else {
            throw RaftError(.invalidArgument, "expected a JSON list of servers")
        }
        var servers: [Server] = []
        for (position, entry) in entries.enumerated() {
            servers.append(try server(from: entry, position: position))
        }
        let configuration = Configuration(servers: servers)
        do {
            try configuration.validate()
        } catch {
            throw RaftError(.invalidArgument, "not a valid configuration: \(error)")
        }
        return configuration
    }

    private static func server(from entry: JSONValue, position: Int) throws -> Server {
        switch entry {
        case .string(let address) where !address.isEmpty:
            return Server(suffrage: .voter, id: ServerID(address), address: ServerAddress(address))
        case .object:
            guard case .string(let id)? = entry.member("id"), !id.isEmpty else {
                throw RaftError(.invalidArgument, "server \(position + 1): an ID is required")
            }
            guard case .string(let address)? = entry.member("address"), !address.isEmpty else {
                throw RaftError(.invalidArgument, "server \(position + 1) (\(id)): an address is required")
            }
            let nonVoter: Bool
            switch entry.member("non_voter") {
            case nil, .null?: nonVoter = false
            case .bool(let value)?: nonVoter = value
            default: throw RaftError(.invalidArgument, "server \(position + 1) (\(id)): non_voter must be true or false")
            }
            return Server(suffrage: nonVoter ? .nonvoter : .voter, id: ServerID(id), address: ServerAddress(address))
        default:
            throw RaftError(.invalidArgument, "server \(position + 1): expected an object with id and address, or an address")
        }
    }
}
