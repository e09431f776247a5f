#!/usr/bin/env bash
# Builds every Go program under GoPeers/ (each subdirectory holding .go files is one main
# package) into the given output directory, against Debian's packaged Go sources: GOPATH mode,
# no module download (golang-go, golang-github-hashicorp-raft-dev; hashicorp/raft 1.1.2 with
# go-msgpack 0.5.5 under /usr/share/gocode).
#
# Usage: build.sh <output directory>     -> <output directory>/<program name>
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 <output directory>" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= CGO_ENABLED=0
# GOPATH mode with GO111MODULE=off still wants a writable build cache.
export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/gopeers-gocache}"
for dir in "$here"/*/; do
  name="$(basename "$dir")"
  if ls "$dir"*.go >/dev/null 2>&1; then
    (cd "$dir" && go build -o "$out/$name" .)
    echo "built $out/$name"
  fi
done
