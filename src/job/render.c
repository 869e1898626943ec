/* The JSON and text forms of a job's view (<astrolab/job.h>); the view is built in merge.c. */
#include <stdio.h>
#include <stdlib.h>

#include "job/job_int.h"
#include "util/json_int.h"

static bool add_site(cJSON *arr, const al_job_view_site *s)
{
    cJSON *o = cJSON_CreateObject(), *ranks = cJSON_CreateIntArray(s->ranks, (int)s->n_ranks);
    if (!o || !ranks || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        cJSON_Delete(ranks);
        return false;
    }
    bool ok;
    ok = cJSON_AddStringToObject(o, "file", s->site.file) &&
         cJSON_AddNumberToObject(o, "line", s->site.line) &&
         cJSON_AddStringToObject(o, "function", s->site.function) &&
         cJSON_AddStringToObject(o, "tag", s->site.tag) &&
         cJSON_AddNumberToObject(o, "bytes", (double)s->site.bytes) &&
         cJSON_AddNumberToObject(o, "count", (double)s->site.count);
    if (!ok || !cJSON_AddItemToObject(o, "ranks", ranks)) {
        cJSON_Delete(ranks);
        return false;
    }
    return cJSON_AddBoolToObject(o, "on_every_rank", s->on_every_rank) &&
           cJSON_AddNumberToObject(o, "max_rank", s->max_rank) &&
           cJSON_AddNumberToObject(o, "max_bytes", (double)s->max_bytes);
}

char *al_job_view_json(const al_job_view *v)
{
    if (!v)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    const ali_json_u64 figures[] = {
        {"ranks", v->n_ranks},
        {"peak_bytes", v->peak_bytes},
        {"current_bytes", v->current_bytes},
        {"sum_peak_bytes", v->sum_peak_bytes},
    };
    bool ok = o && ali_json_add_u64s(o, figures, sizeof figures / sizeof *figures) &&
              cJSON_AddNumberToObject(o, "peak_rank", v->peak_rank);
    cJSON *per = ok ? cJSON_AddArrayToObject(o, "per_rank") : NULL;
    for (size_t i = 0; per && ok && i < v->n_ranks; i++) {
        const al_job_rank *r = &v->ranks[i];
        cJSON *e = cJSON_CreateObject();
        const ali_json_u64 f[] = {{"current_bytes", r->current_bytes},
                                  {"peak_bytes", r->peak_bytes},
                                  {"peak_rss_bytes", r->peak_rss_bytes}};
        if (e && !cJSON_AddItemToArray(per, e))
            cJSON_Delete(e), e = NULL;
        ok = e && cJSON_AddNumberToObject(e, "rank", r->rank) && ali_json_add_u64s(e, f, 3);
    }
    cJSON *sites = ok && per ? cJSON_AddArrayToObject(o, "sites") : NULL;
    for (size_t i = 0; sites && ok && i < v->n_sites; i++)
        ok = add_site(sites, &v->sites[i]);
    cJSON *recs = ok && sites ? cJSON_AddArrayToObject(o, "recommendations") : NULL;
    for (size_t i = 0; recs && ok && i < v->n_recommendations; i++) {
        const al_job_recommendation *r = &v->recommendations[i];
        cJSON *e = cJSON_CreateObject();
        if (e && !cJSON_AddItemToArray(recs, e))
            cJSON_Delete(e), e = NULL;
        ok = e && cJSON_AddStringToObject(e, "severity", al_severity_name(r->severity)) &&
             cJSON_AddStringToObject(e, "code", r->code) &&
             cJSON_AddStringToObject(e, "message", r->message);
    }
    return ali_json_finish(o, ok && recs);
}

char *al_job_view_text(const al_job_view *v)
{
    if (!v)
        return NULL;
    char *buf = NULL, ranks[128];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "%zu ranks; peak %.1f MiB on rank %d; %.1f MiB live in all\n", v->n_ranks,
            (double)v->peak_bytes / 1048576.0, v->peak_rank, (double)v->current_bytes / 1048576.0);
    if (v->n_sites)
        fprintf(f, "\n%14s %10s  %-40s %s\n", "bytes", "blocks", "site", "ranks");
    for (size_t i = 0; i < v->n_sites; i++) {
        const al_job_view_site *s = &v->sites[i];
        char site[256];
        ali_job_site_text(&s->site, site, sizeof site);
        if (s->on_every_rank)
            snprintf(ranks, sizeof ranks, "every rank");
        else
            ali_job_ranks_text(s->ranks, s->n_ranks, ranks, sizeof ranks);
        fprintf(f, "%14llu %10llu  %-40s %s\n", (unsigned long long)s->site.bytes,
                (unsigned long long)s->site.count, site, ranks);
    }
    if (v->n_recommendations)
        fprintf(f, "\nrecommendations:\n");
    for (size_t i = 0; i < v->n_recommendations; i++)
        fprintf(f, "  [%s] %s: %s\n", al_severity_name(v->recommendations[i].severity),
                v->recommendations[i].code, v->recommendations[i].message);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return NULL;
    }
    return buf;
}
