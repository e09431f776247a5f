#!/usr/bin/env bash
# Runs the whole test suite: core specifications, plugins, and the deterministic cluster tests.
#
# Knobs (environment variables):
#   RAFT_SIM_SEEDS   how many seeds the randomized cluster soak runs (default: a CI-sized count)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --interop
swift build --build-tests
swift test --skip-build "$@"
