/* AstroLab under MPI: partitioned catalogs and one memory view of a whole job (libastrolab_mpi).
 *
 * A separate library, built where CMake finds MPI, linked as -lastrolab_mpi -lastrolab
 * (`pkg-config astrolab-mpi`, or find_package(astrolab COMPONENTS mpi) and the target
 * astrolab::astrolab_mpi). libastrolab itself never needs MPI. Every rank of a job runs its
 * own memory manager; these calls combine them with MPI's own collectives.
 *
 *     MPI_Init(&argc, &argv);
 *     al_error err;
 *     al_tensordict *td = al_mpi_survey_load("gaia.csv", NULL, MPI_COMM_WORLD, &err);
 *     if (!td)  // on every rank, when any rank failed: no rank waits for another
 *         fprintf(stderr, "%s\n", err.message);
 *     int64_t first;                    // this rank's rows are first .. first + rows - 1
 *     (void)!al_mpi_first_row(td, MPI_COMM_WORLD, &first, &err);
 *     ...
 *     al_survey_free(td);
 *     MPI_Finalize();
 *
 * Collective calls. Every function here that takes a communicator is collective: every rank of
 * `comm` calls it, in the same order, with the same root and path. Each one agrees on success
 * (al_mpi_agree, an MPI_Allreduce) before every collective step, so when one rank fails (out of
 * memory, a bad file, ASTROLAB_FAIL_AFTER) every rank returns an error from the same call: the
 * failing rank its own, the others AL_EPEER with "rank N: <its message>" in err. A failed call
 * leaves no rank's data changed and no block leaked. A rank that dies (killed, crashed) is
 * MPI's to handle: Open MPI's mpirun ends the job and names the rank.
 *
 * Threads. Call these from one thread per rank (MPI_THREAD_FUNNELED is enough); they use the
 * communicator as MPI allows, never concurrently with other calls on the same communicator. */
#ifndef ASTROLAB_MPI_H
#define ASTROLAB_MPI_H

#include <mpi.h>    /* MPI_Comm */
#include <stdint.h> /* int64_t, uint64_t */

#include "astrolab/defs.h"    /* AL_API and attributes */
#include "astrolab/error.h"   /* al_error, AL_EMPI, AL_EPEER */
#include "astrolab/job.h"     /* al_job_view: the job's diagnosis */
#include "astrolab/memory.h"  /* al_memory_stats */
#include "astrolab/survey.h"  /* al_survey_options */
#include "astrolab/tensors.h" /* al_tensordict, al_optimize_options */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Agreement: the rule every call below follows, for the caller's own steps too. --------
 */

/* Collective. Combines every rank's `rc` (AL_OK or an AL_E* code): AL_OK when all are AL_OK.
 * Else a rank that failed gets its own rc back (err as it left it), and every other rank
 * AL_EPEER, with the lowest failing rank's message quoted in err ("rank 2: gaia.csv: out of
 * memory ..."). `err` may be NULL. AL_EMPI when MPI itself fails. One MPI_Allreduce, and an
 * MPI_Bcast of the message when a rank failed. */
AL_API AL_NODISCARD int al_mpi_agree(MPI_Comm comm, int rc, al_error *err);

/* -------- Partitioned catalogs. -------- */

/* Collective. Loads this rank's part of the table at `path` (read by every rank: a shared file
 * system) into a new tensordict, as al_survey_load would load the whole and cut it: contiguous,
 * balanced parts in rank order (rank r of P gets rows [r*N/P, (r+1)*N/P) of a FITS table's N;
 * a CSV file is cut into P byte ranges, each moved to the start of a record, quoted newlines
 * respected), so that the parts concatenated in rank order equal the whole load value by value.
 * Every rank gets the same entries, dtypes, string widths and metadata (al_survey_info): CSV
 * types are agreed from every part's values (a column with an "x" on one rank is a string
 * column on all); every column that is not floating-point has its "_null.<key>" mask on every
 * rank (opts->null_masks is implied). `opts` may be NULL; its row range selects rows of the
 * whole table, for FITS only (a CSV row range is AL_EUNSUPPORTED: cut the loaded parts instead),
 * and csv_byte_start/stop and csv_types are the partition's own (AL_EINVAL when set). A CSV
 * file must not hold a '"' inside a comment line or an unquoted field (the cut counts quotes).
 * Free the result with al_survey_free. NULL on every rank when any rank failed (see above). */
AL_API AL_NODISCARD al_tensordict *
al_mpi_survey_load(const char *path, const al_survey_options *opts, MPI_Comm comm, al_error *err);

/* Collective. *first gets the global index of the first row of this rank's `td` in the rank-order
 * concatenation of every rank's td (an MPI_Exscan of batch sizes): for a part from
 * al_mpi_survey_load, its first row in the file's table. AL_OK, AL_EINVAL (NULL td or first,
 * on any rank), AL_EMPI, AL_EPEER. */
AL_API AL_NODISCARD int al_mpi_first_row(const al_tensordict *td, MPI_Comm comm, int64_t *first,
                                         al_error *err);

/* Collective. Writes one FITS file at `path` (the same on every rank, on a file system every
 * rank sees) holding every rank's td in rank order, as al_survey_save_fits would write their
 * concatenation: the same columns, types, units, roles, null masks and survey name. Each rank
 * writes its own rows at their offset, in parallel; the file is written under a temporary name
 * beside `path` and renamed over it only once every rank has written and flushed, so a failure
 * on any rank leaves an existing `path` as it was. The ranks' tds must hold the same entries
 * with the same dtypes and string widths (as al_mpi_survey_load and al_mpi_optimize_memory
 * leave them), else AL_EINVAL. AL_OK, or on every rank: AL_EINVAL, AL_EIO, AL_ETYPE, AL_ENOMEM,
 * AL_EMPI, AL_EPEER (err filled). */
