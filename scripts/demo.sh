#!/usr/bin/env bash
# The README's main job: three raftkv processes on loopback in a temporary directory, a steady
# load of writes and linearizable reads over HTTP, the leader killed with SIGKILL halfway and the
# re-election timed, the old leader restarted and caught up (through InstallSnapshot), then the
# checks: every node holds the same data, no acknowledged write was lost, the history is
# linearizable. Prints a summary table; exits non-zero if a check fails.
#
# Flags go to raftkv-demo: --duration SECONDS (default 30), --clients N (default 8), --keep (keep
# the data directories and node logs). The library example that runs three nodes in one process
# is scripts/demo-in-process.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain setup.sh finds must reach this script's own builds too.
source scripts/swift-env.sh
scripts/setup.sh
# One product per build: given two --product flags, SwiftPM builds only the last.
swift build -c release --product raftkv
swift build -c release --product raftkv-demo
exec .build/release/raftkv-demo --raftkv .build/release/raftkv "$@"
