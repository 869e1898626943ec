/* One dictionary for the whole job: al_mpi_optimize_memory's dictionary encoding of a string
 * entry. Each rank collects its part's distinct values (a small hash set, given up past
 * dict_max_unique), the ranks exchange them (MPI_Allgatherv), and every rank sorts the union
 * the same way, so that the same string has the same code on every rank and a gather of the
 * parts' codes means one thing. The entry is encoded only when the job's codes and dictionary
 * take fewer bytes than the job's strings narrowed to their longest value, the rule
 * al_tensordict_optimize_memory applies to one process. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_int.h"

/* Distinct values of a part: pointers to their first w bytes in the part's storage. */
typedef struct strset {
    const char **slots;
    size_t cap, count, max;
    size_t w;
} strset;

static uint64_t hash(const char *s, size_t w)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < w; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Adds s; returns 0, or 1 once the set holds more than max values (it stops growing). */
static int strset_add(strset *set, const char *s)
{
    size_t i = (size_t)hash(s, set->w) & (set->cap - 1);
    while (set->slots[i]) {
        if (memcmp(set->slots[i], s, set->w) == 0)
            return 0;
        i = (i + 1) & (set->cap - 1);
    }
    if (set->count == set->max)
        return 1;
    set->slots[i] = s;
    set->count++;
    return 0;
}

static int compare_w(const void *a, const void *b, void *w)
{
    return memcmp(a, b, *(const size_t *)w);
}

/* The part's distinct values, sorted, as count * w bytes in *out (tracked; NULL when none);
 * *too_many when the part alone has more than max. */
static int part_values(const al_tensor *t, size_t w, size_t max, char **out, uint64_t *count,
                       int *too_many, al_error *err)
{
    int64_t n = al_tensor_numel(t);
    size_t width = al_tensor_itemsize(t), cap = 16;
    size_t want = (size_t)n < max ? (size_t)n : max;
    while (cap < 2 * (want + 1))
        cap *= 2;
    strset set = {AL_NEW_ARRAY(const char *, cap), cap, 0, want, w};
    *out = NULL;
    *count = 0;
    *too_many = 0;
    if (!set.slots)
        return al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory for %zu values",
                            cap);
    const char *p = al_tensor_data(t);
    for (int64_t i = 0; i < n && !*too_many; i++)
        *too_many = strset_add(&set, p + (size_t)i * width);
    int rc = AL_OK;
    if (!*too_many && set.count) {
        char *v = al_malloc(set.count * w);
        if (!v)
            rc = al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory");
        for (size_t i = 0, k = 0; v && i < set.cap; i++)
            if (set.slots[i])
                memcpy(v + w * k++, set.slots[i], w);
        if (v)
            qsort_r(v, set.count, w, compare_w, &w);
        *out = v;
        *count = v ? set.count : 0;
    }
    al_free(set.slots);
    return rc;
}

/* Sorts and deduplicates n values of w bytes in place; returns how many remain. */
static size_t sort_unique(char *v, size_t n, size_t w)
{
    if (n == 0)
        return 0;
    qsort_r(v, n, w, compare_w, &w);
    size_t u = 1;
    for (size_t i = 1; i < n; i++)
        if (memcmp(v + i * w, v + (u - 1) * w, w) != 0)
            memmove(v + u++ * w, v + i * w, w);
    return u;
}

