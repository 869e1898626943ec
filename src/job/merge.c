/* al_job_merge: many processes' sites merged into one view of the job (<astrolab/job.h>), the
 * part of al_mpi_diagnose (src/mpi/diagnose.c) and `astrolab report merge` (tools/cmd_report.c)
 * that needs no MPI. One hash table over the sites' keys, filled rank by rank in rank order so
 * that each site's rank list comes out sorted without a sort. Its JSON and text forms are in
 * render.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job_int.h"
#include "util/grow_int.h"

/* A table slot holds the key's hash beside the site's index, so that a probe that misses
 * reads no site: each lookup is one cache miss in the table and one in the site it finds. */
typedef struct slot {
    uint64_t hash;
    size_t site; /* index + 1; 0: empty */
} slot;

typedef struct builder {
    al_job_view *v;
    size_t cap;       /* sites allocated */
    size_t *rank_cap; /* per site: ranks allocated */
    slot *table;      /* open addressing; tcap a power of two */
    size_t tcap;
} builder;

static const char *str(const char *s) { return s ? s : ""; }

static uint64_t key_hash(const al_job_site *s)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[3] = {str(s->file), str(s->function), str(s->tag)};
    for (int k = 0; k < 3; k++) {
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    h = (h ^ (uint64_t)(unsigned)s->line) * 1099511628211ull;
    /* MurmurHash3's finalizer: the table takes the low bits, which FNV's last multiply leaves
     * depending on the low bits of the line alone (measured: 3x slower merges from clustering). */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static int same_key(const al_job_site *a, const al_job_site *b)
{
    return a->line == b->line && strcmp(str(a->file), str(b->file)) == 0 &&
           strcmp(str(a->function), str(b->function)) == 0 && strcmp(str(a->tag), str(b->tag)) == 0;
}

/* Doubles the table when it is half full, rehashing every site. */
static int grow_table(builder *b)
{
    if (b->tcap && b->v->n_sites < b->tcap / 2)
        return AL_OK;
    size_t tcap = b->tcap ? b->tcap * 2 : 1024;
    slot *t = AL_NEW_ARRAY(slot, tcap);
    if (!t)
        return AL_ENOMEM;
    for (size_t k = 0; k < b->tcap; k++) {
        if (!b->table[k].site)
            continue;
        size_t at = (size_t)b->table[k].hash & (tcap - 1);
        while (t[at].site)
            at = (at + 1) & (tcap - 1);
        t[at] = b->table[k];
    }
    al_free(b->table);
    b->table = t, b->tcap = tcap;
    return AL_OK;
}

/* A new site for key s: strings copied, no ranks yet. */
static int add_site(builder *b, const al_job_site *s, size_t *index)
{
    al_job_view *v = b->v;
    if (v->n_sites == b->cap) {
        size_t cap;
        if (!ali_grow_cap(b->cap, v->n_sites + 1, 64, sizeof *v->sites, &cap))
            return AL_ENOMEM;
        al_job_view_site *sites = al_realloc(v->sites, cap * sizeof *sites);
        if (sites)
            v->sites = sites;
        size_t *rc = sites ? al_realloc(b->rank_cap, cap * sizeof *rc) : NULL;
        if (!rc)
            return AL_ENOMEM;
        b->rank_cap = rc, b->cap = cap;
    }
    al_job_view_site *d = &v->sites[v->n_sites];
    memset(d, 0, sizeof *d);
    d->site.line = s->line;
    d->max_rank = -1;
    if (!(d->site.file = al_strdup(str(s->file))) ||
        !(d->site.function = al_strdup(str(s->function))) ||
        !(d->site.tag = al_strdup(str(s->tag)))) {
        ali_job_site_release(d);
        return AL_ENOMEM;
    }
    b->rank_cap[v->n_sites] = 0;
    *index = v->n_sites++;
    return AL_OK;
}

static int find_or_add(builder *b, const al_job_site *s, size_t *index)
{
    int rc = grow_table(b);
    if (rc != AL_OK)
        return rc;
    uint64_t h = key_hash(s);
    size_t at = (size_t)h & (b->tcap - 1);
    for (; b->table[at].site; at = (at + 1) & (b->tcap - 1)) {
        size_t i = b->table[at].site - 1;
        if (b->table[at].hash == h && same_key(&b->v->sites[i].site, s)) {
            *index = i;
            return AL_OK;
        }
    }
    if ((rc = add_site(b, s, index)) == AL_OK)
        b->table[at] = (slot){h, *index + 1};
    return rc;
}

/* Adds rank r's figures for one of its sites to site i. */
static int add_to(builder *b, size_t i, int r, const al_job_site *s)
{
    al_job_view_site *d = &b->v->sites[i];
    d->site.bytes += s->bytes;
    d->site.count += s->count;
    if (d->n_ranks && d->ranks[d->n_ranks - 1] == r) { /* a site twice in one rank's list */
        if (s->bytes > 0 && d->max_rank == r)
            d->max_bytes += s->bytes;
        return AL_OK;
    }
    if (d->n_ranks == b->rank_cap[i]) {
        size_t cap;
        if (!ali_grow_cap(b->rank_cap[i], d->n_ranks + 1, 4, sizeof *d->ranks, &cap))
            return AL_ENOMEM;
        int *ranks = al_realloc(d->ranks, cap * sizeof *ranks);
        if (!ranks)
            return AL_ENOMEM;
        d->ranks = ranks, b->rank_cap[i] = cap;
    }
    d->ranks[d->n_ranks++] = r;
    if (d->max_rank < 0 || s->bytes > d->max_bytes)
        d->max_rank = r, d->max_bytes = s->bytes;
    return AL_OK;
}

static int by_rank(const void *a, const void *b)
{
    int x = ((const al_job_rank *)a)->rank, y = ((const al_job_rank *)b)->rank;
    return (x > y) - (x < y);
}

static int by_bytes(const void *a, const void *b)
{
    const al_job_view_site *x = a, *y = b;
    if (x->site.bytes != y->site.bytes)
        return x->site.bytes < y->site.bytes ? 1 : -1;
    int c = strcmp(x->site.file, y->site.file);
    return c ? c : (x->site.line > y->site.line) - (x->site.line < y->site.line);
}

/* The per-rank records, sorted by rank, checked for repeats, and the job's figures. */
static int take_ranks(al_job_view *v, const al_job_rank *ranks, size_t n, const char *who,
                      al_error *err)
{
    v->ranks = AL_NEW_ARRAY(al_job_rank, n ? n : 1);
    if (!v->ranks)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu ranks", who, n);
    if (n) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(v->ranks, ranks, n * sizeof *ranks);
    qsort(v->ranks, n, sizeof *v->ranks, by_rank);
    v->n_ranks = n;
    v->peak_rank = n ? v->ranks[0].rank : -1;
    for (size_t i = 0; i < n; i++) {
        const al_job_rank *r = &v->ranks[i];
        if (r->rank < 0 || (i && r->rank == v->ranks[i - 1].rank) || (r->n_sites && !r->sites))
            return al_error_set(err, AL_EINVAL,
                                "%s: rank %d is negative, repeated (in two views) or has no "
                                "sites array",
                                who, r->rank);
        if (r->peak_bytes > v->peak_bytes)
            v->peak_bytes = r->peak_bytes, v->peak_rank = r->rank;
        v->current_bytes += r->current_bytes;
        v->sum_peak_bytes += r->peak_bytes;
    }
    return AL_OK;
}

static int merge_sites(builder *b, al_error *err)
{
    al_job_view *v = b->v;
    for (size_t k = 0; k < v->n_ranks; k++) {
        al_job_rank *r = &v->ranks[k];
        for (size_t j = 0; j < r->n_sites; j++) {
            size_t i;
            int rc = find_or_add(b, &r->sites[j], &i);
            if (rc == AL_OK)
                rc = add_to(b, i, r->rank, &r->sites[j]);
            if (rc != AL_OK)
                return al_error_set(err, rc, "al_job_merge: out of memory at rank %d's site %zu",
                                    r->rank, j);
        }
        r->sites = NULL, r->n_sites = 0; /* borrowed: not the view's */
    }
    for (size_t i = 0; i < v->n_sites; i++)
        v->sites[i].on_every_rank = v->sites[i].n_ranks == v->n_ranks;
    if (v->n_sites > 1) /* sites is NULL when there are none */
        qsort(v->sites, v->n_sites, sizeof *v->sites, by_bytes);
    return AL_OK;
}

/* The merge's end: the recommendations, the builder freed; the view, or NULL on failure. */
static al_job_view *finish(builder *b, int rc, const char *who, al_error *err)
{
    if (rc == AL_OK && (rc = ali_job_recommend(b->v)) != AL_OK)
        al_error_set(err, rc, "%s: out of memory for the recommendations", who);
    al_free(b->table);
    al_free(b->rank_cap);
    if (rc != AL_OK) {
        al_job_view_free(b->v);
        return NULL;
    }
    return b->v;
}

al_job_view *al_job_merge(const al_job_rank *ranks, size_t n, al_error *err)
{
    if (!ranks && n) {
        al_error_set(err, AL_EINVAL, "al_job_merge: NULL ranks");
        return NULL;
    }
    builder b = {.v = AL_NEW(al_job_view)};
    if (!b.v) {
        al_error_set(err, AL_ENOMEM, "al_job_merge: out of memory");
        return NULL;
    }
    int rc = take_ranks(b.v, ranks, n, "al_job_merge", err);
    if (rc == AL_OK)
        rc = merge_sites(&b, err);
    return finish(&b, rc, "al_job_merge", err);
}

/* -------- Views of disjoint sets of ranks, merged (the rounds of a tree reduction). -------- */

/* Adds site s of a partial view to site i: totals, its ranks, the rank holding most. */
static int add_view_site(builder *b, size_t i, const al_job_view_site *s)
{
    al_job_view_site *d = &b->v->sites[i];
    d->site.bytes += s->site.bytes;
    d->site.count += s->site.count;
    size_t need = d->n_ranks + s->n_ranks;
    if (need > b->rank_cap[i]) {
        size_t cap;
        if (!ali_grow_cap(b->rank_cap[i], need, 4, sizeof *d->ranks, &cap))
            return AL_ENOMEM;
        int *ranks = al_realloc(d->ranks, cap * sizeof *ranks);
        if (!ranks)
            return AL_ENOMEM;
        d->ranks = ranks, b->rank_cap[i] = cap;
    }
    if (s->n_ranks) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(d->ranks + d->n_ranks, s->ranks, s->n_ranks * sizeof *s->ranks);
    d->n_ranks = need;
    /* As al_job_merge decides: most bytes, the lowest rank on a tie. */
    if (d->max_rank < 0 || s->max_bytes > d->max_bytes ||
        (s->max_bytes == d->max_bytes && s->max_rank < d->max_rank))
        d->max_rank = s->max_rank, d->max_bytes = s->max_bytes;
    return AL_OK;
}

static int by_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Every view's per-rank records, in one array for take_ranks. */
static al_job_rank *all_ranks(const al_job_view *const *views, size_t n, size_t *total,
                              al_error *err)
{
    *total = 0;
    for (size_t k = 0; k < n; k++)
        if (!views[k]) {
            al_error_set(err, AL_EINVAL, "al_job_merge_views: view %zu is NULL", k);
            return NULL;
        } else {
            *total += views[k]->n_ranks;
        }
    al_job_rank *r = AL_NEW_ARRAY(al_job_rank, *total ? *total : 1);
    if (!r) {
        al_error_set(err, AL_ENOMEM, "al_job_merge_views: out of memory for %zu ranks", *total);
        return NULL;
    }
    for (size_t k = 0, at = 0; k < n; at += views[k]->n_ranks, k++)
        if (views[k]->n_ranks)
            memcpy(r + at, views[k]->ranks, views[k]->n_ranks * sizeof *r);
    return r;
}

static int merge_view_sites(builder *b, const al_job_view *const *views, size_t n, al_error *err)
{
    al_job_view *v = b->v;
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < views[k]->n_sites; j++) {
            size_t i;
            int rc = find_or_add(b, &views[k]->sites[j].site, &i);
            if (rc == AL_OK)
                rc = add_view_site(b, i, &views[k]->sites[j]);
            if (rc != AL_OK)
                return al_error_set(err, rc,
                                    "al_job_merge_views: out of memory at view %zu's "
                                    "site %zu",
                                    k, j);
        }
    for (size_t i = 0; i < v->n_sites; i++) {
        al_job_view_site *d = &v->sites[i];
        qsort(d->ranks, d->n_ranks, sizeof *d->ranks, by_int); /* sorted runs: cheap */
        d->on_every_rank = d->n_ranks == v->n_ranks;
    }
    if (v->n_sites > 1)
        qsort(v->sites, v->n_sites, sizeof *v->sites, by_bytes);
    return AL_OK;
}

