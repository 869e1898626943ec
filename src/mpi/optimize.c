/* al_mpi_optimize_memory: the lossless narrowings of al_tensordict_optimize_memory decided from
 * the job's statistics, so that every rank's part of a table ends with the same dtypes (a
 * gather of parts of different types would be wrong). Per direct entry each rank computes its
 * part's figures (integer range, float32 round trip, longest string); one MPI_Allreduce per
 * kind combines them; every rank then converts with the public tensor calls. String entries
 * are dictionary-encoded with one dictionary for the job when that is smaller (dictionary.c). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "astrolab/log.h"
#include "mpi/mpi_int.h"

/* Longest entry key narrowed (escaped); longer ones stay as they are. */
#define KEY_MAX 1024

/* One entry's local figures; reduced with MIN (lo, ok) or MAX (hi, width, binary). */
typedef struct figures {
    int64_t lo;      /* smallest integer (0 when none is negative) */
    uint64_t hi;     /* largest integer (0 when none is positive) */
    int64_t ok;      /* float64: every value round-trips through float32 (or is within tol) */
    uint64_t width;  /* strings: the longest value */
    uint64_t binary; /* strings: a NUL inside a value */
} figures;

static void int_range(const al_tensor *t, figures *f)
{
    const char *p = al_tensor_data(t);
    int64_t n = al_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = 0;
        uint64_t u = 0;
        switch (al_tensor_dtype(t)) {
        case AL_DTYPE_INT8:
            v = ((const int8_t *)p)[i];
            break;
        case AL_DTYPE_INT16:
            v = ((const int16_t *)p)[i];
            break;
        case AL_DTYPE_INT32:
            v = ((const int32_t *)p)[i];
            break;
        case AL_DTYPE_INT64:
            v = ((const int64_t *)p)[i];
            break;
        case AL_DTYPE_UINT8:
            u = ((const uint8_t *)p)[i];
            break;
        case AL_DTYPE_UINT16:
            u = ((const uint16_t *)p)[i];
            break;
        case AL_DTYPE_UINT32:
            u = ((const uint32_t *)p)[i];
            break;
        default:
            u = ((const uint64_t *)p)[i];
            break;
        }
        if (v < 0 && v < f->lo)
            f->lo = v;
        if (v > 0)
            u = (uint64_t)v;
        if (u > f->hi)
            f->hi = u;
    }
}

static int64_t floats_fit(const al_tensor *t, const al_optimize_options *o)
{
    const double *p = al_tensor_data(t);
    for (int64_t i = 0, n = al_tensor_numel(t); i < n; i++) {
        double v = p[i], back = (double)(float)v;
        if (isnan(v) || back == v)
            continue;
        if (!o->lossy_float || !(fabs(back - v) <= o->tolerance * fabs(v)))
            return 0;
    }
    return 1;
}

static void string_width(const al_tensor *t, figures *f)
{
    const char *p = al_tensor_data(t);
    size_t w = al_tensor_itemsize(t);
    for (int64_t i = 0, n = al_tensor_numel(t); i < n; i++, p += w) {
        size_t len = strnlen(p, w);
        if (len > f->width)
            f->width = len;
        for (size_t k = len; k < w && !f->binary; k++)
            f->binary = p[k] != 0;
    }
}

static int is_int(al_dtype d) { return d >= AL_DTYPE_INT8 && d <= AL_DTYPE_UINT64; }

