#!/usr/bin/env python3
"""Do `astrolab run`'s sites agree with heaptrack's and valgrind's? Issue 17's target, checked:
on perl (every allocation through Perl_safesysmalloc), the top sites of the peak and of the
leaks name perl's own functions and agree with heaptrack's peak contributions (top 5) and with
valgrind's definitely (and indirectly) lost stacks; on bench/preload/leak_workload, the three
planted sites exactly, with the right stacks. Prints a markdown report and exits 1 when the
agreement is below the expectations printed with it (EXPECTATIONS below). See bench/agree.sh.

  agree.py BUILD_DIR SOURCE_OF_LEAK_WORKLOAD [--keep DIR] [--only perl|planted]

How the tools are made comparable (a site is a function, as heaptrack and valgrind name frames):
- A site is the first frame outside the allocation wrappers: the malloc family, the C library's
  own functions (an allocation libc makes for the program is filed under the program's frame,
  as `astrolab run` does), and the functions the rule of docs/RUN-REPORT.md calls wrappers,
  applied here on its own to the program's dynamic symbols (a name with alloc, strdup, strndup
  or memdup and at most 512 bytes of code: Perl_safesysmalloc, Perl_hv_auxalloc...).
- perl's static functions have no symbol (Debian strips .symtab): each tool shows them as an
  address. They are named here perl+0xOFFSET, the call instruction's offset in the executable
  (the return address - 1, which heaptrack and valgrind print and `astrolab run` prints + 1).
  `astrolab run` and heaptrack run with address randomization off (setarch -R), so perl's base
  is the one a plain perl gets under setarch -R; valgrind's base is found from frames it names.
- heaptrack's peak figures: `heaptrack_print -m 0` (backtraces not merged: merged, heaptrack
  says its peak is not correct) lists every backtrace with what it held at the peak, rounded to
  3 digits; they add up to the peak. Summed here by site, as `astrolab run`'s peak.sites are.
"""
import json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import valgrind_log  # noqa: E402  (bench/valgrind_log.py, found through the line above)

EXPECTATIONS = """\
- peak, by site (default mode): no top-5 site of `astrolab run` is a wrapper; at least 4 of its
  top 5 are in heaptrack's top 5, and each of those within 5% of heaptrack's bytes.
- peak, stacks in the default mode: each of the top 5 peak entries' `stack` goes on past
  its site to main, along one of heaptrack's backtraces (a sampled stack: at one sample per
  512 KiB, a site holding 8 MB at the peak has none with probability exp(-16)).
- peak, by stack (`--stacks all`): at least 4 of the 5 stacks holding most at the peak are in
  heaptrack's top 5 backtraces, each within 5% of heaptrack's bytes.
- leaks: the sites of `astrolab run`'s lost blocks are valgrind's sites of definitely and
  indirectly lost blocks, none a wrapper, with the same counts and bytes at every site.
- planted: the three LEAK-n lines with the counts and bytes the source makes (the last block of
  the last site stays reachable through `sink`), as valgrind finds them; each entry's stack
  starts at its leak_N function's line, and under `--stacks all` goes on to the line of main
  that calls it."""

args = sys.argv[1:]
build, source = os.path.abspath(args[0]), os.path.abspath(args[1])
opts = dict(zip(args[2::2], args[3::2]))
only = opts.get("--only")
tmp = opts.get("--keep") or tempfile.mkdtemp(prefix="astrolab-agree-")
os.makedirs(tmp, exist_ok=True)
astrolab = os.path.join(build, "astrolab")
failures = []

# A perl program with a clear peak of several distinct perl functions: a 200,000-key hash of
# 45-byte strings (hash entries, shared keys, the hash's bucket array, string buffers, SV heads
# and bodies) and 100,000 two-element arrays; then half the hash and all the arrays freed.
PERL_SCRIPT = r"""
my %h;
for my $i (1 .. 200000) { $h{"key$i"} = "v" x 40 . $i; }
my @a;
push @a, [$_, $_ * 2] for 1 .. 100000;
delete $h{"key$_"} for 1 .. 100000;
@a = ();
print scalar(keys %h), "\n";
"""


