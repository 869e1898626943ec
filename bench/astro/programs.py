#!/usr/bin/env python3
"""Real astronomy programs from Debian under `astrolab run`, valgrind and heaptrack, side by
side (issue 17): bench/astro/programs.sh runs it after building astrolab.

    programs.py BUILD_DIR [REPEATS] [--only NAME,...] [--keep]

Makes two synthetic star fields (bench/astro/make_field.py: 2048 x 2048 float32, the Tycho-2
stars of astrometry.net's index plus 3,000 faint ones, noise, a sky gradient; the second
dithered by 200.5, -150.25 px), then runs each program (a) plain, (b) under `astrolab run
--report`, (c) under `valgrind --leak-check=full`, (d) under heaptrack, each in its own
directory. It compares the outputs of (a) and (b) (and of (c)) byte for byte; for FITS files
whose header carries the run's time (SWarp's and solve-field's DATE), the data units byte for
byte and the headers card by card without the keys listed in VOLATILE, and says which files
needed that. Wall times are medians of REPEATS interleaved rounds of (a) and (b); valgrind and
heaptrack run once. Leak totals: astrolab's lost blocks (the `leaks` entries' lost_count and
lost_bytes, every process of the run) against valgrind's definitely + indirectly lost. Prints
two markdown tables and exits 1 when an output differs."""
import glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import valgrind_log  # noqa: E402  (bench/valgrind_log.py, found through the line above)

