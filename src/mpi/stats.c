/* al_mpi_memory_stats: every rank's al_memory_stats gathered to the root, each field reduced
 * there to its min, max, sum and the rank of the max (an MPI_Gather of 14 doubles a rank: the
 * root sees every rank's figures, which MPI_MAXLOC alone would not give for min and sum). */
#include <stddef.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "astrolab/format.h"
#include "mpi/mpi_int.h"

/* The fields, in the order of both structs; the first 11 are uint64_t, the rest double. */
static const struct {
    const char *name;
    size_t in;  /* offsetof in al_memory_stats */
    size_t out; /* offsetof in al_mpi_job_stats */
} fields[] = {
#define F(x)                                                                                       \
    {                                                                                              \
#x, offsetof(al_memory_stats, x), offsetof(al_mpi_job_stats, x)                            \
    }
    F(current_bytes),
    F(peak_bytes),
    F(live_blocks),
    F(total_allocations),
    F(total_frees),
    F(rss_bytes),
    F(peak_rss_bytes),
    F(cuda_allocated_bytes),
    F(cuda_reserved_bytes),
    F(cuda_peak_allocated_bytes),
    F(errors),
    F(current_mb),
    F(peak_mb),
    F(cuda_memory_allocated),
#undef F
};
#define N_FIELDS (sizeof fields / sizeof *fields)
#define N_U64 11

static double field(const al_memory_stats *s, size_t i)
{
    const char *p = (const char *)s + fields[i].in;
    return i < N_U64 ? (double)*(const uint64_t *)p : *(const double *)p;
}

int al_mpi_memory_stats(MPI_Comm comm, int root, al_mpi_job_stats *out)
{
    int rank = 0, size = 1;
    int rc = ali_mpi_where(comm, &rank, &size, NULL);
    if (rc != AL_OK)
        return rc;
    al_memory_stats s;
    double mine[N_FIELDS], *all = NULL;
    if (root < 0 || root >= size || (rank == root && !out))
        rc = AL_EINVAL;
    else if ((rc = al_get_memory_stats(&s)) == AL_OK)
        for (size_t i = 0; i < N_FIELDS; i++)
            mine[i] = field(&s, i);
    if (rc == AL_OK && rank == root && !(all = AL_NEW_ARRAY(double, (size_t)size *N_FIELDS)))
        rc = AL_ENOMEM;
    if ((rc = al_mpi_agree(comm, rc, NULL)) == AL_OK)
        rc = ali_mpi_check(MPI_Gather(mine, (int)N_FIELDS, MPI_DOUBLE, all, (int)N_FIELDS,
                                      MPI_DOUBLE, root, comm),
                           "MPI_Gather", NULL);
    if (rc == AL_OK && rank == root) {
        out->ranks = size;
        for (size_t i = 0; i < N_FIELDS; i++) {
            al_mpi_stat *f = (al_mpi_stat *)((char *)out + fields[i].out);
            *f = (al_mpi_stat){all[i], all[i], 0, 0};
            for (int r = 0; r < size; r++) {
                double v = all[(size_t)r * N_FIELDS + i];
                f->sum += v;
                if (v < f->min)
                    f->min = v;
                if (v > f->max)
                    f->max = v, f->max_rank = r;
            }
        }
    }
    al_free(all);
    return rc;
}

char *al_mpi_memory_stats_json(const al_mpi_job_stats *s)
{
    if (!s)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "ranks", s->ranks);
    for (size_t i = 0; ok && i < N_FIELDS; i++) {
        const al_mpi_stat *f = (const al_mpi_stat *)((const char *)s + fields[i].out);
        cJSON *e = cJSON_AddObjectToObject(o, fields[i].name);
        ok = e && cJSON_AddNumberToObject(e, "min", f->min) &&
             cJSON_AddNumberToObject(e, "max", f->max) &&
             cJSON_AddNumberToObject(e, "sum", f->sum) &&
             cJSON_AddNumberToObject(e, "max_rank", f->max_rank);
    }
    /* Printed by cJSON, then as the library prints every document (al_json_format: shortest
     * exact numbers), since its own printer is hidden inside libastrolab. */
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    char *out = text ? al_json_format(text, 0, NULL) : NULL;
    free(text);
    return out;
}