def run(cmd, env=None, out=None):
    e = dict(os.environ, **(env or {}))
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out:
        with open(out, "w") as f:
            f.write(p.stderr)
    if p.returncode != 0:
        sys.exit(f"agree.py: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return p


def dynsyms(path):
    """{name: (value, size)} of an object's defined dynamic symbols."""
    p = subprocess.run(["nm", "-D", "--defined-only", "-S", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    out = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) == 4:
            out[f[3].split("@")[0]] = (int(f[0], 16), int(f[1], 16))
    return out


def libc_path():
    p = subprocess.run(["ldd", "/bin/sh"], stdout=subprocess.PIPE, text=True)
    m = re.search(r"(/\S*libc\.so\.6)", p.stdout)
    return m.group(1) if m else "/lib/x86_64-linux-gnu/libc.so.6"


MALLOC = {"malloc", "calloc", "realloc", "free", "reallocarray", "posix_memalign",
          "aligned_alloc", "memalign", "valloc", "pvalloc", "strdup", "strndup"}


class Names:
    """Frame names made comparable across tools, and the wrappers' rule, for one program."""

    def __init__(self, exe):
        self.exe = os.path.realpath(exe)
        self.obj = os.path.basename(self.exe)
        self.syms = dynsyms(self.exe)
        self.libc = set(dynsyms(libc_path())) - set(self.syms)
        self.wrappers = {n for n, (v, s) in self.syms.items()
                         if re.search(r"alloc|strdup|strndup|memdup", n) and 0 < s <= 512}
        self.base = None  # the executable's base without ASLR: set by no_aslr_base

    def no_aslr_base(self, probe):
        """The base of the executable under setarch -R, from a run of it printing its maps."""
        out = run(["setarch", "-R"] + probe).stdout
        for line in out.splitlines():
            if line.rstrip().endswith(self.exe):
                self.base = int(line.split("-")[0], 16)
                return
        sys.exit(f"agree.py: no mapping of {self.exe} in {probe}")

    def skip(self, name):
        """A frame that is not a site: the malloc family, libc's own, an allocation wrapper."""
        return name in MALLOC or name in self.libc or name in self.wrappers

    def addr(self, off):
        return f"{self.obj}+0x{off:x}"


def site_of(frames, names):
    """The first frame outside the wrappers (frames: names, innermost first)."""
    for f in frames:
        if not names.skip(f):
            return f
    return frames[-1] if frames else "?"


def trimmed(frames, names):
    """A stack without its wrapper frames, up to main: what is compared between tools."""
    out = []
    for f in frames:
        if not out and names.skip(f):
            continue
        out.append(f)
        if f == "main":
            break
    return tuple(out)


# -------- astrolab run

def astrolab_frame(frame, names):
    """An astrolab frame's name: its function, or perl+0xOFF for an address in the executable
    (astrolab prints the return address; the call instruction is the byte before)."""
    fn = frame["function"]
    if re.fullmatch(r"0x[0-9a-f]+", fn) and frame.get("object") == names.obj and names.base:
        return names.addr(int(fn, 16) - 1 - names.base)
    return fn


def astrolab_entry_site(entry, names):
    stack = entry.get("stack") or [entry]
    return astrolab_frame(next((f for f in stack if f["function"] == entry["function"]
                                and f.get("line", 0) == entry.get("line", 0)), entry), names)


def astrolab_wrappers(doc, names):
    """Frames astrolab itself called wrappers: those before each entry's named frame, other than
    the C library's (an allocation libc makes for the program is filed under the program's
    frame, by design: docs/RUN-REPORT.md)."""
    seen = set()
    for e in doc["peak"]["sites"] + doc["leaks"]:
        for f in e.get("stack", []):
            if f["function"] == e["function"] and f.get("line", 0) == e.get("line", 0):
                break
            if not (f.get("object", "").startswith("libc.so") or f["function"] in names.libc):
                seen.add(f["function"])
    return seen


def astrolab_peak(doc, names):
    sites = {}
    for e in doc["peak"]["sites"]:
        k = astrolab_entry_site(e, names)
        sites[k] = sites.get(k, 0) + e["bytes"]
    return sites


def astrolab_peak_stacks(doc, names):
    out = {}
    for s in doc["sampled_stacks"]:
        k = trimmed([astrolab_frame(f, names) for f in s["stack"]], names)
        out[k] = out.get(k, 0) + s["peak_bytes"]
    return out


def astrolab_lost(doc, names):
    sites = {}
    for e in doc["leaks"]:
        if e.get("lost_count"):
            k = astrolab_entry_site(e, names)
            c, b = sites.get(k, (0, 0))
            sites[k] = (c + e["lost_count"], b + e["lost_bytes"])
    return sites


# -------- heaptrack

def heaptrack_traces(path, names):
    """[(bytes at the peak, [frame names innermost first])] of every backtrace."""
    p = run(["heaptrack_print", "-f", path, "-p", "1", "-a", "0", "-T", "0", "-l", "0",
             "-m", "0", "-n", "1000000"])
    text = p.stdout.split("PEAK MEMORY CONSUMERS", 1)[1]
    text = re.split(r"\n\n\n|\ntotal runtime", text)[0]
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
    out = []
    for block in re.split(r"\n(?=[\d.]+[KMG]? peak memory consumed)", text.strip()):
        m = re.match(r"([\d.]+)([KMG]?) peak memory consumed over (\d+) calls from", block)
        if not m:
            continue
        frames = []
        for line in block.splitlines()[1:]:
            if line.startswith("  ") and not line.startswith("    "):
                frames.append(line.strip())  # an address is named once its object is known
            elif line.startswith("    in ") and frames and re.fullmatch(r"0x[0-9a-f]+", frames[-1]):
                if os.path.realpath(line[7:].strip()) == names.exe and names.base:
                    frames[-1] = names.addr(int(frames[-1], 16) - names.base)
        out.append((float(m.group(1)) * scale[m.group(2)], frames))
    return out


# -------- valgrind

def valgrind_records(text, names):
    """[(kind, blocks, direct bytes, frame names innermost first)] of the loss records shown,
    perl's unnamed frames named perl+0xOFF from a base found from the frames it does name."""
    records = [r for r in valgrind_log.loss_records(text)
               if r.kind in ("definitely lost", "indirectly lost")]
    bases = {}
    for r in records:  # base = (pc - symbol) rounded to a page, small functions
        for f in r.frames:
            v = names.syms.get(f.function)
            if v and f.object == names.exe and v[1] < 4096:
                b = (f.pc - v[0]) & ~0xfff
                bases[b] = bases.get(b, 0) + 1
    base = max(bases, key=bases.get) if bases else None
    out = []
    for r in records:
        named = []
        for f in r.frames:
            fn = f.function
            if fn == "???" and f.object == names.exe and base is not None:
                fn = names.addr(f.pc - base)
            named.append(fn)
        out.append((r.kind, r.blocks, r.direct, named))
    return out


def valgrind_lost(records, names):
    sites = {}
    for kind, n, direct, frames in records:
        k = site_of(frames, names)
        c, b = sites.get(k, (0, 0))
        sites[k] = (c + n, b + direct)
    return sites


# -------- the report

def rel(a, b):
    return abs(a - b) / max(abs(b), 1)


def check(ok, what):
    if not ok:
        failures.append(what)
    return "yes" if ok else "**no**"


def top(d, n=5):
    return sorted(d.items(), key=lambda kv: -kv[1])[:n]


def perl_part(names):
    perl = [names.exe, f"{tmp}/peak.pl"]
    with open(perl[1], "w") as f:
        f.write(PERL_SCRIPT)
    names.no_aslr_base([names.exe, "-e", 'open my $m, "<", "/proc/self/maps"; print <$m>'])
    rep, allrep, ht = f"{tmp}/astrolab.json", f"{tmp}/astrolab-all.json", f"{tmp}/heaptrack"
    run(["setarch", "-R", astrolab, "run", "--report", rep, "--"] + perl,
        out=f"{tmp}/astrolab.txt")
    run(["setarch", "-R", astrolab, "run", "--stacks", "all", "--report", allrep, "--"] + perl,
        out=f"{tmp}/astrolab-all.txt")
    for f in os.listdir(tmp):
        if f.startswith("heaptrack."):
            os.remove(os.path.join(tmp, f))
    run(["setarch", "-R", "heaptrack", "-o", ht] + perl, out=f"{tmp}/heaptrack.txt")
    htfile = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("heaptrack."))
    vg = run(["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
              "--num-callers=30"] + perl, out=f"{tmp}/valgrind.txt").stderr
    doc, alldoc = json.load(open(rep)), json.load(open(allrep))
    traces = heaptrack_traces(htfile, names)

    print(f"## perl: `{' '.join(['perl', 'peak.pl'])}`\n")
    print("```perl" + PERL_SCRIPT + "```\n")
    print(f"Wrappers by the rule, in {names.obj}'s dynamic symbols: "
          f"{', '.join(sorted(names.wrappers))}; plus the malloc family and libc's functions.")
    seen = astrolab_wrappers(doc, names) | astrolab_wrappers(alldoc, names)
    print(f"Frames `astrolab run` skipped as wrappers (libc's left aside): "
          f"{', '.join(sorted(seen))} (all in the rule's list: "
          f"{check(seen <= names.wrappers, 'astrolab skipped frames the rule does not name')}).\n")
    ht_total = sum(b for b, _ in traces)
    print(f"Peak: `astrolab run` {doc['peak']['bytes']:,} B (exact: {doc['peak']['exact']}; "
          f"`--stacks all` {alldoc['peak']['bytes']:,} B), heaptrack {ht_total:,.0f} B "
          f"(its backtraces' peak figures added up).\n")

    # The peak by site.
    ours = astrolab_peak(doc, names)
    theirs = {}
    for b, frames in traces:
        k = site_of(frames, names)
        theirs[k] = theirs.get(k, 0) + b
    ht_top = dict(top(theirs))
    print("### Peak by site: `astrolab run` (default mode) against heaptrack\n")
    print("| # | astrolab site | astrolab bytes | heaptrack rank | heaptrack bytes | diff |"
          " in heaptrack's top 5 |")
    print("|---:|---|---:|---:|---:|---:|---|")
    rank = {k: i + 1 for i, (k, _) in enumerate(top(theirs, len(theirs)))}
    agree = 0
    for i, (k, b) in enumerate(top(ours), 1):
        hb = theirs.get(k)
        ok = k in ht_top and rel(b, hb) <= 0.05
        agree += ok
        wrap = names.skip(k)
        if wrap:
            failures.append(f"peak site {k} is a wrapper")
        print(f"| {i} | {k}{' (a wrapper!)' if wrap else ''} | {b:,} | {rank.get(k, '-')} | "
              f"{hb:,.0f} | {rel(b, hb):.1%} | {'yes' if ok else '**no**'} |" if hb is not None
              else f"| {i} | {k} | {b:,} | - | - | - | **no** |")
    print("\nheaptrack's top 5 by site (first frame outside the wrappers of its backtraces): " +
          "; ".join(f"{k} {b:,.0f} B" for k, b in top(theirs)) + "\n")
    print(f"Agreement: {agree} of 5 ({check(agree >= 4, 'peak sites agree with heaptrack')}).\n")

    # The peak by stack.
    ours_st = astrolab_peak_stacks(alldoc, names)
    theirs_st = {}
    for b, frames in traces:
        k = trimmed(frames, names)
        theirs_st[k] = theirs_st.get(k, 0) + b
    ht_top_st = dict(top(theirs_st))
    print("### Peak by stack: `astrolab run --stacks all` against heaptrack's backtraces\n")
    print("| # | stack (wrappers left out, innermost first, to main) | astrolab bytes |"
          " heaptrack bytes | diff | in heaptrack's top 5 |")
    print("|---:|---|---:|---:|---:|---|")
    agree = 0
    for i, (k, b) in enumerate(top(ours_st), 1):
        hb = theirs_st.get(k)
        ok = k in ht_top_st and rel(b, hb) <= 0.05
        agree += ok
        print(f"| {i} | {' < '.join(k)} | {b:,} | " +
              (f"{hb:,.0f} | {rel(b, hb):.1%} |" if hb is not None else "- | - |") +
              f" {'yes' if ok else '**no**'} |")
    print(f"\nAgreement: {agree} of 5 "
          f"({check(agree >= 4, 'peak stacks agree with heaptrack')}).\n")

    # Default mode: do the peak's entries carry their callers, as heaptrack saw them?
    print("### The stacks of the peak's top 5 entries in the default mode\n")
    print(f"Sampled ({doc['sampling']['samples']} samples, one per "
          f"{doc['sampling']['interval_bytes']:,} bytes on average): the stack shown is the "
          "sampled one holding most of the site's bytes at the peak.\n")
    print("| site | stack (wrappers left out, to main) | sampled | one of heaptrack's |")
    print("|---|---|---|---|")
    deep = 0
    for e in doc["peak"]["sites"][:5]:
        k = trimmed([astrolab_frame(f, names) for f in e.get("stack", [])], names)
        ok = k[-1:] == ("main",) and k in theirs_st
        deep += ok
        print(f"| {astrolab_entry_site(e, names)} | {' < '.join(k)} | "
              f"{bool(e.get('stack_sampled'))} | {'yes' if ok else '**no**'} |")
    print(f"\n{deep} of 5 go on to main along one of heaptrack's backtraces "
          f"({check(deep == 5, 'default-mode peak stacks')}).\n")

    # The leaks.
    ours_l = astrolab_lost(doc, names)
    theirs_l = valgrind_lost(valgrind_records(vg, names), names)
    print("### Lost blocks: `astrolab run` against valgrind (definitely and indirectly lost)\n")
    print("| site | astrolab blocks | astrolab bytes | valgrind blocks | valgrind bytes | same |")
    print("|---|---:|---:|---:|---:|---|")
    for k in sorted(set(ours_l) | set(theirs_l),
                    key=lambda k: -max(ours_l.get(k, (0, 0))[1], theirs_l.get(k, (0, 0))[1])):
        a, v = ours_l.get(k), theirs_l.get(k)
        same = a == v and not names.skip(k)
        if not same:
            failures.append(f"lost blocks at {k}: astrolab {a}, valgrind {v}")
        print(f"| {k} | " + (f"{a[0]:,} | {a[1]:,}" if a else "- | -") + " | " +
              (f"{v[0]:,} | {v[1]:,}" if v else "- | -") + f" | {'yes' if same else '**no**'} |")
    ta = [sum(x[i] for x in ours_l.values()) for i in (0, 1)]
    tv = [sum(x[i] for x in theirs_l.values()) for i in (0, 1)]
    print(f"| total | {ta[0]:,} | {ta[1]:,} | {tv[0]:,} | {tv[1]:,} | "
          f"{'yes' if ta == tv else '**no**'} |\n")


def planted_part():
    lines = open(source).read().splitlines()
    want = {}  # function -> (line, size, calls)
    for n, line in enumerate(lines, 1):
        m = re.search(r"void (\w+)\(void\).*?(malloc\((\d+)\)|calloc\((\d+), (\d+)\)).*LEAK-\d",
                      line)
        if m:
            size = int(m.group(3)) if m.group(3) else int(m.group(4)) * int(m.group(5))
            want[m.group(1)] = {"line": n, "size": size}
    for fn, w in want.items():  # "for (int i = 0; i < N; i++)\n    fn();" in main
        for n, line in enumerate(lines, 1):
            if line.strip() == f"{fn}();":
                w["call_line"] = n
                w["calls"] = int(re.search(r"i < (\d+)", lines[n - 2]).group(1))
    last = max(want, key=lambda f: want[f]["call_line"])  # its last block stays in `sink`
    for fn, w in want.items():
        w["lost"] = w["calls"] - (fn == last)
    exe = os.path.join(build, "bench", "preload", "leak_workload")
    rep, allrep = f"{tmp}/planted.json", f"{tmp}/planted-all.json"
    run([astrolab, "run", "--report", rep, "--", exe, "1"], out=f"{tmp}/planted.txt")
    run([astrolab, "run", "--stacks", "all", "--report", allrep, "--", exe, "1"],
        out=f"{tmp}/planted-all.txt")
    vg = run(["valgrind", "--leak-check=full", "--num-callers=30", exe, "1"],
             out=f"{tmp}/planted-valgrind.txt").stderr
    vsites = {}  # line of leak_workload.c: (blocks, bytes) definitely lost, without indirect
    for r in valgrind_log.loss_records(vg):
        f = next((f for f in r.frames if not f.at and re.fullmatch(r"\w+", f.function)
                  and f.file == "leak_workload.c" and f.line is not None), None)
        if r.kind == "definitely lost" and not r.indirect and f:
            vsites[f.line] = (r.blocks, r.bytes)
    print("## Planted leaks: `build-bench/bench/preload/leak_workload 1`\n")
    print("| site (source) | made: blocks x bytes | lost (source) | mode | astrolab live |"
          " astrolab lost | valgrind definitely lost | stack | right |")
    print("|---|---|---:|---|---:|---:|---:|---|---|")
    for mode, path in (("default", rep), ("--stacks all", allrep)):
        doc = json.load(open(path))
        for fn, w in want.items():
            e = next((l for l in doc["leaks"] if os.path.basename(l["file"]) ==
                      os.path.basename(source) and l["line"] == w["line"]), None)
            st = [(f["function"], f["line"]) for f in (e or {}).get("stack", [])]
            v = vsites.get(w["line"])
            counts = e is not None and (e["count"], e["bytes"]) == (w["calls"], w["calls"] * w[
                "size"]) and (e["lost_count"], e["lost_bytes"]) == (w["lost"], w["lost"] * w[
                    "size"]) and v == (w["lost"], w["lost"] * w["size"])
            good_stack = bool(st) and st[0] == (fn, w["line"]) and (
                st[1:2] in ([], [("main", w["call_line"])]))
            if mode == "--stacks all":
                good_stack = good_stack and st[1:2] == [("main", w["call_line"])]
            ok = counts and good_stack
            if not ok:
                failures.append(f"planted {fn} ({mode}): {e and (e['count'], e['bytes'], e.get('lost_count'), e.get('lost_bytes'))}, valgrind {v}, stack {st}")
            print(f"| {fn} (:{w['line']}) | {w['calls']} x {w['size']} | "
                  f"{w['lost']} x {w['size']} = {w['lost'] * w['size']:,} | {mode} | " +
                  (f"{e['count']} = {e['bytes']:,} B | {e['lost_count']} = {e['lost_bytes']:,} B"
                   if e else "- | -") + " | " +
                  (f"{v[0]} = {v[1]:,} B" if v else "-") + " | " +
                  " < ".join(f"{f}:{n}" for f, n in st[:3]) + f" | {'yes' if ok else '**no**'} |")
    print()


print("# Issue 17: `astrolab run` against heaptrack and valgrind\n")
print("Expectations (the script exits 1 below them):\n")
print(EXPECTATIONS + "\n")
if only in (None, "perl"):
    perl_part(Names(shutil.which("perl")))
if only in (None, "planted"):
    planted_part()
print("## Result\n")
print("All expectations met." if not failures else
      "Below expectations:\n\n" + "\n".join(f"- {f}" for f in failures))
if not opts.get("--keep"):
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
