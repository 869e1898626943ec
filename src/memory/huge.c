/* The blocks of ALI_HUGE_MIN bytes or more that the backing store holds, for backing_owns:
 * mimalloc 2.0.9's mi_is_in_heap_region does not know blocks of 1 GiB or more (backing.h). A
 * fixed table under one lock: such blocks are few (a table full of them holds 512 GiB) and
 * their allocation costs far more than this bookkeeping. Only the mimalloc backing uses it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "astrolab/log.h"

#define HUGE_SLOTS 1024

_Atomic int ali_huge_count; /* live entries: backing.h reads it without the lock */

static struct {
    pthread_mutex_t lock; /* guards every field below */
    struct {
        uintptr_t lo, hi; /* the raw block [lo, hi); lo 0: a free slot */
        void *heap;       /* the scope heap it came from, or NULL */
    } e[HUGE_SLOTS];
    int used; /* slots 0..used-1 may be taken */
    int full_warned;
} huge = {.lock = PTHREAD_MUTEX_INITIALIZER};

void ali_huge_add(void *raw, size_t n, void *heap)
{
    pthread_mutex_lock(&huge.lock);
    int i = 0;
    while (i < huge.used && huge.e[i].lo)
        i++;
    if (i < HUGE_SLOTS) {
        huge.e[i].lo = (uintptr_t)raw;
        huge.e[i].hi = (uintptr_t)raw + n;
        huge.e[i].heap = heap;
        huge.used = i == huge.used ? i + 1 : huge.used;
        atomic_fetch_add(&ali_huge_count, 1);
    } else if (!huge.full_warned++) {
        al_log(AL_LOG_WARNING, "astrolab.memory",
               "more than %d blocks of 512 MiB or more: later ones are not recognised as the "
               "manager's by free",
               HUGE_SLOTS);
    }
    pthread_mutex_unlock(&huge.lock);
}

void ali_huge_remove(void *raw)
{
    pthread_mutex_lock(&huge.lock);
    for (int i = 0; i < huge.used; i++)
        if (huge.e[i].lo == (uintptr_t)raw) {
            huge.e[i].lo = huge.e[i].hi = 0;
            atomic_fetch_sub(&ali_huge_count, 1);
            break;
        }
    pthread_mutex_unlock(&huge.lock);
}

void ali_huge_forget_heap(void *heap, int destroyed)
{
    pthread_mutex_lock(&huge.lock);
    for (int i = 0; i < huge.used; i++) {
        if (!huge.e[i].lo || huge.e[i].heap != heap)
            continue;
        if (destroyed) {
            huge.e[i].lo = huge.e[i].hi = 0;
            atomic_fetch_sub(&ali_huge_count, 1);
        } else {
            huge.e[i].heap = NULL;
        }
    }
    pthread_mutex_unlock(&huge.lock);
}

int ali_huge_contains(const void *p)
{
    int found = 0;
    pthread_mutex_lock(&huge.lock);
    for (int i = 0; i < huge.used && !found; i++)
        found = (uintptr_t)p > huge.e[i].lo && (uintptr_t)p < huge.e[i].hi;
    pthread_mutex_unlock(&huge.lock);
    return found;
}
