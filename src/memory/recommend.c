/* The rules that turn a diagnosis's figures into recommendations a person can act on: each
 * names the site or the tag, the figures and the threshold, and says what to do. The
 * suspected_leak rule itself is judged when the sample is taken (snapshot.c); its definition
 * is in <astrolab/diagnosis.h>. Thresholds are in thresholds.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_int.h"
#include "util/grow_int.h"

/* At most this many recommendations of one code: the largest first, then a summary line. */
#define PER_CODE_MAX 10

/* Set by the preload library before main: the program under `astrolab run` links no AstroLab. */
static bool whole_program;

void ali_recommend_for_whole_programs(void) { whole_program = true; }

typedef struct recs {
    al_diagnosis *d;
    size_t cap;
    bool oom;
} recs;

static void AL_PRINTF(6, 7)
    add(recs *r, al_severity sev, const char *code, const al_diagnosis_site *about, const char *tag,
        const char *fmt, ...)
{
    if (r->oom)
        return;
    al_diagnosis *d = r->d;
    if (d->n_recommendations == r->cap) {
        size_t cap = 0;
        al_recommendation *a = NULL;
        if (ali_grow_cap(r->cap, r->cap + 1, 8, sizeof *a, &cap))
            a = ali_diag_alloc(cap * sizeof *a);
        if (!a) {
            r->oom = true;
            return;
        }
        if (d->n_recommendations)
            memcpy(a, d->recommendations, d->n_recommendations * sizeof *a);
        ali_internal_free(d->recommendations);
        d->recommendations = a;
        r->cap = cap;
    }
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t n = len < 0 ? 0 : (size_t)len >= sizeof buf ? sizeof buf - 1 : (size_t)len;
    char *msg = ali_diag_alloc(n + 1);
    if (!msg) {
        r->oom = true;
        return;
    }
    memcpy(msg, buf, n);
    msg[n] = '\0';
    d->recommendations[d->n_recommendations++] = (al_recommendation){
        .severity = sev,
        .code = code,
        .message = msg,
        .tag = about ? about->tag : tag,
        .file = about ? about->file : NULL,
        .line = about ? about->line : 0,
    };
}

static void rule_memory(recs *r)
{
    const al_diagnosis *d = r->d;
    uint64_t used = d->accounting.tracked_bytes, limit = d->thresholds.memory_bytes;
    if (used <= limit)
        return;
    char u[32], l[32], blocks[32], largest[ALI_WHERE_MAX + 128] = "";
    ali_fmt_bytes(used, u, sizeof u);
    ali_fmt_bytes(limit, l, sizeof l);
    ali_fmt_count(d->accounting.live_blocks, blocks, sizeof blocks);
    const al_diagnosis_site *t = d->n_top_consumers ? &d->top_consumers[0] : NULL;
    if (t) {
        ali_where where;
        char tb[32], tn[32];
        ali_where_diag(&where, t);
        ali_fmt_bytes(t->bytes, tb, sizeof tb);
        ali_fmt_count(t->count, tn, sizeof tn);
        snprintf(largest, sizeof largest, "; the largest consumer is %s with %s of %s in %s %s",
                 where.text, tb, t->tag, tn, t->count == 1 ? "block" : "blocks");
    }
    add(r, used > 2 * limit ? AL_SEVERITY_CRITICAL : AL_SEVERITY_WARNING, AL_REC_HIGH_MEMORY_USAGE,
        t, NULL,
        "tracked memory is %s in %s blocks, above the memory threshold %s%s. Free what is no "
        "longer needed, %sor raise ASTROLAB_MEMORY_WARN_MB if this is the working set",
        u, blocks, l, largest,
        whole_program ? "" : "release caches with al_force_comprehensive_cleanup(), ");
}

/* The site with the most live blocks of `tag`, and how many sites hold that tag. */
static const ali_snap_site *main_site_of(const al_snapshot *now, const char *tag)
{
    const ali_snap_site *best = NULL;
    for (uint32_t i = 0; i < now->nsites; i++) {
        const ali_snap_site *s = &now->sites[i];
        if (s->site && s->site->tag == tag && s->live_count > 0 &&
            (!best || s->live_count > best->live_count))
            best = s;
    }
    return best;
}

