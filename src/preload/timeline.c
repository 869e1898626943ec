/* Memory over time: the run report's `timeline`, rows of [time_ns, current_bytes, rss_bytes]
 * (docs/RUN-REPORT.md). A row is taken when a thread publishes its batch of balance changes
 * (stats.c calls ali_stats_publish_hook every AL_STATS_BATCH_BYTES of change per thread) and
 * either TIMELINE_EVERY_NS passed since the last row or the balance moved by 1% of the last
 * row's; the report adds the peak's row (peak.c) and the last. Reading the RSS costs a read of
 * /proc/self/status (about 10 us), so it is read at most once per TIMELINE_RSS_NS (1% of one
 * core at worst); a row taken sooner carries the last RSS read. A program whose balance does
 * not change takes no rows but the first and last. When the table fills, every other row is
 * dropped and the interval doubles, so a long run keeps its whole span at a coarser step. */
#include <pthread.h>
#include <string.h>

#include "astrolab/memory.h"
#include "memory/services_int.h"
#include "preload_int.h"

#define TIMELINE_ROWS 4096
#define TIMELINE_EVERY_NS 10000000ull /* 10 ms */
#define TIMELINE_RSS_NS 1000000ull    /* 1 ms */

static struct {
    pthread_mutex_t lock;       /* guards every field below */
    ali_run_timeline_row *rows; /* TIMELINE_ROWS, bookkeeping memory; NULL until the first row */
    size_t n;
    uint64_t every_ns;    /* the time step, doubled at each thinning */
    uint64_t rss, rss_ns; /* the last RSS read, and when */
} tl = {.lock = PTHREAD_MUTEX_INITIALIZER, .every_ns = TIMELINE_EVERY_NS};

/* Appends a row; lock held. */
static void add_locked(uint64_t t, int64_t balance)
{
    if (!tl.rows && !(tl.rows = ali_internal_calloc(TIMELINE_ROWS, sizeof *tl.rows)))
        return;
    if (tl.n == TIMELINE_ROWS) { /* thin: keep the first of every two, step twice as long */
        for (size_t i = 0; i < TIMELINE_ROWS / 2; i++)
            tl.rows[i] = tl.rows[2 * i];
        tl.n = TIMELINE_ROWS / 2;
        tl.every_ns *= 2;
    }
    size_t at = tl.n; /* in time order: the peak's row comes late */
    while (at > 0 && tl.rows[at - 1].time_ns > t)
        at--;
    uint64_t rss = tl.rss;
    if (at < tl.n) /* a row of the past: the RSS read before it */
        rss = at > 0 ? tl.rows[at - 1].rss_bytes : 0;
    else if (!tl.rss_ns || t - tl.rss_ns >= TIMELINE_RSS_NS) {
        (void)!al_process_rss(&tl.rss, NULL);
        tl.rss_ns = t ? t : 1;
        rss = tl.rss;
    }
    memmove(&tl.rows[at + 1], &tl.rows[at], (tl.n - at) * sizeof *tl.rows);
    tl.rows[at] = (ali_run_timeline_row){t, balance > 0 ? (uint64_t)balance : 0, rss};
    tl.n++;
}

static void on_publish(int64_t balance)
{
    if (pthread_mutex_trylock(&tl.lock) != 0)
        return; /* another thread is taking a row now */
    uint64_t t = ali_peak_since_start();
    const ali_run_timeline_row *last = tl.n ? &tl.rows[tl.n - 1] : NULL;
    uint64_t b = balance > 0 ? (uint64_t)balance : 0;
    uint64_t moved =
        last ? (b > last->current_bytes ? b - last->current_bytes : last->current_bytes - b) : b;
    if (!last || t - last->time_ns >= tl.every_ns || moved * 100 >= last->current_bytes) {
        ali_preload_enter();
        add_locked(t, balance);
        ali_preload_leave();
    }
    pthread_mutex_unlock(&tl.lock);
}

void ali_run_timeline_start(void)
{
    pthread_mutex_lock(&tl.lock);
    ali_preload_enter();
    add_locked(0, ali_stats_current_balance());
    ali_preload_leave();
    pthread_mutex_unlock(&tl.lock);
    ali_stats_publish_hook = on_publish;
}

const ali_run_timeline_row *ali_run_timeline_get(size_t *n, uint64_t peak_ns, int64_t peak)
{
    pthread_mutex_lock(&tl.lock);
    ali_preload_enter();
    add_locked(peak_ns, peak);
    add_locked(ali_peak_since_start(), ali_stats_current_balance()); /* the end */
    ali_preload_leave();
    *n = tl.n;
    pthread_mutex_unlock(&tl.lock);
    return tl.rows;
}
