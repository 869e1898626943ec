/* What the memory manager offers the other modules (cuda, ui, preload): the clock, error
 * reporting, the bookkeeping allocator, the comprehensive cleanup, and the hooks through which
 * they join the manager. Everything else under src/memory/ is private to it (and, for the block
 * layout and the allocation worker, to the preload library: block_int.h, front_int.h).
 * Never installed. */
#ifndef ASTROLAB_MEMORY_SERVICES_INT_H
#define ASTROLAB_MEMORY_SERVICES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "astrolab/diagnosis.h"
#include "astrolab/memory.h"

/* -------- Clock. -------- */

/* Monotonic clock, ns. */
uint64_t ali_now_ns(void);

/* -------- Error reporting. -------- */

/* Aborts the process when ASTROLAB_ABORT_ON_ERROR=1 (read once); else returns. Every module
 * calls it after reporting a misuse error. */
void ali_abort_if_asked(void);
/* Reports an error on astrolab.memory (ERROR), counts it, and aborts the process only when
 * ASTROLAB_ABORT_ON_ERROR=1. */
void ali_memory_error(const char *fmt, ...) AL_PRINTF(1, 2);
/* Counts one error (invalid free, corruption, failure) in the statistics, for a module that
 * reports it in its own words (then calls ali_abort_if_asked). */
void ali_stats_error(void);

/* -------- Bookkeeping memory: the backing allocator, never tracked. -------- */

void *ali_internal_alloc(size_t n);
void *ali_internal_calloc(size_t n, size_t size);
void *ali_internal_realloc(void *p, size_t n);
char *ali_internal_strdup(const char *s);
void ali_internal_free(void *p);

/* -------- The comprehensive cleanup, for a device allocator out of memory. -------- */

/* The per-thread guard against re-entry: release functions may allocate or free, and those
 * must not start another cleanup on the same thread. Returns false when the calling thread is
 * already inside a cleanup (do nothing then); otherwise enters, and ali_cleanup_leave leaves. */
bool ali_cleanup_enter(void);
void ali_cleanup_leave(void);
/* True when the calling thread holds the guard (for assert). */
bool ali_cleanup_held(void);
/* The comprehensive cleanup, for a caller holding the guard: every release function, the CUDA
 * cache, the backing store's purge. Fills *out. */
void ali_cleanup_comprehensive(al_cleanup_result *out);

/* -------- Hooks filled by other modules. -------- */

/* What a device allocator (the CUDA module) lends the manager. Any field may be NULL. */
typedef struct ali_device_hooks {
    /* Empties the device cache; returns the device bytes released (the comprehensive cleanup). */
    uint64_t (*release)(void);
    /* Fills the cuda_* fields of stats (al_get_memory_stats). */
    void (*fill_stats)(al_memory_stats *out);
    /* Resets the device peaks (al_reset_peak_memory_stats). */
    void (*reset_peaks)(void);
    /* The current device's used (total - free) and total memory, in bytes, for the diagnosis.
     * Returns 0 and fills both when known. */
    int (*device_memory)(uint64_t *used_bytes, uint64_t *total_bytes);
} ali_device_hooks;

/* Registers the device allocator's hooks (NULL: none) and returns the previous registration.
 * `hooks` must stay valid until replaced (a static const). Any thread; the manager reads the
 * registration once per use. */
const ali_device_hooks *ali_memory_set_device_hooks(const ali_device_hooks *hooks);

/* Marks the calling thread's malloc-family calls as the manager's own (untracked), for the
 * dashboard's threads: set by the preload library, so that `astrolab run --ui` does not count
 * the dashboard in the program's figures; NULL in the library, where plain malloc is never
 * tracked. Idempotent. */
extern void (*ali_own_thread_hook)(void);

/* Called after a thread publishes its batch of balance changes (every AL_STATS_BATCH_BYTES of
 * change per thread), with the process's published balance: the preload library samples its
 * timeline there (src/preload/timeline.c). NULL in the library. Runs on the allocating thread,
 * inside malloc or free: it must not allocate through the tracked path. */
extern void (*ali_stats_publish_hook)(int64_t balance);

/* -------- Figures. -------- */

/* Live blocks and bytes per tag, summed over every site's counters as they are now: no sample
 * is taken, so diagnoses are unaffected (the dashboard's /metrics). Lists every tag any site
 * has, with zeros when nothing of it is live; `sites` counts the sites holding live blocks,
 * `flagged` is 0; sorted by tag. Sets *out to the array (bookkeeping memory: free it
 * with ali_internal_free) and returns its length; -1 when out of memory. O(sites). */
long ali_memory_tag_sums(al_diagnosis_type **out);

/* -------- Build facts. -------- */

/* The backing store under the tracked allocator: "mimalloc" or "system" (backing.h). */
const char *ali_memory_backing_name(void);

#endif