/* A narrowed copy of t as the job's figures f allow, or NULL with *same = 1 when none. */
static al_tensor *narrowed(const al_tensor *t, const figures *f, const al_optimize_options *o,
                           int *same, al_error *err)
{
    al_dtype d = al_tensor_dtype(t);
    *same = 1;
    if (is_int(d) && (o->passes & AL_OPTIMIZE_NARROW_INT)) {
        al_dtype to = al_dtype_narrowest_int(d, f->lo, f->hi);
        if (to != d)
            return *same = 0, al_tensor_to_dtype(t, to, err);
    } else if (d == AL_DTYPE_FLOAT64 && f->ok &&
               ((o->passes & AL_OPTIMIZE_NARROW_FLOAT) || o->lossy_float)) {
        /* By hand: al_tensor_to_dtype refuses a conversion that changes values (lossy_float). */
        al_tensor *n = al_tensor_new(AL_DTYPE_FLOAT32, al_tensor_ndim(t), al_tensor_shape(t),
                                     al_tensor_device(t), err);
        *same = 0;
        const double *src = al_tensor_data(t);
        float *dst = n ? al_tensor_data(n) : NULL;
        for (int64_t i = 0, k = al_tensor_numel(t); dst && i < k; i++)
            dst[i] = (float)src[i];
        return n;
    } else if (d == AL_DTYPE_STRING && (o->passes & AL_OPTIMIZE_STRINGS) && !f->binary &&
               f->width < al_tensor_itemsize(t)) {
        size_t w = f->width ? (size_t)f->width : 1, from = al_tensor_itemsize(t);
        al_tensor *n = al_tensor_new_string(al_tensor_ndim(t), al_tensor_shape(t), w,
                                            al_tensor_device(t), err);
        *same = 0;
        if (n) {
            const char *src = al_tensor_data(t);
            char *dst = al_tensor_data(n);
            for (int64_t i = 0, k = al_tensor_numel(t); i < k; i++)
                memcpy(dst + (size_t)i * w, src + (size_t)i * from, w);
        }
        return n;
    }
    return NULL;
}

/* Every direct tensor entry's figures into f[0..n) (n = al_tensordict_len). AL_EINVAL for an
 * entry the optimizer cannot read in place (not contiguous, not on the CPU). */
static int local_figures(const al_tensordict *td, const al_optimize_options *o, figures *f,
                         size_t n, al_error *err)
{
    for (size_t i = 0; i < n; i++) {
        al_tensordict_entry e;
        f[i] = (figures){0, 0, 1, 0, 0};
        if (al_tensordict_entry_at(td, i, &e) != AL_OK || !e.tensor || e.dictionary)
            continue;
        const al_tensor *t = e.tensor;
        if (!al_tensor_is_contiguous(t) || al_tensor_device(t).type != AL_DEVICE_CPU)
            return al_error_set(err, AL_EINVAL,
                                "al_mpi_optimize_memory: entry '%s' is not a contiguous CPU "
                                "tensor",
                                e.name);
        al_dtype d = al_tensor_dtype(t);
        if (is_int(d))
            int_range(t, &f[i]);
        else if (d == AL_DTYPE_FLOAT64)
            f[i].ok = floats_fit(t, o);
        else if (d == AL_DTYPE_STRING)
            string_width(t, &f[i]);
    }
    return AL_OK;
}

/* The job's figures from every rank's; `rc` is this rank's status so far. Collective. */
static int reduce(figures *f, size_t n, int rc, MPI_Comm comm, al_error *err)
{
    /* Struct-of-fields into two arrays: int64 MIN (lo, ok), uint64 MAX (hi, width, binary). */
    int64_t *mins = rc == AL_OK ? AL_NEW_ARRAY(int64_t, 2 * n + 1) : NULL;
    uint64_t *maxs = rc == AL_OK ? AL_NEW_ARRAY(uint64_t, 3 * n + 1) : NULL;
    if (rc == AL_OK && (!mins || !maxs))
        rc = al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory for %zu entries",
                          n);
    for (size_t i = 0; rc == AL_OK && i < n; i++) {
        mins[2 * i] = f[i].lo, mins[2 * i + 1] = f[i].ok;
        maxs[3 * i] = f[i].hi, maxs[3 * i + 1] = f[i].width, maxs[3 * i + 2] = f[i].binary;
    }
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, mins, (int)(2 * n), MPI_INT64_T, MPI_MIN,
                                         comm),
                           "MPI_Allreduce", err);
    if (rc == AL_OK)
        rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, maxs, (int)(3 * n), MPI_UINT64_T, MPI_MAX,
                                         comm),
                           "MPI_Allreduce", err);
    for (size_t i = 0; rc == AL_OK && i < n; i++)
        f[i] =
            (figures){mins[2 * i], maxs[3 * i], mins[2 * i + 1], maxs[3 * i + 1], maxs[3 * i + 2]};
    al_free(mins);
    al_free(maxs);
    return rc;
}