INDEX = "/usr/share/astrometry/index-tycho2-10.littleendian.fits"
RA, DEC = 300.0, 35.0  # in Cygnus: about 80 Tycho-2 stars of the index in the field
SEX_PARAMS = """NUMBER X_IMAGE Y_IMAGE XWIN_IMAGE YWIN_IMAGE ERRAWIN_IMAGE ERRBWIN_IMAGE
ERRTHETAWIN_IMAGE ALPHA_J2000 DELTA_J2000 FLUX_AUTO FLUXERR_AUTO MAG_AUTO MAGERR_AUTO
FLUX_APER(3) MAG_APER(3) FLUX_PETRO MAG_PETRO A_IMAGE B_IMAGE THETA_IMAGE FWHM_IMAGE
ELLIPTICITY CLASS_STAR FLUX_RADIUS FLAGS""".split()
LDAC_PARAMS = """NUMBER XWIN_IMAGE YWIN_IMAGE ERRAWIN_IMAGE ERRBWIN_IMAGE ERRTHETAWIN_IMAGE
X_WORLD Y_WORLD ERRA_WORLD ERRB_WORLD ERRTHETA_WORLD FLUX_AUTO FLUXERR_AUTO MAG_AUTO
MAGERR_AUTO FLUX_RADIUS ELONGATION FLAGS""".split()
SHARE = "/usr/share/source-extractor"
# What carries the time of the run, never its result, in FITS outputs: header cards (SWarp's
# DATE, "When it was started (GMT)"; astrometry.net's DATE on every file it writes and its
# "COMMENT cpu time: ..." in the .wcs and .new of solve-field) and binary-table columns (the
# TIMEUSED column of astrometry.net's .match file: the CPU seconds the solve took).
VOLATILE_CARDS = re.compile(r"DATE    =|COMMENT cpu time: ")
VOLATILE_COLUMNS = {"TIMEUSED"}
TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16,
               "P": 8, "Q": 16}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    build, repeats = args[0], int(args[1]) if len(args) > 1 else 3
    only = None
    for i, a in enumerate(sys.argv):
        if a == "--only":
            only = set(sys.argv[i + 1].split(","))
    keep = "--keep" in sys.argv
    astrolab = os.path.join(build, "astrolab")
    tmp = tempfile.mkdtemp(prefix="astrolab-astro-")
    inp = os.path.join(tmp, "in")
    os.makedirs(inp)
    print(f"inputs and runs in {tmp}", file=sys.stderr)
    make_inputs(inp)
    programs = [p for p in program_list(inp) if not only or p["name"] in only]

    results = {}
    for p in programs:
        results[p["name"]] = {"times": {"plain": [], "astrolab run": []}}
    # (a) and (b), interleaved: every program plain then under astrolab in each round
    for r in range(repeats):
        for p in programs:
            for mode in ("plain", "astrolab run"):
                d = os.path.join(tmp, p["name"], f"{'plain' if mode == 'plain' else 'astrolab'}{r}")
                rundir(p, d)
                cmd = p["argv"]
                if mode != "plain":
                    cmd = [astrolab, "run", "--report", os.path.join(d, "R.json"), "--"] + cmd
                t, rc, err = timed(cmd, d)
                if rc != 0:
                    sys.exit(f"{p['name']} ({mode}) exited {rc}:\n{err[-2000:]}")
                results[p["name"]]["times"][mode].append(t)
                print(f"round {r} {p['name']} {mode}: {t:.2f} s", file=sys.stderr)
    # (c) valgrind and (d) heaptrack, once each
    for p in programs:
        res = results[p["name"]]
        d = os.path.join(tmp, p["name"], "valgrind")
        rundir(p, d)
        vg = ["valgrind", "--leak-check=full", f"--log-file={d}/vg.%p.log"]
        if p.get("children"):
            # follow exec'd children, except python (minutes under valgrind); `astrolab run`
            # tracks every process, and the leak totals below are compared per program
            vg += ["--trace-children=yes", "--trace-children-skip=*python*"]
        t, rc, err = timed(vg + p["argv"], d)
        res["valgrind"] = (t, rc)
        d = os.path.join(tmp, p["name"], "heaptrack")
        rundir(p, d)
        t, rc, err = timed(["heaptrack", "-o", f"{d}/ht"] + p["argv"], d)
        res["heaptrack"] = (t, rc, heaptrack_summary(d))
        print(f"{p['name']}: valgrind {res['valgrind'][0]:.1f} s, heaptrack {t:.1f} s",
              file=sys.stderr)

    bad = 0
    for p in programs:
        res = results[p["name"]]
        base = os.path.join(tmp, p["name"])
        notes = set()
        for other in [f"astrolab{r}" for r in range(repeats)] + ["valgrind", "heaptrack"]:
            diff = compare_dirs(os.path.join(base, "plain0"), os.path.join(base, other),
                                p["outputs"], notes)
            if diff:
                print(f"MISMATCH {p['name']}: plain0 vs {other}: {diff}", file=sys.stderr)
                if other.startswith("astrolab"):
                    bad += 1
                res.setdefault("other_diffs", []).append(f"{other}: {diff}")
        res["compare"] = notes
        res["astrolab"] = astrolab_summary(os.path.join(base, "astrolab0", "R.json"),
                                           p["argv"][0])
        res["valgrind_sum"] = valgrind_summary(os.path.join(base, "valgrind"))
    print_tables(programs, results, repeats)
    if keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if bad else 0)


