"""Waiting for a quiet machine before a benchmark run: the whole
machine (all cores together, 100 % per core) must be less than a given percentage busy for one
second."""
import os, time


def cpu_times():
    """Busy and total jiffies of the whole machine, from /proc/stat (idle and iowait are idle)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def busy_pct(interval=1.0):
    """How busy the machine was over the next `interval` seconds, in percent of one core."""
    b0, t0 = cpu_times()
    time.sleep(interval)
    b1, t1 = cpu_times()
    return 100.0 * os.cpu_count() * (b1 - b0) / max(t1 - t0, 1)


def quiet_wait(quiet_pct, max_wait, pause=0.0):
    """Waits until a one-second sample is below `quiet_pct` or `max_wait` seconds have passed,
    sleeping `pause` seconds between samples; returns (seconds waited, last busy %, was quiet)."""
    start = time.time()
    while True:
        pct = busy_pct()
        if pct < quiet_pct:
            return time.time() - start, pct, True
        if time.time() - start > max_wait:
            return time.time() - start, pct, False
        if pause:
            time.sleep(pause)
