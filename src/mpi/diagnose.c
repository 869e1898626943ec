/* al_mpi_diagnose: one view of the job's memory, merged up a binary tree of the ranks. Each
 * rank makes its own view from its diagnosis (its top consumers) and figures (al_job_merge of
 * one rank); in round k (step 2^k) a rank whose position below the root is an odd multiple of
 * the step sends its view to the rank one step nearer the root and is done, and that rank merges
 * it into its own (al_job_merge_views). After log2(P) rounds the root holds the job's view: the
 * merging is spread over the ranks, no rank holds more than its subtree's distinct sites, and
 * the root merges log2(P) views instead of P x sites records.
 *
 * A view on the wire: its per-rank records (rank, current, peak, peak RSS) and its sites (line,
 * bytes, count, max_bytes, max_rank, their ranks, and file, function and tag as NUL-terminated
 * strings). A rank that failed sends its error code in place of the length, so that its parent
 * never waits for a view that will not come; the failure goes up the tree and al_mpi_agree gives
 * it to every rank. */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_int.h"

enum { TAG_LEN = 0x41d1, TAG_READY = 0x41d2, TAG_VIEW = 0x41d3 };
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

static int put_u64(packer *p, uint64_t v) { return put(p, &v, sizeof v); }
static int put_i32(packer *p, int32_t v) { return put(p, &v, sizeof v); }

