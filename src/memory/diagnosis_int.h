/* Internals of the diagnosis, shared between thresholds.c (settings), snapshot.c (samples and
 * the leak history), diagnosis.c (building the record), recommend.c (the rules),
 * diagnosis_render.c (JSON and text) and leak_report.c (the exit report); plus the seams the
 * tests use. Never installed. */
#ifndef ASTROLAB_DIAGNOSIS_INT_H
#define ASTROLAB_DIAGNOSIS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "astrolab/diagnosis.h"
#include "front_int.h"
#include "memory_int.h"
#include "util/format_int.h"

/* -------- Test seams. -------- */

/* Called on the statistics of every sample before they are judged: tests inject RSS and
 * device figures with it. NULL in production. */
extern void (*ali_diagnosis_stats_override)(al_memory_stats *s);
/* Forgets every sample: the figures now become the history's sample 0. */
void ali_diagnosis_history_reset(void);
/* Re-reads the settings table from the environment over the defaults, as at first use. */
void ali_diagnosis_settings_reload(void);

/* -------- Settings (thresholds.c). -------- */

/* The thresholds in force (reads the environment once, on first call). */
void ali_diagnosis_thresholds(al_diagnosis_thresholds *out);

/* -------- Samples (snapshot.c). -------- */

/* One site in a sample. */
typedef struct ali_snap_site {
    ali_site *site; /* NULL for an id with no record yet */
    int64_t live_bytes;
    int64_t live_count;
    uint64_t allocs;
    uint64_t reclaimed;
    uint64_t reclaimed_bytes;
    int64_t prev_bytes; /* at the previous sample of the history */
    int64_t prev_count;
    int64_t window_bytes; /* growth over the leak window, when suspect */
    bool suspect;         /* the suspected_leak rule holds at this sample */
} ali_snap_site;

struct al_snapshot {
    uint64_t sample;          /* 1, 2, ...: its place in the history */
    uint64_t time_ns;         /* ali_now_ns() when taken */
    uint64_t prev_time_ns;    /* time of the previous sample (0: the process start) */
    al_memory_stats stats;    /* al_get_memory_stats, after ali_diagnosis_stats_override */
    uint64_t cuda_used_bytes; /* from the device hooks (device_memory), 0: unknown */
    uint64_t cuda_total_bytes;
    uint32_t leak_samples; /* K the suspect flags were judged with */
    uint32_t nsites;       /* sites[] is indexed by site id */
    ali_snap_site *sites;
};

/* Takes a sample into the history and returns it as a snapshot (bookkeeping memory). */
al_snapshot *ali_snapshot_take(const al_diagnosis_thresholds *th);

/* -------- Building and judging (diagnosis.c, recommend.c). -------- */

/* Builds the diagnosis of `now`, with growth from `base` (NULL: the previous sample recorded in
 * now's sites). NULL when out of memory. */
al_diagnosis *ali_diagnosis_build(const al_snapshot *now, const al_snapshot *base, bool use_prev,
                                  const al_diagnosis_thresholds *th);
/* Adds the recommendations for `now` to d. Returns false when out of memory. */
bool ali_recommend(al_diagnosis *d, const al_snapshot *now);
/* Fills the location fields of out from a site record (symbolizing preload sites). */
void ali_diag_site_locate(const ali_site *s, al_diagnosis_site *out);
/* Describes a located site (ali_where_format) into w and returns w->text. */
static inline const char *ali_where_diag(ali_where *w, const al_diagnosis_site *s)
{
    return ali_where_format(w, s->file, s->function, s->line, s->pc);
}

/* Bookkeeping allocation of the diagnosis: the backing allocator, never tracked, failing under
 * al_memory_fail_after as a tracked allocation tagged "al_diagnosis" would, so that the error
 * paths can be tested. */
void *ali_diag_alloc(size_t n);
void *ali_diag_calloc(size_t n, size_t size);

#endif