/* Index of value s (w bytes) in the sorted dictionary dict of u values; s is there. */
static size_t find(const char *s, const char *dict, size_t u, size_t w)
{
    size_t lo = 0, hi = u;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(dict + mid * w, s, w) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* t's codes into the sorted dictionary dict of u values, as a new tensor of t's shape. */
static al_tensor *codes_of(const al_tensor *t, const char *dict, size_t u, size_t w, al_error *err)
{
    al_dtype d = u <= 256 ? AL_DTYPE_UINT8 : u <= 65536 ? AL_DTYPE_UINT16 : AL_DTYPE_UINT32;
    al_tensor *c = al_tensor_new(d, al_tensor_ndim(t), al_tensor_shape(t), AL_CPU, err);
    if (!c)
        return NULL;
    const char *p = al_tensor_data(t);
    size_t width = al_tensor_itemsize(t);
    char *out = al_tensor_data(c);
    for (int64_t i = 0, n = al_tensor_numel(t); i < n; i++) {
        uint32_t code = (uint32_t)find(p + (size_t)i * width, dict, u, w);
        if (d == AL_DTYPE_UINT8)
            ((uint8_t *)out)[i] = (uint8_t)code;
        else if (d == AL_DTYPE_UINT16)
            ((uint16_t *)out)[i] = (uint16_t)code;
        else
            ((uint32_t *)out)[i] = code;
    }
    return c;
}

/* The job's sorted distinct values, gathered from every rank's part (all_values, u of them);
 * *too_many when any part, or the union, has more than max. Collective. */
static int job_values(const char *mine, uint64_t count, int part_too_many, size_t w, size_t max,
                      int rc, MPI_Comm comm, char **all_values, size_t *u, int *too_many,
                      al_error *err)
{
    int rank, size;
    *all_values = NULL;
    *u = 0;
    if ((rc = al_mpi_agree(comm, rc, err)) != AL_OK ||
        (rc = ali_mpi_where(comm, &rank, &size, err)))
        return rc;
    /* A part too large to send as an int count of bytes counts as too many values. */
    int bytes = count * w <= (uint64_t)INT_MAX / (unsigned)size ? (int)(count * w) : -1;
    int flag = part_too_many || bytes < 0;
    if ((rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, comm),
                            "MPI_Allreduce", err)) != AL_OK)
        return rc;
    *too_many = flag;
    if (flag)
        return AL_OK;
    int *counts = AL_NEW_ARRAY(int, 2 * (size_t)size);
    rc = counts ? AL_OK : al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory");
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Allgather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, comm),
                           "MPI_Allgather", err);
    size_t total = 0;
    for (int r = 0; rc == AL_OK && r < size; r++) {
        counts[size + r] = (int)total; /* displacements; the sum fits: each is below INT_MAX/size */
        total += (size_t)counts[r];
    }
    char *all = rc == AL_OK ? al_malloc(total + 1) : NULL;
    if (rc == AL_OK && !all)
        rc = al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory for %zu bytes",
                          total);
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Allgatherv(mine, bytes, MPI_BYTE, all, counts, counts + size,
                                          MPI_BYTE, comm),
                           "MPI_Allgatherv", err);
    al_free(counts);
    if (rc != AL_OK) {
        al_free(all);
        return rc;
    }
    *u = sort_unique(all, total / w, w);
    *too_many = *u > max;
    *all_values = all;
    return AL_OK;
}

int ali_mpi_dictionary(const al_tensor *t, size_t w, const al_optimize_options *o, int rc,
                       MPI_Comm comm, al_tensor **codes, al_tensor **dict, al_error *err)
{
    *codes = *dict = NULL;
    size_t max = o->dict_max_unique ? (size_t)o->dict_max_unique : 65536;
    char *mine = NULL, *all = NULL;
    uint64_t count = 0, job_n[1] = {rc == AL_OK ? (uint64_t)al_tensor_numel(t) : 0};
    int part_too_many = 0, too_many = 0;
    size_t u = 0;
    if (rc == AL_OK)
        rc = part_values(t, w, max, &mine, &count, &part_too_many, err);
    rc = job_values(mine, count, part_too_many, w, max, rc, comm, &all, &u, &too_many, err);
    al_free(mine);
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, job_n, 1, MPI_UINT64_T, MPI_SUM, comm),
                           "MPI_Allreduce", err);
    /* Every rank has the same u, job_n and too_many here: the decision is the same on all. */
    size_t code = u <= 256 ? 1 : u <= 65536 ? 2 : 4;
    if (rc == AL_OK && !too_many && u > 0 && job_n[0] * code + u * w < job_n[0] * w) {
        *dict = al_tensor_new_string(1, (int64_t[]){(int64_t)u}, w, AL_CPU, err);
        if (*dict) {
            memcpy(al_tensor_data(*dict), all, u * w);
            *codes = codes_of(t, all, u, w, err);
        }
        if (!*codes) {
            al_tensor_free(*dict);
            *dict = NULL;
            rc = err && err->code ? err->code : AL_ENOMEM;
        }
    }
    al_free(all);
    return rc;
}
