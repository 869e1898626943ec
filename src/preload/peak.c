/* What was live at the high-water mark, and the temporaries: the figures of the run report's
 * `peak` and `temporaries` (docs/RUN-REPORT.md). report.c turns them into JSON.
 *
 * The peak. The per-site counters (site.c) always hold what each site has live; the peak by
 * site is a copy of them taken at the moment the balance turns down from a new high. preload.c
 * asks here (ali_peak_turn) on a free or a shrinking realloc only when the freeing thread's
 * unpublished balance is at its own high since its last publish (memory_int.h's pending ==
 * pending_max: one compare of two fields the free writes anyway), and a copy is taken only when
 * the whole process's balance is above the last copy's. The copy costs one pass over every
 * site's counters; a program whose balance climbs through many small turns would pay it at
 * each, so a new copy needs a margin above the last one (see margin()), larger once copying
 * has cost 1% of the run's time. The report says whether the copy is the peak exactly (`exact`): it
 * is when its total equals the peak the statistics measured. With several threads allocating at
 * once the copy is of counters read while others change them: close to, not exactly, the peak.
 *
 * Temporaries, as heaptrack defines them: a block freed by its thread with no allocation by
 * that thread in between. preload.c remembers each thread's last block; a free of it counts
 * one temporary for its site, in per-thread counters summed at exit. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "memory/memory_int.h"
#include "preload_int.h"

static struct {
    pthread_mutex_t lock;     /* guards every field below but `high` */
    _Atomic int64_t high;     /* the balance of the last copy: a turn below it is not a peak */
    ali_peak_site *sites;     /* the copy: live count and bytes per site id, n entries */
    uint32_t n, cap;          /* entries in sites, and room */
    int64_t bytes;            /* the balance the copy was taken at */
    uint64_t time_ns;         /* when, since start_ns */
    uint64_t copies;          /* copies taken */
    uint64_t start_ns;        /* the preload library's start */
    _Atomic uint64_t copy_ns; /* time spent copying, in all */
} pk = {.lock = PTHREAD_MUTEX_INITIALIZER};

void ali_peak_start(void) { pk.start_ns = ali_now_ns(); }

int64_t ali_stats_current_balance(void) { return ali_stats_current(); }

uint64_t ali_peak_since_start(void) { return ali_now_ns() - pk.start_ns; }

/* The margin a new copy needs above the last: none for the first 64 copies, then 1/256 of
 * the balance, and 1/32 while copying has cost more than 1% of the run's time so far. */
static int64_t margin(int64_t high, uint64_t copies)
{
    if (copies < 64)
        return 0;
    uint64_t spent = atomic_load_explicit(&pk.copy_ns, memory_order_relaxed);
    return spent * 100 > ali_peak_since_start() ? high >> 5 : high >> 8;
}

/* Copies every site's live figures; lock held. False when out of memory (no copy). */
static bool copy_locked(int64_t balance)
{
    uint32_t n = ali_site_count();
    if (n > pk.cap) {
        uint32_t cap = n + n / 2 + 64;
        ali_peak_site *s = ali_internal_realloc(pk.sites, (size_t)cap * sizeof *s);
        if (!s)
            return false;
        pk.sites = s;
        pk.cap = cap;
    }
    uint64_t began = ali_now_ns();
    for (uint32_t id = 0; id < n; id++) {
        ali_site_totals t;
        ali_site_totals_get(id, &t);
        pk.sites[id].count = t.live_count;
        pk.sites[id].bytes = t.live_bytes;
    }
    ali_sample_peak_copy(); /* the sampled stacks' live estimates, at the same moment */
    pk.n = n;
    pk.bytes = balance;
    pk.time_ns = ali_peak_since_start();
    pk.copies++;
    atomic_fetch_add_explicit(&pk.copy_ns, ali_now_ns() - began, memory_order_relaxed);
    atomic_store_explicit(&pk.high, balance, memory_order_relaxed);
    return true;
}

void ali_peak_turn(void)
{
    int64_t balance = ali_stats_current();
    int64_t high = atomic_load_explicit(&pk.high, memory_order_relaxed);
    if (balance <= high + margin(high, pk.copies))
        return;
    if (pthread_mutex_trylock(&pk.lock) != 0)
        return;          /* another thread is copying a peak this very moment */
    ali_preload_enter(); /* the copy's allocation is the manager's */
    if (balance > atomic_load_explicit(&pk.high, memory_order_relaxed))
        copy_locked(balance);
    ali_preload_leave();
    pthread_mutex_unlock(&pk.lock);
}

const ali_peak_site *ali_peak_get(uint32_t *n, int64_t *bytes, uint64_t *time_ns)
{
    pthread_mutex_lock(&pk.lock);
    int64_t balance = ali_stats_current();
    if (balance >= pk.bytes || !pk.sites) /* never turned down since: the end is the peak */
        copy_locked(balance);
    pthread_mutex_unlock(&pk.lock);
    *n = pk.n;
    *bytes = pk.bytes;
    *time_ns = pk.time_ns;
    return pk.sites;
}

/* -------- Temporaries: per-thread counters by site id (preload.c counts, inline), never
 * freed: a thread that ended leaves its counts for the report, and an array outgrown stays
 * valid for a report reading it meanwhile. -------- */
typedef struct temp_thread {
    ali_temp_counts *_Atomic counts; /* the owner's current array */
    struct temp_thread *next;        /* every thread's, for the report */
} temp_thread;

ALI_TLS ali_temp_counts *ali_tls_temps;
static ALI_TLS temp_thread *tls_thread;
static _Atomic(temp_thread *) all_temps;

void ali_temporary_slow(uint32_t site)
{
    ali_preload_enter();
    temp_thread *t = tls_thread;
    if (!t && (t = ali_internal_calloc(1, sizeof *t)) != NULL) {
        t->next = atomic_load(&all_temps);
        while (!atomic_compare_exchange_weak(&all_temps, &t->next, t))
            ;
        tls_thread = t;
    }
    ali_temp_counts *old = ali_tls_temps;
    uint32_t cap = site + site / 2 + 256;
    ali_temp_counts *c =
        t ? ali_internal_calloc(1, sizeof *c + (size_t)cap * sizeof c->n[0]) : NULL;
    if (c) {
        c->cap = cap;
        for (uint32_t i = 0; old && i < old->cap; i++)
            atomic_store_explicit(&c->n[i], atomic_load_explicit(&old->n[i], memory_order_relaxed),
                                  memory_order_relaxed);
        ALI_BUMP(c->n[site], 1);
        atomic_store_explicit(&t->counts, c, memory_order_release);
        ali_tls_temps = c;
    }
    ali_preload_leave();
}

uint64_t ali_temporaries_of(uint32_t site)
{
    uint64_t sum = 0;
    for (temp_thread *t = atomic_load(&all_temps); t; t = t->next) {
        ali_temp_counts *c = atomic_load_explicit(&t->counts, memory_order_acquire);
        if (c && site < c->cap)
            sum += atomic_load_explicit(&c->n[site], memory_order_relaxed);
    }
    return sum;
}
