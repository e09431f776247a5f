#!/usr/bin/env python3
"""transport-bench over mutual TLS beside plaintext, interleaved in one session.

Each round runs every configuration (pipelined and synchronous, at 64 and 1 entries per RPC)
once plaintext and once over TLS, which goes first alternating by round, each run after the
machine was quiet for a second (or after --max-wait seconds, noted). Writes every JSON line
(with "tls" and "round") to --out and prints a Markdown table of medians and TLS/plaintext
ratios. Certificates: scripts/make-test-certificates.sh writes them into a temporary directory.

    cd Benchmarks && swift build -c release --product transport-bench
    scripts/compare-tls.py --rounds 3 --out results/tls-$(date +%F).jsonl
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

from quiet_machine import quiet_wait

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
CONFIGS = [("pipeline", 64), ("sync", 64), ("pipeline", 1), ("sync", 1)]


def run(binary, mode, entries, tls_dir, duration, warmup):
    arguments = [binary, "--mode", mode, "--entries", str(entries), "--duration", str(duration), "--warmup", str(warmup)]
    if tls_dir:
        arguments += ["--tls", tls_dir]
    output = subprocess.run(arguments, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--quiet-pct", type=float, default=20, help="machine CPU %% below which a run may start")
    parser.add_argument("--max-wait", type=float, default=60, help="seconds to wait for a quiet machine")
    parser.add_argument("--out", default=None, help="JSON lines file to write")
    parser.add_argument("--binary", default=os.path.join(BENCH, ".build", "release", "transport-bench"))
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"compare-tls: no {args.binary}; run `swift build -c release --product transport-bench` in Benchmarks/")

    certificates = tempfile.mkdtemp(prefix="tls-bench-")
    subprocess.run([os.path.join(REPO, "scripts", "make-test-certificates.sh"), certificates], check=True, capture_output=True)
    results = []
    for round_number in range(args.rounds):
        for mode, entries in CONFIGS:
            order = [False, True] if round_number % 2 == 0 else [True, False]
            for tls in order:
                waited, busy, quiet = quiet_wait(args.quiet_pct, args.max_wait)
                line = run(args.binary, mode, entries, certificates if tls else None, args.duration, args.warmup)
                line.update({"tls": tls, "round": round_number, "busy_pct_before": round(busy, 1), "quiet": quiet})
                results.append(line)
                print(f"round {round_number} {mode:8} {entries:3} {'tls  ' if tls else 'plain'} "
                      f"{line['entries_per_s']:>12,.0f} entries/s  p99 {line['rpc_p99_us']:>8,.0f} us"
                      f"{'' if quiet else '  (machine busy: ' + str(round(busy)) + ' %)'}", file=sys.stderr)
    if args.out:
        with open(args.out, "w") as out:
            for line in results:
                out.write(json.dumps(line) + "\n")

    def median(mode, entries, tls, field):
        return statistics.median(r[field] for r in results if r["mode"] == mode and r["entries_per_rpc"] == entries and r["tls"] == tls)

    print("| config | plaintext entries/s | TLS entries/s | TLS / plaintext | RPC p50 µs plain / TLS | RPC p99 µs plain / TLS | CPU µs per RPC plain / TLS |")
    print("|---|---|---|---|---|---|---|")
    for mode, entries in CONFIGS:
        plain, tls = median(mode, entries, False, "entries_per_s"), median(mode, entries, True, "entries_per_s")
        cpu = "cpu_us_per_rpc"
        cpu_text = (f"{median(mode, entries, False, cpu):,.1f} / {median(mode, entries, True, cpu):,.1f}"
                    if all(cpu in r for r in results) else "n/a")
        print(f"| {'pipelined' if mode == 'pipeline' else 'synchronous'}, {entries} entr{'ies' if entries > 1 else 'y'} "
              f"| {plain:,.0f} | {tls:,.0f} | {tls / plain:.2f}× "
              f"| {median(mode, entries, False, 'rpc_p50_us'):,.0f} / {median(mode, entries, True, 'rpc_p50_us'):,.0f} "
              f"| {median(mode, entries, False, 'rpc_p99_us'):,.0f} / {median(mode, entries, True, 'rpc_p99_us'):,.0f} "
              f"| {cpu_text} |")


if __name__ == "__main__":
    main()
