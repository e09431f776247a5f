#!/usr/bin/env bash
# Runs the library example: a three-node cluster in one process (TCP on loopback, file stores)
# electing a leader, replicating commands, losing its leader, electing another and restarting the
# old one, which catches up through InstallSnapshot: the others compacted away the entries it
# missed. `--transport inmem --store inmem` runs it on the in-memory plugins. The README's main
# demo, with one process per node, is scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain setup.sh finds must reach this script's own builds too.
source scripts/swift-env.sh
scripts/setup.sh
swift run -c release raft-demo "$@"
