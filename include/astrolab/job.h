/* AstroLab jobs: one memory view of a job of many processes (the ranks of an MPI job), merged
 * from each process's figures and sites. libastrolab_mpi's al_mpi_diagnose gathers them with
 * MPI; `astrolab report merge r.*.json` reads them from the reports `astrolab run` wrote under
 * mpirun. Both call al_job_merge, which needs no MPI.
 *
 *     al_job_rank ranks[2] = {{.rank = 0, .peak_bytes = ..., .sites = s0, .n_sites = n0},
 *                             {.rank = 1, .peak_bytes = ..., .sites = s1, .n_sites = n1}};
 *     al_job_view *v = al_job_merge(ranks, 2, &err);
 *     char *json = al_job_view_json(v);  // sites with "ranks", "on_every_rank", "peak_rank"
 *     free(json);
 *     al_job_view_free(v);
 *
 * A site is a call site and tag: file:line:function:tag; the same key on several ranks is one
 * site of the job, with the totals of its ranks and the list of them. A site that every rank
 * holds is usually the program's design (or a leak in the path every rank takes); one that only
 * some ranks hold usually points to a code path only those ranks took: the recommendations tell
 * the two apart and name the ranks.
 *
 * Threads: al_job_merge keeps no state; a view may be read from several threads at once. */
#ifndef ASTROLAB_JOB_H
#define ASTROLAB_JOB_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "astrolab/defs.h"      /* AL_API and attributes */
#include "astrolab/diagnosis.h" /* al_severity */
#include "astrolab/error.h"     /* al_error */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Input: what each rank holds. Borrowed by al_job_merge for the call only. -------- */
typedef struct al_job_site {
    const char *file;     /* allocating file, or NULL */
    int line;             /* its line, or 0 */
    const char *function; /* allocating function, or NULL */
    const char *tag;      /* tag of the blocks, or NULL */
    uint64_t bytes;       /* live bytes */
    uint64_t count;       /* live blocks */
} al_job_site;

typedef struct al_job_rank {
    int rank;                 /* the rank's number, unique in the job, >= 0 */
    uint64_t current_bytes;   /* tracked bytes now (at exit for a report) */
    uint64_t peak_bytes;      /* highest tracked bytes */
    uint64_t peak_rss_bytes;  /* highest resident set size */
    const al_job_site *sites; /* its sites (leaks, or live memory); may be NULL with n_sites 0 */
    size_t n_sites;
} al_job_rank;

/* -------- Output: the job's view, owned by the caller until al_job_view_free. -------- */
typedef struct al_job_view_site {
    al_job_site site;   /* key, and bytes and count summed over its ranks (strings owned) */
    size_t n_ranks;     /* ranks holding it */
    int *ranks;         /* their numbers, ascending */
    int on_every_rank;  /* 1 when every rank of the job holds it */
    int max_rank;       /* the rank holding most of its bytes */
    uint64_t max_bytes; /* its bytes there */
} al_job_view_site;

typedef struct al_job_recommendation {
    al_severity severity;
    const char *code; /* "leak_on_some_ranks", "leak_on_every_rank", "memory_imbalance" */
    char *message;    /* names the site, bytes and ranks; owned by the view */
} al_job_recommendation;

typedef struct al_job_view {
    size_t n_ranks;          /* ranks merged */
    int peak_rank;           /* the rank with the highest peak_bytes (lowest on a tie) */
    uint64_t peak_bytes;     /* its peak */
    uint64_t current_bytes;  /* summed over ranks */
    uint64_t sum_peak_bytes; /* peaks summed: an upper bound of the job's simultaneous peak */
    al_job_rank *ranks;      /* per rank, ascending by rank, without sites (sites NULL) */
    al_job_view_site *sites; /* by bytes, largest first */
    size_t n_sites;
    al_job_recommendation *recommendations; /* most severe first */
    size_t n_recommendations;
} al_job_view;

/* Merges the n ranks' figures and sites into a new view (see above). NULL on failure with err
 * filled: AL_EINVAL (NULL ranks with n > 0, a negative or repeated rank), AL_ENOMEM. Time
 * O(total sites + job sites * log), memory O(job sites + total sites' ranks): 10,000 sites on
 * each of 1,000 ranks (10^7 entries) took 6.3 s of CPU on the development VM
 * (docs/PERFORMANCE.md, "MPI"). */
AL_API AL_NODISCARD al_job_view *al_job_merge(const al_job_rank *ranks, size_t n, al_error *err);
/* Merges views of disjoint sets of ranks (the partial views of a tree reduction, as
 * al_mpi_diagnose makes them) into a new view equal to al_job_merge of all their ranks' sites at
 * once; the views are only read. NULL on failure with err filled: AL_EINVAL (NULL views with
 * n > 0, a NULL view, a rank in two views), AL_ENOMEM. Time O(sites of the views + their ranks). */
AL_API AL_NODISCARD al_job_view *al_job_merge_views(const al_job_view *const *views, size_t n,
                                                    al_error *err);
/* {"ranks": n, "peak_rank", "peak_bytes", "current_bytes", "sum_peak_bytes", "per_rank":
 * [{"rank", "current_bytes", "peak_bytes", "peak_rss_bytes"}], "sites": [{"file", "line",
 * "function", "tag", "bytes", "count", "ranks": [...], "on_every_rank", "max_rank",
 * "max_bytes"}], "recommendations": [{"severity", "code", "message"}]}. free() it; NULL when out
 * of memory or v is NULL. */
AL_API AL_NODISCARD char *al_job_view_json(const al_job_view *v);
/* The view as text for a terminal: the peak rank, the sites with their ranks, the
 * recommendations. free() it; NULL when out of memory or v is NULL. */
AL_API AL_NODISCARD char *al_job_view_text(const al_job_view *v);
/* Frees v; NULL does nothing. */
AL_API void al_job_view_free(al_job_view *v);

/* -------- Where this process stands in a job, from its launcher's environment. -------- */

/* This process's rank: OMPI_COMM_WORLD_RANK (Open MPI's mpirun), PMI_RANK (MPICH, Intel MPI),
 * PMIX_RANK, or SLURM_PROCID (srun), the first one set to a number >= 0; -1 when none is (not
 * under MPI). Read on every call; thread-safe as getenv is. */
AL_API int al_job_rank_from_env(void);
/* The job's id: SLURM_JOB_ID, Open MPI's OMPI_MCA_ess_base_jobid, or PMIX_NAMESPACE, the first
 * one set; "" when none is. Borrowed from the environment (static ""). */
AL_API const char *al_job_id_from_env(void);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_JOB_H */
