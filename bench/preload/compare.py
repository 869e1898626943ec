#!/usr/bin/env python3
"""Runs bench/preload/leak_workload under astrolab run, valgrind, heaptrack, LeakSanitizer and
AddressSanitizer, side by side, and prints a markdown table: median wall time, ratio to the
plain run, and the leak sites (file:line count bytes) each tool found. Then the same for a real
program from Debian's packages (perl building a 300,000-entry hash), with the bytes each tool
reports live at exit. Repeats are interleaved (one run of every tool per round), so the shared
machine's noise falls on all of them alike. See bench/preload.sh."""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import valgrind_log  # noqa: E402  (bench/valgrind_log.py, found through the line above)

build, src, millions, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
bins = {k: os.path.join(build, "bench", "preload", v) for k, v in
        {"plain": "leak_workload", "lsan": "leak_workload_lsan", "asan": "leak_workload_asan"}.items()}
astrolab = os.path.join(build, "astrolab")
tmp = tempfile.mkdtemp(prefix="astrolab-preload-bench-")


def planted():
    sites = {}
    for n, line in enumerate(open(src), 1):
        m = re.search(r"LEAK-(\d)", line)
        if m and "/*" in line:
            sites[n] = m.group(1)
    return sites


def timed(cmd, env=None):
    e = dict(os.environ, **(env or {}))
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.monotonic() - t0, p.stderr


def sites_astrolab(report):
    """The lost blocks per site (unreachable at exit, as valgrind's definitely and indirectly
    lost); the report also has every block live at exit (count, bytes)."""
    doc = json.load(open(report))
    return {(os.path.basename(l["file"]), l["line"]): (l["lost_count"], l["lost_bytes"])
            for l in doc["leaks"] if l["file"] and l.get("lost_count")}


def sites_valgrind(text):
    """The definitely lost records per site: the first caller named file:line, else the
    innermost frame in a .c file. A record whose blocks point to indirectly lost ones is left
    out, as this script always did (none of leak_workload's does)."""
    out = {}
    for r in valgrind_log.loss_records(text):
        if r.kind != "definitely lost" or r.indirect:
            continue
        named = [f for f in r.frames if re.fullmatch(r"\w+", f.function) and f.line is not None]
        loc = [f for f in named if not f.at] or [f for f in named if f.at and f.file.endswith(".c")]
        if loc:
            key = (loc[0].file, loc[0].line)
            c, b = out.get(key, (0, 0))
            out[key] = (c + r.blocks, b + r.bytes)
    return out


def sites_sanitizer(text):
    out = {}
    for m in re.finditer(r"Direct leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:\n"
                         r"((?:\s+#\d+ .*\n)+)", text):
        frames = re.findall(r"in \w+ (\S+?\.c):(\d+)", m.group(3))
        frames = [f for f in frames if "leak_workload" in f[0]]
        if frames:
            key = (os.path.basename(frames[0][0]), int(frames[0][1]))
            c, b = out.get(key, (0, 0))
            out[key] = (c + int(m.group(2)), b + int(m.group(1)))
    return out


