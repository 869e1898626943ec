/* bench_scope: what it costs to reclaim a scope's blocks at its end (issue 3).
 *
 * A scope ends with N (default 10^6) live small blocks of 16..128 bytes (fixed-seed sizes).
 * The release is timed three or four ways, interleaved round by round after one warm-up round:
 *   - al_scope_end reclaiming the N tracked blocks (the candidate);
 *   - glibc: the same sizes from malloc, released one by one with free() in allocation order
 *     (the target is scope end at least 2x faster than this);
 *   - al_free one by one on N tracked blocks owned by no scope (context: the tracked free path);
 *   - with the mimalloc backing, mi_heap_destroy of an untracked heap holding the same blocks
 *     (context: the floor a per-scope heap can reach).
 * Allocation times are reported beside them. glibc is reached through __libc_malloc and
 * __libc_free, because in a process that links Debian's libmimalloc.so, `malloc` itself is
 * mimalloc's.
 *
 *   bench_scope [--quick] [--markdown] [--blocks N] [--repeats R] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <astrolab/memory.h>

#include "bench_common.h"
#ifdef BENCH_HAVE_MIMALLOC
#include <mimalloc.h>

#endif

/* glibc's own entry points, exported by libc.so.6 whatever else defines malloc. */
extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);

#define DEFAULT_BLOCKS 1000000u
#define QUICK_BLOCKS 100000u
#define DEFAULT_REPEATS 7
#define QUICK_REPEATS 2
#define MAX_REPEATS 64
#define SEED 0x5C0BE5EEDULL

enum { M_SCOPE, M_GLIBC, M_AL_FREE, M_MI_HEAP, M_COUNT };

static const char *method_names[M_COUNT] = {
    "al_scope_end (tracked blocks)",
    "glibc free() one by one",
    "al_free one by one (tracked, no scope)",
    "mi_heap_destroy (untracked floor)",
};

typedef struct timing {
    uint64_t alloc_ns[MAX_REPEATS];
    uint64_t release_ns[MAX_REPEATS];
} timing;

/* A program writes its blocks: touch both ends, as the allocation benchmark does. */
static inline void stamp(unsigned char *p, uint32_t n)
{
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)n;
}

/* One round of one method. Returns 0, or -1 when something came out wrong. */
static int run_round(int method, const uint32_t *sizes, void **ptrs, uint32_t n, uint64_t bytes,
                     uint64_t *alloc_ns, uint64_t *release_ns)
{
    uint64_t t0 = now_ns(), t1, t2;
    switch (method) {
    case M_SCOPE: {
        al_scope *s = al_scope_begin("bench_scope");
        if (!s)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            unsigned char *p = al_malloc(sizes[i]);
            if (!p) {
                (void)!al_scope_end(s, NULL);
                return -1;
            }
            stamp(p, sizes[i]);
        }
        t1 = now_ns();
        al_scope_report rep;
        int rc = al_scope_end(s, &rep);
        t2 = now_ns();
        if (rc != AL_OK || rep.reclaimed_blocks != n || rep.reclaimed_bytes != bytes) {
            fprintf(stderr,
                    "bench_scope: scope end reclaimed %llu blocks, %llu bytes; expected "
                    "%u, %llu\n",
                    (unsigned long long)rep.reclaimed_blocks,
                    (unsigned long long)rep.reclaimed_bytes, n, (unsigned long long)bytes);
            return -1;
        }
        break;
    }
    case M_GLIBC:
        for (uint32_t i = 0; i < n; i++) {
            if (!(ptrs[i] = __libc_malloc(sizes[i])))
                return -1;
            stamp(ptrs[i], sizes[i]);
        }
        t1 = now_ns();
        for (uint32_t i = 0; i < n; i++)
            __libc_free(ptrs[i]);
        t2 = now_ns();
        break;
    case M_AL_FREE:
        for (uint32_t i = 0; i < n; i++) {
            if (!(ptrs[i] = al_malloc(sizes[i])))
                return -1;
            stamp(ptrs[i], sizes[i]);
        }
        t1 = now_ns();
        for (uint32_t i = 0; i < n; i++)
            al_free(ptrs[i]);
        t2 = now_ns();
        break;
#ifdef BENCH_HAVE_MIMALLOC
    case M_MI_HEAP: {
        mi_heap_t *h = mi_heap_new();
        if (!h)
            return -1;
        for (uint32_t i = 0; i < n; i++) {
            unsigned char *p = mi_heap_malloc(h, sizes[i]);
            if (!p)
                return -1;
            stamp(p, sizes[i]);
        }
        t1 = now_ns();
        mi_heap_destroy(h);
        t2 = now_ns();
        break;
    }
#endif
    default:
        return -1;
    }
    *alloc_ns = t1 - t0;
    *release_ns = t2 - t1;
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t n = 0;
    int repeats = 0, markdown = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--markdown") == 0)
            markdown = 1;
        else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_scope [--quick] [--markdown] [--blocks N] "
                            "[--repeats R]\n");
            return 2;
        }
    }
    if (!n)
        n = quick ? QUICK_BLOCKS : DEFAULT_BLOCKS;
    if (!repeats)
        repeats = quick ? QUICK_REPEATS : DEFAULT_REPEATS;
    if (repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "bench_scope: repeats must be 1..%d\n", MAX_REPEATS);
        return 2;
    }

    uint32_t *sizes = __libc_malloc((size_t)n * sizeof *sizes);
    void **ptrs = __libc_malloc((size_t)n * sizeof *ptrs);
    if (!sizes || !ptrs) {
        fprintf(stderr, "bench_scope: out of memory\n");
        return 1;
    }
    uint64_t seed = SEED, bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        sizes[i] = 16 + (uint32_t)(splitmix64(&seed) % 113);
        bytes += sizes[i];
    }

    int methods = M_MI_HEAP;
