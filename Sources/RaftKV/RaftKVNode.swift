import Logging
import RaftFileStores
import RaftKVClient
import RaftNetworkTransport
import RaftServiceLifecycle
import RaftTLS
import ServiceLifecycle
import SwiftRaft
import Synchronization

/// Starting and running one raftkv node: stores, bootstrap, transport, `Raft`, HTTP server, and
/// the `ServiceGroup` that runs them until SIGTERM or SIGINT.
enum RaftKVNode {
    static func run(_ flags: RaftKVCommand, logger: Logger) async throws {
        // 1. The stores, under --data. Each fsyncs before it returns, so what a write was
        //    acknowledged for survives SIGKILL.
        let logStore = try FileLogStore(directory: flags.data + "/log", options: .init(logger: logger))
        let stableStore = try FileStableStore(directory: flags.data + "/stable", options: .init(logger: logger))
        let snapshotStore = try FileSnapshotStore(directory: flags.data, retain: 2, options: .init(logger: logger))
        defer {
            try? logStore.close()
            stableStore.close()
        }

        // 2. A new cluster is bootstrapped from --peers; a node with state ignores them.
        let config = flags.raftConfig(logger: logger)
        let hasState = try Raft.hasExistingState(logStore: logStore, stableStore: stableStore, snapshotStore: snapshotStore)
        if hasState {
            logger.info("resuming from the data directory", metadata: ["data": "\(flags.data)"])
        } else if let peers = flags.peers {
            let configuration = try RaftKVCommand.parsePeers(peers)
            try Raft.bootstrapCluster(
                config: config, logStore: logStore, stableStore: stableStore,
                snapshotStore: snapshotStore, configuration: configuration
            )
            logger.info("bootstrapped a new cluster", metadata: ["peers": "\(peers)"])
        } else if flags.join == nil {
            logger.warning("no state, no --peers and no --join: waiting for a leader to add this server")
        }

        // 3. The node, on the TCP transport, over mutual TLS when certificates are given.
        var transportOptions = NetworkTransport.Options(logger: logger)
        var tls: TLSStreamLayer?
        if let tlsConfiguration = flags.tlsConfiguration {
            let layer = try await TLSStreamLayer(configuration: tlsConfiguration, logger: logger)
            transportOptions.streamLayer = layer
            tls = layer
        }
        let transport = try await NetworkTransport.bind(
            to: ServerAddress(flags.raft),
            advertise: flags.advertise.map { ServerAddress($0) },
            options: transportOptions
        )
        let store = KeyValueStore()
        let raft = try await Raft(
            config: config, fsm: store, logStore: logStore, stableStore: stableStore,
            snapshotStore: snapshotStore, transport: transport
        )
        let raftAddress = transport.localAddress.rawValue
        let timeout = Duration.milliseconds(flags.requestTimeout)

        // 4. The HTTP API. Bound before the group runs, so a busy port fails the start.
        let httpServer: HTTPServer
        do {
            let (host, port) = HostPort.parse(flags.http) ?? ("127.0.0.1", 0)
            let box = RoutesBox()
            httpServer = try await HTTPServer.bind(host: host, port: port, logger: logger) { request in
                await box.routes?.respond(to: request) ?? .text(503, "starting; not applied")
            }
            let status = StatusReport(id: flags.id, raft: raft, store: store, raftAddress: raftAddress, httpAddress: httpServer.localAddress)
            box.set(Routes(raft: raft, store: store, status: status, timeout: timeout, logger: logger))
        } catch {
            await raft.shutdown()
            throw error
        }
        logger.info("raftkv started", metadata: ["raft": "\(raftAddress)", "http": "\(httpServer.localAddress)"])

        // 5. One group. On SIGTERM it stops services in reverse order: the HTTP server answers
        //    what it has and closes, then the node hands leadership over and shuts down.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: RaftService(raft: raft)),
            .init(service: LeaderAnnouncer(raft: raft, store: store, id: flags.id, httpAddress: httpServer.localAddress, timeout: timeout, logger: logger)),
        ]
        if let tls {
            services.append(.init(service: CertificateReloader(layer: tls, logger: logger)))
        }
        if let member = flags.join, !hasState {
            let join = KVServerJoin(id: flags.id, raft: raftAddress, http: httpServer.localAddress)
            services.append(
                .init(
                    service: Joiner(member: member, join: join, deadline: .milliseconds(Int64(flags.joinTimeout * 1000)), requestTimeout: timeout + .seconds(1), logger: logger),
                    successTerminationBehavior: .ignore
                )
            )
        } else if flags.join != nil {
            logger.info("--join ignored: this server has state, so it is a member already")
        }
        services.append(.init(service: httpServer))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        do {
            try await group.run()
        } catch {
            await raft.shutdown()
            throw error
        }
        await raft.shutdown()
        logger.info("raftkv stopped")
    }
}

/// Lets the HTTP server, which must be bound before the routes know its address, reach the
/// routes once they exist.
final class RoutesBox: Sendable {
    private let routesValue = Mutex<Routes?>(nil)
    var routes: Routes? { routesValue.withLock { $0 } }
    func set(_ routes: Routes) { routesValue.withLock { $0 = routes } }
}
