/* The diagnosis rendered: as JSON (cJSON; the key names are SPEC §1's contract) and as text for
 * a terminal, plus the number and site formatting the messages share. The record is built in
 * diagnosis.c and its advice in recommend.c. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_int.h"
#include "reports_int.h"
#include "util/json_int.h"
#include "util/memstream_int.h"

const char *al_severity_name(al_severity s)
{
    switch (s) {
    case AL_SEVERITY_INFO:
        return "info";
    case AL_SEVERITY_WARNING:
        return "warning";
    case AL_SEVERITY_CRITICAL:
        return "critical";
    }
    return "unknown";
}

/* -------- JSON -------- */

static bool add_num(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

static bool site_fields(cJSON *o, const al_diagnosis_site *s)
{
    bool ok = add_str_or_null(o, "file", s->file) && add_num(o, "line", s->line) &&
              add_str_or_null(o, "function", s->function) &&
              cJSON_AddStringToObject(o, "tag", s->tag) && add_num(o, "bytes", (double)s->bytes) &&
              add_num(o, "count", (double)s->count) &&
              add_num(o, "allocations", (double)s->allocations) &&
              add_num(o, "reclaimed_blocks", (double)s->reclaimed_blocks) &&
              add_num(o, "reclaimed_bytes", (double)s->reclaimed_bytes);
    if (ok && s->pc) {
        char addr[32];
        snprintf(addr, sizeof addr, "%#" PRIxPTR, s->pc);
        ok = cJSON_AddStringToObject(o, "address", addr) != NULL;
    }
    return ok;
}

/* Appends a new object to array `a`; NULL when out of memory. */
static cJSON *push_object(cJSON *a)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToArray(a, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool json_sites(cJSON *root, const al_diagnosis *d)
{
    cJSON *top = cJSON_AddArrayToObject(root, "top_consumers");
    if (!top)
        return false;
    for (size_t i = 0; i < d->n_top_consumers; i++) {
        cJSON *o = push_object(top);
        if (!o || !site_fields(o, &d->top_consumers[i]))
            return false;
    }
    cJSON *types = cJSON_AddArrayToObject(root, "types");
    if (!types)
        return false;
    for (size_t i = 0; i < d->n_types; i++) {
        const al_diagnosis_type *t = &d->types[i];
        cJSON *o = push_object(types);
        if (!o || !cJSON_AddStringToObject(o, "tag", t->tag) ||
            !add_num(o, "count", (double)t->count) || !add_num(o, "bytes", (double)t->bytes) ||
            !cJSON_AddBoolToObject(o, "flagged", t->flagged) || !add_num(o, "sites", t->sites))
            return false;
    }
    cJSON *growth = cJSON_AddArrayToObject(root, "growth");
    if (!growth)
        return false;
    for (size_t i = 0; i < d->n_growth; i++) {
        const al_diagnosis_growth *g = &d->growth[i];
        cJSON *o = push_object(growth);
        if (!o || !site_fields(o, &g->site) || !add_num(o, "bytes_delta", (double)g->bytes_delta) ||
            !add_num(o, "count_delta", (double)g->count_delta))
            return false;
    }
    return true;
}

static bool json_accounting(cJSON *root, const al_diagnosis *d)
{
    const al_diagnosis_accounting *a = &d->accounting;
    cJSON *o = cJSON_AddObjectToObject(root, "accounting");
    return o && add_num(o, "tracked_bytes", (double)a->tracked_bytes) &&
           add_num(o, "peak_bytes", (double)a->peak_bytes) &&
           add_num(o, "live_blocks", (double)a->live_blocks) &&
           add_num(o, "rss_bytes", (double)a->rss_bytes) &&
           add_num(o, "peak_rss_bytes", (double)a->peak_rss_bytes) &&
           add_num(o, "unaccounted_bytes", (double)a->unaccounted_bytes) &&
           add_num(o, "cuda_allocated_bytes", (double)a->cuda_allocated_bytes) &&
           add_num(o, "cuda_reserved_bytes", (double)a->cuda_reserved_bytes) &&
           add_num(o, "cuda_device_used_bytes", (double)a->cuda_device_used_bytes) &&
           add_num(o, "cuda_device_total_bytes", (double)a->cuda_device_total_bytes) &&
           add_num(o, "cuda_unaccounted_bytes", (double)a->cuda_unaccounted_bytes) &&
           add_num(o, "growth_interval_ns", (double)d->growth_interval_ns);
}

static bool json_recommendations(cJSON *root, const al_diagnosis *d)
{
    cJSON *recs = cJSON_AddArrayToObject(root, "recommendations");
    if (!recs)
        return false;
    for (size_t i = 0; i < d->n_recommendations; i++) {
        const al_recommendation *r = &d->recommendations[i];
        cJSON *o = push_object(recs);
        if (!o || !cJSON_AddStringToObject(o, "severity", al_severity_name(r->severity)) ||
            !cJSON_AddStringToObject(o, "code", r->code) ||
            !cJSON_AddStringToObject(o, "message", r->message) ||
            (r->tag && !cJSON_AddStringToObject(o, "tag", r->tag)) ||
            (r->file &&
             (!cJSON_AddStringToObject(o, "file", r->file) || !add_num(o, "line", r->line))))
            return false;
    }
    return true;
}

cJSON *ali_diagnosis_cjson(const al_diagnosis *d)
{
    cJSON *root = d ? cJSON_CreateObject() : NULL;
    if (root && json_sites(root, d) && json_accounting(root, d) && json_recommendations(root, d))
        return root;
    cJSON_Delete(root);
    return NULL;
}

char *al_diagnosis_json(const al_diagnosis *d)
{
    return ali_json_finish(ali_diagnosis_cjson(d), true);
}

/* -------- Text -------- */

/* `s` cut to `width` characters, ending in "..." when cut. */
static const char *clip(const char *s, char *buf, size_t width)
{
    size_t n = strlen(s);
    if (n <= width)
        return s;
    snprintf(buf, width + 1, "%.*s...", (int)(width - 3), s);
    return buf;
}

static void text_site_row(FILE *f, const al_diagnosis_site *s, const char *first)
{
    ali_where where;
    char n[32], tag[32];
    ali_fmt_count(s->count, n, sizeof n);
    ali_where_diag(&where, s);
    fprintf(f, "  %12s %11s  %-24s %s\n", first, n, clip(s->tag, tag, 24), where.text);
}

static void text_head(FILE *f, const al_diagnosis *d)
{
    const al_diagnosis_accounting *a = &d->accounting;
    char b[32], p[32], n[32], r[32], u[32];
    ali_fmt_bytes(a->tracked_bytes, b, sizeof b);
    ali_fmt_bytes(a->peak_bytes, p, sizeof p);
    ali_fmt_count(a->live_blocks, n, sizeof n);
    ali_fmt_bytes(a->rss_bytes, r, sizeof r);
    ali_fmt_bytes_signed(a->unaccounted_bytes, u, sizeof u);
    fprintf(f, "AstroLab memory diagnosis (sample %" PRIu64 ", built in %.3f ms)\n", d->sample,
            (double)d->duration_ns / 1e6);
    fprintf(f, "  tracked   %s in %s blocks (peak %s)\n", b, n, p);
    fprintf(f, "  RSS       %s (%s beside tracked blocks)\n", r, u);
    if (a->cuda_allocated_bytes || a->cuda_reserved_bytes || a->cuda_device_used_bytes) {
        char ca[32], cr[32], cu[32], ct[32], cx[32];
        ali_fmt_bytes(a->cuda_allocated_bytes, ca, sizeof ca);
        ali_fmt_bytes(a->cuda_reserved_bytes, cr, sizeof cr);
        ali_fmt_bytes(a->cuda_device_used_bytes, cu, sizeof cu);
        ali_fmt_bytes(a->cuda_device_total_bytes, ct, sizeof ct);
        ali_fmt_bytes_signed(a->cuda_unaccounted_bytes, cx, sizeof cx);
        fprintf(f, "  CUDA      allocated %s, reserved %s", ca, cr);
        if (a->cuda_device_used_bytes)
            fprintf(f, "; device uses %s of %s (%s beside the reserve)", cu, ct, cx);
        fputc('\n', f);
    }
}

static void text_tables(FILE *f, const al_diagnosis *d)
{
    char first[32], tag[32], n[32];
    fprintf(f, "\nTop consumers (%zu of %zu sites with live blocks)\n", d->n_top_consumers,
            d->n_sites_live);
    fprintf(f, "  %12s %11s  %-24s %s\n", "bytes", "blocks", "tag", "site");
    for (size_t i = 0; i < d->n_top_consumers; i++) {
        ali_fmt_bytes(d->top_consumers[i].bytes, first, sizeof first);
        text_site_row(f, &d->top_consumers[i], first);
    }
    if (!d->n_top_consumers)
        fprintf(f, "  (no live tracked blocks)\n");
    fprintf(f, "\nTypes\n  %12s %11s  %-24s %s\n", "bytes", "blocks", "tag", "sites");
    for (size_t i = 0; i < d->n_types; i++) {
        const al_diagnosis_type *t = &d->types[i];
        ali_fmt_bytes(t->bytes, first, sizeof first);
        ali_fmt_count(t->count, n, sizeof n);
        fprintf(f, "  %12s %11s  %-24s %u%s\n", first, n, clip(t->tag, tag, 24), t->sites,
                t->flagged ? "  FLAGGED: above the object threshold" : "");
    }
    fprintf(f, "\nGrowth since the previous sample");
    if (d->growth_interval_ns)
        fprintf(f, " (%.3f s ago)", (double)d->growth_interval_ns / 1e9);
    fprintf(f, "\n  %12s %11s  %-24s %s\n", "change", "blocks", "tag", "site");
    for (size_t i = 0; i < d->n_growth; i++) {
        const al_diagnosis_growth *g = &d->growth[i];
        ali_fmt_bytes_signed(g->bytes_delta, first, sizeof first);
        al_diagnosis_site s = g->site;
        char cnt[34];
        cnt[0] = g->count_delta > 0 ? '+' : g->count_delta < 0 ? '-' : ' ';
        ali_fmt_count(g->count_delta < 0 ? (uint64_t)0 - (uint64_t)g->count_delta
                                         : (uint64_t)g->count_delta,
                      cnt + 1, sizeof cnt - 1);
        ali_where where;
        ali_where_diag(&where, &s);
        fprintf(f, "  %12s %11s  %-24s %s\n", first, cnt, clip(s.tag, tag, 24), where.text);
    }
    if (!d->n_growth)
        fprintf(f, "  (no change)\n");
}

char *al_diagnosis_text(const al_diagnosis *d)
{
    if (!d)
        return NULL;
    ali_memstream m;
    FILE *f = ali_memstream_open(&m);
    if (!f)
        return NULL;
    text_head(f, d);
    text_tables(f, d);
    fprintf(f, "\nRecommendations\n");
    for (size_t i = 0; i < d->n_recommendations; i++) {
        const al_recommendation *r = &d->recommendations[i];
        fprintf(f, "  %-8s %s: %s\n", al_severity_name(r->severity), r->code, r->message);
    }
    if (!d->n_recommendations)
        fprintf(f, "  none: nothing above a threshold, no site growing\n");
    return ali_memstream_finish(&m);
}
