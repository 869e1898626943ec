/* Internals of the memory manager shared between src/memory/ files and the preload library:
 * sites, per-thread statistics shards, scope chunks, the allocation worker's helpers, fault
 * injection and limits. Other modules use services_int.h only; the preload library's malloc
 * also uses front_int.h. Never installed. */
#ifndef ASTROLAB_MEMORY_INT_H
#define ASTROLAB_MEMORY_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "astrolab/memory.h"
#include "block_int.h"
#include "services_int.h"

#define ALI_LOGGER "astrolab.memory"
#define ALI_TLS __attribute__((tls_model("initial-exec"))) _Thread_local

/* -------- Sites: one runtime record per (call site, tag), never freed. -------- */
struct ali_site {
    const al_site *loc;          /* static call-site record (file, function, line) */
    const char *tag_ptr;         /* the tag pointer this record was resolved for (cache key) */
    const char *tag;             /* interned copy of the tag, never NULL */
    uint32_t id;                 /* dense index, 0.. */
    _Atomic uint8_t stack_noted; /* the preload library has its first allocation's stack */
    uintptr_t pc;                /* return address for sites made by the preload library, else 0 */
};

/* Blocks and bytes that came and went, as the per-site counters and the per-thread statistics
 * keep them. Allocation and free bump separate fields (live = allocated - freed): a free's update
 * waits for the block's header, a cache miss, and sharing fields with the next allocation's
 * update made every allocation wait for it (measured: 11 ns of 30 per malloc/free pair on
 * bench/preload.sh). Written by the owning thread only; read by any. */
typedef struct ali_flow {
    _Atomic uint64_t allocs;      /* blocks allocated (realloc: moved in) */
    _Atomic uint64_t alloc_bytes; /* their bytes (realloc: with growth in place) */
    _Atomic uint64_t frees;       /* blocks freed (realloc: moved out) */
    _Atomic uint64_t freed_bytes; /* their bytes (realloc: with shrinkage in place) */
} ali_flow;

/* Net blocks and bytes of a flow (negative in one thread's view when it freed blocks that other
 * threads allocated). */
static inline int64_t ali_flow_live(const ali_flow *f)
{
    return (int64_t)(atomic_load_explicit(&f->allocs, memory_order_relaxed) -
                     atomic_load_explicit(&f->frees, memory_order_relaxed));
}
static inline int64_t ali_flow_bytes(const ali_flow *f)
{
    return (int64_t)(atomic_load_explicit(&f->alloc_bytes, memory_order_relaxed) -
                     atomic_load_explicit(&f->freed_bytes, memory_order_relaxed));
}

/* Per-site counters, kept per thread and summed by readers. */
typedef struct ali_site_counters {
    ali_flow flow;
    _Atomic uint64_t reclaimed; /* blocks that scopes had to reclaim */
    _Atomic uint64_t reclaimed_bytes;
} ali_site_counters;

/* Summed view of one site, for readers. */
typedef struct ali_site_totals {
    int64_t live_bytes;
    int64_t live_count;
    uint64_t allocs;
    uint64_t alloc_bytes;
    uint64_t reclaimed;
    uint64_t reclaimed_bytes;
} ali_site_totals;

#define ALI_PAGE_SITES 1024u
#define ALI_DIR_PAGES 4096u /* up to 4M sites */

/* Resolves the runtime record of static site `loc` with `tag` (NULL: the site's own tag);
 * NULL only when out of memory. The fast path is one load and one compare. */
ali_site *ali_site_resolve(al_site *loc, const char *tag);
static inline ali_site *ali_site_get(al_site *loc, const char *tag)
{
    ali_site *rt = (ali_site *)__atomic_load_n(&loc->rt, __ATOMIC_ACQUIRE);
    /* A tag is compared by content too: a caller may pass one buffer with different text. */
    if (__builtin_expect(rt != NULL && rt->tag_ptr == tag && (!tag || !strcmp(rt->tag, tag)), 1))
        return rt;
    return ali_site_resolve(loc, tag);
}
/* Number of sites so far; ids are 0..n-1. */
uint32_t ali_site_count(void);
/* Site with this id, or NULL. */
ali_site *ali_site_by_id(uint32_t id);
/* Sums every thread's counters for site `id`. */
void ali_site_totals_get(uint32_t id, ali_site_totals *out);
/* Adds deltas to the calling thread's counters of `site`. */
void ali_site_account(ali_site *site, int64_t bytes, int64_t count);
/* Accounts a realloc: a block of old_size leaves site `from` (NULL: none known) and one of
 * new_size arrives at `to`; the thread's balance changes by the difference. */
