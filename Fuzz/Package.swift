// swift-tools-version:6.1
//
// swift-raft fuzzers: libFuzzer targets for every decoder of bytes that come from a peer or from
// disk, in a separate package so that neither the library's users nor its CI ever build them.
// Docs/fuzzing.md says what each covers and how to run them; scripts/fuzz.sh runs one:
//
//   scripts/fuzz.sh fuzz-wire-request 600
//
// Each target is an executable without a `main`: it defines `LLVMFuzzerTestOneInput`, and
// `-sanitize=fuzzer` links libFuzzer's driver. Built by hand:
//
//   swift build -c release --sanitize=fuzzer --sanitize=address --product fuzz-wire-request
//
//   fuzz-wire-request    the server side's framing: type bytes, every request value, snapshot data
//   fuzz-wire-response   the client side's framing: error strings, every response value
//   fuzz-append-entries  the one-pass AppendEntries decoder on its own, and its round trip
//   fuzz-log-segment     FileLogStore segment recovery and its record decoder
//   fuzz-stable-record   FileStableStore's data file replay and its record decoder
//   fuzz-snapshot-meta   a snapshot's meta.json: the JSON parser and the metadata decoder
//
// The inputs found interesting so far are in Corpus/<target>; the tests of the main package
// replay them all on every run (FuzzCorpusReplayTests).

import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    // No `main`: libFuzzer's driver provides it.
    .unsafeFlags(["-parse-as-library"]),
]

let wire: [Target.Dependency] = [
    .product(name: "RaftNetworkTransport", package: "swift-raft"),
    .product(name: "SwiftRaft", package: "swift-raft"),
]
let stores: [Target.Dependency] = [
    .product(name: "RaftFileStores", package: "swift-raft"),
    .product(name: "RaftTestKit", package: "swift-raft"),
    .product(name: "SwiftRaft", package: "swift-raft"),
]

let package = Package(
    name: "swift-raft-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named explicitly: a path dependency is otherwise known by its directory name, which
        // depends on where the repository was cloned.
        .package(name: "swift-raft", path: "../"),
    ],
    targets: [
        .executableTarget(name: "fuzz-wire-request", dependencies: wire, swiftSettings: strictSettings),
        .executableTarget(name: "fuzz-wire-response", dependencies: wire, swiftSettings: strictSettings),
        .executableTarget(name: "fuzz-append-entries", dependencies: wire, swiftSettings: strictSettings),
        .executableTarget(name: "fuzz-log-segment", dependencies: stores, swiftSettings: strictSettings),
        .executableTarget(name: "fuzz-stable-record", dependencies: stores, swiftSettings: strictSettings),
        .executableTarget(name: "fuzz-snapshot-meta", dependencies: stores, swiftSettings: strictSettings),
    ]
)
