#!/usr/bin/env python3
"""A/B of two preload libraries under the same `astrolab run` (issue 17's speed target), on
perl building a 300,000-entry hash and on leak_workload:

    python3 bench/preload/ab.py BEFORE_LIB [ROUNDS]     (ROUNDS defaults to 11)

BEFORE_LIB: a libastrolab_preload.so built from an older commit, e.g.
    git worktree add /tmp/base COMMIT && cmake -S /tmp/base -B /tmp/base/build \\
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF && \\
    cmake --build /tmp/base/build --target astrolab_preload
The other is build-bench's (bench/preload.sh builds it). Each round runs the program plain,
then under both libraries in alternating order (ASTROLAB_PRELOAD_LIB), and prints the medians
of the per-round ratios to the plain run, CPU time (the children's, from os.times) and wall
time: this machine's speed drifts by hours, and a ratio within one round cancels it."""
import os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build-bench")


def run(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r0, t = os.times(), time.perf_counter()
    subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, r1 = time.perf_counter() - t, os.times()
    return wall, (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    libs = {"before": sys.argv[1], "now": os.path.join(BUILD, "libastrolab_preload.so")}
    tool = os.path.join(BUILD, "astrolab")
    programs = {"perl": ["perl", "-e", "my %h; $h{$_} = [$_] for 1..300000;"],
                "leak_workload": [os.path.join(BUILD, "bench/preload/leak_workload"), "10"]}
    report = os.path.join(BUILD, "ab-report.json")
    for name, prog in programs.items():
        cpu = {k: [] for k in libs}
        wall = {k: [] for k in libs}
        for i in range(rounds):
            pw, pc = run(prog)
            for k in (("before", "now") if i % 2 == 0 else ("now", "before")):
                w, c = run([tool, "run", "--report", report, "--"] + prog,
                           {"ASTROLAB_PRELOAD_LIB": libs[k]})
                cpu[k].append(c / pc)
                wall[k].append(w / pw)
        print(name, " ".join(f"{k}: CPU {statistics.median(cpu[k]):.3f}x wall "
                             f"{statistics.median(wall[k]):.3f}x" for k in libs))


main()