static int pack_view(packer *p, const al_job_view *v)
{
    int rc = put_u64(p, v->n_ranks);
    for (size_t k = 0; rc == AL_OK && k < v->n_ranks; k++) {
        const al_job_rank *r = &v->ranks[k];
        uint64_t fig[3] = {r->current_bytes, r->peak_bytes, r->peak_rss_bytes};
        if ((rc = put_i32(p, r->rank)) == AL_OK)
            rc = put(p, fig, sizeof fig);
    }
    if (rc == AL_OK)
        rc = put_u64(p, v->n_sites);
    for (size_t i = 0; rc == AL_OK && i < v->n_sites; i++) {
        const al_job_view_site *s = &v->sites[i];
        uint64_t fig[4] = {s->site.bytes, s->site.count, s->max_bytes, s->n_ranks};
        if ((rc = put_i32(p, s->site.line)) == AL_OK && (rc = put_i32(p, s->max_rank)) == AL_OK &&
            (rc = put(p, fig, sizeof fig)) == AL_OK && s->n_ranks)
            rc = put(p, s->ranks, s->n_ranks * sizeof *s->ranks);
        if (rc == AL_OK && (rc = put_str(p, s->site.file)) == AL_OK &&
            (rc = put_str(p, s->site.function)) == AL_OK)
            rc = put_str(p, s->site.tag);
    }
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

/* A received view, read only: arrays of its own, strings borrowed from the message. */
typedef struct wire_view {
    al_job_view v;
    int *rank_lists; /* every site's ranks, one after another */
} wire_view;

static void wire_free(wire_view *w)
{
    al_free(w->v.ranks);
    al_free(w->v.sites);
    al_free(w->rank_lists);
}

/* Counts read from the message are checked against its length before anything is allocated. */
static int unpack_view(const char *buf, size_t len, wire_view *w, al_error *err)
{
    const char *at = buf, *end = buf + len;
    uint64_t n;
    memset(w, 0, sizeof *w);
    if (!take(&at, end, &n, sizeof n) || n > len / 28)
        goto cut;
    w->v.n_ranks = (size_t)n;
    if (!(w->v.ranks = AL_NEW_ARRAY(al_job_rank, n + 1)))
        return al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory");
    for (size_t k = 0; k < n; k++) {
        int32_t r;
        uint64_t fig[3];
        if (!take(&at, end, &r, sizeof r) || !take(&at, end, fig, sizeof fig))
            goto cut;
        w->v.ranks[k] = (al_job_rank){r, fig[0], fig[1], fig[2], NULL, 0};
    }
    if (!take(&at, end, &n, sizeof n) || n > (uint64_t)(end - at) / 43)
        goto cut;
    w->v.n_sites = (size_t)n;
    size_t total = (size_t)(end - at) / sizeof(int), used = 0;
    if (!(w->v.sites = AL_NEW_ARRAY(al_job_view_site, n + 1)) ||
        !(w->rank_lists = AL_NEW_ARRAY(int, total + 1)))
        return al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory");
    for (size_t i = 0; i < n; i++) {
        al_job_view_site *s = &w->v.sites[i];
        int32_t line, max_rank;
        uint64_t fig[4];
        if (!take(&at, end, &line, sizeof line) || !take(&at, end, &max_rank, sizeof max_rank) ||
            !take(&at, end, fig, sizeof fig) || fig[3] > total - used ||
            !take(&at, end, w->rank_lists + used, (size_t)fig[3] * sizeof(int)) ||
            !(s->site.file = take_str(&at, end)) || !(s->site.function = take_str(&at, end)) ||
            !(s->site.tag = take_str(&at, end)))
            goto cut;
        s->site.line = line, s->site.bytes = fig[0], s->site.count = fig[1];
        s->max_bytes = fig[2], s->max_rank = max_rank;
        s->n_ranks = (size_t)fig[3], s->ranks = w->rank_lists + used;
        used += s->n_ranks;
    }
    return AL_OK;
cut:
    return al_error_set(err, AL_EMPI, "al_mpi_diagnose: a view of %zu bytes is cut or malformed",
                        len);
}

/* This rank's own view: its top consumers and figures, as al_job_merge of one rank. */
static al_job_view *own_view(int rank, al_error *err)
{
    al_memory_stats st;
    int rc = al_get_memory_stats(&st);
    al_diagnosis *d = rc == AL_OK ? al_diagnose_memory_leaks() : NULL;
    al_job_site *sites = d ? AL_NEW_ARRAY(al_job_site, d->n_top_consumers + 1) : NULL;
    al_job_view *v = NULL;
    if (sites) {
        for (size_t i = 0; i < d->n_top_consumers; i++) {
            const al_diagnosis_site *s = &d->top_consumers[i];
            sites[i] = (al_job_site){s->file, s->line, s->function, s->tag, s->bytes, s->count};
        }
        al_job_rank r = {rank,  st.current_bytes,  st.peak_bytes, st.peak_rss_bytes,
                         sites, d->n_top_consumers};
        v = al_job_merge(&r, 1, err);
    } else {
        al_error_set(err, rc == AL_OK ? AL_ENOMEM : rc,
                     "al_mpi_diagnose: rank %d: out of memory for its diagnosis", rank);
    }
    al_free(sites);
    al_diagnosis_free(d);
    return v;
}

/* Sends *mine (or, when rc is a failure, rc) to `parent`. Returns AL_OK, or the failure of
 * packing or sending (err filled). */
static int send_view(const al_job_view *mine, int rc, int parent, MPI_Comm comm, al_error *err)
{
    int own = AL_OK;
    packer p = {0};
    if (rc == AL_OK && (own = rc = pack_view(&p, mine)) != AL_OK)
        al_error_set(err, rc, "al_mpi_diagnose: out of memory for a view");
    if (rc == AL_OK && p.len > (size_t)INT32_MAX)
        own = rc = al_error_set(err, AL_EOVERFLOW, "al_mpi_diagnose: a view of %zu bytes", p.len);
    int64_t len = rc == AL_OK ? (int64_t)p.len : (int64_t)(rc < 0 ? rc : -rc);
    int ready = 0; /* the parent has room for the view: it may be out of memory */
    int mrc = ali_mpi_check(MPI_Send(&len, 1, MPI_INT64_T, parent, TAG_LEN, comm), "MPI_Send", err);
    if (mrc == AL_OK && len > 0)
        mrc =
            ali_mpi_check(MPI_Recv(&ready, 1, MPI_INT, parent, TAG_READY, comm, MPI_STATUS_IGNORE),
                          "MPI_Recv", err);
    if (mrc == AL_OK && ready)
        mrc = ali_mpi_check(MPI_Send(p.buf, (int)len, MPI_BYTE, parent, TAG_VIEW, comm), "MPI_Send",
                            err);
    al_free(p.buf);
    return own != AL_OK ? own : mrc;
}

/* Receives `child`'s view and merges it into *mine. rc is this rank's status so far: a failed
 * rank still receives, so that its child is not left waiting. A child that reports a failure
 * below it sets *lost (this rank's own status stays as it is: al_mpi_agree names the rank that
 * failed). Returns this rank's status. */
static int receive_view(al_job_view **mine, int rc, int *lost, int child, MPI_Comm comm,
                        al_error *err)
{
    int64_t len = 0;
    int mrc = ali_mpi_check(MPI_Recv(&len, 1, MPI_INT64_T, child, TAG_LEN, comm, MPI_STATUS_IGNORE),
                            "MPI_Recv", err);
    /* The view comes only once this rank says it has room (and is still going). */
    char *buf = mrc == AL_OK && len > 0 && rc == AL_OK ? al_malloc((size_t)len) : NULL;
    int ready = buf != NULL;
    if (mrc == AL_OK && len > 0)
        mrc = ali_mpi_check(MPI_Send(&ready, 1, MPI_INT, child, TAG_READY, comm), "MPI_Send", err);
    if (mrc == AL_OK && ready)
        mrc = ali_mpi_check(MPI_Recv(buf, (int)len, MPI_BYTE, child, TAG_VIEW, comm,
                                     MPI_STATUS_IGNORE),
                            "MPI_Recv", err);
    if (rc == AL_OK && mrc != AL_OK)
        rc = mrc;
    else if (len <= 0)
        *lost = 1;
    else if (rc == AL_OK && !buf)
        rc = al_error_set(err, AL_ENOMEM, "al_mpi_diagnose: out of memory for %lld bytes",
                          (long long)len);
    wire_view w = {0};
    if (rc == AL_OK && buf && (rc = unpack_view(buf, (size_t)len, &w, err)) == AL_OK) {
        const al_job_view *both[2] = {*mine, &w.v};
        al_job_view *merged = al_job_merge_views(both, 2, err);
        if (merged) {
            al_job_view_free(*mine);
            *mine = merged;
        } else {
            rc = err && err->code ? err->code : AL_ENOMEM;
        }
    }
    wire_free(&w);
    al_free(buf);
    return rc;
}

al_mpi_diagnosis *al_mpi_diagnose(MPI_Comm comm, int root, al_error *err)
{
    int rank = 0, size = 1;
    if (ali_mpi_where(comm, &rank, &size, err) != AL_OK)
        return NULL;
    int rc = root >= 0 && root < size
                 ? AL_OK
                 : al_error_set(err, AL_EINVAL, "al_mpi_diagnose: root %d of %d ranks", root, size);
    if ((rc = al_mpi_agree(comm, rc, err)) != AL_OK)
        return NULL;
    al_job_view *mine = own_view(rank, err);
    rc = mine ? AL_OK : err && err->code ? err->code : AL_ENOMEM;
    int rel = (rank - root + size) % size, lost = 0;
    for (int step = 1; step < size; step *= 2) {
        if (rel % (2 * step) == step) {
            int up = rc != AL_OK ? rc : lost ? AL_EPEER : AL_OK, src;
            if ((src = send_view(mine, up, (rel - step + root) % size, comm, err)) != AL_OK)
                rc = src;
            break;
        }
        if (rel + step < size)
            rc = receive_view(&mine, rc, &lost, (rel + step + root) % size, comm, err);
    }
    if (rc == AL_OK && rank != root) { /* the others return an empty view */
        al_job_view_free(mine);
        if (!(mine = al_job_merge(NULL, 0, err)))
            rc = AL_ENOMEM;
    }
    if ((rc = al_mpi_agree(comm, rc, err)) != AL_OK) {
        al_job_view_free(mine);
        return NULL;
    }
    return mine;
}

char *al_mpi_diagnosis_json(const al_mpi_diagnosis *d) { return al_job_view_json(d); }

void al_mpi_diagnosis_free(al_mpi_diagnosis *d) { al_job_view_free(d); }
