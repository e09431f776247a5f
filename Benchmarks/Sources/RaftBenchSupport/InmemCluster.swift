public import SwiftRaft

/// An N-node cluster in one process on the in-memory transport and stores, on real time: the
/// configuration hraft-bench calls `--transport inmem --store inmem`.
///
/// Nodes are `n0`, `n1`, …, fully connected, each bootstrapped with the same voter set, exactly
/// as hraft-bench builds its cluster.
public struct InmemCluster: Sendable {
    /// One server of the cluster.
    public struct Node: Sendable {
        /// The server's ID (`n0`, `n1`, …), also its transport address.
        public let id: ServerID
        /// The running node.
        public let raft: Raft
        /// Its state machine.
        public let fsm: CounterFSM
        /// Its transport.
        public let transport: InmemTransport
    }

    /// The servers, in ID order.
    public let nodes: [Node]

    /// Builds and starts the cluster.
    ///
    /// - Parameters:
    ///   - size: how many voters.
    ///   - transportTimeout: the in-memory transport's RPC timeout (hraft-bench uses 10 s).
    ///   - configure: adjusts each node's ``Config`` (timeouts, batch sizes, logging).
    public init(
        size: Int,
        transportTimeout: Duration = .seconds(10),
        configure: (inout Config) -> Void = { _ in }
    ) async throws {
        let ids = (0..<size).map { ServerID("n\($0)") }
        let configuration = Configuration(servers: ids.map { Server(id: $0, address: ServerAddress($0.rawValue)) })
        let transports = ids.map { InmemTransport(address: ServerAddress($0.rawValue), timeout: transportTimeout) }
        for a in transports {
            for b in transports where a !== b { a.connect(b) }
        }
        var nodes: [Node] = []
        for (id, transport) in zip(ids, transports) {
            var config = Config(localID: id)
            configure(&config)
            let store = InmemStore()
            let snapshots = InmemSnapshotStore()
            try Raft.bootstrapCluster(
                config: config,
                logStore: store,
                stableStore: store,
                snapshotStore: snapshots,
                configuration: configuration
            )
            let fsm = CounterFSM()
            let raft = try await Raft(
                config: config,
                fsm: fsm,
                logStore: store,
                stableStore: store,
                snapshotStore: snapshots,
                transport: transport
            )
            nodes.append(Node(id: id, raft: raft, fsm: fsm, transport: transport))
        }
        self.nodes = nodes
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

    /// Shuts every node down, concurrently.
    public func shutdown() async {
        await withDiscardingTaskGroup { group in
            for node in nodes {
                group.addTask { await node.raft.shutdown() }
            }
        }
    }
}
