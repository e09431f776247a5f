#!/usr/bin/env python3
"""Run transport-bench and the hashicorp/raft anchor's pipeline-bench interleaved, on a quiet
machine, and summarize medians and ratios.

Both measure the raw TCP NetworkTransport, no Raft: AppendEntries of E entries x 128 B from one
transport to another on 127.0.0.1, the receiver acking at once; pipelined (window 128) and
synchronous (one RPC in flight). Configs: {pipeline, sync} x
{E=64, E=1}, 5 s measured after 1 s warm-up.

For each round and each config it runs both tools back to back (alternating which goes first
from round to round), each after waiting until the whole machine was less than --quiet-pct busy
(all cores together, 200 = both of 2 cores) for one second.
Every JSON line is appended to --out with the runner's own fields: config, round, wall_s,
quiet_wait_s, busy_before_pct, started_quiet, loadavg_before, and the CPU the whole machine,
the benchmark process and everything else used over the run (run_*_cpu_pct, percent of one
core).

  scripts/compare-transport.py --rounds 3
  scripts/compare-transport.py --rounds 1 --only e64 --swift-args=--event-loops=2 --tag el2
  scripts/compare-transport.py --summarize-only --out results/transport-2026-11-22.jsonl

The anchor binary is built with Benchmarks/anchor/build.sh when it is missing.
"""
import argparse, hashlib, json, os, resource, shlex, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quiet_machine import cpu_times, quiet_wait  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
ANCHOR_DIR = os.path.join(PACKAGE, "anchor")

CONFIGS = [  # name, pipeline-bench's --mode, entries per RPC
    ("pipeline-e64-pipelined", "pipeline", 64),
    ("pipeline-e64-sync", "sync", 64),
    ("pipeline-e1-pipelined", "pipeline", 1),
    ("pipeline-e1-sync", "sync", 1),
]
ANCHOR = "hashicorp/raft NetworkTransport"
SWIFT = "swift-raft NetworkTransport"

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--anchor", default=os.path.join(ANCHOR_DIR, "bin", "pipeline-bench"), help="the anchor's pipeline-bench binary")
ap.add_argument("--transport-bench", default=os.path.join(PACKAGE, ".build/release/transport-bench"))
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--round-offset", type=int, default=0)
ap.add_argument("--only", default="", help="comma-separated substrings of config names")
ap.add_argument("--impls", default="anchor,swift", help="which tools to run: anchor,swift")
ap.add_argument("--duration", type=float, default=5.0)
ap.add_argument("--swift-args", default="", help="extra transport-bench flags, e.g. --event-loops=2")
ap.add_argument("--tag", default="", help="appended to the swift config names (for --swift-args variants)")
ap.add_argument("--pin", default="", help="run both tools under taskset -c PIN (e.g. 0: one vCPU, no cross-vCPU "
                "wake-ups); appended to both config names as -cpuPIN")
ap.add_argument("--out", default=os.path.join(PACKAGE, "results", f"transport-{time.strftime('%Y-%m-%d')}.jsonl"))
ap.add_argument("--quiet-pct", type=float, default=20.0, help="machine busy %% (all cores together) counted as quiet")
ap.add_argument("--quiet-max-wait", type=float, default=600.0)
ap.add_argument("--timeout", type=float, default=40.0)
ap.add_argument("--summarize-only", action="store_true")
ap.add_argument("--max-other", type=float, default=30.0, help="runs where others used more CPU are not clean")
a = ap.parse_args()


def ensure_anchor():
    if os.access(a.anchor, os.X_OK):
        return
    build = os.path.join(ANCHOR_DIR, "build.sh")
    print(f"building the anchor: {build} {os.path.dirname(a.anchor)}", flush=True)
    subprocess.run(["bash", build, os.path.dirname(a.anchor)], check=True)


def transport_sources():
    """A short hash of the transport's sources, and whether any is newer than the binary: the
    transport is under active work, so each Swift line says which state of it was measured."""
    root = os.path.join(PACKAGE, "..", "Sources", "RaftNetworkTransport")
    digest, newest = hashlib.sha256(), 0.0
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode() + b"\0" + open(path, "rb").read())
            newest = max(newest, os.path.getmtime(path))
    built = os.path.getmtime(a.transport_bench) if os.path.exists(a.transport_bench) else 0.0
    return digest.hexdigest()[:12], newest > built


def command(impl, mode, entries):
    pin = ["taskset", "-c", a.pin] if a.pin else []
    if impl == ANCHOR:
        return [*pin, a.anchor, f"--mode={mode}", f"--entries={entries}", f"--duration={a.duration:g}"]
    return [*pin, a.transport_bench, f"--mode={mode}", f"--entries={entries}", f"--duration={a.duration:g}",
            *shlex.split(a.swift_args)]


