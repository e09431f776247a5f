#!/usr/bin/env bash
# Builds the API documentation (DocC) of every public library module, with its articles, into
# .build/plugins/Swift-DocC/outputs/<Module>.doccarchive, and fails if DocC warns (a symbol link
# that no longer resolves, say). Not part of scripts/test.sh: it rebuilds the modules for their
# symbol graphs, which takes minutes.
#
# Usage: scripts/docs.sh [Module...]   (default: every library module)
#        scripts/docs.sh --preview SwiftRaft   serves one module's pages at http://localhost:8080
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/swift-env.sh

if [[ ${1:-} == --preview ]]; then
    exec swift package --disable-sandbox preview-documentation --target "${2:?--preview needs a module}"
fi

modules=("$@")
((${#modules[@]})) || modules=(SwiftRaft RaftCore RaftFileStores RaftNetworkTransport RaftTLS RaftTestKit RaftServiceLifecycle)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for module in "${modules[@]}"; do
    echo "== $module"
    if ! swift package generate-documentation --target "$module" >"$log" 2>&1; then
        cat "$log"
        echo "scripts/docs.sh: generating $module's documentation failed" >&2
        exit 1
    fi
    # DocC's own diagnostics come after the plugin's "Building documentation for" line; the
    # compiler's warnings before it are the build's business, not the documentation's.
    docc=$(sed -n '/^Building documentation for/,$p' "$log")
    if [[ -z $docc ]]; then
        cat "$log"
        echo "scripts/docs.sh: no DocC output for $module in the plugin's log" >&2
        exit 1
    fi
    echo "$docc"
    if grep -q "warning:" <<<"$docc"; then
        echo "scripts/docs.sh: DocC warned about $module (above): fix the links or comments it names" >&2
        exit 1
    fi
done
echo "Documentation in .build/plugins/Swift-DocC/outputs/"