static void rule_objects(recs *r, const al_snapshot *now)
{
    const al_diagnosis *d = r->d;
    size_t emitted = 0;
    for (size_t i = 0; i < d->n_types && emitted < PER_CODE_MAX; i++) {
        const al_diagnosis_type *t = &d->types[i];
        if (!t->flagged)
            continue;
        const ali_snap_site *s = main_site_of(now, t->tag);
        if (!s)
            continue;
        al_diagnosis_site at;
        memset(&at, 0, sizeof at);
        ali_diag_site_locate(s->site, &at);
        ali_where where;
        char n[32], b[32], th[32], from[96] = "";
        ali_fmt_count(t->count, n, sizeof n);
        ali_fmt_bytes(t->bytes, b, sizeof b);
        ali_fmt_count(d->thresholds.object_count, th, sizeof th);
        ali_where_diag(&where, &at);
        if (t->sites > 1) {
            char most[32];
            ali_fmt_count((uint64_t)s->live_count, most, sizeof most);
            snprintf(from, sizeof from, " (%s of them; %u sites in all)", most, t->sites);
        }
        add(r, AL_SEVERITY_WARNING, AL_REC_HIGH_OBJECT_COUNT, &at, NULL,
            "%s: %s live objects (%s) allocated at %s%s; above the object threshold %s. Allocate "
            "them %s or free them when done",
            t->tag, n, b, where.text, from, th,
            whole_program ? "together (one array, or a pool) rather than one at a time,"
                          : "as one array (AL_NEW_ARRAY)");
        emitted++;
    }
}

typedef struct pick {
    uint32_t id;
    int64_t key;
} pick;

