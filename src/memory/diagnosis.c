/* The diagnosis record: top consumers, types, growth and accounting built from a sample, and
 * the public entry points (al_diagnose_memory_leaks, al_snapshot_diff, al_diagnosis_free).
 *
 * Everything here is O(sites + tags) plus the sorts of what is listed: the per-site figures
 * come from a sample (snapshot.c), never from the blocks. The rules that turn figures into
 * advice are in recommend.c; JSON and text in diagnosis_render.c; settings in thresholds.c. */
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "diagnosis_int.h"
#include "util/settings_int.h"

int (*ali_site_symbolize_hook)(uintptr_t pc, const char **function, const char **file, int *line);
void (*ali_diagnosis_stats_override)(al_memory_stats *s);

const char *ali_where_symbolized(ali_where *w, const ali_site *s)
{
    al_diagnosis_site where = {0};
    if (s)
        ali_diag_site_locate(s, &where);
    return ali_where_diag(w, &where);
}

void ali_diag_site_locate(const ali_site *s, al_diagnosis_site *out)
{
    out->tag = s->tag;
    out->pc = s->pc;
    if (s->loc) {
        out->file = s->loc->file;
        out->function = s->loc->function;
        out->line = s->loc->line;
        return;
    }
    out->file = out->function = NULL;
    out->line = 0;
    const char *fn = NULL, *file = NULL;
    int line = 0;
    if (ali_site_symbolize_hook && ali_site_symbolize_hook(s->pc, &fn, &file, &line) == 0) {
        out->function = fn;
        out->file = file;
        out->line = line;
    }
}

static void fill_site(const ali_snap_site *s, al_diagnosis_site *out)
{
    memset(out, 0, sizeof *out);
    ali_diag_site_locate(s->site, out);
    out->bytes = s->live_bytes > 0 ? (uint64_t)s->live_bytes : 0;
    out->count = s->live_count > 0 ? (uint64_t)s->live_count : 0;
    out->allocations = s->allocs;
    out->reclaimed_blocks = s->reclaimed;
    out->reclaimed_bytes = s->reclaimed_bytes;
}

/* Largest live bytes first; then most blocks; then the older site, for a stable order. */
static int cmp_live(const void *a, const void *b, void *ctx)
{
    const ali_snap_site *s = ctx;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (s[i].live_bytes != s[j].live_bytes)
        return s[i].live_bytes > s[j].live_bytes ? -1 : 1;
    if (s[i].live_count != s[j].live_count)
        return s[i].live_count > s[j].live_count ? -1 : 1;
    return (i > j) - (i < j);
}

static bool build_top(al_diagnosis *d, const al_snapshot *now, uint32_t *ids)
{
    size_t n = 0;
    for (uint32_t i = 0; i < now->nsites; i++)
        if (now->sites[i].site && (now->sites[i].live_count > 0 || now->sites[i].live_bytes > 0))
            ids[n++] = i;
    qsort_r(ids, n, sizeof *ids, cmp_live, now->sites);
    d->n_sites_live = n;
    size_t keep = n < d->thresholds.top_consumers ? n : d->thresholds.top_consumers;
    d->top_consumers = ali_diag_calloc(keep, sizeof *d->top_consumers);
    if (!d->top_consumers)
        return false;
    for (size_t k = 0; k < keep; k++)
        fill_site(&now->sites[ids[k]], &d->top_consumers[k]);
    d->n_top_consumers = keep;
    return true;
}

