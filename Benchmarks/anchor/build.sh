#!/usr/bin/env bash
# Builds the hashicorp/raft anchors (hraft-bench, pipeline-bench) from Debian's packaged Go
# sources: GOPATH mode, nothing downloaded. Needs golang-go, golang-github-hashicorp-raft-dev and
# golang-github-hashicorp-raft-boltdb-dev (scripts/setup.sh --interop installs them).
#
# Usage: Benchmarks/anchor/build.sh [output directory]   (default: Benchmarks/anchor/bin)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/bin}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= CGO_ENABLED=0
export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/swift-raft-anchor-gocache}"
for program in hraft-bench pipeline-bench; do
    (cd "$here/$program" && go build -o "$out/$program" .)
    echo "built $out/$program"
done
