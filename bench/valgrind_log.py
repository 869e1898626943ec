"""Reads what `valgrind --leak-check=full` prints at exit (its stderr, or a --log-file) for the
benchmark scripts: bench/preload/compare.py, bench/preload/agree.py, bench/astro/programs.py.

Two parts of memcheck's report are parsed, numbers with or without valgrind's thousands commas:
- the LEAK SUMMARY: `leak_summary(text)` gives {kind: (bytes, blocks)} for each kind it lists,
  "definitely lost", "indirectly lost", "possibly lost", "still reachable" and "suppressed";
- the loss records: `loss_records(text)` gives a Record per record shown, in order, with its
  kind (one of KINDS), bytes (all of them; valgrind prints `T (D direct, I indirect) bytes` for a
  record whose blocks point to indirectly lost ones, and `T bytes` when I is 0), blocks, direct
  and indirect bytes, and its stack frames, innermost first.

Give it one process's output: valgrind prints a summary per process, and with several in the
text, leak_summary gives the last one's figures. A frame is `at|by 0xPC: FUNCTION (WHERE)`, with
WHERE `FILE:LINE`, `FILE` or `in OBJECT`. As in the scripts' own regular expressions before this
module, names and paths hold no space: a frame whose function has one (C++'s `operator
new(unsigned long)`) is not a Frame, and one whose path has one has object, file and line None.

Scripts run from any folder reach it by putting bench/ on sys.path from their own path:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
"""
import re
from collections import namedtuple

KINDS = ("definitely lost", "indirectly lost", "possibly lost", "still reachable")

# A frame: at=True for valgrind's `at` line (the innermost frame), False for its callers (`by`);
# pc as an int; function "???" where valgrind has no name; object (the executable or library),
# or file and line (line None where valgrind names a file without one), from WHERE, else None.
Frame = namedtuple("Frame", "at pc function object file line")
Record = namedtuple("Record", "kind bytes blocks direct indirect frames")

_SUMMARY = re.compile(r"(" + "|".join(KINDS + ("suppressed",)) + r"): ([\d,]+) bytes in "
                      r"([\d,]+) blocks")
_HEADER = re.compile(r"([\d,]+)(?: \(([\d,]+) direct, ([\d,]+) indirect\))? bytes in ([\d,]+) "
                     r"blocks are (" + "|".join(KINDS) + ")")
_FRAME = re.compile(r"(at|by) 0x([0-9A-F]+): (\S+) \(([^)]*)\)")
_WHERE = re.compile(r"in (\S+)|(\S+?)(?::(\d+))?")


def _int(s):
    return int(s.replace(",", ""))


def leak_summary(text):
    """{kind: (bytes, blocks)} of the LEAK SUMMARY; {} when there is none (valgrind prints
    "All heap blocks were freed -- no leaks are possible" instead)."""
    return {k: (_int(b), _int(n)) for k, b, n in _SUMMARY.findall(text)}


def _frame(word, pc, function, where):
    m = _WHERE.fullmatch(where)
    obj, file, line = m.groups() if m else (None, None, None)
    return Frame(word == "at", int(pc, 16), function, obj, file, int(line) if line else None)


def loss_records(text):
    """[Record] of the loss records shown (--show-leak-kinds chooses which), in valgrind's order:
    the records are the paragraphs (between valgrind's empty `==PID== ` lines) that open with
    `N bytes in M blocks are KIND`."""
    out = []
    for block in re.split(r"\n==\d+== \n", text):
        m = _HEADER.search(block)
        if not m:
            continue
        total, direct, indirect, blocks, kind = m.groups()
        out.append(Record(kind, _int(total), _int(blocks), _int(direct or total),
                          _int(indirect or "0"), [_frame(*f) for f in _FRAME.findall(block)]))
    return out
