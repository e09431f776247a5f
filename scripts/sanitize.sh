#!/usr/bin/env bash
# Builds the package and its tests under a sanitizer and runs the whole test suite under it:
#
#   scripts/sanitize.sh thread    ThreadSanitizer  (data races),     build in .build-tsan
#   scripts/sanitize.sh address   AddressSanitizer (memory errors, and LeakSanitizer's leaks),
#                                                                     build in .build-asan
#
# Each sanitizer builds in a scratch path of its own, so the normal .build is untouched. Extra
# arguments go to `swift test` (e.g. `--filter ClusterTests`). The test log is written to
# <scratch>/sanitize.log as well as to the terminal, the sanitizer's reports to
# <scratch>/sanitizer-reports/. Exits non-zero when a test fails or the sanitizer reports anything
# not suppressed (see Docs/testing.md,
# "Sanitizers", for the last runs and every finding).
#
# Knobs: RAFT_SANITIZE_JOBS, build jobs (default: SwiftPM's); RAFT_SANITIZE_PARALLELISM, how
# many tests run at once (default 4 under AddressSanitizer, 2 under ThreadSanitizer; 0 = all, as
# plain `swift test` does); the test suite's own knobs
# (scripts/test.sh) apply unchanged; RAFT_SKIP_INTEROP=1 skips the hashicorp/raft interoperability
# suites (by default they run: their Go peers are not instrumented, but the Swift side is).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/swift-env.sh

sanitizer=${1:-}
case $sanitizer in
    thread) scratch=.build-tsan ;;
    address) scratch=.build-asan ;;
    *)
        echo "usage: scripts/sanitize.sh thread|address [swift test arguments]" >&2
        exit 64
        ;;
esac
shift

jobs=()
[[ -n ${RAFT_SANITIZE_JOBS:-} ]] && jobs=(--jobs "$RAFT_SANITIZE_JOBS")
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" "${jobs[@]}"

# Every report goes to a file of its own under $scratch/sanitizer-reports, named for the process
# (the test bundle, or a raftkv process a test started, whose stderr the test harness keeps in a
# temporary directory), and the run goes on after one, so one run collects them all.
reports_dir="$PWD/$scratch/sanitizer-reports"
rm -rf "$reports_dir"
mkdir -p "$reports_dir"
scripts_dir="$PWD/scripts"
common="halt_on_error=0:log_path=$reports_dir/$sanitizer:log_exe_name=1"
case $sanitizer in
    thread)
        export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$scripts_dir/tsan-suppressions.txt${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
        ;;
    address)
        export ASAN_OPTIONS="$common:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        export LSAN_OPTIONS="suppressions=$scripts_dir/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
        ;;
esac

preload=()
if [[ $sanitizer == thread ]]; then
    # Synchronization.Mutex hands a contended lock over in code ThreadSanitizer cannot see; the
    # shim tells it about the hand-over (why, in scripts/tsan-mutex-shim.c). Checked first: a
    # Mutex it cannot see makes every contended lock a report, and one that hid real races would
    # make a clean run mean nothing.
    shim="$PWD/$scratch/libtsan-mutex-shim.so"
    clang -O2 -shared -fPIC -o "$shim" scripts/tsan-mutex-shim.c -ldl
    swiftc -sanitize=thread -Onone -o "$scratch/tsan-mutex-shim-check" scripts/tsan-mutex-shim-check.swift
    check_reports() {   # runs the check with TSAN_OPTIONS of its own; prints how many reports
        env "$@" TSAN_OPTIONS=halt_on_error=0:exitcode=0 "$scratch/tsan-mutex-shim-check" "${check_args[@]}" 2>&1 |
            grep -c '^WARNING: ThreadSanitizer' || true
    }
    check_args=()
    without=$(check_reports)
    with=$(check_reports LD_PRELOAD="$shim")
    check_args=(racy)
    racy_with=$(check_reports LD_PRELOAD="$shim")
    echo "tsan-mutex-shim check: contended Mutex, $without report(s) without the shim, $with with it; a real race, $racy_with report(s) with it"
    if [[ $with -ne 0 || $racy_with -eq 0 ]]; then
        echo "tsan-mutex-shim does not work with this toolchain: a ThreadSanitizer run would be meaningless" >&2
        exit 1
    fi
    preload=(env LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}")
fi

# Swift Testing starts every test at once. Under a sanitizer each test needs several times the
# CPU, and with all of them at once on a small machine the tests that talk over real sockets with
# real deadlines (10 s calls, 60 s time limits) miss them for want of a core: the whole suite at
# once under AddressSanitizer on two cores failed ten such tests, each of which passes on its own.
# A few at a time, the deadlines mean what they mean in a normal run. ThreadSanitizer slows a
# process more than AddressSanitizer does: four at a time, real-time clusters with hashicorp/raft's
# 1 s election timeouts changed leader under the tests (three whole-suite runs lost one to three
# tests that way); two at a time, the whole suite passed.
default_parallelism=4
[[ $sanitizer == thread ]] && default_parallelism=2
parallelism=${RAFT_SANITIZE_PARALLELISM:-$default_parallelism}
if [[ $parallelism != 0 ]]; then
    export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$parallelism
fi

log="$scratch/sanitize.log"
status=0
"${preload[@]}" swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}

reports=$(cat "$reports_dir"/* 2>/dev/null | grep -cE '^(WARNING: ThreadSanitizer|==.+==ERROR: (AddressSanitizer|LeakSanitizer))' || true)
summary=$(grep -E 'Test run with [0-9]+ tests?' "$log" | tail -1 || true)
echo "sanitize.sh $sanitizer: ${summary:-no Swift Testing summary}"
echo "sanitize.sh $sanitizer: $reports sanitizer report(s) in $reports_dir; test log: $log"
if [[ $status -ne 0 || $reports -ne 0 ]]; then
    exit $((status != 0 ? status : 1))
fi
