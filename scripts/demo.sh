#!/usr/bin/env bash
# Runs the demo: a three-node cluster in one process electing a leader, replicating commands,
# losing its leader and electing another.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift run -c release raft-demo "$@"
