# Sourced by the scripts that build (setup.sh, test.sh, demo.sh, demo-in-process.sh): puts a Swift
# toolchain on PATH for them and everything they start. A machine whose toolchain is only at
# /opt/swift (as on this project's build machines) gets /opt/swift/usr/bin added; with none at
# all, it says what to install and stops.
if ! command -v swift >/dev/null 2>&1; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    else
        echo "swift-raft needs a Swift 6.1+ toolchain on PATH (none found): install one from" \
            "https://www.swift.org/install/ and run this again." >&2
        exit 1
    fi
fi
