#!/usr/bin/env python3
"""raftkv over HTTP beside the hashicorp/raft anchor, interleaved, then a summary and a plot.

Each round runs, after waiting for a quiet machine, `raftkv-bench` (3 raftkv processes on
loopback, file stores with fsync, closed-loop HTTP clients: writes, ReadIndex reads on the leader,
lease reads, follower reads, stale reads, at each client count) and the anchor `hraft-bench`
(hashicorp/raft 1.1.2: 3 nodes over TCP on loopback with its bolt store, which also syncs every
batch, closed-loop Apply, in one process and without HTTP) at the same concurrency. Every JSON line
goes to --out; the summary prints medians over rounds and the ratio of raftkv's writes to the
anchor's; --plot draws throughput against clients.

  Benchmarks/scripts/raftkv-bench.py --rounds 3 --plot Docs/images/raftkv-throughput.png
  Benchmarks/scripts/raftkv-bench.py --summarize-only --out Benchmarks/results/raftkv-2026-12-06.jsonl

Build first (from the repository root): swift build -c release --product raftkv; swift build -c
release --product raftkv-bench; Benchmarks/anchor/build.sh (needs scripts/setup.sh --interop).
The plot needs matplotlib (pip install matplotlib).
"""
import argparse, json, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from quiet_machine import quiet_wait  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--raftkv", default=os.path.join(ROOT, ".build/release/raftkv"))
ap.add_argument("--raftkv-bench", default=os.path.join(ROOT, ".build/release/raftkv-bench"))
ap.add_argument("--hraft", default=os.path.join(ROOT, "Benchmarks/anchor/bin/hraft-bench"))
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--clients", default="1,16,64")
ap.add_argument("--duration", type=float, default=5)
ap.add_argument("--out", default=os.path.join(ROOT, "Benchmarks/results/raftkv.jsonl"))
ap.add_argument("--quiet-pct", type=float, default=20.0)
ap.add_argument("--quiet-max-wait", type=float, default=300.0)
ap.add_argument("--strace", action="store_true", help="count the leader's fsync/fdatasync per window")
ap.add_argument("--summarize-only", action="store_true")
ap.add_argument("--plot", default=None, help="write a PNG of throughput against clients here")
args = ap.parse_args()


def emit(line, extra):
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return
    record.update(extra)
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")


def run_round(rnd):
    waited, busy, quiet = quiet_wait(args.quiet_pct, args.quiet_max_wait)
    extra = {"round": rnd, "quiet_wait_s": round(waited, 1), "busy_before_pct": round(busy, 1), "started_quiet": quiet}
    command = [args.raftkv_bench, "--raftkv", args.raftkv, "--clients", args.clients,
               "--duration", str(args.duration), "--label", f"round{rnd}"]
    if args.strace:
        command.append("--strace")
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
    for line in result.stdout.splitlines():
        emit(line, extra)
    for clients in args.clients.split(","):
        command = [args.hraft, "--transport", "tcp", "--store", "bolt", "--inflight", clients,
                   "--duration", str(args.duration), "--warmup", "1", "--label", f"round{rnd}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        for line in result.stdout.splitlines():
            emit(line, dict(extra, workload="anchor-write", clients=int(clients)))


def load():
    rows = []
    with open(args.out) as f:
        for line in f:
            record = json.loads(line)
            if record.get("impl") == "raftkv":
                rows.append(record)
            elif "hashicorp" in str(record.get("impl", "")) or record.get("workload") == "anchor-write":
                record["workload"] = "anchor-write"
                record["clients"] = int(record.get("clients", record.get("inflight", 0)))
                rows.append(record)
    return rows


def summarize(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["workload"], int(r["clients"])), []).append(r)
    order = ["write", "anchor-write", "read", "lease-read", "follower-read", "stale-read"]
    print(f"{'workload':<14} {'clients':>7} {'runs':>4} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'syncs/op':>9}")
    medians = {}
    for workload in order:
        for clients in sorted({c for (w, c) in groups if w == workload}):
            rs = groups[(workload, clients)]
            ops = statistics.median(r["ops_per_s"] for r in rs)
            p50 = statistics.median(r["p50_us"] for r in rs) / 1000
            p99 = statistics.median(r["p99_us"] for r in rs) / 1000
            syncs = [r["leader_syncs_per_op"] for r in rs if "leader_syncs_per_op" in r]
            medians[(workload, clients)] = ops
            sync_text = f"{statistics.median(syncs):.4f}" if syncs else "-"
            print(f"{workload:<14} {clients:>7} {len(rs):>4} {ops:>10.0f} {p50:>8.2f} {p99:>8.2f} {sync_text:>9}")
    for clients in sorted({c for (w, c) in medians if w == "write"}):
        if ("anchor-write", clients) in medians:
            print(f"raftkv writes / hashicorp anchor at {clients} clients: {medians[('write', clients)] / medians[('anchor-write', clients)]:.2f}")
    return medians


def plot(medians, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    labels = {"write": "raftkv writes (PUT)", "anchor-write": "hashicorp/raft Apply (tcp+bolt, in-process, no HTTP)",
              "read": "raftkv reads, ReadIndex on the leader", "lease-read": "raftkv reads, lease on the leader",
              "follower-read": "raftkv reads, ReadIndex on a follower", "stale-read": "raftkv stale reads on a follower"}
    for workload, label in labels.items():
        points = sorted((c, v) for (w, c), v in medians.items() if w == workload)
        if points:
            ax.plot([c for c, _ in points], [v for _, v in points], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("operations per second (median of rounds)")
    ax.set_title("raftkv: 3 processes on loopback, file stores with fsync")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if not args.summarize_only:
    for rnd in range(1, args.rounds + 1):
        run_round(rnd)
medians = summarize(load())
if args.plot:
    plot(medians, args.plot)
