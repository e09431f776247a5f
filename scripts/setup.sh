#!/usr/bin/env bash
# Installs what swift-raft needs on a fresh Debian machine of this project's kind, and resolves
# the Swift packages. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/swift-env.sh

# Debian packages the build needs: msgpack-c for the TCP transport's codec. With --interop, also
# Go and hashicorp/raft's Debian sources, which the interoperability tests build real
# hashicorp/raft peers from (the tests skip, saying why, when Go is missing).
needed=(libmsgpack-dev pkg-config)
if [[ ${1:-} == --interop ]]; then
    needed+=(golang-go golang-github-hashicorp-raft-dev golang-github-hashicorp-raft-boltdb-dev)
fi
missing=()
for package in "${needed[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

swift package resolve >/dev/null
