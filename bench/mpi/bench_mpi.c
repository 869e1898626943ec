/* bench_mpi: what libastrolab_mpi costs (issue 18), figures for docs/PERFORMANCE.md.
 *
 *   mpirun -np P bench_mpi load FILE [REPEATS]   partitioned load of a catalog: wall time (the
 *                                                slowest rank, best of REPEATS), rows and column
 *                                                bytes of the largest part, peak RSS per rank
 *   mpirun -np P bench_mpi diagnose [REPEATS]    al_mpi_diagnose with 100 live sites a rank
 *   bench_mpi merge RANKS SITES [REPEATS]        al_job_merge alone (one process, no MPI
 *                                                traffic) on synthetic tables: SITES sites on
 *                                                each of RANKS ranks, half of them on every
 *                                                rank, the rest on a few ranks each
 *   bench_mpi tree RANKS SITES                   the same tables merged as al_mpi_diagnose's
 *                                                tree reduction merges them (one process: each
 *                                                round's pairwise al_job_merge_views timed), for
 *                                                the critical path, the root's work and the
 *                                                largest message of a RANKS-rank job
 * Each prints one line of results on rank 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <astrolab/astrolab.h>
#include <astrolab/mpi.h>

#include "bench_common.h"

static int rank, size;

/* This process's CPU time: the machine is shared, so wall time alone overstates. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bench_load(const char *path, int repeats)
{
    uint64_t best = UINT64_MAX, best_cpu = UINT64_MAX;
    int64_t rows = 0;
    uint64_t bytes = 0;
    for (int r = 0; r < repeats; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        uint64_t t0 = now_ns(), c0 = cpu_ns();
        al_error err;
        al_tensordict *td = al_mpi_survey_load(path, NULL, MPI_COMM_WORLD, &err);
        uint64_t t = now_ns() - t0, c = cpu_ns() - c0, slowest = 0, most_cpu = 0;
        MPI_Reduce(&t, &slowest, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
        MPI_Reduce(&c, &most_cpu, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
        if (most_cpu < best_cpu)
            best_cpu = most_cpu;
        if (!td) {
            if (rank == 0)
                fprintf(stderr, "bench_mpi: %s\n", err.message);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        al_tensordict_meminfo info;
        if (al_tensordict_memory_info(td, &info) == AL_OK) {
            bytes = info.total_bytes;
            al_tensordict_memory_info_release(&info);
        }
        rows = al_tensordict_batch_size(td);
        al_survey_free(td);
        if (slowest < best)
            best = slowest;
    }
    al_memory_stats st;
    uint64_t rss = al_get_memory_stats(&st) == AL_OK ? st.peak_rss_bytes : 0, max_rss = 0;
    uint64_t max_bytes = 0;
    int64_t max_rows = 0;
    MPI_Reduce(&rss, &max_rss, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&bytes, &max_bytes, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&rows, &max_rows, 1, MPI_INT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("load %d rank(s): %.3f s wall, %.3f s CPU on the busiest rank (best of %d); "
               "largest part %lld rows, %.0f MB of columns; peak RSS per rank at most %.0f MB\n",
               size, (double)best / 1e9, (double)best_cpu / 1e9, repeats, (long long)max_rows,
               (double)max_bytes / 1e6, (double)max_rss / 1e6);
}

/* One call per case: each expansion is its own call site (as bench_diagnosis.c does), with a
 * tag of its own, since the expansions share one line: keys file:line:function:tag differ. */
