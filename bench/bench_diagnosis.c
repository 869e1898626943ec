/* bench_diagnosis: what a leak diagnosis costs with many live blocks (issue 4).
 *
 * N (default 10^6) live blocks of 16..128 bytes (fixed-seed sizes) are spread over 100 call
 * sites and 10 tags. Then each operation below runs R times (default 50) after one warm-up,
 * and the median and minimum are printed:
 *   - al_diagnose_memory_leaks + al_diagnosis_free (the target: under 1 ms);
 *   - al_memory_snapshot + al_snapshot_free;
 *   - al_snapshot_diff of two snapshots;
 *   - al_diagnosis_json and al_diagnosis_text of one diagnosis;
 *   - al_get_memory_stats alone (context: it reads /proc/self/status, part of every sample).
 * The diagnosis reads per-site counters, so its time must not depend on N: the same run at
 * N/100 blocks is printed beside it.
 *
 *   bench_diagnosis [--quick] [--markdown] [--blocks N] [--repeats R] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <astrolab/memory.h>

#include "bench_common.h"

#define SITES 100
#define MAX_REPEATS 1000

static const char *const tags[10] = {"struct star",  "struct galaxy", "column ra",    "column dec",
                                     "column mag",   "struct match",  "index bucket", "name",
                                     "struct chunk", "scratch"};

/* One call per case: each expansion of the macro is its own call site. */
#define A(i)                                                                                       \
    case (i):                                                                                      \
        return al_malloc_tagged(n, tags[(i) % 10]);
BENCH_SITES_100(A)

enum { OP_DIAGNOSE, OP_SNAPSHOT, OP_DIFF, OP_JSON, OP_TEXT, OP_STATS, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"al_diagnose_memory_leaks + free",
                                               "al_memory_snapshot + free",
                                               "al_snapshot_diff + free",
                                               "al_diagnosis_json",
                                               "al_diagnosis_text",
                                               "al_get_memory_stats"};

/* Runs operation `op` once and returns its time in ns, or 0 on failure. */
static uint64_t run_op(int op, const al_snapshot *a, const al_snapshot *b, const al_diagnosis *d)
{
    uint64_t t0 = now_ns();
    int ok = 1;
    switch (op) {
    case OP_DIAGNOSE: {
        al_diagnosis *x = al_diagnose_memory_leaks();
        ok = x != NULL;
        al_diagnosis_free(x);
        break;
    }
    case OP_SNAPSHOT: {
        al_snapshot *s = al_memory_snapshot();
        ok = s != NULL;
        al_snapshot_free(s);
        break;
    }
    case OP_DIFF: {
        al_diagnosis *x = al_snapshot_diff(a, b);
        ok = x != NULL;
        al_diagnosis_free(x);
        break;
    }
    case OP_JSON:
    case OP_TEXT: {
        char *s = op == OP_JSON ? al_diagnosis_json(d) : al_diagnosis_text(d);
        ok = s != NULL;
        free(s);
        break;
    }
    case OP_STATS: {
        al_memory_stats st;
        ok = al_get_memory_stats(&st) == AL_OK;
        break;
    }
    }
    uint64_t t = now_ns() - t0;
    return ok ? (t ? t : 1) : 0;
}

/* Times every operation `repeats` times with `n` live blocks; medians and minima in ns. */
static int measure(uint32_t n, int repeats, uint64_t med[OP_COUNT], uint64_t min[OP_COUNT])
{
    void **blocks = malloc((size_t)n * sizeof *blocks);
    if (!blocks)
        return -1;
    uint64_t seed = 42;
    for (uint32_t i = 0; i < n; i++) {
        blocks[i] = alloc_at((int)(i % SITES), 16 + splitmix64(&seed) % 113);
        if (!blocks[i]) {
            fprintf(stderr, "bench_diagnosis: allocation %u failed\n", i);
            return -1;
        }
    }
    al_snapshot *a = al_memory_snapshot(), *b = al_memory_snapshot();
    al_diagnosis *d = al_diagnose_memory_leaks();
    static uint64_t t[OP_COUNT][MAX_REPEATS];
    int rc = a && b && d ? 0 : -1;
    for (int op = 0; op < OP_COUNT && rc == 0; op++) {
        (void)run_op(op, a, b, d); /* warm-up */
        for (int r = 0; r < repeats && rc == 0; r++)
            if ((t[op][r] = run_op(op, a, b, d)) == 0)
                rc = -1;
        qsort(t[op], (size_t)repeats, sizeof t[op][0], cmp_u64);
        med[op] = t[op][repeats / 2];
        min[op] = t[op][0];
    }
    if (d && d->n_sites_live != SITES) {
        fprintf(stderr, "bench_diagnosis: expected %d live sites, saw %zu\n", SITES,
                d->n_sites_live);
        rc = -1;
    }
    al_diagnosis_free(d);
    al_snapshot_free(a);
    al_snapshot_free(b);
    for (uint32_t i = 0; i < n; i++)
        al_free(blocks[i]);
    free(blocks);
    return rc;
}

int main(int argc, char **argv)
{
    uint32_t n = 1000000;
    int repeats = 50, markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n = 100000;
            repeats = 11;
        } else if (strcmp(argv[i], "--markdown") == 0) {
            markdown = 1;
        } else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc) {
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            repeats = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_diagnosis [--quick] [--markdown] [--blocks N] "
                            "[--repeats R]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > MAX_REPEATS || n < SITES) {
        fprintf(stderr, "bench_diagnosis: repeats must be 1..%d and blocks at least %d\n",
                MAX_REPEATS, SITES);
        return 2;
    }
    uint64_t med[OP_COUNT], mn[OP_COUNT], med_small[OP_COUNT], mn_small[OP_COUNT];
    if (measure(n, repeats, med, mn) != 0 || measure(n / 100, repeats, med_small, mn_small) != 0) {
        fprintf(stderr, "bench_diagnosis: a measurement failed\n");
        return 1;
    }
    al_memory_stats st;
    if (al_get_memory_stats(&st) == AL_OK && st.live_blocks != 0)
        fprintf(stderr, "bench_diagnosis: %llu tracked blocks left live\n",
                (unsigned long long)st.live_blocks);
    if (markdown) {
        printf("\n%u live blocks of 16..128 bytes over %d sites and 10 tags, median of %d runs\n\n",
               n, SITES, repeats);
        printf("| operation | median ms | min ms | median ms at %u blocks |\n", n / 100);
        printf("| --- | ---: | ---: | ---: |\n");
    } else {
        printf("\n%u live blocks of 16..128 bytes over %d sites and 10 tags, median of %d runs\n",
               n, SITES, repeats);
        printf("%-34s %10s %10s %18s\n", "operation", "median ms", "min ms", "at 1/100 blocks");
    }
    for (int op = 0; op < OP_COUNT; op++)
        printf(markdown ? "| %s | %.3f | %.3f | %.3f |\n" : "%-34s %10.3f %10.3f %18.3f\n",
               op_names[op], med[op] / 1e6, mn[op] / 1e6, med_small[op] / 1e6);
    if (!markdown)
        printf("target: al_diagnose_memory_leaks under 1 ms: %s\n",
               med[OP_DIAGNOSE] < 1000000 ? "met" : "NOT met");
    return 0;
}
