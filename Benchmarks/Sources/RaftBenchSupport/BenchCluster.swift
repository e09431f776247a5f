import RaftFileStores
import RaftNetworkTransport
public import SwiftRaft

/// An N-node cluster in one process, on real time, in one of the configurations hraft-bench
/// measures: the in-memory transport or TCP on loopback (NetworkTransport, as hraft-bench's
/// `--transport tcp`), with in-memory or file stores (hraft-bench's bolt store syncs every batch;
/// the file stores sync every batch too).
///
/// Nodes are `n0`, `n1`, …, fully connected, each bootstrapped with the same voter set, exactly
/// as hraft-bench builds its cluster.
public struct BenchCluster: Sendable {
    /// How the nodes talk.
    public enum TransportKind: String, Sendable {
        /// ``InmemTransport``, fully connected.
        case inmem
        /// ``NetworkTransport`` on 127.0.0.1, a free port each.
        case tcp
    }

    /// Where the nodes keep their log, term and snapshots.
    public enum StoreKind: Sendable {
        /// ``InmemStore`` and ``InmemSnapshotStore``.
        case inmem
        /// ``FileLogStore``, ``FileStableStore`` and ``FileSnapshotStore`` under `directory/<id>`.
        case file(directory: String)
    }

    /// One server of the cluster.
    public struct Node: Sendable {
        /// The server's ID (`n0`, `n1`, …).
        public let id: ServerID
        /// The running node.
        public let raft: Raft
        /// Its state machine.
        public let fsm: CounterFSM
        /// Its transport.
        public let transport: any Transport
        /// Its log store, to close at the end.
        let logStore: any LogStore
        /// Its stable store, to close at the end.
        let stableStore: any StableStore
    }

    /// The servers, in ID order.
    public let nodes: [Node]
    /// Where file stores live, removed by ``shutdown()``.
    private let storeDirectory: String?

    /// Builds and starts the cluster.
    ///
    /// - Parameters:
    ///   - size: how many voters.
    ///   - transport: in memory or TCP.
    ///   - store: in memory or files.
    ///   - inlineFSM: whether the FSM applies on the node's loop (``InlineCounterFSM``) rather than
    ///     on a thread of its own.
    ///   - fsmStateBytes: the size of each FSM's snapshot beyond its counters (``CounterFSM``).
    ///   - transportTimeout: the transport's RPC timeout (hraft-bench uses 10 s).
    ///   - configure: adjusts each node's ``Config`` (timeouts, batch sizes, logging).
    public init(
        size: Int,
        transport transportKind: TransportKind = .inmem,
        store storeKind: StoreKind = .inmem,
        inlineFSM: Bool = false,
        fsmStateBytes: Int = 0,
        transportTimeout: Duration = .seconds(10),
        configure: (inout Config) -> Void = { _ in }
    ) async throws {
        let ids = (0..<size).map { ServerID("n\($0)") }
        var transports: [any Transport] = []
        switch transportKind {
        case .inmem:
            let inmem = ids.map { InmemTransport(address: ServerAddress($0.rawValue), timeout: transportTimeout) }
            for a in inmem {
                for b in inmem where a !== b { a.connect(b) }
            }
            transports = inmem
        case .tcp:
            var options = NetworkTransport.Options()
            options.timeout = transportTimeout
            for _ in ids { transports.append(try await NetworkTransport.bind(to: "127.0.0.1:0", options: options)) }
        }
        let configuration = Configuration(servers: zip(ids, transports).map { Server(id: $0, address: $1.localAddress) })
        var nodes: [Node] = []
        for (id, transport) in zip(ids, transports) {
            var config = Config(localID: id)
            configure(&config)
            let logStore: any LogStore
            let stableStore: any StableStore
            let snapshots: any SnapshotStore
            switch storeKind {
            case .inmem:
                let store = InmemStore()
                (logStore, stableStore, snapshots) = (store, store, InmemSnapshotStore())
            case .file(let directory):
                let base = "\(directory)/\(id.rawValue)"
                logStore = try FileLogStore(directory: base + "/log")
                stableStore = try FileStableStore(directory: base + "/stable")
                // The store logs each snapshot it creates and reaps at `info`: as loud as the nodes.
                var storeLogger = config.logger
                storeLogger[metadataKey: "raft.node"] = "\(id)"
                snapshots = try FileSnapshotStore(directory: base, retain: 2, options: .init(logger: storeLogger))
            }
            try Raft.bootstrapCluster(
                config: config,
                logStore: logStore,
                stableStore: stableStore,
                snapshotStore: snapshots,
                configuration: configuration
            )
            let fsm = CounterFSM(stateBytes: fsmStateBytes)
            let raft = try await Raft(
                config: config,
                fsm: inlineFSM ? InlineCounterFSM(fsm) : fsm,
                logStore: logStore,
                stableStore: stableStore,
                snapshotStore: snapshots,
                transport: transport
            )
            nodes.append(Node(id: id, raft: raft, fsm: fsm, transport: transport, logStore: logStore, stableStore: stableStore))
        }
        self.nodes = nodes
        if case .file(let directory) = storeKind { storeDirectory = directory } else { storeDirectory = nil }
    }

    /// The node that leads, once exactly one does; nil if none does within `timeout`.
    public func waitForLeader(timeout: Duration = .seconds(10)) async -> Node? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let leaders = nodes.filter { $0.raft.state == .leader }
            if leaders.count == 1 { return leaders[0] }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Shuts every node down, concurrently, then closes transports and file stores and removes
    /// the stores' files.
    public func shutdown() async {
        await withDiscardingTaskGroup { group in
            for node in nodes {
                group.addTask { await node.raft.shutdown() }
            }
        }
        for node in nodes {
            await (node.transport as? any ClosableTransport)?.close()
            try? (node.logStore as? FileLogStore)?.close()
            (node.stableStore as? FileStableStore)?.close()
        }
        if let storeDirectory { try? PosixFileSystem().removeTree(storeDirectory) }
    }
}
