/* Internals of scopes shared by scope.c (lifecycle, slot table, reclaim) and scope_tally.c
 * (live blocks per site). Never installed. */
#ifndef ASTROLAB_SCOPE_INT_H
#define ASTROLAB_SCOPE_INT_H

#include <pthread.h>

#include "memory_int.h"

/* Blocks and bytes per site. */
typedef struct tally {
    ali_site *site;
    int64_t blocks, bytes;
} tally;

typedef struct deferred {
    void (*fn)(void *);
    void *arg;
} deferred;

struct al_scope {
    char name[AL_SCOPE_NAME_MAX];
    al_scope *parent; /* enclosing scope on the same thread */
    unsigned tid;     /* owner thread */
    void *heap;       /* backing heap, or NULL */
    al_scope_options opts;
    /* Slot table: owner thread only, except for the remote exchange of a block's own slot. */
    ali_chunk **dir; /* chunks by index */
    size_t nchunks, dir_cap;
    uint32_t nslots;               /* slots handed out so far */
    uintptr_t free_head;           /* 1 + index of the first free slot; 0: none */
    _Atomic uint64_t remote_frees; /* holes made by other threads since the last sweep */
    /* Counters: owner-only fields are written by the owner thread alone. */
    int64_t owner_balance; /* bytes charged minus bytes freed by the owner */
    _Atomic uint64_t remote_freed_bytes;
    uint64_t owner_freed_bytes;
    uint64_t bytes_allocated, blocks_allocated, peak, kept_blocks, kept_in_heap;
    deferred *defers;
    size_t ndefers, defers_cap;
    uint64_t t0;
    /* Live blocks per site, so the end can account O(sites) and destroy the heap without
     * visiting the blocks. Owner thread only; other threads' frees queue in `remote`. */
    tally *tally;
    size_t tally_cap, tally_used;
    pthread_mutex_t remote_lock; /* guards remote, nremote, remote_cap */
    tally *remote;
    size_t nremote, remote_cap;
    _Atomic uint64_t outside;      /* owned blocks not in this scope's heap (kept from children) */
    _Atomic uint64_t watched;      /* blocks ever registered or weakly referenced */
    atomic_bool tally_lost;        /* a tally update failed (out of memory): walk at the end */
    _Atomic size_t remote_pending; /* entries in `remote`, read without the lock */
    /* Last, so that a pooled scope is reset by clearing what comes before `open`. */
    _Atomic int open;    /* 1 from begin to end; scope structs are pooled, never freed */
    al_scope *pool_next; /* link while pooled */
};

/* Adds to the owner's per-site tally (owner thread only). */
void ali_scope_tally_add(al_scope *s, ali_site *site, int64_t blocks, int64_t bytes);
/* Queues a free made by another thread, for the owner to apply. */
void ali_scope_tally_remote(al_scope *s, ali_site *site, int64_t bytes);
/* Applies the queued frees of other threads (owner thread). */
void ali_scope_drain_remote(al_scope *s);

#endif
