#!/usr/bin/env bash
# Installs what swift-raft needs on a fresh Debian machine of this project's kind, and resolves
# the Swift packages. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Without apt (not Debian or Ubuntu), say what to install by hand and stop: guessing another
# package manager's names would install the wrong things as often as the right ones.
if ! command -v apt-get >/dev/null 2>&1; then
    {
        echo "scripts/setup.sh: no apt-get on this system, so nothing was installed. Install by hand:"
        echo "  - a Swift 6 toolchain, 6.1 or later (tested with 6.3.1): https://www.swift.org/install/"
        echo "    (on PATH, or in /opt/swift/usr/bin, which scripts/swift-env.sh adds)"
        echo "  - msgpack-c's development files (C headers and library, 1.0 or later; tested with 4.0.0)"
        echo "    and pkg-config, so that \`pkg-config --cflags --libs msgpack\` succeeds"
        echo "    (msgpack-c 6 and later call it msgpack-c: see \"System requirements\" in README.md)"
        if [[ ${1:-} == --interop ]]; then
            echo "  - Go, and hashicorp/raft's and raft-boltdb's Go sources under /usr/share/gocode/src, where"
            echo "    Debian's golang-github-hashicorp-raft-dev puts them, for the interoperability tests"
            echo "    (or run scripts/test.sh --no-interop, which skips them)"
        else
            echo "  - Go, only for the interoperability tests and the benchmarks' anchor"
        fi
        echo "Then build with: swift build"
    } >&2
    exit 1
fi

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