#ifdef BENCH_HAVE_MIMALLOC
    methods = M_COUNT;
#endif
    static timing t[M_COUNT];
    /* Round -1 warms every allocator up (page faults, arenas) and is not counted. */
    for (int r = -1; r < repeats; r++) {
        for (int m = 0; m < methods; m++) {
            uint64_t a, rel;
            if (run_round(m, sizes, ptrs, n, bytes, &a, &rel) != 0) {
                fprintf(stderr, "bench_scope: %s failed\n", method_names[m]);
                return 1;
            }
            if (r >= 0) {
                t[m].alloc_ns[r] = a;
                t[m].release_ns[r] = rel;
            }
        }
    }

    al_memory_stats st;
    if (al_get_memory_stats(&st) != AL_OK || st.live_blocks != 0) {
        fprintf(stderr, "bench_scope: tracked blocks left live after the rounds\n");
        return 1;
    }

    uint64_t mn, glibc_release = median(t[M_GLIBC].release_ns, repeats, &mn);
    if (markdown) {
        printf("\n%u blocks of 16..128 bytes (%.1f MiB requested), median of %d runs\n\n", n,
               bytes / 1048576.0, repeats);
        printf("| release by | release median ms | min ms | ns/block | glibc free / this | "
               "allocation median ms |\n");
        printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    } else {
        printf("\n%u blocks of 16..128 bytes (%.1f MiB requested), median of %d runs\n", n,
               bytes / 1048576.0, repeats);
        printf("%-40s %12s %8s %9s %12s %12s\n", "release by", "release ms", "min ms", "ns/block",
               "glibc/this", "alloc ms");
    }
    for (int m = 0; m < methods; m++) {
        uint64_t amin, rmin, rel = median(t[m].release_ns, repeats, &rmin);
        uint64_t alloc = median(t[m].alloc_ns, repeats, &amin);
        double speedup = rel ? (double)glibc_release / (double)rel : 0.0;
        const char *fmt = markdown ? "| %s | %.1f | %.1f | %.1f | %.2fx | %.1f |\n"
                                   : "%-40s %12.1f %8.1f %9.1f %11.2fx %12.1f\n";
        printf(fmt, method_names[m], rel / 1e6, rmin / 1e6, (double)rel / n, speedup, alloc / 1e6);
    }
    __libc_free(sizes);
    __libc_free(ptrs);
    return 0;
}
