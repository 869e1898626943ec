#!/usr/bin/env python3
"""Runs bench/preload/leak_workload under astrolab run, valgrind, heaptrack, LeakSanitizer and
AddressSanitizer, side by side, and prints a markdown table: median wall time, ratio to the
plain run, and the leak sites (file:line count bytes) each tool found. See bench/preload.sh."""
import json, os, re, statistics, subprocess, sys, tempfile, time

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
    doc = json.load(open(report))
    return {(os.path.basename(l["file"]), l["line"]): (l["count"], l["bytes"])
            for l in doc["leaks"] if l["file"]}


def sites_valgrind(text):
    out = {}
    for block in re.split(r"\n==\d+== \n", text):
        m = re.search(r"([\d,]+) bytes in ([\d,]+) blocks are definitely lost", block)
        if not m:
            continue
        loc = re.findall(r"by 0x[0-9A-F]+: \w+ \((\S+?):(\d+)\)", block)
        loc = loc or re.findall(r"at 0x[0-9A-F]+: \w+ \((\S+?\.c):(\d+)\)", block)
        if loc:
            key = (loc[0][0], int(loc[0][1]))
            c, b = out.get(key, (0, 0))
            out[key] = (c + int(m.group(2).replace(",", "")), b + int(m.group(1).replace(",", "")))
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


want = planted()
configs = [
    ("plain", [bins["plain"], millions], None, None),
    ("astrolab run", [astrolab, "run", "--report", f"{tmp}/r.json", "--", bins["plain"], millions],
     None, lambda err: sites_astrolab(f"{tmp}/r.json")),
    ("astrolab run, ASTROLAB_CHECK_GUARDS=0",
     [astrolab, "run", "--report", f"{tmp}/r.json", "--", bins["plain"], millions],
     {"ASTROLAB_CHECK_GUARDS": "0"}, lambda err: sites_astrolab(f"{tmp}/r.json")),
    ("-fsanitize=leak", [bins["lsan"], millions], {"LSAN_OPTIONS": "exitcode=0"}, sites_sanitizer),
    ("-fsanitize=address", [bins["asan"], millions], {"ASAN_OPTIONS": "detect_leaks=1:exitcode=0"},
     sites_sanitizer),
    ("heaptrack (bytes rounded by heaptrack_print)",
     ["heaptrack", "-o", f"{tmp}/ht", bins["plain"], millions], None,
     lambda err: sites_heaptrack(next(os.path.join(tmp, f) for f in os.listdir(tmp)
                                      if f.startswith("ht")))),
    ("valgrind --leak-check=full", ["valgrind", "--leak-check=full", bins["plain"], millions],
     None, sites_valgrind),
]
rows, base = [], None
for name, cmd, env, parse in configs:
    times, found = [], "-"
    for r in range(repeats if "valgrind" not in name else max(1, repeats // 3)):
        for f in os.listdir(tmp):
            if f.startswith("ht"):
                os.remove(os.path.join(tmp, f))
        t, err = timed(cmd, env)
        times.append(t)
        if parse and r == 0:
            found = fmt(parse(err), want)
    med = statistics.median(times)
    base = base or med
    rows.append((name, med, med / base, len(times), found))
    print(f"{name}: {med:.3f} s", file=sys.stderr)

print(f"| tool | median wall s | x plain | runs | planted leak sites found (file:line count x bytes) |")
print("|---|---:|---:|---:|---|")
for name, med, ratio, n, found in rows:
    print(f"| {name} | {med:.3f} | {ratio:.2f} | {n} | {found} |")