void ali_account_resize(ali_site *from, uint64_t old_size, ali_site *to, uint64_t new_size);
/* Counts blocks that a scope had to reclaim at `site` (a leak signal for the diagnosis). */
void ali_site_reclaimed(ali_site *site, uint64_t blocks, uint64_t bytes);

/* -------- "Where was this allocated", as every message prints it. -------- */

/* Room for a description: a symbolized preload site can have a 160-byte function name and a
 * 256-byte file name. */
#define ALI_WHERE_MAX 512
typedef struct ali_where {
    char text[ALI_WHERE_MAX];
} ali_where;

/* Describes a site into w and returns w->text: "catalog.c:42 in load_rows()" (the file's base
 * name); "load_rows() in libfoo.so" when there is no line (file is then the object);
 * "address 0x..." when only a return address is known; "an unknown site" when nothing is. */
const char *ali_where_format(ali_where *w, const char *file, const char *function, int line,
                             uintptr_t pc);
/* A static site (NULL: unknown). */
static inline const char *ali_where_loc(ali_where *w, const al_site *loc)
{
    return loc ? ali_where_format(w, loc->file, loc->function, loc->line, 0)
               : ali_where_format(w, NULL, NULL, 0, 0);
}
/* A runtime site, unsymbolized (NULL: unknown): never allocates, so any error path may call it.
 * The diagnosis symbolizes first (ali_diag_site_locate, ali_where_diag). */
static inline const char *ali_where_site(ali_where *w, const ali_site *s)
{
    if (s && s->loc)
        return ali_where_loc(w, s->loc);
    return ali_where_format(w, NULL, NULL, 0, s ? s->pc : 0);
}

/* -------- Per-thread statistics shards. -------- */
typedef struct ali_shard ali_shard;
typedef struct ali_thread_cache ali_thread_cache; /* kept.c */
struct ali_shard {
    ali_flow flow;                     /* what this thread allocated and freed */
    int64_t pending;                   /* owner only: bytes not yet published to the global */
    int64_t pending_max;               /* owner only: highest pending since the last publish */
    ali_site_counters *_Atomic *pages; /* directory of per-site counter pages */
    uint32_t free_guess;              /* owner only: site of the last free (see ali_account_free) */
    ali_site_counters *free_guess_c;  /* owner only: its counters */
    const ali_site *alloc_guess;      /* owner only: site of the last cached allocation ... */
    ali_site_counters *alloc_guess_c; /* ... and its counters (kept.c, as free_guess) */
    ali_thread_cache *cache;          /* owner only: al_free_cached's blocks; NULL until used */
    ali_shard *next;                  /* all shards ever made; never freed */
    atomic_bool in_use;               /* a live thread owns it */
    unsigned tid;
};

extern ALI_TLS ali_shard *ali_tls_shard;
ali_shard *ali_shard_attach(void);
/* The calling thread's shard (attached on first use); NULL only when out of memory. */
static inline ali_shard *ali_shard_self(void)
{
    ali_shard *sh = ali_tls_shard;
    return __builtin_expect(sh != NULL, 1) ? sh : ali_shard_attach();
}
/* The thread's counters of site `id`; creates their page when `create`. */
ali_site_counters *ali_counters_page(ali_shard *sh, uint32_t id, bool create);
/* The thread's counters of site `id` when their page exists, else NULL; never calls out. */
static inline ali_site_counters *ali_counters_made(ali_shard *sh, uint32_t id)
{
    ali_site_counters *page =
        atomic_load_explicit(&sh->pages[id / ALI_PAGE_SITES], memory_order_acquire);
    return __builtin_expect(page != NULL, 1) ? &page[id % ALI_PAGE_SITES] : NULL;
}
static inline ali_site_counters *ali_counters_of(ali_shard *sh, uint32_t id, bool create)
{
    ali_site_counters *c = ali_counters_made(sh, id);
    return __builtin_expect(c != NULL, 1) ? c : ali_counters_page(sh, id, create);
}
ali_shard *ali_shard_first(void);
/* Gives back the blocks in shard sh's thread cache (kept.c); the owner thread only. */
void ali_thread_cache_empty(ali_shard *sh);
/* As ali_thread_cache_empty, and frees the cache itself: the shard has none after. */
void ali_thread_cache_drop(ali_shard *sh);
/* True once the calling thread's exit has retired its shard (site.c): a free after that (a
 * later thread-local destructor's) may attach a shard again, but makes no thread cache. */
bool ali_shard_retired(void);
/* Publishes the calling thread's pending byte balance and updates the peak. */
void ali_stats_publish(ali_shard *sh);
/* The device allocator's hooks (ali_memory_set_device_hooks); never NULL (an empty set until
 * one registers). */
