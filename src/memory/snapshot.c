/* Samples of the per-site counters (snapshots) and the bounded history behind growth and the
 * suspected_leak rule (defined in <astrolab/diagnosis.h>).
 *
 * The history keeps, per site, its live bytes and allocation count at the last
 * AL_DIAGNOSIS_WINDOW_MAX + 1 samples in a ring, in bookkeeping memory: O(sites) memory, and a
 * sample costs O(sites x threads) counter reads, never a walk over blocks. Sample 0 is the
 * process start, all zeros, which is what a zeroed ring entry holds: a site created after a
 * sample correctly reads as empty at that sample. Building the diagnosis from a sample is in
 * diagnosis.c, the other rules in recommend.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_int.h"
#include "util/assert_int.h"
#include "util/grow_int.h"

#define RING (AL_DIAGNOSIS_WINDOW_MAX + 1)

typedef struct hist_site {
    int64_t bytes[RING];   /* live bytes at sample m, in slot m % RING */
    uint64_t allocs[RING]; /* blocks ever allocated, at sample m */
    int64_t count;         /* live blocks at the latest sample */
} hist_site;

static struct {
    pthread_mutex_t lock; /* guards every field below */
    uint64_t samples;     /* samples taken since the start (or the last reset) */
    uint64_t last_ns;     /* time of the latest sample, 0: none */
    hist_site *sites;     /* by site id */
    uint32_t nsites;      /* entries in use (zeroed when added) */
    uint32_t cap;
} hist = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool hist_reserve_locked(uint32_t n);

void *ali_diag_alloc(size_t n)
{
    if (AL_UNLIKELY((ali_gates_now() & ALI_GATE_FAULT)) &&
        ali_fault_should_fail("al_diagnosis", NULL))
        return NULL;
    return ali_internal_alloc(n ? n : 1);
}

void *ali_diag_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    void *p = ali_diag_alloc(total);
    if (p)
        memset(p, 0, total ? total : 1);
    return p;
}

/* The current figures become sample 0, so that what happened before the reset (sites that
 * allocated and freed long ago) does not count as activity in the next windows. */
void ali_diagnosis_history_reset(void)
{
    uint32_t n = ali_site_count();
    pthread_mutex_lock(&hist.lock);
    if (hist.sites)
        memset(hist.sites, 0, (size_t)hist.nsites * sizeof *hist.sites);
    if (hist_reserve_locked(n))
        for (uint32_t i = 0; i < n; i++) {
            ali_site_totals t;
            memset(&t, 0, sizeof t);
            if (ali_site_by_id(i))
                ali_site_totals_get(i, &t);
            hist.sites[i].bytes[0] = t.live_bytes;
            hist.sites[i].allocs[0] = t.allocs;
            hist.sites[i].count = t.live_count;
        }
    hist.samples = 0;
    hist.last_ns = 0;
    pthread_mutex_unlock(&hist.lock);
}

