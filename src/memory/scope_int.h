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
    tally *tally_last; /* the entry the last update touched: blocks come in runs per site */
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

/* -------- The scope's side of an allocation and a free, inlined into alloc.c's paths
 * (measured: out-of-line calls, the tally's hash and the slot table's checks made an allocation
 * inside a scope cost twice one outside; see docs/PERFORMANCE.md). -------- */

/* Queued remote frees beyond which the owner applies them before its next allocation. */
#define ALI_SCOPE_REMOTE_DRAIN 1024u

static inline int64_t ali_scope_live(al_scope *s)
{
    return s->owner_balance -
           (int64_t)atomic_load_explicit(&s->remote_freed_bytes, memory_order_relaxed);
}

/* True when block b of scope s lies outside s's heap (kept from a child, or no heap): such
 * blocks are counted in s->outside, since they keep the scope's end from a heap destroy. */
static inline bool ali_scope_outside_heap(const al_scope *s, const ali_block *b)
{
    return !(ali_block_flags(b) & ALI_BLOCK_IN_HEAP) || !s->heap;
}

/* Reports a charge refused by the scope's budget; returns false. */
bool ali_scope_refuse(al_scope *s, uint64_t bytes, int64_t live, const al_site *loc);

/* Checks and charges the scope budget; false (reported) when `bytes` more would exceed it. */
static inline bool ali_scope_charge(al_scope *s, uint64_t bytes, const al_site *loc)
{
    int64_t live = ali_scope_live(s) + (int64_t)bytes;
    if (AL_UNLIKELY(s->opts.budget_bytes && live > (int64_t)s->opts.budget_bytes))
        return ali_scope_refuse(s, bytes, live, loc);
    s->owner_balance += (int64_t)bytes;
    s->bytes_allocated += bytes;
    if (live > (int64_t)s->peak)
        s->peak = (uint64_t)live;
    return true;
}

/* ali_scope_tally_add, for the common run of blocks from one site (owner thread only). */
static inline void ali_scope_tally_bump(al_scope *s, ali_site *site, int64_t blocks, int64_t bytes)
{
    tally *t = s->tally_last;
    if (AL_LIKELY(t != NULL && t->site == site)) {
        t->blocks += blocks;
        t->bytes += bytes;
        return;
    }
    ali_scope_tally_add(s, site, blocks, bytes);
}

static inline _Atomic(uintptr_t) *ali_scope_slot_at(al_scope *s, uint32_t index)
{
    return &s->dir[index / ALI_CHUNK_SLOTS]->slots[index % ALI_CHUNK_SLOTS];
}

/* Takes the first slot of the free list (s->free_head non-zero). */
static inline uint32_t ali_scope_pop_free(al_scope *s)
{
    uint32_t index = (uint32_t)(s->free_head - 1);
    s->free_head = atomic_load_explicit(ali_scope_slot_at(s, index), memory_order_relaxed) >> 1;
    return index;
}

/* A slot for a new block when neither the free list nor the last chunk has one at hand, or
 * remote frees are queued: applies them, sweeps holes or grows the table. False: out of
 * memory. */
bool ali_scope_slot_slow(al_scope *s, uint32_t *index);

/* Enters a block into the scope's slots (owner thread); returns false when out of memory. */
static inline __attribute__((always_inline)) bool ali_scope_adopt(al_scope *s, ali_block *b)
{
    uint32_t index;
    bool drain =
        atomic_load_explicit(&s->remote_pending, memory_order_relaxed) >= ALI_SCOPE_REMOTE_DRAIN;
    if (AL_LIKELY(!drain && s->free_head))
        index = ali_scope_pop_free(s);
    else if (AL_LIKELY(!drain && s->nslots < s->nchunks * ALI_CHUNK_SLOTS))
        index = s->nslots++;
    else if (!ali_scope_slot_slow(s, &index))
        return false;
    ali_chunk *c = s->dir[index / ALI_CHUNK_SLOTS];
    atomic_store_explicit(&c->slots[index % ALI_CHUNK_SLOTS], (uintptr_t)b, memory_order_relaxed);
    b->chunk = c;
    b->slot = index % ALI_CHUNK_SLOTS;
    b->chunk_gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
    s->blocks_allocated++;
    ali_scope_tally_bump(s, b->site, 1, (int64_t)b->size);
    if (ali_scope_outside_heap(s, b))
        atomic_fetch_add_explicit(&s->outside, 1, memory_order_relaxed);
    if (AL_UNLIKELY(ali_block_flags(b) & ALI_BLOCK_WATCHED))
        atomic_fetch_add(&s->watched, 1);
    return true;
}

/* Takes b out of its owner's slot table, on the owner thread: its slot joins the free list. */
static inline void ali_scope_slot_clear_owner(al_scope *s, ali_block *b)
{
    ali_chunk *c = b->chunk;
    atomic_store_explicit(&c->slots[b->slot], (s->free_head << 1) | 1, memory_order_relaxed);
    s->free_head = (uintptr_t)(c->base + b->slot) + 1;
    b->chunk = NULL;
}

/* Removes block b (owned by s, checked by ali_scope_owns) from s on a free by s's own thread. */
static inline void ali_scope_release_owned(al_scope *s, ali_block *b)
{
    if (ali_scope_outside_heap(s, b))
        atomic_fetch_sub_explicit(&s->outside, 1, memory_order_relaxed);
    s->owner_balance -= (int64_t)b->size;
    s->owner_freed_bytes += b->size;
    ali_scope_tally_bump(s, b->site, -1, -(int64_t)b->size);
    ali_scope_slot_clear_owner(s, b);
}

#endif