def make_inputs(inp):
    stars = os.path.join(inp, "stars.txt")
    with open(stars, "w") as f:
        subprocess.run(["query-starkd", "-r", str(RA), "-d", str(DEC), "-R", "1.7", INDEX,
                        "-t", "MAG_VT"], stdout=f, stderr=subprocess.DEVNULL, check=True)
    make = [sys.executable, os.path.join(HERE, "make_field.py")]
    gen = [subprocess.Popen(make + [os.path.join(inp, "f1.fits"), stars, "--seed", "1",
                                    "--center", f"{RA},{DEC}"]),
           subprocess.Popen(make + [os.path.join(inp, "f2.fits"), stars, "--seed", "2",
                                    "--center", f"{RA},{DEC}", "--shift", "200.5,-150.25"])]
    if any(g.wait() for g in gen):
        sys.exit("make_field.py failed")
    for prog, flag, out in (("source-extractor", "-d", "default.sex"),
                            ("SWarp", "-d", "default.swarp"), ("scamp", "-d", "default.scamp")):
        with open(os.path.join(inp, out), "w") as f:
            subprocess.run([prog, flag], stdout=f, check=True)
    with open(os.path.join(inp, "field.param"), "w") as f:
        f.write("\n".join(SEX_PARAMS) + "\n")
    with open(os.path.join(inp, "ldac.param"), "w") as f:
        f.write("\n".join(LDAC_PARAMS) + "\n")
    # scamp's inputs: SExtractor's FITS_LDAC catalogs of both fields, made once, plainly
    for name in ("f1", "f2"):
        subprocess.run(["source-extractor", os.path.join(inp, f"{name}.fits"), "-c",
                        os.path.join(inp, "default.sex"), "-PARAMETERS_NAME",
                        os.path.join(inp, "ldac.param"), "-FILTER_NAME",
                        f"{SHARE}/gauss_2.0_5x5.conv", "-CATALOG_TYPE", "FITS_LDAC",
                        "-CATALOG_NAME", os.path.join(inp, f"{name}.ldac"), "-VERBOSE_TYPE",
                        "QUIET"], check=True, cwd=inp)


def program_list(inp):
    i = lambda f: os.path.join(inp, f)
    return [
        {"name": "source-extractor",
         "argv": ["source-extractor", i("f1.fits"), "-c", i("default.sex"), "-PARAMETERS_NAME",
                  i("field.param"), "-FILTER_NAME", f"{SHARE}/gauss_2.0_5x5.conv",
                  "-STARNNW_NAME", f"{SHARE}/default.nnw", "-PHOT_APERTURES", "5,10,20",
                  "-CATALOG_TYPE", "ASCII_HEAD", "-CATALOG_NAME", "field.cat",
                  "-CHECKIMAGE_TYPE", "BACKGROUND,SEGMENTATION", "-CHECKIMAGE_NAME",
                  "back.fits,seg.fits", "-VERBOSE_TYPE", "QUIET"],
         "outputs": ["field.cat", "back.fits", "seg.fits"],
         "what": "f1: detection, photometry, ASCII catalog + background and segmentation maps"},
        {"name": "SWarp",
         "argv": ["SWarp", i("f1.fits"), i("f2.fits"), "-c", i("default.swarp"),
                  "-COMBINE_TYPE", "MEDIAN", "-RESAMPLE_DIR", ".", "-VMEM_DIR", ".",
                  "-WRITE_XML", "N", "-NTHREADS", "1", "-VERBOSE_TYPE", "QUIET"],
         "outputs": ["coadd.fits", "coadd.weight.fits"],
         "what": "f1 + f2: background subtraction, resampling, median co-addition"},
        {"name": "image2xy",
         "argv": ["image2xy", "-O", "-o", "xy.fits", i("f1.fits")],
         "outputs": ["xy.fits"],
         "what": "f1: astrometry.net's source extraction (simplexy), FITS table"},
        {"name": "scamp",
         # scamp writes each .head beside its catalog: links to them in the run's folder
         "argv": ["scamp", "f1.ldac", "f2.ldac", "-c", i("default.scamp"),
                  "-ASTREF_CATALOG", "FILE", "-ASTREFCAT_NAME", i("f1.ldac"),
                  "-ASTREFCENT_KEYS", "X_WORLD,Y_WORLD", "-ASTREFERR_KEYS",
                  "ERRA_WORLD,ERRB_WORLD,ERRTHETA_WORLD", "-ASTREFMAG_KEY", "MAG_AUTO",
                  "-ASTREFMAGERR_KEY", "MAGERR_AUTO", "-MATCH_RESOL", "12",
                  "-POSITION_MAXERR", "0.5", "-HEADER_SUFFIX", ".head", "-CHECKPLOT_TYPE",
                  "NONE", "-WRITE_XML", "N", "-NTHREADS", "1", "-VERBOSE_TYPE", "QUIET"],
         "outputs": ["f1.head", "f2.head"], "links": [i("f1.ldac"), i("f2.ldac")],
         "what": "f1 + f2 LDAC catalogs: pattern matching, astrometric and photometric solution"},
        {"name": "solve-field",
         "argv": ["solve-field", "--no-plots", "--overwrite", "--no-verify", "--scale-units",
                  "arcsecperpix", "--scale-low", "3.5", "--scale-high", "4.5", "--dir", ".",
                  "--cpulimit", "120", i("f1.fits")],
         "outputs": ["f1.wcs", "f1.corr", "f1.rdls", "f1.match", "f1.solved", "f1-indx.xyls",
                     "f1.axy", "f1.new"], "children": True,
         "what": "f1: blind plate solve against Tycho-2 (8 child processes: python, file, "
                 "an-fitstopnm, astrometry-engine)"},
    ]


