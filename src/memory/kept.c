/* Kept blocks and thread caches: freed in every count, memory held for the next allocation.
 *
 * al_free_keep / al_reuse_kept / al_release_kept are the primitive, for a caller with a cache
 * of its own. al_malloc_cached_at / al_free_cached_at are the cache itself, one per thread,
 * as numpy's default data allocator keeps one (numpy/core/src/multiarray/alloc.c): a few
 * blocks of each size under AL_CACHE_MAX, taken back by exact size. A cached block carries
 * ALI_MAGIC_CACHED, so a second free of it is reported as the double free it is (and
 * al_reuse_kept and al_release_kept refuse it: it is the cache's); taken out, it is
 * counted allocated at the new site and meets every refusal a fresh block meets (hard limits,
 * injected failures). No cached block is handed out while a scope is current: the scope's
 * allocations are its own.
 *
 * The cache hangs off the thread's statistics shard (owner only: no lock), is made on the first
 * cached free and emptied by al_cache_flush and when the thread exits (the shard's retirement).
 * The whole path, the cache and the accounting, is in this file and inlined: its reason to be
 * is the cost of a tracked small allocation (docs/PERFORMANCE.md, "The numpy handler's cost, a
 * third time"). */
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALI_ASAN 1
#endif
#endif
#ifdef ALI_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "alloc_int.h"
#include "front_int.h"

/* -------- Kept blocks, one at a time -------- */

int al_free_keep(void *p, al_site *site, size_t *size)
{
    if (!p)
        return AL_EINVAL;
    ali_block *b =
        AL_LIKELY(live_on_page(p)) ? ali_block_of(p) : ali_block_check(p, site, "al_free_keep");
    if (!b)
        return AL_EBADPTR;
    if (b->chunk)
        return AL_ESCOPE;
    if (ali_block_flags(b) & ALI_BLOCK_WATCHED)
        return AL_ESTATE;
    if (size)
        *size = b->size;
    b->free_site = site;
    account_freed(b, ALI_MAGIC_KEPT);
    return AL_OK;
}

/* Marks kept block b live again, made at rt by thread tid; no accounting. */
static inline void *revive_header(ali_block *b, ali_site *rt, unsigned tid)
{
    b->site = rt;
    b->free_site = NULL;
    b->tid = tid;
    b->magic = ALI_MAGIC_LIVE;
    return b + 1;
}

/* Counts kept block b allocated again at rt (admitted already) on shard sh (may be NULL). */
static inline void *revive(ali_block *b, ali_site *rt, ali_shard *sh)
{
    if (AL_LIKELY(sh != NULL))
        ali_account(sh, rt, (int64_t)b->size, 1);
    return revive_header(b, rt, sh ? sh->tid : 0);
}

void *al_reuse_kept(void *p, al_site *site)
{
    if (AL_UNLIKELY(!p || !kept(p))) {
        ali_where where;
        ali_memory_error("al_reuse_kept of %p at %s: not a block kept by al_free_keep", p,
                         ali_where_loc(&where, site));
        return NULL;
    }
    ali_block *b = ali_block_of(p);
    ali_site *rt = ali_site_get(site, NULL);
    if (AL_UNLIKELY(!admitted(NULL, b->size, rt, site)))
        return NULL;
    return revive(b, rt, ali_shard_self());
}

/* Gives kept block b's memory back. */
static void release(ali_block *b)
{
    b->magic = ALI_MAGIC_FREED; /* a second release, or a reuse, is then refused */
    backing_free(raw_of(b));
}

void al_release_kept(void *p)
{
    if (!p)
        return;
    if (AL_UNLIKELY(!kept(p))) {
        ali_memory_error("al_release_kept of %p: not a block kept by al_free_keep", p);
        return;
    }
    release(ali_block_of(p));
}

/* -------- The thread cache -------- */

/* Under AddressSanitizer a cached block's bytes (and its guard) are poisoned while it waits, so
 * that a use after al_free_cached is reported as ASan reports one after free; its header stays
 * readable for the cache and for double-free reports. Nothing in other builds. */
