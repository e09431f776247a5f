import ArgumentParser
import Foundation
import Logging
import RaftFileStores
import RaftKVClient
import RaftNetworkTransport
import RaftServiceLifecycle
import RaftTLS
import ServiceLifecycle
import SwiftRaft

/// `raftkv`: one node of a replicated key-value service, over HTTP, built only on swift-raft's
/// public API. The flags, then `run()`: open the stores, bootstrap or join, start the node and
/// the HTTP server as services of one `ServiceGroup`, and run until SIGTERM or SIGINT.
@main
struct RaftKVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raftkv",
        abstract: "One node of a replicated key-value store on swift-raft, with an HTTP API.",
        discussion: """
            Three nodes on one machine (n2 and n3 alike, with their own ports and --data):
              raftkv --id n1 --raft 127.0.0.1:7001 --http 127.0.0.1:8001 \\
                --data /tmp/kv/n1 \\
                --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003

            Then:
              curl -XPUT --data-binary world http://127.0.0.1:8001/kv/hello
              curl http://127.0.0.1:8001/kv/hello
              curl http://127.0.0.1:8001/status

            A fourth node joins through any member:
              raftkv --id n4 --raft 127.0.0.1:7004 --http 127.0.0.1:8004 \\
                --data /tmp/kv/n4 --join 127.0.0.1:8001

            Raft traffic between nodes runs over mutual TLS with --tls-cert, --tls-key and --tls-ca on every node (the HTTP API stays plain HTTP); SIGHUP reloads the certificate files.

            A write on a follower is answered 307 with the leader's URL. 503 means certainly not applied; 500 and 504 (body "outcome unknown:") mean the write may still commit. SIGTERM or SIGINT shuts down gracefully. See Docs/getting-started.md.
            """
    )

    @Option(help: "This server's id, unique in the cluster (e.g. n1).")
    var id: String

    @Option(help: ArgumentHelp("The address the Raft transport listens on.", valueName: "host:port"))
    var raft: String

    @Option(help: ArgumentHelp("The Raft address other servers dial (default: --raft).", valueName: "host:port"))
    var advertise: String?

    @Option(help: ArgumentHelp("The address the HTTP API listens on.", valueName: "host:port"))
    var http: String

    @Option(help: ArgumentHelp("The data directory (log, term and vote, snapshots); created if missing.", valueName: "dir"))
    var data: String

    @Option(
        help: ArgumentHelp(
            "The first members, by Raft address, to bootstrap a new cluster; used only when --data holds no state.",
            valueName: "id=host:port,…"
        )
    )
    var peers: String?

    @Option(
        help: ArgumentHelp(
            "The HTTP address of any running member: ask the cluster to add this server (when --data holds no state).",
            valueName: "host:port"
        )
    )
    var join: String?

    @Option(help: ArgumentHelp("How long --join keeps trying, in seconds.", valueName: "seconds"))
    var joinTimeout: Double = 60

    @Option(help: ArgumentHelp("Heartbeat timeout in milliseconds (default 1000).", valueName: "ms"))
    var heartbeatTimeout: Int?

    @Option(help: ArgumentHelp("Election timeout in milliseconds (default 1000).", valueName: "ms"))
    var electionTimeout: Int?

    @Option(help: ArgumentHelp("Leader lease timeout in milliseconds (default 500).", valueName: "ms"))
    var leaderLeaseTimeout: Int?

    @Option(help: ArgumentHelp("Commit timeout in milliseconds (default 50).", valueName: "ms"))
    var commitTimeout: Int?

    @Option(help: ArgumentHelp("Log entries since the last snapshot that trigger a new one (default 8192).", valueName: "entries"))
    var snapshotThreshold: UInt64?

    @Option(help: ArgumentHelp("How often to check whether a snapshot is due, in seconds (default 120).", valueName: "seconds"))
    var snapshotInterval: Double?

    @Option(help: ArgumentHelp("Log entries kept behind a snapshot, for slow followers (default 10240).", valueName: "entries"))
    var trailingLogs: UInt64?

    @Option(help: ArgumentHelp("How long a write, read or membership change may take, in milliseconds.", valueName: "ms"))
    var requestTimeout: Int = 5000

    @Flag(help: "Answer linearizable reads from the leader's lease, without a heartbeat round (every node must set it; see Docs/reads.md).")
    var leaseReads = false

    @Option(help: ArgumentHelp("This node's certificate chain (PEM) for Raft traffic over mutual TLS; needs --tls-key and --tls-ca. SIGHUP re-reads all three files.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("The authority (PEM) every peer's certificate must chain to.", valueName: "file"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("Peers admitted over TLS, by a DNS or IP name in their certificate, comma-separated (default: any certificate from --tls-ca).", valueName: "names"))
    var tlsAllowedPeers: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogLevel = .info

    /// `--log-level`'s values: swift-log's levels.
    enum LogLevel: String, ExpressibleByArgument, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
    }

    mutating func validate() throws {
        guard !id.isEmpty else { throw ValidationError("--id must not be empty") }
        for (flag, value) in [("--raft", raft), ("--http", http), ("--advertise", advertise), ("--join", join)] {
            if let value, HostPort.parse(value) == nil {
                throw ValidationError("\(flag) \(value): expected host:port")
            }
        }
        if let peers {
            let members = try Self.parsePeers(peers)
            guard members.servers.contains(where: { $0.id.rawValue == id }) else {
                throw ValidationError("--peers must list this server (--id \(id))")
            }
        }
        let tlsFiles = [tlsCert, tlsKey, tlsCa].compactMap { $0 }
        guard tlsFiles.isEmpty || tlsFiles.count == 3 else {
            throw ValidationError("--tls-cert, --tls-key and --tls-ca go together: give all three, or none for plaintext")
        }
        if tlsAllowedPeers != nil && tlsFiles.isEmpty {
            throw ValidationError("--tls-allowed-peers needs --tls-cert, --tls-key and --tls-ca")
        }
        guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be positive") }
        guard joinTimeout > 0 else { throw ValidationError("--join-timeout must be positive") }
        do {
            try raftConfig(logger: Logger(label: "raftkv")).validate()
        } catch {
            throw ValidationError("invalid Raft settings: \(error.message)")
        }
    }

    /// `--peers`: `id=host:port` pairs separated by commas.
    static func parsePeers(_ text: String) throws -> Configuration {
        var servers: [Server] = []
        for member in text.split(separator: ",") {
            let parts = member.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, HostPort.parse(String(parts[1])) != nil else {
                throw ValidationError("--peers: \"\(member)\" is not id=host:port")
            }
            servers.append(Server(id: ServerID(String(parts[0])), address: ServerAddress(String(parts[1]))))
        }
        let configuration = Configuration(servers: servers)
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("--peers: \(error)")
        }
        return configuration
    }

    /// The TLS layer's configuration, when --tls-cert, --tls-key and --tls-ca are given.
    var tlsConfiguration: TLSStreamLayer.Configuration? {
        guard let tlsCert, let tlsKey, let tlsCa else { return nil }
        var configuration = TLSStreamLayer.Configuration(certificateChain: .file(tlsCert), privateKey: .file(tlsKey), trustRoots: .file(tlsCa))
        if let tlsAllowedPeers {
            configuration.allowedPeerNames = Set(tlsAllowedPeers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        return configuration
    }

    /// The node's `Config`: hashicorp/raft's defaults, with the knobs given.
    func raftConfig(logger: Logger) -> Config {
        var config = Config(localID: ServerID(id))
        if let heartbeatTimeout { config.heartbeatTimeout = .milliseconds(heartbeatTimeout) }
        if let electionTimeout { config.electionTimeout = .milliseconds(electionTimeout) }
        if let leaderLeaseTimeout { config.leaderLeaseTimeout = .milliseconds(leaderLeaseTimeout) }
        if let commitTimeout { config.commitTimeout = .milliseconds(commitTimeout) }
        if let snapshotThreshold { config.snapshotThreshold = snapshotThreshold }
        if let snapshotInterval { config.snapshotInterval = .milliseconds(Int64(snapshotInterval * 1000)) }
        if let trailingLogs { config.trailingLogs = trailingLogs }
        config.leaseReads = leaseReads
        config.logger = logger
        return config
    }

    func run() async throws {
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "raftkv")
        logger[metadataKey: "node"] = "\(id)"
        try await RaftKVNode.run(self, logger: logger)
    }
}
