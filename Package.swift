// swift-tools-version:6.1
//
// swift-raft: a Raft consensus library for Swift on Linux, in the style of hashicorp/raft.
//
// Module layout (one module per layer, see Docs/architecture.md):
//   RaftCore     the Raft protocol as a pure, deterministic state machine (no I/O, no clock)
//   SwiftRaft    the public `Raft` node (the shell), plugin protocols, in-memory plugins
//   RaftFileStores        crash-safe file-based log, stable and snapshot stores
//   RaftNetworkTransport  TCP transport (SwiftNIO + msgpack-c), wire-compatible with hashicorp/raft
//   RaftTLS      a TLS StreamLayer for the transport (swift-nio-ssl, so BoringSSL): mutual TLS by
//                default; its own product, so an application without TLS never builds BoringSSL
//   CMsgPack              the system library msgpack-c (Debian: libmsgpack-dev)
//   CCRC32C               CRC-32C with the CPU's instruction, for the file stores' checksums
//   RaftTestKit  deterministic simulation, cluster harness, invariant checks, conformance suites
//   RaftServiceLifecycle  a node as a swift-service-lifecycle Service (graceful shutdown)
//   RaftKVClient a minimal HTTP/1.1 client for raftkv (SwiftNIO's NIOHTTP1), for its --join and tests
//   raftkv       a replicated key-value service over HTTP, one process per node (NIOHTTP1, no web framework)
//   raft-demo    a 3-node cluster over TCP with file stores: elects, replicates, loses its leader,
//                re-elects, restarts the old leader from its files
//   RaftKVHarness  raftkv processes driven from outside: launch, signal, load, failover, checks
//   raftkv-demo  3 raftkv processes under load: kill the leader, re-elect, restart, verify
//   raftkv-bench closed-loop HTTP load on 3 raftkv processes: writes and each kind of read
//                (Benchmarks/scripts/raftkv-bench.py runs it beside the hashicorp/raft anchor)

import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-raft",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftRaft", targets: ["SwiftRaft"]),
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftFileStores", targets: ["RaftFileStores"]),
        .library(name: "RaftNetworkTransport", targets: ["RaftNetworkTransport"]),
        .library(name: "RaftTLS", targets: ["RaftTLS"]),
        .library(name: "RaftTestKit", targets: ["RaftTestKit"]),
        .library(name: "RaftServiceLifecycle", targets: ["RaftServiceLifecycle"]),
        .executable(name: "raft-demo", targets: ["RaftDemo"]),
        .executable(name: "raftkv", targets: ["RaftKV"]),
        .executable(name: "raftkv-demo", targets: ["RaftKVDemo"]),
        .executable(name: "raftkv-bench", targets: ["RaftKVBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        // Only for `swift package generate-documentation` (scripts/docs.sh); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "RaftCore",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SwiftRaft",
            dependencies: [
                "RaftCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftServiceLifecycle",
            dependencies: ["SwiftRaft", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strictSettings
        ),
        .target(name: "CCRC32C"),
        .target(
            name: "RaftFileStores",
            dependencies: ["SwiftRaft", "CCRC32C", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .systemLibrary(
            name: "CMsgPack",
            pkgConfig: "msgpack",
            providers: [.apt(["libmsgpack-dev"])]
        ),
        .target(
            name: "RaftNetworkTransport",
            dependencies: [
                "SwiftRaft",
                "CMsgPack",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftTestKit",
            dependencies: [
                "SwiftRaft",
                "RaftFileStores",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "RaftDemo",
            dependencies: [
                "SwiftRaft", "RaftFileStores", "RaftNetworkTransport", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftKVClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "RaftKV",
            dependencies: [
                "SwiftRaft", "RaftFileStores", "RaftNetworkTransport", "RaftServiceLifecycle", "RaftKVClient", "RaftTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftTLS",
            dependencies: [
                "RaftNetworkTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftTLSTests",
            dependencies: [
                "RaftTLS", "RaftNetworkTransport", "SwiftRaft", "RaftTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        // The test trait that moves synchronous, CPU-bound suites off Swift's cooperative pool,
        // shared by the test targets that have such suites.
        .target(name: "RaftTestTraits", dependencies: ["SwiftRaft"], path: "Tests/RaftTestTraits", swiftSettings: strictSettings),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "SwiftRaft", "RaftTestTraits"], swiftSettings: strictSettings),
        .testTarget(name: "SwiftRaftTests", dependencies: ["SwiftRaft", "RaftTestKit"], swiftSettings: strictSettings),
        .testTarget(
            name: "RaftServiceLifecycleTests",
            dependencies: [
                "RaftServiceLifecycle", "SwiftRaft", "RaftTestKit",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftKVTests",
            dependencies: [
                // RaftKV: the unit specs import it, and the process spec runs the binary it builds.
                "RaftKV", "RaftKVClient", "RaftKVHarness", "SwiftRaft",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "SwiftRaft", "RaftTestKit",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftFileStoreTests",
            dependencies: ["RaftFileStores", "SwiftRaft", "RaftTestKit"],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftNetworkTransportTests",
            dependencies: [
                // CMsgPack: the AppendEntries decoder is checked against a msgpack-c tree walk.
                "RaftNetworkTransport", "SwiftRaft", "RaftTestKit", "CMsgPack", "RaftTestTraits",
                // RaftFileStores: its PosixFileSystem lists the fixture and corpus folders.
                "RaftFileStores",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            exclude: ["Fixtures", "GoPeers"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "RaftKVHarness",
            dependencies: ["RaftKVClient", "RaftTestKit"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "RaftKVDemo",
            dependencies: [
                "RaftKVHarness", "RaftKVClient", "RaftTestKit", "SwiftRaft",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "RaftKVBench",
            dependencies: [
                "RaftKVHarness", "RaftKVClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RaftKVFaultTests",
            // RaftKV: a dependency, so SwiftPM builds the raftkv binary the test launches.
            dependencies: ["RaftKV", "RaftKVHarness", "RaftKVClient", "RaftTestKit", "RaftCore"],
            swiftSettings: strictSettings
        ),
    ]
)