static inline void cache_poison(ali_block *b, bool poison)
{
#ifdef ALI_ASAN
    if (poison)
        ASAN_POISON_MEMORY_REGION(b + 1, b->size + ALI_GUARD_SIZE);
    else
        ASAN_UNPOISON_MEMORY_REGION(b + 1, b->size + ALI_GUARD_SIZE);
#else
    (void)b, (void)poison;
#endif
}

#define CACHE_BINS (AL_CACHE_MAX / 8) /* bin (size - 1) / 8 */
#define CACHE_PER_BIN 4               /* blocks of each bin: under 512 KiB a thread at worst */

/* A bin holds blocks of one 8-byte size class; their headers say their exact sizes (a cached
 * block's header is read anyway when it is handed out again). */
typedef struct {
    ali_block *block[CACHE_PER_BIN];
    uint32_t n;
    uint32_t pad[7]; /* 64 bytes: a bin's address is a shift, not a multiply */
} cache_bin;
_Static_assert(sizeof(cache_bin) == 64, "a cache bin is 64 bytes");

struct ali_thread_cache {
    cache_bin bins[CACHE_BINS];
};

/* The bin of blocks of n bytes (0 < n <= AL_CACHE_MAX). */
static inline cache_bin *bin_of(ali_thread_cache *c, size_t n) { return &c->bins[(n - 1) / 8]; }

/* The index in bin of a block of exactly n bytes, or -1. */
static inline int bin_find(const cache_bin *bin, size_t n)
{
    for (unsigned i = bin->n; i-- > 0;)
        if (bin->block[i]->size == n)
            return (int)i;
    return -1;
}

static inline ali_block *bin_take(cache_bin *bin, int i)
{
    ali_block *b = bin->block[i];
    bin->block[i] = bin->block[--bin->n];
    cache_poison(b, false);
    return b;
}

/* Puts block b (marked ALI_MAGIC_CACHED, counted freed) into bin, which has room. */
static inline void bin_put(cache_bin *bin, ali_block *b)
{
    cache_poison(b, true);
    bin->block[bin->n++] = b;
}

/* Whether live block b may go to a cache: small, owned by no scope, watched by nobody. */
static inline bool cacheable(const ali_block *b)
{
    return b->size - 1 < AL_CACHE_MAX && !b->chunk && !(ali_block_flags(b) & ALI_BLOCK_WATCHED);
}

/* Each operation has a general path, which handles every case, and a fast path for the common
 * one that calls nothing on its way, so that the compiler keeps it free of a stack frame:
 * whatever would need a call (a site not resolved yet or with a tag of its own, fault injection
 * or a limit armed, a counters page not made yet, a balance due for publishing, a block that
 * is not a plain live one) takes the general path. Measured on bench/python's numpy-small:
 * about 30 instructions less per array made and dropped than the general path alone. */

static __attribute__((noinline)) void *malloc_general(size_t n, al_site *site)
{
    ali_shard *sh = ali_shard_self();
    cache_bin *bin;
    int i;
    if (!sh || !sh->cache || n - 1 >= AL_CACHE_MAX || ali_tls_scope ||
        (i = bin_find(bin = bin_of(sh->cache, n), n)) < 0)
        return al_malloc_at(n, site);
    /* Out of the bin before admitted(), which may run cleanup (a limit's), and cleanup code may
     * use this thread's cache. */
    ali_block *b = bin_take(bin, i);
    ali_site *rt = ali_site_get(site, NULL);
    if (AL_UNLIKELY(!admitted(NULL, n, rt, site))) {
        if (bin->n < CACHE_PER_BIN)
            bin_put(bin, b); /* reported; cached again */
        else
            release(b);
        return NULL;
    }
    return revive(b, rt, sh);
}