static int cmp_pick(const void *a, const void *b)
{
    const pick *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The ids of at most PER_CODE_MAX sites with the largest positive `key`, largest first;
 * returns how many sites had a positive key. */
static size_t pick_sites(const al_snapshot *now, int64_t (*key)(const ali_snap_site *), pick *out,
                         size_t *nout)
{
    size_t total = 0, n = 0;
    for (uint32_t i = 0; i < now->nsites; i++) {
        int64_t k = now->sites[i].site ? key(&now->sites[i]) : 0;
        if (k <= 0)
            continue;
        total++;
        if (n < PER_CODE_MAX) {
            out[n++] = (pick){i, k};
            qsort(out, n, sizeof *out, cmp_pick);
        } else if (cmp_pick(&(pick){i, k}, &out[n - 1]) < 0) {
            out[n - 1] = (pick){i, k};
            qsort(out, n, sizeof *out, cmp_pick);
        }
    }
    *nout = n;
    return total;
}

static int64_t key_suspect(const ali_snap_site *s) { return s->suspect ? s->window_bytes : 0; }
static int64_t key_reclaimed(const ali_snap_site *s)
{
    return s->reclaimed ? (int64_t)s->reclaimed_bytes + 1 : 0; /* zero-size blocks count too */
}

static void rule_leaks(recs *r, const al_snapshot *now)
{
    pick p[PER_CODE_MAX];
    size_t n;
    pick_sites(now, key_suspect, p, &n);
    for (size_t i = 0; i < n; i++) {
        const ali_snap_site *s = &now->sites[p[i].id];
        al_diagnosis_site at;
        memset(&at, 0, sizeof at);
        ali_diag_site_locate(s->site, &at);
        ali_where where;
        char grew[32], holds[32], blocks[32];
        ali_where_diag(&where, &at);
        ali_fmt_bytes((uint64_t)s->window_bytes, grew, sizeof grew);
        ali_fmt_bytes(s->live_bytes > 0 ? (uint64_t)s->live_bytes : 0, holds, sizeof holds);
        ali_fmt_count(s->live_count > 0 ? (uint64_t)s->live_count : 0, blocks, sizeof blocks);
        add(r, AL_SEVERITY_WARNING, AL_REC_SUSPECTED_LEAK, &at, NULL,
            "%s (%s) grew at each of the last %u samples, by %s in all, while the rest of the "
            "program held steady; it now holds %s in %s blocks. Check that every block "
            "allocated there is freed%s",
            where.text, at.tag, now->leak_samples, grew, holds, blocks,
            whole_program ? " on every path"
                          : ", or run that work in an AL_MEMORY_MANAGEMENT scope");
    }
}

static void rule_reclaimed(recs *r, const al_snapshot *now)
{
    pick p[PER_CODE_MAX];
    size_t n;
    size_t total = pick_sites(now, key_reclaimed, p, &n);
    for (size_t i = 0; i < n; i++) {
        const ali_snap_site *s = &now->sites[p[i].id];
        al_diagnosis_site at;
        memset(&at, 0, sizeof at);
        ali_diag_site_locate(s->site, &at);
        ali_where where;
        char blocks[32], bytes[32], more[64] = "";
        ali_where_diag(&where, &at);
        ali_fmt_count(s->reclaimed, blocks, sizeof blocks);
        ali_fmt_bytes(s->reclaimed_bytes, bytes, sizeof bytes);
        if (i == n - 1 && total > n)
            snprintf(more, sizeof more, " (%zu more sites had blocks reclaimed)", total - n);
        add(r, AL_SEVERITY_INFO, AL_REC_SCOPE_RECLAIMED_LEAK, &at, NULL,
            "scopes had to reclaim %s %s (%s) of %s allocated at %s: they were never freed%s. "
            "Free them before the scope ends, or hand them out with al_scope_keep() if they must "
            "outlive it; outside a scope they would leak",
            blocks, s->reclaimed == 1 ? "block" : "blocks", bytes, at.tag, where.text, more);
    }
}

static void rule_cuda(recs *r)
{
    const al_diagnosis *d = r->d;
    const al_diagnosis_accounting *a = &d->accounting;
    char al[32], re[32], th[32], cached[32];
    ali_fmt_bytes(a->cuda_allocated_bytes, al, sizeof al);
    ali_fmt_bytes(a->cuda_reserved_bytes, re, sizeof re);
    if (a->cuda_allocated_bytes > d->thresholds.cuda_bytes) {
        ali_fmt_bytes(d->thresholds.cuda_bytes, th, sizeof th);
        add(r,
            a->cuda_allocated_bytes > 2 * d->thresholds.cuda_bytes ? AL_SEVERITY_CRITICAL
                                                                   : AL_SEVERITY_WARNING,
            AL_REC_CUDA_CLEANUP, NULL, NULL,
            "CUDA allocated memory is %s (reserved %s), above the CUDA threshold %s. Free device "
            "buffers no longer needed with al_cuda_free(), call al_force_comprehensive_cleanup(), "
            "or raise ASTROLAB_CUDA_WARN_MB if this is the working set",
            al, re, th);
    }
    uint64_t res = a->cuda_reserved_bytes, alloc = a->cuda_allocated_bytes;
    if (res > alloc && (double)res > d->thresholds.cuda_cache_ratio * (double)alloc &&
        res - alloc > d->thresholds.cuda_cache_min_bytes) {
        ali_fmt_bytes(res - alloc, cached, sizeof cached);
        add(r, AL_SEVERITY_INFO, AL_REC_CUDA_CACHE, NULL, NULL,
            "the CUDA caching allocator reserves %s for %s allocated: %s is cached and "
            "unavailable to other processes and libraries. Call al_cuda_empty_cache() to give it "
            "back to the device",
            re, al, cached);
    }
}

static void rule_fragmentation(recs *r)
{
    const al_diagnosis *d = r->d;
    uint64_t rss = d->accounting.rss_bytes, tracked = d->accounting.tracked_bytes;
    if (rss <= tracked || (double)rss <= d->thresholds.fragmentation_ratio * (double)tracked ||
        rss - tracked <= d->thresholds.fragmentation_min_bytes)
        return;
    char rs[32], tr[32], out[32];
    ali_fmt_bytes(rss, rs, sizeof rs);
    ali_fmt_bytes(tracked, tr, sizeof tr);
    ali_fmt_bytes(rss - tracked, out, sizeof out);
    add(r, AL_SEVERITY_INFO, AL_REC_FRAGMENTATION, NULL, NULL,
        "process RSS is %s but tracked blocks hold %s: %s is resident outside them (freed memory "
        "the allocator keeps in partly used pages, or allocations not made through the "
        "manager). %s",
        rs, tr, out,
        whole_program ? "Reuse buffers rather than freeing and reallocating many of different "
                        "sizes; memory from mmap, thread stacks and libraries' own pools is not "
                        "counted here"
                      : "Call al_force_comprehensive_cleanup() to return free memory to the OS; "
                        "if it stays, run the program under `astrolab run` to see untracked "
                        "allocations");
}

bool ali_recommend(al_diagnosis *d, const al_snapshot *now)
{
    recs r = {.d = d};
    rule_memory(&r);
    rule_cuda(&r);
    rule_leaks(&r, now);
    rule_objects(&r, now);
    rule_fragmentation(&r);
    rule_reclaimed(&r, now);
    if (r.oom)
        return false;
    /* Highest severity first; within one, the order above (an insertion sort keeps it). */
    for (size_t i = 1; i < d->n_recommendations; i++) {
        al_recommendation x = d->recommendations[i];
        size_t j = i;
        for (; j > 0 && d->recommendations[j - 1].severity < x.severity; j--)
            d->recommendations[j] = d->recommendations[j - 1];
        d->recommendations[j] = x;
    }
    return true;
}
