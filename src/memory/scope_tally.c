/* A scope's live blocks and bytes per site, kept as blocks come and go, so that the scope's
 * end accounts O(sites) and destroys its heap without visiting a block (scope.c). The owner
 * thread updates the table; other threads' frees queue under a lock and are applied by the
 * owner. */
#include <pthread.h>

#include "scope_int.h"
#include "util/assert_int.h"
#include "util/grow_int.h"

/* Adds to the owner's per-site tally (owner thread only). Open addressing keyed by site. */
void ali_scope_tally_add(al_scope *s, ali_site *site, int64_t blocks, int64_t bytes)
{
    assert(ali_scope_on_owner_thread(s));
    if (AL_UNLIKELY((s->tally_used + 1) * 2 > s->tally_cap)) {
        size_t cap; /* a power of two: doubled from 16 */
        tally *t = NULL;
        if (ali_grow_cap(s->tally_cap, s->tally_cap + 1, 16, sizeof *t, &cap))
            t = ali_internal_calloc(cap, sizeof *t);
        if (!t) {
            atomic_store(&s->tally_lost, true);
            return;
        }
        for (size_t i = 0; i < s->tally_cap; i++) {
            if (!s->tally[i].site)
                continue;
            size_t j = ((uintptr_t)s->tally[i].site >> 4) & (cap - 1);
            while (t[j].site)
                j = (j + 1) & (cap - 1);
            t[j] = s->tally[i];
        }
        ali_internal_free(s->tally);
        s->tally = t;
        s->tally_cap = cap;
    }
    size_t j = ((uintptr_t)site >> 4) & (s->tally_cap - 1);
    while (s->tally[j].site && s->tally[j].site != site)
        j = (j + 1) & (s->tally_cap - 1);
    if (!s->tally[j].site) {
        s->tally[j].site = site;
        s->tally_used++;
    }
    s->tally[j].blocks += blocks;
    s->tally[j].bytes += bytes;
    s->tally_last = &s->tally[j];
}

/* A free from another thread: queued for the owner, applied at the end. */
void ali_scope_tally_remote(al_scope *s, ali_site *site, int64_t bytes)
{
    pthread_mutex_lock(&s->remote_lock);
    if (s->nremote == s->remote_cap) {
        size_t cap;
        tally *r = NULL;
        if (ali_grow_cap(s->remote_cap, s->nremote + 1, 64, sizeof *r, &cap))
            r = ali_internal_realloc(s->remote, cap * sizeof *r);
        if (!r) {
            atomic_store(&s->tally_lost, true);
            pthread_mutex_unlock(&s->remote_lock);
            return;
        }
        s->remote = r;
        s->remote_cap = cap;
    }
    s->remote[s->nremote++] = (tally){site, -1, -bytes};
    atomic_store_explicit(&s->remote_pending, s->nremote, memory_order_relaxed);
    pthread_mutex_unlock(&s->remote_lock);
}

/* Applies the queued frees of other threads to the tally (owner thread). Called at the end and
 * whenever the queue grows past a bound, so a long scope fed by another thread's frees keeps
 * bounded bookkeeping. */
void ali_scope_drain_remote(al_scope *s)
{
    pthread_mutex_lock(&s->remote_lock);
    for (size_t i = 0; i < s->nremote; i++)
        ali_scope_tally_add(s, s->remote[i].site, s->remote[i].blocks, s->remote[i].bytes);
    s->nremote = 0;
    atomic_store_explicit(&s->remote_pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->remote_lock);
}

void ali_scope_resized(al_scope *s, ali_site *old_site, uint64_t old_size, ali_site *new_site,
                       uint64_t new_size)
{
    ali_scope_tally_add(s, old_site, -1, -(int64_t)old_size);
    ali_scope_tally_add(s, new_site, 1, (int64_t)new_size);
}