def rundir(p, d):
    os.makedirs(d)
    for f in p.get("links", []):
        os.symlink(f, os.path.join(d, os.path.basename(f)))


def timed(cmd, cwd):
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, errors="replace")
    t = time.monotonic() - t0
    return t, p.returncode, p.stderr


# ---- comparing outputs ----

def fits_units(data):
    """[(header cards, data bytes)] per HDU, or None when data is not FITS."""
    if not data.startswith(b"SIMPLE  ="):
        return None
    units, pos = [], 0
    while pos + 2880 <= len(data):
        cards = []
        while True:
            block = data[pos:pos + 2880]
            pos += 2880
            cs = [block[k:k + 80].decode("ascii", "replace") for k in range(0, 2880, 80)]
            cards += cs
            if any(c.startswith("END ") or c.rstrip() == "END" for c in cs):
                break
            if pos >= len(data):
                return None
        kv = {}
        for c in cards:
            if c[8:10] == "= ":
                kv[c[:8].strip()] = c[10:].split("/")[0].strip()
        naxis = int(kv.get("NAXIS", 0))
        n = 1 if naxis else 0
        for k in range(1, naxis + 1):
            n *= int(kv[f"NAXIS{k}"])
        size = abs(int(kv.get("BITPIX", 8))) // 8 * int(kv.get("GCOUNT", 1)) * (
            n + int(kv.get("PCOUNT", 0)))
        units.append((cards, data[pos:pos + size]))
        pos += (size + 2879) // 2880 * 2880
    return units


def compare_file(a, b, notes, name):
    """None when a and b are equal (byte for byte, or FITS equal but for VOLATILE keys, which
    is noted); otherwise what differs."""
    da, db = open(a, "rb").read(), open(b, "rb").read()
    if da == db:
        return None
    ua, ub = fits_units(da), fits_units(db)
    if ua is None or ub is None or len(ua) != len(ub):
        return f"{name}: {len(da)} vs {len(db)} bytes, not the same"
    skipped = set()
    for (ca, xa), (cb, xb) in zip(ua, ub):
        if xa != xb:
            ya, yb = blank_columns(ca, xa), blank_columns(cb, xb)
            if ya != yb:
                return f"{name}: a data unit differs"
            skipped.add("column " + ",".join(sorted(VOLATILE_COLUMNS)))
        keep = lambda cs: [c for c in cs if not VOLATILE_CARDS.match(c)]
        if keep(ca) != keep(cb):
            diff = [c.rstrip() for c in set(keep(ca)) ^ set(keep(cb))][:4]
            return f"{name}: header cards differ: {diff}"
        skipped |= {c[:16].split("=")[0].strip() for c in set(ca) ^ set(cb)}
    notes.add(f"{name} ({', '.join(sorted(skipped))})")
    return None


