#!/usr/bin/env python3
"""Tests bench/valgrind_log.py on a valgrind 3.19 report: records and summary lines from real runs
(bench/preload/leak_workload 1, and perl under bench/agree.sh), plus a C++ frame, a frame in a
path with a space and a frame with no place, written by hand as valgrind prints them.
Run: python3 bench/test_valgrind_log.py (CTest: bench_valgrind_log)."""
import os, sys, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import valgrind_log  # noqa: E402
from valgrind_log import Frame, Record  # noqa: E402

LOG = """\
==2655== Memcheck, a memory error detector
==2655== Command: /work/build-bench/bench/preload/leak_workload 1
==2655== 
==2655== HEAP SUMMARY:
==2655==     in use at exit: 10,880 bytes in 60 blocks
==2655==   total heap usage: 1,000,061 allocs, 1,000,001 frees, 263,799,690 bytes allocated
==2655== 
==2655== 640 bytes in 10 blocks are definitely lost in loss record 2 of 4
==2655==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==2655==    by 0x1092DD: leak_one (leak_workload.c:11)
==2655==    by 0x109174: main (leak_workload.c:35)
==2655== 
==2256== 8,064 (56 direct, 8,008 indirect) bytes in 1 blocks are definitely lost in loss record 244 of 257
==2256==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==2256==    by 0x1FEF95: Perl_safesysmalloc (in /usr/bin/perl)
==2256==    by 0x1B95FD: ??? (in /usr/bin/perl)
==2256== 
==2256== 20,360 bytes in 5 blocks are indirectly lost in loss record 245 of 257
==2256==    at 0x48465EF: calloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==2256==    by 0x1FFD8A: Perl_safesyscalloc (in /usr/bin/perl)
==2256== 
==77== 40 bytes in 1 blocks are possibly lost in loss record 3 of 6
==77==    at 0x4849013: operator new(unsigned long) (vg_replace_malloc.c:472)
==77==    by 0x1091A0: Foo::make(int) (foo.cc:44)
==77==    by 0x1091C0: ??? (in /opt/my dir/bin/prog)
==77==    by 0x1091D0: ???
==77==    by 0x1091E0: start (vg_replace_malloc.c)
==77== 
==2655== LEAK SUMMARY:
==2655==    definitely lost: 10,624 bytes in 59 blocks
==2655==    indirectly lost: 0 bytes in 0 blocks
==2655==      possibly lost: 0 bytes in 0 blocks
==2655==    still reachable: 256 bytes in 1 blocks
==2655==         suppressed: 0 bytes in 0 blocks
==2655== Reachable blocks (those to which a pointer was found) are not shown.
"""
VGPRELOAD = "/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so"


class ValgrindLog(unittest.TestCase):
    def test_summary(self):
        self.assertEqual(valgrind_log.leak_summary(LOG), {
            "definitely lost": (10624, 59), "indirectly lost": (0, 0), "possibly lost": (0, 0),
            "still reachable": (256, 1), "suppressed": (0, 0)})

    def test_no_summary(self):
        self.assertEqual(valgrind_log.leak_summary(
            "==1== All heap blocks were freed -- no leaks are possible\n"), {})

    def test_records(self):
        r = valgrind_log.loss_records(LOG)
        self.assertEqual([x[:5] for x in r], [
            ("definitely lost", 640, 10, 640, 0),
            ("definitely lost", 8064, 1, 56, 8008),
            ("indirectly lost", 20360, 5, 20360, 0),
            ("possibly lost", 40, 1, 40, 0)])
        self.assertEqual(r[0], Record("definitely lost", 640, 10, 640, 0, [
            Frame(True, 0x48417B4, "malloc", VGPRELOAD, None, None),
            Frame(False, 0x1092DD, "leak_one", None, "leak_workload.c", 11),
            Frame(False, 0x109174, "main", None, "leak_workload.c", 35)]))
        self.assertEqual(r[1].frames[1:], [
            Frame(False, 0x1FEF95, "Perl_safesysmalloc", "/usr/bin/perl", None, None),
            Frame(False, 0x1B95FD, "???", "/usr/bin/perl", None, None)])

    def test_frames_read_up_to_a_space(self):
        # operator new(...) and the frame with no brackets are not frames; a place with a space
        # is kept without one; a file without a line has line None.
        self.assertEqual(valgrind_log.loss_records(LOG)[3].frames, [
            Frame(False, 0x1091A0, "Foo::make(int)", None, "foo.cc", 44),
            Frame(False, 0x1091C0, "???", None, None, None),
            Frame(False, 0x1091E0, "start", None, "vg_replace_malloc.c", None)])


if __name__ == "__main__":
    unittest.main()