const ali_device_hooks *ali_device_hooks_get(void);
/* Sum of current bytes over all threads (exact when quiet). */
int64_t ali_stats_current(void);
/* Called on every byte change of the calling thread. */
#define ALI_BUMP(field, delta)                                                                     \
    atomic_store_explicit(&(field),                                                                \
                          atomic_load_explicit(&(field), memory_order_relaxed) + (delta),          \
                          memory_order_relaxed)
/* Adds a change of `bytes` and `count` blocks (negative: freed) to a flow; count 0 is a resize
 * in place by `bytes`. */
static inline void ali_flow_bump(ali_flow *f, int64_t bytes, int64_t count)
{
    if (count > 0 || (count == 0 && bytes > 0)) {
        ALI_BUMP(f->allocs, (uint64_t)count);
        ALI_BUMP(f->alloc_bytes, (uint64_t)bytes);
    } else {
        ALI_BUMP(f->frees, (uint64_t)-count);
        ALI_BUMP(f->freed_bytes, (uint64_t)-bytes);
    }
}
/* Adds a change to the thread's totals; true when its pending balance is then due for
 * publishing (beyond AL_STATS_BATCH_BYTES either way). */
static inline bool ali_stats_add(ali_shard *sh, int64_t bytes, int64_t blocks)
{
    ali_flow_bump(&sh->flow, bytes, blocks);
    sh->pending += bytes;
    if (sh->pending > sh->pending_max)
        sh->pending_max = sh->pending;
    return sh->pending > (int64_t)AL_STATS_BATCH_BYTES ||
           sh->pending < -(int64_t)AL_STATS_BATCH_BYTES;
}
static inline void ali_stats_change(ali_shard *sh, int64_t bytes, int64_t blocks)
{
    if (__builtin_expect(ali_stats_add(sh, bytes, blocks), 0))
        ali_stats_publish(sh);
}
/* Accounts a block of `bytes` (negative: freed) at site `id` and in the thread's totals. */
static inline void ali_account_id(ali_shard *sh, uint32_t id, int64_t bytes, int64_t count)
{
    ali_site_counters *c = ali_counters_of(sh, id, true);
    if (__builtin_expect(c != NULL, 1))
        ali_flow_bump(&c->flow, bytes, count);
    ali_stats_change(sh, bytes, count);
}
static inline void ali_account(ali_shard *sh, ali_site *site, int64_t bytes, int64_t count)
{
    ali_account_id(sh, site->id, bytes, count);
}
/* The thread's counters of site `id` for a free, when their page exists (else NULL); never
 * calls out. The id comes from the block's header, usually a cache miss; guessing the site of
 * the thread's previous free turns the counters' address from a data dependency on that miss
 * into a predicted branch, so the CPU goes on before the header arrives (measured: 4.5 ns of 27
 * per malloc/free pair on bench/preload.sh). */
static inline ali_site_counters *ali_free_counters_made(ali_shard *sh, uint32_t id)
{
    if (__builtin_expect(id == sh->free_guess, 1))
        return sh->free_guess_c;
    ali_site_counters *c = ali_counters_made(sh, id);
    if (__builtin_expect(c != NULL, 1)) {
        sh->free_guess = id;
        sh->free_guess_c = c;
    }
    return c;
}
/* Accounts a freed block of `bytes` at site `id`. */
static inline void ali_account_free(ali_shard *sh, uint32_t id, uint64_t bytes)
{
    ali_site_counters *c = ali_free_counters_made(sh, id);
    if (__builtin_expect(c == NULL, 0))
        c = ali_counters_page(sh, id, true);
    if (__builtin_expect(c != NULL, 1))
        ali_flow_bump(&c->flow, -(int64_t)bytes, -1);
    ali_stats_change(sh, -(int64_t)bytes, -1);
}

/* -------- Scopes (scope.c). -------- */
#define ALI_CHUNK_SLOTS 4096
/* Chunks are never given back: an ended scope's chunks go to a pool with their generation
 * bumped, so a stale block header (a block its scope already reclaimed) still points at valid
 * memory, and its chunk_gen and slot no longer match: the free is reported, not followed. */
struct ali_chunk {
    al_scope *scope;                           /* owner; NULL while pooled */
    uint32_t base;                             /* index of slots[0] in the scope */
    _Atomic uint8_t gen;                       /* bumped each time the chunk is pooled */
    ali_chunk *next;                           /* pool link */
    _Atomic(uintptr_t) slots[ALI_CHUNK_SLOTS]; /* block header, 0 (freed remotely) or a free
                                                  link (odd) */
};