def blank_columns(cards, data):
    """data with the VOLATILE_COLUMNS of a binary table zeroed, or data when there are none."""
    kv = {c[:8].strip(): c[10:].split("/")[0].strip().strip("'").strip()
          for c in cards if c[8:10] == "= "}
    if kv.get("XTENSION") != "BINTABLE":
        return data
    row, nrows = int(kv["NAXIS1"]), int(kv["NAXIS2"])
    spans, off = [], 0
    for k in range(1, int(kv["TFIELDS"]) + 1):
        m = re.match(r"(\d*)([A-Z])", kv[f"TFORM{k}"])
        rep = int(m.group(1) or 1)
        size = (rep + 7) // 8 if m.group(2) == "X" else rep * TFORM_BYTES[m.group(2)]
        if kv.get(f"TTYPE{k}") in VOLATILE_COLUMNS:
            spans.append((off, size))
        off += size
    if not spans:
        return data
    out = bytearray(data)
    for r in range(nrows):
        for o, n in spans:
            out[r * row + o:r * row + o + n] = bytes(n)
    return bytes(out)


def compare_dirs(a, b, outputs, notes):
    out = []
    for o in outputs:
        name = os.path.basename(o)
        fa, fb = os.path.join(a, name), os.path.join(b, name)
        if not os.path.exists(fa) or not os.path.exists(fb):
            out.append(f"{name} missing")
            continue
        d = compare_file(fa, fb, notes, name)
        if d:
            out.append(d)
    return "; ".join(out)


# ---- leak totals ----

def astrolab_summary(path, program):
    doc = json.load(open(path))
    procs = [(program, doc)] + [(os.path.basename(p["argv"][0]), p["report"])
                               for p in doc.get("processes", [])]
    s = {"per": {}, "lost": [0, 0], "own": [0, 0], "peak": doc["stats"]["peak_bytes"],
         "sites": [], "peak_sites": [], "untracked": len(doc.get("untracked_processes", []))}
    for name, rep in procs:
        c = sum(l.get("lost_count", 0) for l in rep["leaks"])
        b = sum(l.get("lost_bytes", 0) for l in rep["leaks"])
        prev = s["per"].get(name, (0, 0))
        s["per"][name] = (prev[0] + c, prev[1] + b)
        if "python" in name:
            continue  # valgrind does not follow python (see --trace-children-skip)
        s["lost"][0] += c
        s["lost"][1] += b
        for l in rep["leaks"]:
            if l.get("lost_bytes"):
                s["sites"].append((l["lost_bytes"], l["lost_count"], site_name(l)))
            if l.get("origin") == "program" and not l.get("suppressed"):
                s["own"][0] += l.get("lost_count", 0)
                s["own"][1] += l.get("lost_bytes", 0)
    s["sites"].sort(reverse=True)
    for l in doc.get("peak", {}).get("sites", [])[:3]:
        s["peak_sites"].append(f"{site_name(l)} {mib(l['bytes'])}")
    return s


def site_name(l):
    f = l.get("function") or "?"
    return f"{f} ({l.get('object') or os.path.basename(l.get('file') or '')})"


def valgrind_summary(d):
    s = {"lost": [0, 0], "sites": [], "procs": 0, "per": {}}
    for log in sorted(glob.glob(os.path.join(d, "vg.*.log"))):
        text = open(log, errors="replace").read()
        cmd = re.search(r"== Command: (\S+)", text)
        name = os.path.basename(cmd.group(1)) if cmd else "?"
        # python is not followed (see --trace-children-skip); the shell of system() leaves
        # through _exit, which `astrolab run` cannot follow: both out of the totals alike
        if not cmd or "python" in name or name in ("sh", "dash"):
            continue
        s["procs"] += 1
        summary = valgrind_log.leak_summary(text)
        lost = [0, 0]
        for kind in ("definitely lost", "indirectly lost"):
            b, n = summary.get(kind, (0, 0))
            lost[0] += n
            lost[1] += b
        s["lost"][0] += lost[0]
        s["lost"][1] += lost[1]
        prev = s["per"].get(name, (0, 0))
        s["per"][name] = (prev[0] + lost[0], prev[1] + lost[1])
        for r in valgrind_log.loss_records(text):
            if r.kind != "definitely lost":
                continue
            f = next((f for f in r.frames if not f.at and (f.object or f.file)), None)
            name = f"{f.function} ({os.path.basename(f.object or f.file)})" if f else "?"
            s["sites"].append((r.bytes, r.blocks, name))
    s["sites"].sort(reverse=True)
    return s