static int cmp_type(const void *a, const void *b)
{
    const al_diagnosis_type *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

/* -------- Sums per tag: an open-addressed table keyed by the tag pointer (tags are interned
 * by site.c, so equal tags have equal pointers). -------- */

/* Entries of a table for up to `keys` tags: a power of two at most half full (sites are
 * 32-bit ids, so the doubling cannot overflow). */
static size_t tag_table_cap(size_t keys)
{
    size_t cap = 16;
    while (cap < 2 * keys + 2)
        cap *= 2;
    return cap;
}

/* Adds one site's live figures to its tag's entry, which it makes if needed (negative figures
 * count as none; `sites` counts only sites with something live). */
static void tag_table_add(al_diagnosis_type *table, size_t cap, const char *tag, int64_t bytes,
                          int64_t count)
{
    size_t j = ((uintptr_t)tag >> 4) * 0x9E3779B97F4A7C15ull >> 20 & (cap - 1);
    while (table[j].tag && table[j].tag != tag)
        j = (j + 1) & (cap - 1);
    table[j].tag = tag;
    table[j].count += count > 0 ? (uint64_t)count : 0;
    table[j].bytes += bytes > 0 ? (uint64_t)bytes : 0;
    if (count > 0 || bytes > 0)
        table[j].sites++;
}

/* Moves the used entries to the front of the table; returns their number. */
static size_t tag_table_pack(al_diagnosis_type *table, size_t cap)
{
    size_t k = 0;
    for (size_t j = 0; j < cap; j++)
        if (table[j].tag)
            table[k++] = table[j];
    return k;
}

static int cmp_tag_name(const void *a, const void *b)
{
    return strcmp(((const al_diagnosis_type *)a)->tag, ((const al_diagnosis_type *)b)->tag);
}

long ali_memory_tag_sums(al_diagnosis_type **out)
{
    *out = NULL;
    uint32_t n = ali_site_count();
    if (!n)
        return 0;
    size_t cap = tag_table_cap(n);
    al_diagnosis_type *table = ali_internal_calloc(cap, sizeof *table);
    if (!table)
        return -1;
    for (uint32_t id = 0; id < n; id++) {
        ali_site *s = ali_site_by_id(id);
        if (!s)
            continue;
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        tag_table_add(table, cap, s->tag, t.live_bytes, t.live_count);
    }
    size_t ntags = tag_table_pack(table, cap);
    qsort(table, ntags, sizeof *table, cmp_tag_name);
    *out = table;
    return (long)ntags;
}

/* Sums live sites per tag. */
static bool build_types(al_diagnosis *d, const al_snapshot *now)
{
    size_t cap = tag_table_cap(d->n_sites_live);
    al_diagnosis_type *table = ali_diag_calloc(cap, sizeof *table);
    if (!table)
        return false;
    for (uint32_t i = 0; i < now->nsites; i++) {
        const ali_snap_site *s = &now->sites[i];
        if (s->site && (s->live_count > 0 || s->live_bytes > 0))
            tag_table_add(table, cap, s->site->tag, s->live_bytes, s->live_count);
    }
    size_t ntypes = tag_table_pack(table, cap);
    for (size_t k = 0; k < ntypes; k++)
        table[k].flagged = table[k].count > d->thresholds.object_count;
    qsort(table, ntypes, sizeof *table, cmp_type);
    d->types = table; /* cap >= ntypes entries; the tail is unused */
    d->n_types = ntypes;
    return true;
}

typedef struct delta {
    uint32_t id;
    int64_t bytes, count;
} delta;

static int cmp_delta(const void *a, const void *b)
{
    const delta *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool build_growth(al_diagnosis *d, const al_snapshot *now, const al_snapshot *base,
                         bool use_prev)
{
    delta *all = ali_diag_calloc(now->nsites, sizeof *all);
    if (!all)
        return false;
    size_t n = 0;
    for (uint32_t i = 0; i < now->nsites; i++) {
        const ali_snap_site *s = &now->sites[i];
        int64_t b0 = 0, c0 = 0;
        if (use_prev) {
            b0 = s->prev_bytes;
            c0 = s->prev_count;
        } else if (base && i < base->nsites) {
            b0 = base->sites[i].live_bytes;
            c0 = base->sites[i].live_count;
        }
        if (s->site && (s->live_bytes != b0 || s->live_count != c0))
            all[n++] = (delta){i, s->live_bytes - b0, s->live_count - c0};
    }
    qsort(all, n, sizeof *all, cmp_delta);
    size_t keep = n < d->thresholds.top_consumers ? n : d->thresholds.top_consumers;
    d->growth = ali_diag_calloc(keep, sizeof *d->growth);
    if (!d->growth) {
        ali_internal_free(all);
        return false;
    }
    for (size_t k = 0; k < keep; k++) {
        fill_site(&now->sites[all[k].id], &d->growth[k].site);
        d->growth[k].bytes_delta = all[k].bytes;
        d->growth[k].count_delta = all[k].count;
    }
    d->n_growth = keep;
    ali_internal_free(all);
    uint64_t t0 = use_prev ? now->prev_time_ns : base ? base->time_ns : 0;
    d->growth_interval_ns = t0 && t0 <= now->time_ns ? now->time_ns - t0
                            : t0                     ? t0 - now->time_ns
                                                     : 0;
    return true;
}

static void build_accounting(al_diagnosis *d, const al_snapshot *now)
{
    const al_memory_stats *s = &now->stats;
    al_diagnosis_accounting *a = &d->accounting;
    a->tracked_bytes = s->current_bytes;
    a->peak_bytes = s->peak_bytes;
    a->live_blocks = s->live_blocks;
    a->rss_bytes = s->rss_bytes;
    a->peak_rss_bytes = s->peak_rss_bytes;
    a->unaccounted_bytes = (int64_t)s->rss_bytes - (int64_t)s->current_bytes;
    a->cuda_allocated_bytes = s->cuda_allocated_bytes;
    a->cuda_reserved_bytes = s->cuda_reserved_bytes;
    a->cuda_device_used_bytes = now->cuda_used_bytes;
    a->cuda_device_total_bytes = now->cuda_total_bytes;
    a->cuda_unaccounted_bytes =
        now->cuda_used_bytes ? (int64_t)now->cuda_used_bytes - (int64_t)s->cuda_reserved_bytes : 0;
}

al_diagnosis *ali_diagnosis_build(const al_snapshot *now, const al_snapshot *base, bool use_prev,
                                  const al_diagnosis_thresholds *th)
{
    uint64_t t0 = ali_now_ns();
    al_diagnosis *d = ali_diag_calloc(1, sizeof *d);
    uint32_t *ids = ali_diag_calloc(now->nsites, sizeof *ids);
    if (!d || !ids) {
        ali_internal_free(ids);
        ali_internal_free(d);
        return NULL;
    }
    d->thresholds = *th;
    d->sample = now->sample;
    bool ok = build_top(d, now, ids) && build_types(d, now) && build_growth(d, now, base, use_prev);
    ali_internal_free(ids);
    if (ok) {
        build_accounting(d, now);
        ok = ali_recommend(d, now);
    }
    if (!ok) {
        al_diagnosis_free(d);
        return NULL;
    }
    d->duration_ns = ali_now_ns() - t0;
    return d;
}

/* A diagnosis of now, its growth measured from base (NULL: the previous sample, which this
 * one then becomes when `advance`). */
static al_diagnosis *diagnose_now(const al_snapshot *base, bool advance)
{
    uint64_t t0 = ali_now_ns();
    al_diagnosis_thresholds th;
    ali_diagnosis_thresholds(&th);
    al_snapshot *now = ali_snapshot_take(&th);
    if (!now)
        return NULL;
    al_diagnosis *d = ali_diagnosis_build(now, base, advance, &th);
    al_snapshot_free(now);
    if (d)
        d->duration_ns = ali_now_ns() - t0;
    return d;
}

al_diagnosis *al_diagnose_memory_leaks(void) { return diagnose_now(NULL, true); }

al_diagnosis *al_diagnose_memory_leaks_since(const al_snapshot *base)
{
    return diagnose_now(base, false);
}

al_diagnosis *al_snapshot_diff(const al_snapshot *a, const al_snapshot *b)
{
    if (!b)
        return NULL;
    al_diagnosis_thresholds th;
    ali_diagnosis_thresholds(&th);
    return ali_diagnosis_build(b, a, false, &th);
}

void al_diagnosis_free(al_diagnosis *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_recommendations; i++)
        ali_internal_free(d->recommendations[i].message);
    ali_internal_free(d->recommendations);
    ali_internal_free(d->top_consumers);
    ali_internal_free(d->types);
    ali_internal_free(d->growth);
    ali_internal_free(d);
}

/* ASTROLAB_LEAK_REPORT arms the report at exit (leak_report.c) when the library is loaded, so
 * that its handler runs after the program's own atexit handlers (newest first) and sees what
 * they freed. It lives here rather than in leak_report.c so that a program linking the static
 * library and calling al_diagnose_memory_leaks gets it too. */
__attribute__((constructor)) static void leak_report_from_env(void)
{
    const char *e = ali_setting_text(ALI_SET_LEAK_REPORT);
    if (e && al_leak_report_at_exit(e) != AL_OK)
        al_log(AL_LOG_WARNING, ALI_LOGGER,
               "ASTROLAB_LEAK_REPORT: cannot arm the leak report at exit; no report");
}