void *al_malloc_cached_at(size_t n, al_site *site)
{
    ali_shard *sh = ali_tls_shard;
    ali_site *rt = (ali_site *)__atomic_load_n(&site->rt, __ATOMIC_ACQUIRE);
    ali_thread_cache *c;
    if (AL_UNLIKELY(!sh || !(c = sh->cache) || n - 1 >= AL_CACHE_MAX || ali_tls_scope || !rt ||
                    ali_gates_now() || sh->pending + (int64_t)n > (int64_t)AL_STATS_BATCH_BYTES))
        return malloc_general(n, site);
    /* The counters of the thread's previous cached allocation's site, guessed as ali_account_free
     * guesses a free's: the directory walk's loads (measured: a third of this function's time in
     * a loop making arrays at one line) then overlap with the cache's. The guessed site was
     * checked when it became the guess: a record without a tag of its own. */
    ali_site_counters *ctr = sh->alloc_guess_c;
    if (AL_UNLIKELY(rt != sh->alloc_guess)) {
        if (rt->tag_ptr || !(ctr = ali_counters_made(sh, rt->id)))
            return malloc_general(n, site);
        sh->alloc_guess = rt;
        sh->alloc_guess_c = ctr;
    }
    cache_bin *bin = bin_of(c, n);
    int i = bin_find(bin, n);
    if (i < 0)
        return al_malloc_at(n, site);
    ali_flow_bump(&ctr->flow, (int64_t)n, 1);
    (void)ali_stats_add(sh, (int64_t)n, 1); /* not due for publishing: checked above */
    return revive_header(bin_take(bin, i), rt, sh->tid);
}

static __attribute__((noinline)) void free_general(void *p, al_site *site)
{
    ali_shard *sh = ali_shard_self();
    if (sh && !sh->cache && !ali_shard_retired()) /* no cache after the thread's exit began */
        sh->cache = ali_internal_calloc(1, sizeof(ali_thread_cache));
    if (sh && sh->cache && p && live_on_page(p)) {
        ali_block *b = ali_block_of(p);
        cache_bin *bin;
        if (cacheable(b) && (bin = bin_of(sh->cache, b->size))->n < CACHE_PER_BIN) {
            b->free_site = site;
            account_freed(b, ALI_MAGIC_CACHED);
            bin_put(bin, b);
            return;
        }
    }
    ali_free(p, site);
}

void al_free_cached_at(void *p, al_site *site)
{
    ali_shard *sh = ali_tls_shard;
    ali_thread_cache *c;
    if (AL_UNLIKELY(!sh || !(c = sh->cache) || !p || !live_on_page(p)))
        return free_general(p, site);
    ali_block *b = ali_block_of(p);
    size_t n = b->size;
    uint32_t id = b->site->id;
    cache_bin *bin;
    ali_site_counters *ctr;
    if (AL_UNLIKELY(!cacheable(b) || (bin = bin_of(c, n))->n == CACHE_PER_BIN ||
                    sh->pending - (int64_t)n < -(int64_t)AL_STATS_BATCH_BYTES ||
                    !(ctr = id == sh->free_guess ? sh->free_guess_c : ali_counters_made(sh, id))))
        return free_general(p, site);
    b->free_site = site;
    b->magic = ALI_MAGIC_CACHED;
    bin_put(bin, b);
    ali_flow_bump(&ctr->flow, -(int64_t)n, -1);
    (void)ali_stats_add(sh, -(int64_t)n, -1); /* not due for publishing: checked above */
}

void ali_thread_cache_empty(ali_shard *sh)
{
    ali_thread_cache *c = sh->cache;
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_BINS; i++) {
        cache_bin *bin = &c->bins[i];
        while (bin->n)
            release(bin_take(bin, (int)bin->n - 1));
    }
}

void ali_thread_cache_drop(ali_shard *sh)
{
    ali_thread_cache_empty(sh);
    ali_internal_free(sh->cache);
    sh->cache = NULL;
}

void al_cache_flush(void)
{
    ali_shard *sh = ali_tls_shard;
    if (sh)
        ali_thread_cache_empty(sh);
}
