#!/usr/bin/env python3
"""The cost of issue 17's sampled stacks, and the spread of their estimates (bench/sampling.sh).

Cost: bench/preload/leak_workload under `astrolab run` in several modes, interleaved (one run
of each per round, so the shared machine's noise falls on all alike), printing medians and
minimums of CPU time (user + system of the whole run, from wait4) and of wall time:
plain (no astrolab), `before` (an astrolab built from an older commit, optional),
the default (one sample per 512 KiB), --sample-bytes 65536 and --stacks all.

Spread: tests' plain_sampled (three callers of one malloc line, 10, 20 and 65 MB) under
20 seeds at the default interval and at 64 KiB: the largest error of each caller's estimate of
bytes allocated and at the peak, against the exact figure.

Then bench/preload/peak_split.c: one site's peak of 100 MB held by five callers (60% to 1%),
the same 20 seeds: the error of each caller's estimate of bytes live at the peak.

Usage: sampling.py BUILD WORKLOAD MILLIONS REPEATS [BEFORE_ASTROLAB] [PLAIN_SAMPLED [PEAK_SPLIT]]"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

build, workload, millions, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
before = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
sampled_prog = sys.argv[6] if len(sys.argv) > 6 else None
peak_split = sys.argv[7] if len(sys.argv) > 7 else None
astrolab = os.path.join(build, "astrolab")
tmp = tempfile.mkdtemp(prefix="astrolab-sampling-bench-")


def run(cmd, env=None):
    e = dict(os.environ, **(env or {}))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if status != 0:
        sys.exit("failed (%d): %s" % (status, " ".join(cmd)))
    return ru.ru_utime + ru.ru_stime, wall


modes = [("plain", [workload, millions])]
if before:
    modes.append(("before (no sampling)", [before, "run", "--", workload, millions]))
modes += [
    ("default (--sample-bytes 524288)", [astrolab, "run", "--", workload, millions]),
    ("--sample-bytes 65536", [astrolab, "run", "--sample-bytes", "65536", "--", workload,
                              millions]),
    ("--stacks all", [astrolab, "run", "--stacks", "all", "--", workload, millions]),
]
cpu = {m: [] for m, _ in modes}
wall = {m: [] for m, _ in modes}
for _ in range(repeats):
    for name, cmd in modes:
        c, w = run(cmd)
        cpu[name].append(c)
        wall[name].append(w)
base = statistics.median(cpu["plain"])
print("| mode | CPU median | CPU min | x plain (CPU median) | wall median |")
print("| --- | ---: | ---: | ---: | ---: |")
for name, _ in modes:
    print("| %s | %.3f s | %.3f s | %.2f | %.3f s |" % (
        name, statistics.median(cpu[name]), min(cpu[name]),
        statistics.median(cpu[name]) / base, statistics.median(wall[name])))

def spread(prog, figures):
    """Runs prog under 20 seeds at the default interval and at 64 KiB; for each (figure, key,
    {caller: exact}) prints the median and the worst relative error of the sum of the sampled
    stacks that pass through caller."""
    for interval in ("524288", "65536"):
        est = [{k: [] for k in exact} for _, _, exact in figures]
        for seed in range(1, 21):
            report = os.path.join(tmp, "s.json")
            run([astrolab, "run", "--sample-bytes", interval, "--report", report, "--", prog],
                {"ASTROLAB_SAMPLE_SEED": str(seed)})
            doc = json.load(open(report))
            for (_, key, exact), e in zip(figures, est):
                for k in exact:
                    e[k].append(sum(s[key] for s in doc["sampled_stacks"]
                                    if any(f["function"] == k for f in s["stack"])))
        for (figure, _, exact), e in zip(figures, est):
            for k, v in exact.items():
                worst = max(abs(x - v) / v for x in e[k])
                print("| %s | %s | %s | %s (%d) | %.0f | %.1f%% |" % (
                    os.path.basename(prog), interval, figure, k, v, statistics.median(e[k]),
                    100 * worst))


if sampled_prog:
    print()
    print("| program | interval | figure | stack (exact) | median estimate | worst of 20 seeds |")
    print("| --- | --- | --- | --- | ---: | ---: |")
    # Bytes allocated by each caller, and bytes live at the peak (keep_small's 40,000 blocks
    # and at most one churn block: keep_small holds over 99% of it, churn_large under 1%).
    spread(sampled_prog, [
        ("allocated", "bytes",
         {"keep_small": 10240000, "churn_medium": 20480000, "churn_large": 65536000}),
        ("at the peak", "peak_bytes", {"keep_small": 10240000})])
if peak_split:
    # One site's peak of 100 MB shared by five callers, 60% down to 1%.
    spread(peak_split, [("at the peak", "peak_bytes",
                         {"share_60": 60000000, "share_25": 25000000, "share_10": 10000000,
                          "share_4": 4000000, "share_1": 1000000})])
shutil.rmtree(tmp, ignore_errors=True)
