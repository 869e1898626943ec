/* Fault injection for tests of error paths, after SQLite's sqlite3_memdebug_fail and curl's
 * torture mode: the n-th next matching tracked allocation fails, once or from then on; and, for
 * tests, the n-th next bookkeeping allocation (ali_fault_internal_after).
 * Settings are guarded by one mutex; the allocation fast path reads only ALI_GATE_FAULT. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "memory_int.h"
#include "util/assert_int.h"
#include "util/settings_int.h"

static struct {
    pthread_mutex_t lock; /* guards every field below */
    uint64_t countdown;   /* matching allocations left before the first failure */
    int repeat;
    char *tag; /* internal copy, or NULL */
    const al_scope *scope;
    bool env_read;
} fault = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic uint64_t failures;

static void disarm_locked(void)
{
    assert(ali_mutex_held(&fault.lock));
    ali_internal_free(fault.tag);
    fault.tag = NULL;
    fault.scope = NULL;
    fault.countdown = 0;
    ali_gate_set(ALI_GATE_FAULT, false);
}

int al_memory_fail_set(const al_fail_spec *spec)
{
    if (!spec)
        return AL_EINVAL;
    char *tag = NULL;
    if (spec->tag && !(tag = ali_internal_strdup(spec->tag)))
        return AL_ENOMEM;
    pthread_mutex_lock(&fault.lock);
    disarm_locked();
    if (spec->after) {
        fault.countdown = spec->after;
        fault.repeat = spec->repeat;
        fault.tag = tag;
        fault.scope = spec->scope;
        tag = NULL;
        ali_gate_set(ALI_GATE_FAULT, true);
    }
    pthread_mutex_unlock(&fault.lock);
    ali_internal_free(tag);
    return AL_OK;
}

void al_memory_fail_after(uint64_t n, int repeat)
{
    al_fail_spec spec = {.after = n, .repeat = repeat};
    (void)!al_memory_fail_set(&spec); /* fails only for NULL */
}

uint64_t al_memory_fail_count(void) { return atomic_load(&failures); }

bool ali_fault_should_fail(const char *tag, const al_scope *owner)
{
    bool fail = false;
    pthread_mutex_lock(&fault.lock);
    if (fault.countdown && (!fault.tag || (tag && strcmp(tag, fault.tag) == 0)) &&
        (!fault.scope || fault.scope == owner)) {
        if (--fault.countdown == 0) {
            fail = true;
            if (fault.repeat)
                fault.countdown = 1;
            else
                disarm_locked();
        }
    }
    pthread_mutex_unlock(&fault.lock);
    if (fail)
        atomic_fetch_add(&failures, 1);
    return fail;
}

static _Atomic uint64_t internal_countdown; /* bookkeeping allocations left before the failure */

void ali_fault_internal_after(uint64_t n)
{
    atomic_store(&internal_countdown, n);
    ali_gate_set(ALI_GATE_INTERNAL_FAULT, n != 0);
}

bool ali_fault_internal_fails(void)
{
    uint64_t left = atomic_load(&internal_countdown);
    while (left && !atomic_compare_exchange_weak(&internal_countdown, &left, left - 1))
        ;
    if (left != 1)
        return false;
    ali_gate_set(ALI_GATE_INTERNAL_FAULT, false);
    if (atomic_load(&internal_countdown)) /* armed again meanwhile: keep its gate open */
        ali_gate_set(ALI_GATE_INTERNAL_FAULT, true);
    return true;
}

/* ASTROLAB_FAIL_AFTER=n[,repeat] arms injection when the library is loaded. */
__attribute__((constructor)) static void fault_from_env(void)
{
    const char *e = ali_setting_text(ALI_SET_FAIL_AFTER);
    if (!e)
        return;
    char *end = (char *)e;
    errno = 0;
    /* Digits only: strtoull alone takes "-1" (a huge count), "+5" and leading blanks. */
    unsigned long long n = *e >= '0' && *e <= '9' ? strtoull(e, &end, 10) : 0;
    int repeat = 0;
    if (end != e && errno == 0 && *end == ',' && strcmp(end + 1, "repeat") == 0)
        repeat = 1;
    else if (*end != '\0' || end == e || errno != 0) {
        al_log(AL_LOG_WARNING, ALI_LOGGER,
               "ASTROLAB_FAIL_AFTER=%s: expected a count, optionally followed by \",repeat\"; "
               "ignored",
               e);
        return;
    }
    al_memory_fail_after(n, repeat);
}
