#!/usr/bin/env bash
# Runs the whole test suite: core specifications, plugins, deterministic cluster tests, file-store
# crash tests, and the TCP transport with its interoperability tests against real hashicorp/raft;
# first it checks that every code sample in README.md and Docs/ compiles.
#
# Knobs (environment variables):
#   RAFT_SIM_SEEDS         how many seeds the randomized cluster soak runs (default: a CI-sized count)
#   RAFT_CORE_CHAOS_SEEDS  how many seeds the core's chaos test runs (default 200)
#   RAFT_FUZZ_FRAMES       frames the wire-decoder fuzz test tries (default 100,000)
#   RAFT_LIVE_FUZZ_FRAMES  frames the live-server fuzz test sends (default 100,000)
#   RAFT_MIXED_FAULT_SEEDS, RAFT_MIXED_FAULT_ROUNDS
#                          size of the randomized fault test of mixed hashicorp/raft + swift-raft
#                          clusters (defaults 2 and 4)
#   RAFT_FAILOVER_SAMPLES  when set, also measure leader failover times (prints, asserts nothing)
#   RAFT_KV_FAULT_SECONDS  how long the black-box raftkv fault test (RaftKVFaultTests: 3 raftkv
#                          processes, SIGKILL/SIGSTOP of nodes and leaders under load) injects
#                          faults, in seconds (default 35)
#   RAFT_KV_FAULT_SEED     the seed of its fault schedule (default 1; a failure names its seed)
#
# `scripts/test.sh --no-interop [swift test arguments]` installs neither Go nor hashicorp/raft's
# sources and skips the interoperability tests (they say so; RAFT_SKIP_INTEROP=1 does the same).
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain setup.sh finds must reach this script's own builds too.
source scripts/swift-env.sh
setup=(--interop)
if [[ ${1:-} == --no-interop ]]; then
    setup=()
    export RAFT_SKIP_INTEROP=1
    shift
fi
scripts/setup.sh "${setup[@]}"
swift build --build-tests
# Every code sample in README.md and Docs/ compiles against what was just built.
scripts/check-doc-samples.py
swift test --skip-build "$@"