/* The ranks agree on the entries: their count and each one's dtype and name length. */
static int same_entries(const al_tensordict *td, size_t n, MPI_Comm comm, al_error *err)
{
    uint64_t sig = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) != AL_OK)
            continue;
        for (const char *p = e.name; *p; p++)
            sig = (sig ^ (unsigned char)*p) * 1099511628211ull;
        sig = (sig ^ (e.tensor ? (uint64_t)al_tensor_dtype(e.tensor) + 1 : 0)) * 1099511628211ull;
    }
    uint64_t span[2] = {sig, ~sig};
    int rc = ali_mpi_check(MPI_Allreduce(MPI_IN_PLACE, span, 2, MPI_UINT64_T, MPI_MAX, comm),
                           "MPI_Allreduce", err);
    if (rc == AL_OK && span[0] != ~span[1])
        rc = al_error_set(err, AL_EINVAL,
                          "al_mpi_optimize_memory: the ranks' tensordicts hold "
                          "different entries or dtypes");
    return rc;
}

static uint64_t bytes_of(const al_tensordict *td, size_t n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < n; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) == AL_OK && e.tensor)
            b += al_tensor_nbytes(e.tensor);
    }
    return b;
}

/* Entry i's escaped key into key (KEY_MAX bytes) and its entry into *e; false for an entry
 * left as it is on every rank alike (a nested tensordict, an encoded entry, a key this long). */
static bool entry_key(const al_tensordict *td, size_t i, al_tensordict_entry *e, char *key)
{
    return al_tensordict_entry_at(td, i, e) == AL_OK && e->tensor && !e->dictionary &&
           al_tensordict_key_escape(e->name, key, KEY_MAX) < KEY_MAX;
}

/* A string entry that may be dictionary-encoded: the same answer on every rank (the entries'
 * dtypes agree and f holds the job's figures). */
static bool dict_candidate(const al_tensor *t, const figures *f, const al_optimize_options *o)
{
    return al_tensor_dtype(t) == AL_DTYPE_STRING && (o->passes & AL_OPTIMIZE_STRINGS) && !f->binary;
}

/* Replaces every entry i that has a built[i] (with dicts[i] when encoded); rc is the job's
 * status so far (the same on every rank). Every rank first takes views of the tensors it will
 * replace; when replacing fails on any rank (al_tensordict_set can run out of memory for its
 * view), every rank puts back what it had replaced, so that the parts keep the same types on
 * every rank and the next call starts from agreeing tables. Only a put-back that runs out of
 * memory too leaves an entry narrowed (its values kept). Collective. */
static int commit(al_tensordict *td, al_tensor **built, al_tensor **dicts, size_t n, int rc,
                  MPI_Comm comm, al_error *err)
{
    al_tensor **old = rc == AL_OK ? AL_NEW_ARRAY(al_tensor *, n + 1) : NULL;
    if (rc == AL_OK && !old)
        rc = al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory");
    char key[KEY_MAX];
    al_tensordict_entry e;
    for (size_t i = 0; rc == AL_OK && i < n; i++)
        if (built[i] && entry_key(td, i, &e, key) && !(old[i] = al_tensor_view(e.tensor, err)))
            rc = err && err->code ? err->code : AL_ENOMEM;
    bool started = (rc = al_mpi_agree(comm, rc, err)) == AL_OK;
    size_t done = 0;
    for (; rc == AL_OK && done < n; done++)
        if (built[done] && entry_key(td, done, &e, key))
            rc = dicts[done]
                     ? al_tensordict_set_encoded(td, key, built[done], dicts[done], e.flags, err)
                     : al_tensordict_set(td, key, built[done], e.flags, err);
    if (started && (rc = al_mpi_agree(comm, rc, err)) != AL_OK)
        for (size_t i = 0; i < done; i++) /* an entry now encoded is no entry_key: by name */
            if (old[i] && al_tensordict_entry_at(td, i, &e) == AL_OK &&
                al_tensordict_key_escape(e.name, key, KEY_MAX) < KEY_MAX)
                /* Out of memory again: this entry stays narrowed, as the header says. */
                (void)!al_tensordict_set(td, key, old[i], e.flags, NULL);
    for (size_t i = 0; old && i < n; i++)
        al_tensor_free(old[i]);
    al_free(old);
    return rc;
}

