/* Soft and hard limits on tracked current bytes, checked on the allocation path.
 *
 * alloc.c calls ali_limits_admit only while a limit is set (ALI_GATE_LIMITS), so programs
 * without limits pay one relaxed load per allocation. The check reads the current balance
 * (ali_stats_current, a sum over the threads' shards) and is not a reservation: threads
 * allocating at the same instant may each pass the hard limit's check, so it can be exceeded by
 * at most their own allocations. Release functions and the comprehensive cleanup are in
 * registry.c and cleanup.c; scope budgets in scope.c. */
#include <pthread.h>
#include <stdio.h>

#include "astrolab/log.h"
#include "memory_int.h"
#include "registry_int.h"

#define SOFT_INTERVAL_DEFAULT_NS 100000000ull /* 100 ms */

static struct {
    pthread_mutex_t lock;          /* serializes al_memory_set_limit */
    _Atomic uint64_t soft;         /* bytes; 0: none */
    _Atomic uint64_t hard;         /* bytes; 0: none */
    _Atomic uint64_t interval_ns;  /* minimum time between two soft-limit cleanups */
    _Atomic uint64_t last_soft_ns; /* start of the last soft-limit cleanup; 0: none yet */
} lim = {.lock = PTHREAD_MUTEX_INITIALIZER, .interval_ns = SOFT_INTERVAL_DEFAULT_NS};

int al_memory_set_limit(uint64_t soft_bytes, uint64_t hard_bytes)
{
    if (soft_bytes && hard_bytes && soft_bytes > hard_bytes) {
        al_log(AL_LOG_ERROR, ALI_LOGGER,
               "al_memory_set_limit: soft limit %llu bytes is above the hard limit %llu bytes; "
               "limits unchanged",
               (unsigned long long)soft_bytes, (unsigned long long)hard_bytes);
        return AL_EINVAL;
    }
    pthread_mutex_lock(&lim.lock);
    atomic_store(&lim.soft, soft_bytes);
    atomic_store(&lim.hard, hard_bytes);
    atomic_store(&lim.last_soft_ns, 0); /* a new soft limit may act at once */
    ali_gate_set(ALI_GATE_LIMITS, soft_bytes != 0 || hard_bytes != 0);
    pthread_mutex_unlock(&lim.lock);
    al_log(AL_LOG_DEBUG, ALI_LOGGER, "limits: soft %llu bytes, hard %llu bytes (0: none)",
           (unsigned long long)soft_bytes, (unsigned long long)hard_bytes);
    return AL_OK;
}

void al_memory_get_limit(uint64_t *soft_bytes, uint64_t *hard_bytes)
{
    pthread_mutex_lock(&lim.lock);
    if (soft_bytes)
        *soft_bytes = atomic_load(&lim.soft);
    if (hard_bytes)
        *hard_bytes = atomic_load(&lim.hard);
    pthread_mutex_unlock(&lim.lock);
}

void al_memory_set_soft_interval(uint64_t ns) { atomic_store(&lim.interval_ns, ns); }

static uint64_t current_bytes(void)
{
    int64_t c = ali_stats_current();
    return c > 0 ? (uint64_t)c : 0;
}

/* True when `bytes` more on top of the current balance would exceed `limit`. */
static bool would_exceed(uint64_t bytes, uint64_t limit)
{
    uint64_t cur = current_bytes();
    return bytes > limit || cur > limit - bytes;
}

typedef struct soft_goal {
    uint64_t bytes; /* the allocation being admitted */
    uint64_t soft;
} soft_goal;

static bool soft_goal_met(void *ctx)
{
    const soft_goal *g = ctx;
    return !would_exceed(g->bytes, g->soft);
}

/* Claims the soft-limit cleanup for this interval; false when one ran too recently. */
static bool soft_turn(void)
{
    uint64_t now = ali_now_ns(), last = atomic_load(&lim.last_soft_ns);
    if (last && now - last < atomic_load(&lim.interval_ns))
        return false;
    return atomic_compare_exchange_strong(&lim.last_soft_ns, &last, now);
}

/* Runs release functions by priority until `bytes` more fit under the soft limit; when they
 * cannot get there, also empties the CUDA cache and purges the backing store. */
static void soft_cleanup(uint64_t bytes, uint64_t soft, const al_site *loc)
{
    if (!ali_cleanup_enter())
        return; /* an allocation made by a release function */
    if (!soft_turn()) {
        ali_cleanup_leave();
        return;
    }
    uint64_t before = current_bytes();
    soft_goal goal = {bytes, soft};
    ali_release_counts counts = {0};
    bool ran = ali_registry_release(false, soft_goal_met, &goal, &counts);
    bool met = soft_goal_met(&goal);
    if (ran && !met)
        (void)ali_cleanup_give_back();
    ali_cleanup_leave();
    if (!ran)
        return; /* another thread's cleanup is under way */
    ali_where where;
    ali_where_loc(&where, loc);
    al_log(AL_LOG_WARNING, ALI_LOGGER,
           "soft limit of %llu bytes crossed: %llu bytes in use and %llu more asked at %s; ran "
           "%llu release function(s) (%llu failed), %llu bytes in use now%s",
           (unsigned long long)soft, (unsigned long long)before, (unsigned long long)bytes,
           where.text, (unsigned long long)counts.run, (unsigned long long)counts.failed,
           (unsigned long long)current_bytes(),
           met ? "" : "; still above the limit after every release function");
}

/* Over the hard limit: the comprehensive cleanup, then a second look. */
static bool hard_admit(uint64_t bytes, uint64_t hard, const al_site *loc)
{
    al_cleanup_result r = {0};
    bool cleaned = ali_cleanup_enter();
    if (cleaned) {
        ali_cleanup_comprehensive(&r);
        ali_cleanup_leave();
    }
    if (!would_exceed(bytes, hard))
        return true;
    ali_where where;
    ali_where_loc(&where, loc);
    ali_memory_error("allocation of %llu bytes at %s refused: hard limit of %llu bytes would be "
                     "exceeded (%llu bytes in use%s)",
                     (unsigned long long)bytes, where.text, (unsigned long long)hard,
                     (unsigned long long)current_bytes(),
                     cleaned ? " after a comprehensive cleanup"
                             : "; no cleanup from inside a release function");
    return false;
}

bool ali_limits_admit(uint64_t bytes, const al_site *loc)
{
    uint64_t soft = atomic_load_explicit(&lim.soft, memory_order_relaxed);
    uint64_t hard = atomic_load_explicit(&lim.hard, memory_order_relaxed);
    if (hard && would_exceed(bytes, hard))
        return hard_admit(bytes, hard, loc);
    if (soft && would_exceed(bytes, soft))
        soft_cleanup(bytes, soft, loc);
    return true;
}
