#!/usr/bin/env bash
# Runs one libFuzzer target of Fuzz/ for a while on its committed corpus (Docs/fuzzing.md).
#
#   scripts/fuzz.sh TARGET SECONDS [--merge]
#
# TARGET is one of the fuzz-* executables in Fuzz/Package.swift. Builds it first (release, with
# libFuzzer and AddressSanitizer; a no-op when it is up to date), copies Fuzz/Corpus/TARGET into
# a scratch corpus under Fuzz/.build/fuzz/TARGET/ so a run never touches the repository, and
# fuzzes under `nice` for SECONDS seconds. With --merge, the inputs the run found that add
# coverage are then merged (minimised) into Fuzz/Corpus/TARGET, to be reviewed and committed;
# those over 4 KiB are left out, to keep the committed corpus small.
# A crash, hang or out-of-memory input is written to Fuzz/.build/fuzz/TARGET/artifacts/.
set -euo pipefail

usage() { echo "usage: $0 TARGET SECONDS [--merge]   (TARGET: fuzz-wire-request, ... see Fuzz/Package.swift)" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
target=$1
seconds=$2
merge=false
[[ ${3:-} == --merge ]] && merge=true
[[ $seconds =~ ^[0-9]+$ ]] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/swift-env.sh"
fuzz="$root/Fuzz"
[[ -d "$fuzz/Sources/$target" ]] || { echo "no fuzz target $target in Fuzz/Sources" >&2; usage; }

build_flags=(-c release --sanitize=fuzzer --sanitize=address)
(cd "$fuzz" && nice -n 10 swift build "${build_flags[@]}" --product "$target")
binary="$(cd "$fuzz" && swift build "${build_flags[@]}" --show-bin-path)/$target"

work="$fuzz/.build/fuzz/$target"
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$fuzz/Corpus/$target"/* "$work/corpus/" 2>/dev/null || true
log="$work/run-$(date -u +%Y%m%dT%H%M%SZ).log"

echo "fuzzing $target for ${seconds}s: corpus $work/corpus, crashes to $work/artifacts/, log $log"
status=0
# -timeout: no single input may take seconds; -rss_limit_mb: nor gigabytes. Both count as bugs.
nice -n 10 "$binary" "$work/corpus" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" 2>&1 | tee "$log" || status=$?

if $merge; then
    echo "merging new coverage from $work/corpus into Fuzz/Corpus/$target"
    before=$(mktemp)
    ls "$fuzz/Corpus/$target" | sort > "$before"
    nice -n 10 "$binary" -merge=1 -timeout=5 -rss_limit_mb=2048 "$fuzz/Corpus/$target" "$work/corpus" 2>&1 | tail -3
    # The committed corpus stays small: new inputs over 4 KiB stay in the scratch corpus only.
    ls "$fuzz/Corpus/$target" | sort | comm -13 "$before" - | while read -r name; do
        if [[ $(stat -c %s "$fuzz/Corpus/$target/$name") -gt 4096 ]]; then rm "$fuzz/Corpus/$target/$name"; fi
    done
    rm "$before"
    echo "Fuzz/Corpus/$target: $(ls "$fuzz/Corpus/$target" | wc -l) inputs, $(cat "$fuzz/Corpus/$target"/* | wc -c) bytes"
fi
if [[ $status -ne 0 ]]; then
    echo "$target found a crash, hang or out-of-memory input: see $work/artifacts/ and $log" >&2
fi
exit $status