/* Builds every encoded or narrowed tensor (built[i], with dicts[i] when encoded; NULL when
 * unchanged), then replaces the entries; *after gets the entries' bytes as they are (dry run:
 * would be) afterwards. Collective: the dictionary pass runs in step on every rank. */
static int apply(al_tensordict *td, const figures *f, size_t n, const al_optimize_options *o,
                 MPI_Comm comm, size_t *changed, uint64_t *after, al_error *err)
{
    al_tensor **built = AL_NEW_ARRAY(al_tensor *, 2 * n + 1), **dicts = built ? built + n : NULL;
    int rc = built ? AL_OK : al_error_set(err, AL_ENOMEM, "al_mpi_optimize_memory: out of memory");
    rc = al_mpi_agree(comm, rc, err);
    char key[KEY_MAX];
    al_tensordict_entry e;
    *changed = 0;
    /* The dictionary pass runs on every rank or on none: rc is the same everywhere after the
     * agree above. Inside it each call takes part whatever this rank's rc (a rank that failed
     * in one entry's pass still joins the next entry's collectives). Keying the loop on this
     * rank's `built` instead let the other ranks wait in the pass's collectives while a rank
     * whose array failed went on to its next call's (tests/mpi/mpi_dict_fault.c). */
    bool pass = rc == AL_OK;
    for (size_t i = 0; pass && i < n; i++)
        if (entry_key(td, i, &e, key) && dict_candidate(e.tensor, &f[i], o))
            rc = ali_mpi_dictionary(e.tensor, f[i].width ? (size_t)f[i].width : 1, o, rc, comm,
                                    &built[i], &dicts[i], err);
    for (size_t i = 0; rc == AL_OK && i < n; i++) {
        if (!entry_key(td, i, &e, key))
            continue;
        int same = !built[i];
        if (same)
            built[i] = narrowed(e.tensor, &f[i], o, &same, err);
        if (!same && !built[i])
            rc = err && err->code ? err->code : AL_ENOMEM;
        *changed += !same;
        *after += al_tensor_nbytes(built[i] ? built[i] : e.tensor) +
                  (dicts[i] ? al_tensor_nbytes(dicts[i]) : 0);
    }
    rc = al_mpi_agree(comm, rc, err);
    if (!o->dry_run)
        rc = commit(td, built, dicts, n, rc, comm, err);
    for (size_t i = 0; built && i < 2 * n; i++)
        al_tensor_free(built[i]);
    al_free(built);
    return rc;
}

int al_mpi_optimize_memory(al_tensordict *td, const al_optimize_options *opts, MPI_Comm comm,
                           al_mpi_optimize_report *report)
{
    al_optimize_options o;
    if (opts)
        o = *opts;
    else
        al_optimize_options_init(&o);
    al_error err;
    al_error_clear(&err);
    size_t n = td ? al_tensordict_len(td) : 0, changed = 0;
    figures *f = td ? AL_NEW_ARRAY(figures, n + 1) : NULL;
    int rc = !td ? AL_EINVAL : !f ? AL_ENOMEM : AL_OK;
    uint64_t figs[2] = {td ? bytes_of(td, n) : 0, 0}, job[2] = {0, 0};
    if ((rc = al_mpi_agree(comm, rc, &err)) == AL_OK &&
        (rc = same_entries(td, n, comm, &err)) == AL_OK) { /* the same on every rank */
        rc = reduce(f, n, local_figures(td, &o, f, n, &err), comm, &err);
        if (rc == AL_OK)
            rc = apply(td, f, n, &o, comm, &changed, &figs[1], &err);
        if (rc == AL_OK)
            rc = ali_mpi_check(MPI_Allreduce(figs, job, 2, MPI_UINT64_T, MPI_SUM, comm),
                               "MPI_Allreduce", &err);
    }
    al_free(f);
    if (rc == AL_OK && report)
        *report = (al_mpi_optimize_report){figs[0], figs[1], job[0], job[1], changed};
    else if (rc != AL_OK) /* the call has no al_error (SPEC §9): the logger says what failed */
        al_log(AL_LOG_ERROR, "astrolab.mpi", "al_mpi_optimize_memory: %s",
               err.message[0] ? err.message : al_strerror(rc));
    return rc;
}
