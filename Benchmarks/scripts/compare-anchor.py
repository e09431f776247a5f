#!/usr/bin/env python3
"""Run raft-bench and the hashicorp/raft anchor (hraft-bench) interleaved, on a quiet machine,
and summarize the medians.

For each round and each --inflight value it runs both benchmarks back to back (alternating which
goes first), each after waiting until the whole machine was less than --quiet-pct busy (of 100 %
per core times the cores) for one second. Every JSON line is appended to --out with the runner's
own fields: config, round, quiet_wait_s, busy_before_pct, started_quiet.

  scripts/compare-anchor.py --rounds 3 --inflight 1,64,256
  scripts/compare-anchor.py --summarize-only --out results/inmem.jsonl
  scripts/compare-anchor.py --baseline /path/to/older/raft-bench   # before/after in the same run

With --baseline, a second raft-bench binary (an older commit's, say) runs in the same rounds, so a
change is measured against its predecessor and the anchor under the same machine conditions.

Every run also records the benchmark process's context switches as the kernel counts them for the
child (getrusage RUSAGE_CHILDREN, voluntary + involuntary, whole process including start-up and
warm-up) and divides them by the ops it reports: comparable between the implementations, though
slightly above what a steady state would show.

The default is the in-memory transport and store on both sides; --transport tcp and --store file
select the other configurations (file = swift-raft's file stores against the anchor's bolt store;
both fsync every batch).
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quiet_machine import quiet_wait  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)

ap = argparse.ArgumentParser()
ap.add_argument("--hraft", default=os.path.join(PACKAGE, "anchor/bin/hraft-bench"),
                help="hraft-bench binary (built by Benchmarks/anchor/build.sh when missing)")
ap.add_argument("--raft-bench", default=os.path.join(PACKAGE, ".build/release/raft-bench"))
ap.add_argument("--baseline", default=None,
                help="another raft-bench binary (e.g. built from an older commit) run in the same rounds")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--round-offset", type=int, default=0)
ap.add_argument("--inflight", default="1,64,256")
ap.add_argument("--transport", default="inmem", choices=["inmem", "tcp"])
ap.add_argument("--store", default="inmem", choices=["inmem", "file"],
                help="file = swift-raft's file stores against hraft-bench's bolt store (both fsync every batch)")
ap.add_argument("--out", default=os.path.join(PACKAGE, "results/inmem.jsonl"))
ap.add_argument("--quiet-pct", type=float, default=20.0, help="machine busy %% (all cores together) counted as quiet")
ap.add_argument("--quiet-max-wait", type=float, default=600.0)
ap.add_argument("--timeout", type=float, default=60.0)
ap.add_argument("--summarize-only", action="store_true")
ap.add_argument("--max-other", type=float, default=30.0, help="runs with more CPU used by others are not clean")
a = ap.parse_args()


def run(impl, inflight, rnd):
    if impl == "hashicorp/raft":
        anchor_store = "bolt" if a.store == "file" else "inmem"
        cmd = [a.hraft, f"--transport={a.transport}", f"--store={anchor_store}", f"--inflight={inflight}"]
        config = f"hraft-{a.transport}-{anchor_store}-if{inflight}"
    else:
        binary = a.baseline if impl == BASELINE else a.raft_bench
        cmd = [binary, "--transport", a.transport, "--store", a.store, "--inflight", str(inflight)]
        config = f"{'baseline' if impl == BASELINE else 'swift'}-{a.transport}-{a.store}-if{inflight}"
    waited, busy, quiet = quiet_wait(a.quiet_pct, a.quiet_max_wait)
    load = os.getloadavg()
    started = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
        line = (p.stdout.strip().splitlines() or ["{}"])[-1]
        d = json.loads(line)
    except Exception as e:  # a crashed or wedged run is recorded, not fatal
        d = {"impl": impl, "inflight": inflight, "error": f"runner: {e}"}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    switches = (after.ru_nvcsw - before.ru_nvcsw) + (after.ru_nivcsw - before.ru_nivcsw)
    d["process_ctx_switches"] = switches
    if d.get("ops"):
        d["process_ctx_switches_per_op"] = round(switches / d["ops"], 3)
    d["impl"] = impl
    d.update(config=config, round=rnd, wall_s=round(time.time() - started, 1), quiet_wait_s=round(waited, 1),
             busy_before_pct=round(busy, 1), started_quiet=quiet, loadavg_before=[round(x, 2) for x in load])
    if "cpu_us_per_op" not in d and d.get("self_cpu_pct") and d.get("ops_per_s"):
        d["cpu_us_per_op"] = round(d["self_cpu_pct"] / 100 * 1e6 / d["ops_per_s"], 1)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(d) + "\n")
    print(f"{config} round {rnd}: {d.get('ops_per_s')} ops/s p50 {d.get('p50_us')} µs p99 {d.get('p99_us')} µs "
          f"cpu {d.get('cpu_us_per_op')} µs/op other {d.get('other_cpu_pct')}% "
          f"(waited {waited:.0f}s, busy before {busy:.0f}%, load {load[0]:.2f}) {d.get('error', '')}", flush=True)


BASELINE = "swift-raft@baseline"


def valid(d):
    return not d.get("error") and d.get("errors_in_window", 0) == 0 and d.get("leader_at_window_end", True)


def summarize():
    rows = {}
    for line in open(a.out):
        if line.strip():
            d = json.loads(line)
            rows.setdefault((d.get("inflight"), d.get("impl")), []).append(d)

    def pick(rs):
        ok = [d for d in rs if valid(d)]
        clean = [d for d in ok if d.get("other_cpu_pct", 999) < a.max_other]
        return (clean, "") if len(clean) >= 3 else (ok, "*")

    def med(sel, k):
        v = [d[k] for d in sel if d.get(k) is not None]
        return statistics.median(v) if v else None

    def fmt(x, nd=0):
        return "-" if x is None else (f"{x:,.0f}" if abs(x) >= 100 or nd == 0 else f"{x:.{nd}f}")

    def runs(sel, mark, allr):
        oth = max([d.get("other_cpu_pct", 0) for d in sel] or [0])
        return f"{len(sel)}{mark}/{len(allr)} other≤{oth:.0f}%"

    impls = ["hashicorp/raft", "swift-raft"] + ([BASELINE] if any(k[1] == BASELINE for k in rows) else [])
    names = {"hashicorp/raft": "anchor", "swift-raft": "swift", BASELINE: "baseline"}
    label = " / ".join(names[i] for i in impls)
    print(f"| inflight | ops/s {label} | swift ÷ anchor | " + ("swift ÷ baseline | " if BASELINE in impls else "")
          + f"p50 µs {label} | p99 µs {label} | CPU µs/op {label} | ctx switches/op {label} | runs {label} |")
    print("|---" * (8 + (BASELINE in impls)) + "|")
    for inflight in sorted({k[0] for k in rows if k[0] is not None}):
        picked = {i: pick(rows.get((inflight, i), [])) for i in impls}
        ops = {i: med(picked[i][0], "ops_per_s") for i in impls}

        def ratio(x, y):
            return f"{ops[x] / ops[y]:.2f}×" if ops.get(x) and ops.get(y) else "-"

        def col(key, nd=0):
            return " / ".join(fmt(med(picked[i][0], key), nd) for i in impls)

        print(f"| {inflight} | {col('ops_per_s')} | {ratio('swift-raft', 'hashicorp/raft')} | "
              + (f"{ratio('swift-raft', BASELINE)} | " if BASELINE in impls else "")
              + f"{col('p50_us')} | {col('p99_us')} | {col('cpu_us_per_op', 1)} | {col('process_ctx_switches_per_op', 2)} | "
              + ", ".join(runs(picked[i][0], picked[i][1], rows.get((inflight, i), [])) for i in impls) + " |")


if not a.summarize_only:
    if not os.access(a.hraft, os.X_OK):
        print(f"building the anchor into {os.path.dirname(a.hraft)}", flush=True)
        subprocess.run(["bash", os.path.join(PACKAGE, "anchor", "build.sh"), os.path.dirname(a.hraft)], check=True)
    for missing in [p for p in (a.hraft, a.raft_bench, a.baseline) if p and not os.access(p, os.X_OK)]:
        sys.exit(f"not executable: {missing}")
    inflights = [int(x) for x in a.inflight.split(",")]
    for rnd in range(a.round_offset, a.round_offset + a.rounds):
        for inflight in inflights:
            order = ["hashicorp/raft", "swift-raft"] + ([BASELINE] if a.baseline else [])
            # Rotate who goes first, so no implementation always runs on the warmest machine.
            shift = rnd % len(order)
            for impl in order[shift:] + order[:shift]:
                run(impl, inflight, rnd)
summarize()