AL_API AL_NODISCARD int al_mpi_survey_save_fits(const al_tensordict *td, const char *path,
                                                MPI_Comm comm, al_error *err);

/* What al_mpi_optimize_memory did: this rank's bytes and the job's. */
typedef struct al_mpi_optimize_report {
    uint64_t bytes_before;     /* this rank's tensor bytes before (direct entries) */
    uint64_t bytes_after;      /* after */
    uint64_t job_bytes_before; /* summed over the ranks */
    uint64_t job_bytes_after;
    size_t n_changed; /* entries narrowed (the same on every rank) */
} al_mpi_optimize_report;

/* Collective. Narrows the direct tensor entries of every rank's part of a partitioned table the
 * same way, from the job's statistics (MPI_Allreduce per entry), never from a part's alone:
 * integers to the narrowest type holding the job's range (al_dtype_narrowest_int), float64 to
 * float32 where every rank's values round-trip exactly (or, with opts->lossy_float, stay within
 * opts->tolerance), fixed-width strings to the job's longest value (strings holding NUL bytes
 * inside are left alone), or dictionary-encoded with one dictionary for the job (the union of
 * every rank's distinct values, sorted: a code means the same string on every rank) when the
 * job has at most opts->dict_max_unique distinct values and the codes and dictionary take
 * fewer bytes than the narrowed strings. The passes of opts (NULL: lossless defaults) choose
 * which; dry_run decides and reports without changing anything. Every
 * rank's td must hold the same entries with the same dtypes (as al_mpi_survey_load gives).
 * `report` may be NULL. AL_OK; on failure (AL_EINVAL: entries that differ between ranks;
 * AL_ENOMEM, AL_EMPI, AL_EPEER) every rank returns the error and no td has changed: every new
 * tensor is built first, and when replacing the entries fails on any rank, every rank puts
 * back those it had replaced. Only when putting one back runs out of memory too does that
 * entry stay narrowed on that rank, its values unchanged. On failure each rank also logs what
 * failed (logger "astrolab.mpi", level ERROR): the rank that ran out names the allocation, the
 * others the rank that failed. */
AL_API AL_NODISCARD int al_mpi_optimize_memory(al_tensordict *td, const al_optimize_options *opts,
                                               MPI_Comm comm, al_mpi_optimize_report *report);

/* -------- One view of the job's memory. -------- */

/* One al_memory_stats field over the ranks. Byte counts are carried as doubles: exact up to
 * 2^53 (8 PiB). */
typedef struct al_mpi_stat {
    double min;   /* smallest value on a rank */
    double max;   /* largest */
    double sum;   /* over every rank */
    int max_rank; /* the (lowest) rank holding max */
} al_mpi_stat;

/* Every field of al_memory_stats (<astrolab/memory.h>), over the ranks of a communicator. */
typedef struct al_mpi_job_stats {
    int ranks; /* ranks combined */
    al_mpi_stat current_bytes;
    al_mpi_stat peak_bytes;
    al_mpi_stat live_blocks;
    al_mpi_stat total_allocations;
    al_mpi_stat total_frees;
    al_mpi_stat rss_bytes;
    al_mpi_stat peak_rss_bytes;
    al_mpi_stat cuda_allocated_bytes;
    al_mpi_stat cuda_reserved_bytes;
    al_mpi_stat cuda_peak_allocated_bytes;
    al_mpi_stat errors;
    al_mpi_stat current_mb;
    al_mpi_stat peak_mb;
    al_mpi_stat cuda_memory_allocated;
} al_mpi_job_stats;

/* Collective. Gathers every rank's al_get_memory_stats to `root`, which gets each field's min,
 * max, sum and max_rank in *out; `out` is not touched on other ranks and may be NULL there.
 * AL_OK, AL_EINVAL (bad root, or NULL out on root), AL_EMPI, AL_EPEER. */
AL_API AL_NODISCARD int al_mpi_memory_stats(MPI_Comm comm, int root, al_mpi_job_stats *out);
/* {"ranks": n, "current_bytes": {"min", "max", "sum", "max_rank"}, ...: every field above}.
 * free() it; NULL when out of memory or s is NULL. */
AL_API AL_NODISCARD char *al_mpi_memory_stats_json(const al_mpi_job_stats *s);

/* The job's diagnosis: <astrolab/job.h>'s view (sites keyed file:line:function:tag with their
 * totals and ranks, on_every_rank, peak_rank, recommendations naming ranks). */
typedef al_job_view al_mpi_diagnosis;

/* Collective. Each rank's al_diagnose_memory_leaks (its top_consumers: raise
 * al_diagnosis_thresholds.top_consumers, 20 by default, to send more sites) and memory stats,
 * merged up a binary tree of the ranks to `root` (log2(P) rounds of al_job_merge_views, each
 * rank merging its subtree's views), equal to al_job_merge of every rank's sites at once. On
 * root the job's diagnosis, on the other
 * ranks an empty one (n_ranks 0); free either with al_mpi_diagnosis_free. NULL on every rank
 * when any rank failed (err filled: AL_ENOMEM, AL_EINVAL for a bad root, AL_EMPI, AL_EPEER). */
AL_API AL_NODISCARD al_mpi_diagnosis *al_mpi_diagnose(MPI_Comm comm, int root, al_error *err);
/* al_job_view_json of d. free() it; NULL when out of memory or d is NULL. */
AL_API AL_NODISCARD char *al_mpi_diagnosis_json(const al_mpi_diagnosis *d);
/* Frees d; NULL does nothing. */
AL_API void al_mpi_diagnosis_free(al_mpi_diagnosis *d);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_MPI_H */