def heaptrack_summary(d):
    files = glob.glob(os.path.join(d, "ht*"))
    if not files:
        return "-"
    p = subprocess.run(["heaptrack_print", "-f", files[0]], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, errors="replace")
    peak = re.search(r"peak heap memory consumption: ([\d.]+\w*)", p.stdout)
    leak = re.search(r"total memory leaked: ([\d.]+\w*)", p.stdout)
    return f"peak {peak.group(1) if peak else '?'}, leaked {leak.group(1) if leak else '?'}"


def mib(b):
    return f"{b / 2**20:.1f} MiB" if b >= 2**20 else f"{b / 1024:.1f} KiB" if b >= 1024 \
        else f"{b} B"


def print_tables(programs, results, repeats):
    print(f"\nWall time: medians of {repeats} interleaved rounds of plain and `astrolab run`; "
          "valgrind and heaptrack once. Outputs compared byte for byte with the plain run.\n")
    print("| program | plain s | astrolab run s | x plain | heaptrack s (x) | valgrind s (x) "
          "| outputs, astrolab run vs plain |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for p in programs:
        r = results[p["name"]]
        pl = statistics.median(r["times"]["plain"])
        al = statistics.median(r["times"]["astrolab run"])
        vg, ht = r["valgrind"][0], r["heaptrack"][0]
        same = [n for n in r["compare"]]
        cmp = "identical" if not same else "identical; FITS equal but for " + "; ".join(
            sorted(same))
        if any(d.startswith("astrolab") for d in r.get("other_diffs", [])):
            cmp = "**DIFFER**: " + "; ".join(r["other_diffs"])
        print(f"| {p['name']} | {pl:.2f} | {al:.2f} | {al / pl:.2f} | {ht:.1f} ({ht / pl:.1f}) "
              f"| {vg:.1f} ({vg / pl:.1f}) | {cmp} |")
    print("\nLeaks at exit (lost: unreachable blocks; valgrind: definitely + indirectly lost), "
          "and the peak.\n")
    print("| program | astrolab lost | valgrind lost | astrolab's largest lost sites | "
          "valgrind's largest definitely-lost records (first frame above malloc) | "
          "astrolab peak: top sites | heaptrack |")
    print("|---|---:|---:|---|---|---|---|")
    for p in programs:
        r = results[p["name"]]
        a, v = r["astrolab"], r["valgrind_sum"]
        sites = lambda ss: "; ".join(f"{n} {c}x {b:,} B" for b, c, n in ss[:3]) or "-"
        print(f"| {p['name']} | {a['lost'][1]:,} B in {a['lost'][0]} | "
              f"{v['lost'][1]:,} B in {v['lost'][0]} | {sites(a['sites'])} | "
              f"{sites(v['sites'])} | {mib(a['peak'])}: {'; '.join(a['peak_sites'])} "
              f"| {r['heaptrack'][2]} |")
    for p in programs:
        r = results[p["name"]]
        if len(r["astrolab"]["per"]) > 1:
            per = ", ".join(f"{k} {b:,} B in {c}" for k, (c, b) in r["astrolab"]["per"].items())
            vper = ", ".join(f"{k} {b:,} B in {c}"
                             for k, (c, b) in r["valgrind_sum"]["per"].items())
            print(f"\n{p['name']}: astrolab's lost per program: {per} "
                  f"({r['astrolab']['untracked']} processes untracked: the `sh -c` of "
                  f"system(), which leaves through _exit); valgrind's, over the "
                  f"{r['valgrind_sum']['procs']} processes it followed (not python, not sh): "
                  f"{vper}")
        for d in r.get("other_diffs", []):
            print(f"\n{p['name']}: {d}")


if __name__ == "__main__":
    main()
