/* al_mpi_diagnose: each rank's diagnosis (its top consumers) and memory figures, packed into
 * bytes, gathered to the root (MPI_Gatherv) and merged there by al_job_merge (src/job/). A
 * rank's record: rank, current, peak and peak RSS bytes, its site count; then per site its
 * line, bytes and count and the file, function and tag as NUL-terminated strings. */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_int.h"

typedef struct packer {
    char *buf;
    size_t len, cap;
} packer;

static int put(packer *p, const void *data, size_t n)
{
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n)
            cap *= 2;
        char *b = al_realloc(p->buf, cap);
        if (!b)
            return AL_ENOMEM;
        p->buf = b, p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    return AL_OK;
}

static int put_str(packer *p, const char *s) { return put(p, s ? s : "", strlen(s ? s : "") + 1); }

/* This rank's record. */
static int pack(packer *p, int rank)
{
    al_memory_stats st;
    int rc = al_get_memory_stats(&st);
    al_diagnosis *d = rc == AL_OK ? al_diagnose_memory_leaks() : NULL;
    if (!d)
        return rc == AL_OK ? AL_ENOMEM : rc;
    int32_t r = rank;
    uint64_t head[4] = {st.current_bytes, st.peak_bytes, st.peak_rss_bytes, d->n_top_consumers};
    rc = put(p, &r, sizeof r);
    if (rc == AL_OK)
        rc = put(p, head, sizeof head);
    for (size_t i = 0; rc == AL_OK && i < d->n_top_consumers; i++) {
        const al_diagnosis_site *s = &d->top_consumers[i];
        int32_t line = s->line;
        uint64_t fig[2] = {s->bytes, s->count};
        if ((rc = put(p, &line, sizeof line)) == AL_OK && (rc = put(p, fig, sizeof fig)) == AL_OK &&
            (rc = put_str(p, s->file)) == AL_OK && (rc = put_str(p, s->function)) == AL_OK)
            rc = put_str(p, s->tag);
    }
    al_diagnosis_free(d);
    return rc;
}

/* Reads `n` bytes at *at of [.., end) into out; false past the end. */
static int take(const char **at, const char *end, void *out, size_t n)
{
    if ((size_t)(end - *at) < n)
        return 0;
    memcpy(out, *at, n);
    *at += n;
    return 1;
}

static const char *take_str(const char **at, const char *end)
{
    const char *s = *at, *nul = memchr(s, 0, (size_t)(end - s));
    if (!nul)
        return NULL;
    *at = nul + 1;
    return s;
}

/* Rank records [all, all + len) into ranks[0..n) (sites arrays allocated, strings borrowed from
 * all); the ranks' sites are freed by the caller even on failure. */
static int unpack(const char *all, const int *lens, int n, al_job_rank *ranks, al_error *err)
{
    const char *at = all;
    for (int k = 0; k < n; k++) {
        const char *end = at + lens[k];
        int32_t r;
        uint64_t head[4];
        if (!take(&at, end, &r, sizeof r) || !take(&at, end, head, sizeof head) ||
            head[3] > (uint64_t)lens[k])
            return al_error_set(err, AL_EMPI, "al_mpi_diagnose: rank %d's record is cut", k);
        al_job_site *sites = AL_NEW_ARRAY(al_job_site, head[3] ? (size_t)head[3] : 1);
        if (!sites)
            return al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory");
        ranks[k] = (al_job_rank){r, head[0], head[1], head[2], sites, (size_t)head[3]};
        for (uint64_t i = 0; i < head[3]; i++) {
            int32_t line;
            uint64_t fig[2];
            al_job_site *s = &sites[i];
            if (!take(&at, end, &line, sizeof line) || !take(&at, end, fig, sizeof fig) ||
                !(s->file = take_str(&at, end)) || !(s->function = take_str(&at, end)) ||
                !(s->tag = take_str(&at, end)))
                return al_error_set(err, AL_EMPI, "al_mpi_diagnose: rank %d's record is cut", k);
            s->line = line, s->bytes = fig[0], s->count = fig[1];
        }
        at = end;
    }
    return AL_OK;
}

/* On the root: every rank's record merged. */
static al_job_view *merge(const char *all, const int *lens, int size, al_error *err)
{
    al_job_rank *ranks = AL_NEW_ARRAY(al_job_rank, (size_t)size);
    if (!ranks) {
        al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory for %d ranks", size);
        return NULL;
    }
    al_job_view *v = NULL;
    if (unpack(all, lens, size, ranks, err) == AL_OK)
        v = al_job_merge(ranks, (size_t)size, err);
    for (int k = 0; k < size; k++)
        al_free((void *)ranks[k].sites);
    al_free(ranks);
    return v;
}

al_mpi_diagnosis *al_mpi_diagnose(MPI_Comm comm, int root, al_error *err)
{
    int rank = 0, size = 1;
    if (ali_mpi_where(comm, &rank, &size, err) != AL_OK)
        return NULL;
    packer p = {0};
    int rc = root >= 0 && root < size
                 ? AL_OK
                 : al_error_set(err, AL_EINVAL, "al_mpi_diagnose: root %d of %d ranks", root, size);
    if (rc == AL_OK && (rc = pack(&p, rank)) != AL_OK)
        al_error_set(err, rc, "al_mpi_diagnose: rank %d: out of memory for its sites", rank);
    if (rc == AL_OK && p.len > (size_t)INT32_MAX)
        rc = al_error_set(err, AL_EOVERFLOW, "al_mpi_diagnose: %zu bytes of sites", p.len);
    int len = (int)p.len, *lens = NULL, *displs = NULL;
    if (rc == AL_OK && rank == root &&
        (!(lens = AL_NEW_ARRAY(int, (size_t)size)) || !(displs = AL_NEW_ARRAY(int, (size_t)size))))
        rc = al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory for %d ranks", size);
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, root, comm), "MPI_Gather",
                           err);
    char *all = NULL;
    if (rc == AL_OK && rank == root) {
        int64_t total = 0;
        for (int k = 0; k < size; k++)
            displs[k] = (int)total, total += lens[k];
        if (total > INT32_MAX)
            rc = al_error_set(err, AL_EOVERFLOW, "al_mpi_diagnose: %lld bytes of sites",
                              (long long)total);
        else if (!(all = al_malloc(total ? (size_t)total : 1)))
            rc = al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory for %lld bytes",
                              (long long)total);
    }
    if ((rc = al_mpi_agree(comm, rc, err)) == AL_OK)
        rc = ali_mpi_check(MPI_Gatherv(p.buf, len, MPI_BYTE, all, lens, displs, MPI_BYTE, root,
                                       comm),
                           "MPI_Gatherv", err);
    al_free(p.buf);
    al_job_view *v = NULL;
    if (rc == AL_OK)
        v = rank == root ? merge(all, lens, size, err) : al_job_merge(NULL, 0, err);
    if (rc == AL_OK && !v)
        rc = err && err->code ? err->code : AL_ENOMEM;
    al_free(all);
    al_free(lens);
    al_free(displs);
    if ((rc = al_mpi_agree(comm, rc, err)) != AL_OK) {
        al_job_view_free(v);
        return NULL;
    }
    return v;
}

char *al_mpi_diagnosis_json(const al_mpi_diagnosis *d) { return al_job_view_json(d); }

void al_mpi_diagnosis_free(al_mpi_diagnosis *d) { al_job_view_free(d); }