/* Makes room for n sites; the new entries are zero (empty at every past sample). */
static bool hist_reserve_locked(uint32_t n)
{
    assert(ali_mutex_held(&hist.lock));
    if (n > hist.cap) {
        size_t cap;
        if (!ali_grow_cap(hist.cap, n, 64, sizeof *hist.sites, &cap))
            return false;
        if (cap > UINT32_MAX)
            cap = UINT32_MAX; /* site ids are 32-bit: n fits */
        hist_site *s = ali_internal_realloc(hist.sites, cap * sizeof *s);
        if (!s)
            return false;
        hist.sites = s;
        hist.cap = (uint32_t)cap;
    }
    if (n > hist.nsites) {
        memset(hist.sites + hist.nsites, 0, (size_t)(n - hist.nsites) * sizeof *hist.sites);
        hist.nsites = n;
    }
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Number of entries of sorted g[0..n) that are <= v. */
static size_t count_le(const int64_t *g, size_t n, int64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Applies the suspected_leak rule at sample n over the last k steps; `g` has room for one
 * entry per site. Caller holds the lock. */
static void judge_locked(al_snapshot *snap, uint64_t n, uint32_t k, uint64_t min_bytes, int64_t *g)
{
    assert(ali_mutex_held(&hist.lock));
    if (n < k)
        return;
    size_t nactive = 0, ncand = 0;
    for (uint32_t i = 0; i < snap->nsites; i++) {
        const hist_site *h = &hist.sites[i];
        int64_t first = h->bytes[(n - k) % RING], last = h->bytes[n % RING];
        bool rising = true;
        for (uint64_t m = n - k; m < n && rising; m++)
            rising = h->bytes[(m + 1) % RING] > h->bytes[m % RING];
        int64_t d = last - first;
        bool active = d != 0 || h->allocs[n % RING] != h->allocs[(n - k) % RING];
        if (active)
            g[nactive++] = d;
        if (rising && d >= (int64_t)min_bytes) {
            snap->sites[i].suspect = true;
            snap->sites[i].window_bytes = d;
            ncand++;
        }
    }
    if (!ncand)
        return;
    qsort(g, nactive, sizeof *g, cmp_i64);
    size_t others = nactive - 1; /* every candidate is active */
    for (uint32_t i = 0; i < snap->nsites; i++) {
        ali_snap_site *s = &snap->sites[i];
        if (!s->suspect || others == 0)
            continue;
        /* The candidate's own growth is above d/8, so it is not among those counted. */
        size_t steady = count_le(g, nactive, s->window_bytes / 8);
        if (steady < (others - 1) / 2 + 1)
            s->suspect = false;
    }
}

al_snapshot *ali_snapshot_take(const al_diagnosis_thresholds *th)
{
    al_snapshot *snap = ali_diag_calloc(1, sizeof *snap);
    if (!snap)
        return NULL;
    /* Sites created from here on are left to the next sample. */
    uint32_t nsites = ali_site_count();
    snap->sites = ali_diag_calloc(nsites, sizeof *snap->sites);
    int64_t *g = ali_diag_calloc(nsites, sizeof *g);
    if (!snap->sites || !g) {
        ali_internal_free(g);
        al_snapshot_free(snap);
        return NULL;
    }
    snap->nsites = nsites;
    snap->leak_samples = th->leak_samples;
    if (al_get_memory_stats(&snap->stats) != AL_OK)
        memset(&snap->stats, 0, sizeof snap->stats); /* cannot fail with a valid pointer */
    if (ali_diagnosis_stats_override)
        ali_diagnosis_stats_override(&snap->stats);
    const ali_device_hooks *dev = ali_device_hooks_get();
    if (dev->device_memory &&
        dev->device_memory(&snap->cuda_used_bytes, &snap->cuda_total_bytes) != 0)
        snap->cuda_used_bytes = snap->cuda_total_bytes = 0;

    pthread_mutex_lock(&hist.lock);
    if (!hist_reserve_locked(nsites)) {
        pthread_mutex_unlock(&hist.lock);
        ali_internal_free(g);
        al_snapshot_free(snap);
        return NULL;
    }
    uint64_t n = ++hist.samples;
    snap->sample = n;
    snap->time_ns = ali_now_ns();
    snap->prev_time_ns = hist.last_ns;
    hist.last_ns = snap->time_ns;
    for (uint32_t i = 0; i < nsites; i++) {
        ali_snap_site *s = &snap->sites[i];
        hist_site *h = &hist.sites[i];
        s->site = ali_site_by_id(i);
        if (s->site) {
            ali_site_totals get;
            ali_site_totals_get(i, &get);
            s->live_bytes = get.live_bytes;
            s->live_count = get.live_count;
            s->allocs = get.allocs;
            s->reclaimed = get.reclaimed;
            s->reclaimed_bytes = get.reclaimed_bytes;
        }
        s->prev_bytes = h->bytes[(n - 1) % RING];
        s->prev_count = h->count;
        h->bytes[n % RING] = s->live_bytes;
        h->allocs[n % RING] = s->allocs;
        h->count = s->live_count;
    }
    /* A concurrent sampler that read a larger site count may have entered sites this one
     * did not read: carry their figures forward rather than show them as freed. */
    for (uint32_t i = nsites; i < hist.nsites; i++) {
        hist.sites[i].bytes[n % RING] = hist.sites[i].bytes[(n - 1) % RING];
        hist.sites[i].allocs[n % RING] = hist.sites[i].allocs[(n - 1) % RING];
    }
    judge_locked(snap, n, th->leak_samples, th->leak_min_bytes, g);
    pthread_mutex_unlock(&hist.lock);
    ali_internal_free(g);
    return snap;
}

al_snapshot *al_memory_snapshot(void)
{
    al_diagnosis_thresholds th;
    ali_diagnosis_thresholds(&th);
    return ali_snapshot_take(&th);
}

int al_snapshot_totals(const al_snapshot *s, uint64_t *bytes, uint64_t *count)
{
    if (!s)
        return AL_EINVAL;
    int64_t b = 0, c = 0;
    for (uint32_t i = 0; i < s->nsites; i++) {
        b += s->sites[i].live_bytes;
        c += s->sites[i].live_count;
    }
    if (bytes)
        *bytes = b > 0 ? (uint64_t)b : 0;
    if (count)
        *count = c > 0 ? (uint64_t)c : 0;
    return AL_OK;
}

void al_snapshot_free(al_snapshot *s)
{
    if (!s)
        return;
    ali_internal_free(s->sites);
    ali_internal_free(s);
}
