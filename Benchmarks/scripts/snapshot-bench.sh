#!/usr/bin/env bash
# What snapshots buy and cost, one process per measurement (so each peak RSS is its own):
#  1. restart: a node that applied ENTRIES commands restarts, once from the whole log (no
#     snapshots) and once from a snapshot plus TRAILING log entries (hashicorp/raft's defaults);
#  2. install: a 3-node TCP cluster with file stores and a FSM_BYTES snapshot sends it through
#     InstallSnapshot to a node that starts with empty stores, in a process of its own.
# Prints one JSON line per measurement. Apply latency while a large snapshot is persisted is
# raft-bench's --fsm-bytes and --snapshot-threshold (see Docs/benchmarks.md).
#
#   Benchmarks/scripts/snapshot-bench.sh [ENTRIES=10000000] [FSM_BYTES=100000000] [TRAILING=10240]
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${1:-10000000}
FSM_BYTES=${2:-100000000}
TRAILING=${3:-10240}
DIR=${BENCH_DIR:-/tmp}/snapshot-bench-$$
trap 'rm -rf "$DIR"' EXIT
swift build -c release --product snapshot-bench >&2
BENCH=.build/release/snapshot-bench

for mode in log snapshot; do
    "$BENCH" restart-prepare --dir "$DIR/restart-$mode" --entries "$ENTRIES" --mode "$mode" --trailing-logs "$TRAILING" >&2
    sync
    "$BENCH" restart-measure --dir "$DIR/restart-$mode"
    rm -rf "$DIR/restart-$mode"
done

mkdir -p "$DIR/install"
"$BENCH" install-leader --dir "$DIR/install" --fsm-bytes "$FSM_BYTES" --rendezvous "$DIR/install/rendezvous" &
leader=$!
"$BENCH" install-follower --dir "$DIR/install" --rendezvous "$DIR/install/rendezvous"
wait "$leader"
