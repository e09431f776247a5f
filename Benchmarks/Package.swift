// swift-tools-version:6.1
//
// swift-raft benchmarks: a separate package, so that users of the library never resolve the
// benchmark harness (the layout swift-nio uses).
//
//   RaftBenchmarks  ordo-one/benchmark suite: a 3-node in-memory cluster (commits/s, allocations
//                   per proposal) and micro-benchmarks of the pure core (RaftInstance)
//   raft-bench      the counterpart of anchor/hraft-bench (hashicorp/raft): a closed-loop
//                   Apply load on a 3-node cluster in one process, one JSON line per run
//   store-bench     FileLogStore appends (batches of 1/64/256, fsync on) beside the disk's own
//                   fdatasync rate measured in the same run, and random getLog reads
//   transport-bench the counterpart of the anchor's pipeline-bench: two TCP NetworkTransports on
//                   loopback, AppendEntries throughput pipelined and one at a time
//   wire-decode-bench the CPU cost of decoding one transport value (AppendEntries 64 x 128 B,
//                   RequestVote, AppendEntries response), no sockets
//   BenchReporting  what the executables share: JSON lines, clocks, CPU accounting, percentiles
//
// Run from this directory:
//   swift package benchmark                   # the ordo-one suite
//   swift build -c release && .build/release/raft-bench --inflight 64

import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-raft-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency is otherwise known by its directory name, which
        // depends on where the repository was cloned.
        .package(name: "swift-raft", path: "../"),
        // The `MallocInterposer` trait alone drops the default `RuntimeInterposer` trait and with
        // it a dependency the local package mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // transport-bench makes its own event loop groups (--event-loops) and a byte-counting
        // stream layer; the same swift-nio swift-raft's transport already resolves.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // store-bench's command line; the same swift-argument-parser swift-raft's tools use.
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(name: "BenchReporting", path: "Sources/BenchReporting", swiftSettings: strictSettings),
        .target(
            name: "RaftBenchSupport",
            dependencies: [
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "RaftFileStores", package: "swift-raft"),
                .product(name: "RaftNetworkTransport", package: "swift-raft"),
            ],
            path: "Sources/RaftBenchSupport",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "RaftBenchmarks",
            dependencies: [
                "RaftBenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "RaftCore", package: "swift-raft"),
            ],
            path: "Benchmarks/RaftBenchmarks",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "raft-bench",
            dependencies: [
                "RaftBenchSupport",
                "BenchReporting",
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/raft-bench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "snapshot-bench",
            dependencies: [
                "RaftBenchSupport",
                "BenchReporting",
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "RaftFileStores", package: "swift-raft"),
                .product(name: "RaftNetworkTransport", package: "swift-raft"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/snapshot-bench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: [
                "BenchReporting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "RaftFileStores", package: "swift-raft"),
                .product(name: "SwiftRaft", package: "swift-raft"),
            ],
            path: "Sources/store-bench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "transport-bench",
            dependencies: [
                "BenchReporting",
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "RaftNetworkTransport", package: "swift-raft"),
                .product(name: "RaftTLS", package: "swift-raft"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/transport-bench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "wire-decode-bench",
            dependencies: [
                "BenchReporting",
                .product(name: "SwiftRaft", package: "swift-raft"),
                .product(name: "RaftNetworkTransport", package: "swift-raft"),
            ],
            path: "Sources/wire-decode-bench",
            swiftSettings: strictSettings
        ),
    ]
)