al_job_view *al_job_merge_views(const al_job_view *const *views, size_t n, al_error *err)
{
    if (!views && n) {
        al_error_set(err, AL_EINVAL, "al_job_merge_views: NULL views");
        return NULL;
    }
    size_t total;
    al_job_rank *ranks = all_ranks(views, n, &total, err);
    builder b = {.v = ranks ? AL_NEW(al_job_view) : NULL};
    if (!b.v) {
        if (ranks)
            al_error_set(err, AL_ENOMEM, "al_job_merge_views: out of memory");
        al_free(ranks);
        return NULL;
    }
    int rc = take_ranks(b.v, ranks, total, "al_job_merge_views", err);
    al_free(ranks);
    if (rc == AL_OK)
        rc = merge_view_sites(&b, views, n, err);
    return finish(&b, rc, "al_job_merge_views", err);
}

void ali_job_site_release(al_job_view_site *s)
{
    al_free((void *)s->site.file);
    al_free((void *)s->site.function);
    al_free((void *)s->site.tag);
    al_free(s->ranks);
    memset(s, 0, sizeof *s);
}

void al_job_view_free(al_job_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_sites; i++)
        ali_job_site_release(&v->sites[i]);
    for (size_t i = 0; i < v->n_recommendations; i++)
        al_free(v->recommendations[i].message);
    al_free(v->recommendations);
    al_free(v->sites);
    al_free(v->ranks);
    al_free(v);
}