/* The calling thread's innermost scope, or NULL. */
extern ALI_TLS al_scope *ali_tls_scope;
static inline al_scope *ali_scope_current(void) { return ali_tls_scope; }
/* Gives back a charge (a failed allocation, a shrinking realloc). */
void ali_scope_uncharge(al_scope *s, uint64_t bytes);
/* True when b's header still belongs to its owner scope's slot table (the scope has not
 * reclaimed it). b->chunk must be non-NULL. */
static inline bool ali_scope_owns(const ali_block *b)
{
    const ali_chunk *c = b->chunk;
    return b->chunk_gen == atomic_load_explicit(&c->gen, memory_order_relaxed) &&
           atomic_load_explicit(&c->slots[b->slot], memory_order_relaxed) == (uintptr_t)b;
}
/* Removes a block from its owner's slots on free (any thread). The budget, the slots and the
 * tally of the owner thread's side are inlined by alloc.c from scope_int.h. */
void ali_scope_release(ali_block *b);
/* Updates the owner's per-site tally after an in-place or heap realloc (owner thread). */
void ali_scope_resized(al_scope *s, ali_site *old_site, uint64_t old_size, ali_site *new_site,
                       uint64_t new_size);
/* Scopes that ended without visiting their blocks (tally and heap destroy). */
extern _Atomic uint64_t ali_scope_fast_ends;
/* Marks a block registered or weakly referenced, telling its owner scope. */
void ali_block_watch(ali_block *b);
/* Updates the slot after realloc moved a block. */
void ali_scope_moved(ali_block *b);
/* True when the calling thread owns scope s. */
bool ali_scope_on_owner_thread(const al_scope *s);
/* Name of the scope owning a chunk. */
const char *ali_chunk_scope_name(const ali_chunk *c);
/* Ends the calling thread's open scopes (at thread exit, from a TLS destructor). */
void ali_scope_thread_exit(void);

/* -------- Allocation worker and helpers (alloc.c). -------- */
/* As ali_alloc, owned by `scope` (NULL: the process), which must be the caller's thread's. */
void *ali_alloc_in(al_scope *scope, size_t n, size_t align, bool zero, ali_site *site,
                   const al_site *loc);
/* Frees live block b (already checked), tells the registry and its scope; loc may be NULL. */
void ali_free_block(ali_block *b, const al_site *loc);
/* Gives a block's memory back to the backing store; no accounting. */
void ali_block_release_raw(ali_block *b);

/* -------- Gates: why an allocation must take the checked path. --------
 * Fault injection armed (fault.c), a limit set (limits.c): one word, so that the fast paths
 * (alloc.c, kept.c, the preload library) test both with one load. ALI_GATE_INTERNAL_FAULT:
 * the bookkeeping allocator's own injection (ali_fault_internal_after) is armed. */
enum { ALI_GATE_FAULT = 1u << 0, ALI_GATE_LIMITS = 1u << 1, ALI_GATE_INTERNAL_FAULT = 1u << 2 };
extern atomic_uint ali_gates;
static inline unsigned ali_gates_now(void)
{
    return atomic_load_explicit(&ali_gates, memory_order_relaxed);
}
static inline void ali_gate_set(unsigned gate, bool open)
{
    if (open)
        atomic_fetch_or(&ali_gates, gate);
    else
        atomic_fetch_and(&ali_gates, ~gate);
}

/* -------- Fault injection (fault.c). -------- */
/* True when this allocation must fail; called only while ALI_GATE_FAULT is set. */
bool ali_fault_should_fail(const char *tag, const al_scope *owner);
/* Test seam, as SQLite's SQLITE_TESTCTRL_FAULT_INSTALL: the n-th next bookkeeping allocation
 * (ali_internal_alloc, _calloc, _realloc, _strdup) on any thread fails, once; 0 disarms. For the
 * tests of what the library does when its own memory runs out, which no tracked-allocation fault
 * reaches. */
void ali_fault_internal_after(uint64_t n);
/* True when this bookkeeping allocation must fail; called only while ALI_GATE_INTERNAL_FAULT is
 * set. */
bool ali_fault_internal_fails(void);

/* -------- Limits and registry hooks (limits.c, registry.c). -------- */
/* (ALI_GATE_LIMITS is set while a soft or hard limit is.) */
/* Decides whether `bytes` more may be allocated; may run cleanup. False: refuse. */
bool ali_limits_admit(uint64_t bytes, const al_site *loc);
/* Drops registrations and weak references of a block being freed. */
void ali_registry_on_free(void *p);

#endif