#define A(i)                                                                                       \
    case (i):                                                                                      \
        return al_malloc_tagged(n, "site " #i);
BENCH_SITES_100(A)

static void bench_diagnose(int repeats)
{
    void *blocks[100][10];
    for (int s = 0; s < 100; s++)
        for (int k = 0; k < 10; k++)
            blocks[s][k] = alloc_at(s, 64 + (size_t)rank);
    al_diagnosis_thresholds th;
    if (al_diagnosis_get_thresholds(&th) == AL_OK) {
        th.top_consumers = 1000; /* every site, not the top 20 */
        (void)!al_diagnosis_set_thresholds(&th);
    }
    uint64_t *t = calloc((size_t)repeats, sizeof *t);
    size_t sites = 0;
    for (int r = 0; r < repeats; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        uint64_t t0 = now_ns();
        al_error err;
        al_mpi_diagnosis *d = al_mpi_diagnose(MPI_COMM_WORLD, 0, &err);
        t[r] = now_ns() - t0;
        if (d)
            sites = d->n_sites;
        al_mpi_diagnosis_free(d);
    }
    uint64_t min, med = median(t, repeats, &min);
    if (rank == 0)
        printf("al_mpi_diagnose, %d ranks x 100 sites (%zu sites merged): median %.3f ms, "
               "min %.3f ms (%d repeats, time on the root)\n",
               size, sites, (double)med / 1e6, (double)min / 1e6, repeats);
    free(t);
    for (int s = 0; s < 100; s++)
        for (int k = 0; k < 10; k++)
            al_free(blocks[s][k]);
}

/* The synthetic job of `merge` and `tree`: r[0..ranks) over *all and *files (free all three). */
static al_job_rank *synthetic_job(int ranks, int sites, al_job_site **all_out,
                                  char (**files_out)[24])
{
    al_job_rank *r = calloc((size_t)ranks, sizeof *r);
    al_job_site *all = calloc((size_t)ranks * (size_t)sites, sizeof *all);
    char(*files)[24] = calloc((size_t)sites, sizeof *files);
    rng g;
    rng_seed(&g, 18);
    for (int s = 0; s < sites; s++)
        snprintf(files[s], sizeof files[s], "src/module%d.c", s % 97);
    for (int k = 0; k < ranks; k++) {
        al_job_site *mine = all + (size_t)k * (size_t)sites;
        for (int s = 0; s < sites; s++) {
            /* Half the sites on every rank; the others at one of 4 * sites keys, so that each
             * is held by a few ranks only. */
            int key = s < sites / 2 ? s : sites / 2 + (int)(rng_next(&g) % (uint64_t)(4 * sites));
            mine[s] = (al_job_site){
                files[key % sites],  10 + key, "work", "tensor", 64 + rng_next(&g) % 4096,
                1 + rng_next(&g) % 8};
        }
        r[k] = (al_job_rank){k, 1u << 20, (1u << 20) + k, 1u << 24, mine, (size_t)sites};
    }
    *all_out = all;
    *files_out = files;
    return r;
}

static void bench_merge(int ranks, int sites, int repeats)
{
    al_job_site *all;
    char(*files)[24];
    al_job_rank *r = synthetic_job(ranks, sites, &all, &files);
    uint64_t *t = calloc((size_t)repeats, sizeof *t), *c = calloc((size_t)repeats, sizeof *c);
    size_t merged = 0;
    for (int i = 0; i < repeats; i++) {
        uint64_t t0 = now_ns(), c0 = cpu_ns();
        al_error err;
        al_job_view *v = al_job_merge(r, (size_t)ranks, &err);
        t[i] = now_ns() - t0;
        c[i] = cpu_ns() - c0;
        merged = v ? v->n_sites : 0;
        al_job_view_free(v);
    }
    uint64_t min, med = median(t, repeats, &min), cmin, cmed = median(c, repeats, &cmin);
    al_memory_stats st;
    printf("al_job_merge, %d ranks x %d sites = %lld entries -> %zu job sites: wall median %.3f "
           "s (min %.3f), CPU median %.3f s (min %.3f); peak tracked %.0f MB\n",
           ranks, sites, (long long)ranks * sites, merged, (double)med / 1e9, (double)min / 1e9,
           (double)cmed / 1e9, (double)cmin / 1e9,
           al_get_memory_stats(&st) == AL_OK ? (double)st.peak_bytes / 1e6 : 0.0);
    free(t);
    free(c);
    free(all);
    free(r);
    free(files);
}

/* Bytes al_mpi_diagnose sends for view v (its wire format, src/mpi/diagnose.c). */
static uint64_t wire_bytes(const al_job_view *v)
{
    uint64_t b = 16 + 28 * (uint64_t)v->n_ranks;
    for (size_t i = 0; i < v->n_sites; i++) {
        const al_job_view_site *s = &v->sites[i];
        b += 40 + 4 * (uint64_t)s->n_ranks + strlen(s->site.file) + strlen(s->site.function) +
             strlen(s->site.tag) + 3;
    }
    return b;
}

static void bench_tree(int ranks, int sites)
{
    al_job_site *all;
    char(*files)[24];
    al_job_rank *r = synthetic_job(ranks, sites, &all, &files);
    al_job_view **v = calloc((size_t)ranks, sizeof *v);
    al_error err;
    uint64_t leaf_max = 0, path = 0, total = 0, root_cpu = 0, biggest = 0;
    for (int k = 0; k < ranks; k++) {
        uint64_t c0 = cpu_ns();
        v[k] = al_job_merge(&r[k], 1, &err);
        uint64_t c = cpu_ns() - c0;
        leaf_max = c > leaf_max ? c : leaf_max;
        total += c;
    }
    path = leaf_max;
    int rounds = 0;
    for (int step = 1; step < ranks; step *= 2, rounds++) {
        uint64_t round_max = 0;
        for (int k = 0; k + step < ranks; k += 2 * step) {
            uint64_t bytes = wire_bytes(v[k + step]);
            biggest = bytes > biggest ? bytes : biggest;
            const al_job_view *pair[2] = {v[k], v[k + step]};
            uint64_t c0 = cpu_ns();
            al_job_view *m = al_job_merge_views(pair, 2, &err);
            uint64_t c = cpu_ns() - c0;
            if (!m) {
                fprintf(stderr, "bench_mpi tree: %s\n", err.message);
                exit(1);
            }
            al_job_view_free(v[k]);
            al_job_view_free(v[k + step]);
            v[k] = m, v[k + step] = NULL;
            round_max = c > round_max ? c : round_max;
            total += c;
            if (k == 0)
                root_cpu += c;
        }
        path += round_max;
    }
    al_memory_stats st;
    printf("tree reduction, %d ranks x %d sites -> %zu job sites in %d rounds: critical path CPU "
           "%.3f s (leaf %.3f s + the slowest merge of each round), the root's merges %.3f s, all "
           "ranks' CPU %.3f s; largest message %.1f MB; root's view %.1f MB on the wire; peak "
           "tracked in this one process %.0f MB\n",
           ranks, sites, v[0] ? v[0]->n_sites : 0, rounds, (double)path / 1e9,
           (double)leaf_max / 1e9, (double)root_cpu / 1e9, (double)total / 1e9,
           (double)biggest / 1e6, v[0] ? (double)wire_bytes(v[0]) / 1e6 : 0.0,
           al_get_memory_stats(&st) == AL_OK ? (double)st.peak_bytes / 1e6 : 0.0);
    al_job_view_free(v[0]);
    free(v);
    free(all);
    free(r);
    free(files);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "load") == 0 && argc > 2)
        bench_load(argv[2], argc > 3 ? atoi(argv[3]) : 3);
    else if (strcmp(mode, "diagnose") == 0)
        bench_diagnose(argc > 2 ? atoi(argv[2]) : 50);
    else if (strcmp(mode, "merge") == 0 && argc > 3 && rank == 0)
        bench_merge(atoi(argv[2]), atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 3);
    else if (strcmp(mode, "tree") == 0 && argc > 3 && rank == 0)
        bench_tree(atoi(argv[2]), atoi(argv[3]));
    else if (rank == 0)
        fprintf(stderr, "usage: bench_mpi load FILE [REPEATS] | diagnose [REPEATS] | "
                        "merge RANKS SITES [REPEATS] | tree RANKS SITES\n");
    MPI_Finalize();
    return 0;
}