def sites_heaptrack(data):
    p = subprocess.run(["heaptrack_print", "-f", data, "-l", "1"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = {}
    text = p.stdout.split("MEMORY LEAKS", 1)[-1]
    for m in re.finditer(r"\n([\d.]+)(B|K|M)? leaked over (\d+) calls from\n\S+\n  at (\S+):(\d+)",
                         text):
        scale = {"B": 1, None: 1, "K": 1000, "M": 1000000}[m.group(2)]
        key = (os.path.basename(m.group(4)), int(m.group(5)))
        out.setdefault(key, (int(m.group(3)), int(float(m.group(1)) * scale)))
    return out


def fmt(sites, want):
    found = [f"{f}:{l} {c}x{b}B" for (f, l), (c, b) in sorted(sites.items())
             if f == "leak_workload.c" and l in want]
    return f"{len(found)}/{len(want)}: " + ", ".join(found)


def bytes_astrolab(report):
    doc = json.load(open(report))
    lost = sum(l.get("lost_bytes", 0) for l in doc["leaks"])
    blocks = sum(l.get("lost_count", 0) for l in doc["leaks"])
    live = sum(l["bytes"] for l in doc["leaks"])
    return f"{live / 2**20:.1f} MiB live at exit; lost {lost:,} B in {blocks} blocks"


def bytes_valgrind(text):
    kinds = valgrind_log.leak_summary(text)
    total = sum(kinds.get(k, (0, 0))[0] for k in valgrind_log.KINDS)
    lost = [kinds.get(k, (0, 0)) for k in ("definitely lost", "indirectly lost")]
    return (f"{total / 2**20:.1f} MiB at exit; definitely + indirectly lost "
            f"{lost[0][0] + lost[1][0]:,} B in {lost[0][1] + lost[1][1]} blocks")


def bytes_heaptrack(data):
    p = subprocess.run(["heaptrack_print", "-f", data], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"total memory leaked: ([\d.]+)(\w+)", p.stdout)
    return f"{m.group(1)} {m.group(2)} leaked" if m else "?"


def heaptrack_file():
    return next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("ht"))


def bench(configs, rounds, title):
    """Runs every config once per round (valgrind only in the first third of the rounds) and
    prints the markdown table; the first config is the plain run the ratios divide by."""
    times = {name: [] for name, *_ in configs}
    found = {name: "-" for name, *_ in configs}
    for r in range(rounds):
        for name, cmd, env, parse in configs:
            if "valgrind" in name and r >= max(1, rounds // 3):
                continue
            for f in os.listdir(tmp):
                if f.startswith("ht"):
                    os.remove(os.path.join(tmp, f))
            t, err = timed(cmd, env)
            times[name].append(t)
            if parse and r == 0:
                found[name] = parse(err)
    base = statistics.median(times[configs[0][0]])
    print(f"\n{title}\n")
    print("| tool | median wall s | x plain | runs | leaks found |")
    print("|---|---:|---:|---:|---|")
    for name, *_ in configs:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.3f} | {med / base:.2f} | {len(times[name])} | {found[name]} |")
        print(f"{name}: {med:.3f} s", file=sys.stderr)


want = planted()
report = f"{tmp}/r.json"
run = [astrolab, "run", "--report", report, "--"]
run_all = [astrolab, "run", "--stacks", "all", "--report", report, "--"]
bench([
    ("plain", [bins["plain"], millions], None, None),
    ("astrolab run", run + [bins["plain"], millions], None,
     lambda err: fmt(sites_astrolab(report), want)),
    ("astrolab run --stacks all", run_all + [bins["plain"], millions], None,
     lambda err: fmt(sites_astrolab(report), want)),
    ("astrolab run, ASTROLAB_CHECK_GUARDS=1", run + [bins["plain"], millions],
     {"ASTROLAB_CHECK_GUARDS": "1"}, lambda err: fmt(sites_astrolab(report), want)),
    ("-fsanitize=leak", [bins["lsan"], millions], {"LSAN_OPTIONS": "exitcode=0"},
     lambda err: fmt(sites_sanitizer(err), want)),
    ("-fsanitize=address", [bins["asan"], millions], {"ASAN_OPTIONS": "detect_leaks=1:exitcode=0"},
     lambda err: fmt(sites_sanitizer(err), want)),
    ("heaptrack (bytes rounded by heaptrack_print)",
     ["heaptrack", "-o", f"{tmp}/ht", bins["plain"], millions], None,
     lambda err: fmt(sites_heaptrack(heaptrack_file()), want)),
    ("valgrind --leak-check=full", ["valgrind", "--leak-check=full", bins["plain"], millions],
     None, lambda err: fmt(sites_valgrind(err), want)),
], repeats, f"leak_workload, {millions} million allocations (planted sites: file:line count x bytes)")

perl = ["perl", "-e", "my %h; $h{$_} = [$_] for 1..300000;"]
bench([
    ("plain", perl, None, None),
    ("astrolab run", run + perl, None, lambda err: bytes_astrolab(report)),
    ("astrolab run --stacks all", run_all + perl, None, lambda err: bytes_astrolab(report)),
    ("heaptrack", ["heaptrack", "-o", f"{tmp}/ht"] + perl, None,
     lambda err: bytes_heaptrack(heaptrack_file())),
    ("valgrind --leak-check=full", ["valgrind", "--leak-check=full"] + perl, None, bytes_valgrind),
], repeats, "perl building a 300,000-entry hash (a real program from Debian's packages)")
shutil.rmtree(tmp, ignore_errors=True)