def run(impl, config, mode, entries, rnd):
    name = config + (f"-cpu{a.pin}" if a.pin else "") + (f"-{a.tag}" if a.tag and impl == SWIFT else "")
    waited, busy, quiet = quiet_wait(a.quiet_pct, a.quiet_max_wait, pause=1)
    load = os.getloadavg()
    started = time.time()
    hb0, ht0 = cpu_times()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = command(impl, mode, entries)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        d = json.loads(lines[-1]) if lines else {"impl": impl, "error": f"no output, rc={p.returncode}: {p.stderr[-300:]}"}
    except Exception as e:  # a crashed or wedged run is recorded, not fatal
        d = {"impl": impl, "error": f"runner: {e}"}
    wall = time.time() - started
    hb1, ht1 = cpu_times()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    host = 100.0 * os.cpu_count() * (hb1 - hb0) / max(1, ht1 - ht0)
    child = 100.0 * ((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) / max(1e-9, wall)
    d.setdefault("impl", impl)
    d.setdefault("mode", mode)
    d.setdefault("entries_per_rpc", entries)
    if "cpu_us_per_rpc" not in d and d.get("self_cpu_pct") and d.get("rpcs_per_s"):
        d["cpu_us_per_rpc"] = round(d["self_cpu_pct"] / 100 * 1e6 / d["rpcs_per_s"], 3)
    d.update(config=name, round=rnd, cmd=" ".join(os.path.basename(c) if "/" in c else c for c in cmd),
             wall_s=round(wall, 2), quiet_wait_s=round(waited, 1), busy_before_pct=round(busy, 1),
             started_quiet=quiet, loadavg_before=[round(x, 2) for x in load],
             run_host_cpu_pct=round(host, 1), run_self_cpu_pct=round(child, 1),
             run_other_cpu_pct=round(max(0.0, host - child), 1), date=time.strftime("%Y-%m-%d"))
    if impl == SWIFT:
        src, stale = transport_sources()
        d.update(transport_src=src, binary_older_than_sources=stale,
                 binary_built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(a.transport_bench))))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(d) + "\n")
    print(f"r{rnd} {name:28s} {'anchor' if impl == ANCHOR else 'swift ':6s} entries/s={d.get('entries_per_s')} "
          f"rpc/s={d.get('rpcs_per_s')} p50={d.get('rpc_p50_us')}µs p99={d.get('rpc_p99_us')}µs "
          f"self={d.get('self_cpu_pct')}% other={d.get('other_cpu_pct')}% (waited {waited:.0f}s, busy before "
          f"{busy:.0f}%, load {load[0]:.2f}) {d.get('error', '')}", flush=True)


def summarize():
    rows = {}
    for line in open(a.out):
        if line.strip():
            d = json.loads(line)
            if d.get("bench") in (None, "pipeline-bench", "transport-bench") and "config" in d:
                rows.setdefault((d["config"], d.get("impl")), []).append(d)

    def pick(rs):
        ok = [d for d in rs if not d.get("error") and d.get("errors", 0) == 0 and d.get("rpcs_per_s")]
        clean = [d for d in ok if d.get("other_cpu_pct", 999) < a.max_other]
        return (clean, "") if len(clean) >= 3 else (ok, "*")

    def vals(sel, k):
        return [d[k] for d in sel if d.get(k) is not None]

    def med(sel, k):
        v = vals(sel, k)
        return statistics.median(v) if v else None

    def fmt(x, nd=0):
        if x is None:
            return "-"
        return f"{x:,.{nd}f}"

    def rng(sel, k, nd=0):
        v = vals(sel, k)
        return f"{fmt(med(sel, k), nd)} ({fmt(min(v), nd)}–{fmt(max(v), nd)})" if v else "-"

    def runs(sel, mark, allr):
        oth = max(vals(sel, "other_cpu_pct") or [0])
        return f"{len(sel)}{mark}/{len(allr)} other≤{oth:.0f}%"

    print()
    print("| config | impl | entries/s median (min–max) | RPCs/s | ratio swift/anchor | RPC p50 µs | RPC p99 µs "
          "| CPU µs/RPC | self CPU % | wire B/RPC | runs used |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base_configs = [c for c, _, _ in CONFIGS]
    configs = sorted({k[0] for k in rows}, key=lambda c: (next((i for i, b in enumerate(base_configs) if c.startswith(b)), 99), c))
    for config in configs:
        base = next((b for b in base_configs if config.startswith(b)), config)
        pinned = config[len(base):].split("-")[1] if config[len(base):].startswith("-cpu") else ""
        anchor_sel, _ = pick(rows.get((base + (f"-{pinned}" if pinned else ""), ANCHOR), []))
        anchor_med = med(anchor_sel, "entries_per_s")
        for impl in (ANCHOR, SWIFT):
            allr = rows.get((config, impl), [])
            if not allr:
                continue
            sel, mark = pick(allr)
            m = med(sel, "entries_per_s")
            ratio = f"{m / anchor_med:.2f}×" if impl == SWIFT and m and anchor_med else ("1" if impl == ANCHOR else "-")
            print(f"| {config} | {'hashicorp' if impl == ANCHOR else 'swift-raft'} | {rng(sel, 'entries_per_s')} | "
                  f"{fmt(med(sel, 'rpcs_per_s'))} | {ratio} | {rng(sel, 'rpc_p50_us', 1)} | {rng(sel, 'rpc_p99_us', 1)} | "
                  f"{fmt(med(sel, 'cpu_us_per_rpc'), 2)} | {fmt(med(sel, 'self_cpu_pct'))} | "
                  f"{fmt(med(sel, 'wire_bytes_per_rpc'))} | {runs(sel, mark, allr)} |")


if not a.summarize_only:
    impls = [{"anchor": ANCHOR, "swift": SWIFT}[x] for x in a.impls.split(",")]
    if ANCHOR in impls:
        ensure_anchor()
    if SWIFT in impls and not os.access(a.transport_bench, os.X_OK):
        sys.exit(f"not executable: {a.transport_bench} (cd Benchmarks && swift build -c release --product transport-bench)")
    if SWIFT in impls and transport_sources()[1]:
        print("warning: Sources/RaftNetworkTransport changed after transport-bench was built; rebuild to measure "
              "the current transport", file=sys.stderr, flush=True)
    selected = [c for c in CONFIGS if not a.only or any(s in c[0] for s in a.only.split(","))]
    for rnd in range(a.round_offset, a.round_offset + a.rounds):
        for config, mode, entries in selected:
            order = impls if rnd % 2 == 0 else list(reversed(impls))
            for impl in order:
                run(impl, config, mode, entries, rnd)
summarize()
