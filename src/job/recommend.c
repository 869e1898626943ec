/* The recommendations of a job's view (<astrolab/job.h>): a site on some ranks only (a code
 * path only they took: usually a bug), a site on every rank (the program's design, or a leak
 * every rank repeats), and a rank whose peak stands far above the others'. At most LIMIT of
 * each kind, largest first, so that a job of many sites still reads in one screen. */
#include <stdio.h>
#include <string.h>

#include "job/job_int.h"

#define LIMIT 10
/* A rank's peak this many times the ranks' mean is worth a look: the work is not balanced;
 * below MIN_PEAK bytes the difference is noise (start-up, the runtime). */
#define IMBALANCE 1.5
#define MIN_PEAK (1u << 20)

void ali_job_ranks_text(const int *ranks, size_t n, char *buf, size_t len)
{
    size_t at = 0, shown = n > 6 ? 5 : n;
    buf[0] = 0;
    for (size_t i = 0; i < shown && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%d",
                               i == 0                         ? ""
                               : i + 1 == shown && shown == n ? " and "
                                                              : ", ",
                               ranks[i]);
    if (shown < n && at < len)
        snprintf(buf + at, len - at, " and %zu more", n - shown);
}

void ali_job_site_text(const al_job_site *s, char *buf, size_t len)
{
    const char *tag = s->tag && *s->tag ? s->tag : NULL, *fn = s->function ? s->function : "?";
    if (s->file && *s->file)
        snprintf(buf, len, "%s:%d in %s%s%s%s", s->file, s->line, fn, tag ? " (" : "",
                 tag ? tag : "", tag ? ")" : "");
    else /* no line information (a stripped program's "sort+0x135db"): the function alone */
        snprintf(buf, len, "%s%s%s%s", fn, tag ? " (" : "", tag ? tag : "", tag ? ")" : "");
}

static int add(al_job_view *v, size_t *cap, al_severity sev, const char *code, const char *msg)
{
    if (v->n_recommendations == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        al_job_recommendation *r = al_realloc(v->recommendations, c * sizeof *r);
        if (!r)
            return AL_ENOMEM;
        v->recommendations = r, *cap = c;
    }
    char *m = al_strdup(msg);
    if (!m)
        return AL_ENOMEM;
    v->recommendations[v->n_recommendations++] = (al_job_recommendation){sev, code, m};
    return AL_OK;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

int ali_job_recommend(al_job_view *v)
{
    size_t cap = 0;
    char msg[512], ranks[128];
    int rc = AL_OK;
    if (v->n_ranks > 1) {
        double mean = (double)v->sum_peak_bytes / (double)v->n_ranks;
        if ((double)v->peak_bytes > IMBALANCE * mean && v->peak_bytes >= MIN_PEAK) {
            snprintf(msg, sizeof msg,
                     "rank %d peaked at %.1f MiB, %.1fx the mean peak of the %zu ranks (%.1f "
                     "MiB): its part of the work is larger, or it keeps what the others free",
                     v->peak_rank, mib(v->peak_bytes), (double)v->peak_bytes / mean, v->n_ranks,
                     mib((uint64_t)mean));
            rc = add(v, &cap, AL_SEVERITY_WARNING, "memory_imbalance", msg);
        }
    }
    for (int every = 0; every < 2; every++) {
        size_t told = 0;
        for (size_t i = 0; i < v->n_sites && told < LIMIT && rc == AL_OK; i++) {
            const al_job_view_site *s = &v->sites[i];
            if (s->on_every_rank != every || !s->site.bytes)
                continue;
            char site[256];
            ali_job_ranks_text(s->ranks, s->n_ranks, ranks, sizeof ranks);
            ali_job_site_text(&s->site, site, sizeof site);
            if (every)
                snprintf(msg, sizeof msg,
                         "%s holds %llu bytes in %llu blocks on every rank (rank %d most, %llu "
                         "bytes): the program's design, or a leak every rank repeats",
                         site, (unsigned long long)s->site.bytes, (unsigned long long)s->site.count,
                         s->max_rank, (unsigned long long)s->max_bytes);
            else
                snprintf(msg, sizeof msg,
                         "%s holds %llu bytes in %llu blocks on rank%s %s only, of %zu: a code "
                         "path only %s took, likely a leak",
                         site, (unsigned long long)s->site.bytes, (unsigned long long)s->site.count,
                         s->n_ranks > 1 ? "s" : "", ranks, v->n_ranks,
                         s->n_ranks > 1 ? "they" : "it");
            rc = add(v, &cap, every ? AL_SEVERITY_INFO : AL_SEVERITY_WARNING,
                     every ? "leak_on_every_rank" : "leak_on_some_ranks", msg);
            told++;
        }
    }
    return rc;
}
