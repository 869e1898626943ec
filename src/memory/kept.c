/* Kept blocks and thread caches: freed in every count, memory held for the next allocation.
 *
 * al_free_keep / al_reuse_kept / al_release_kept are the primitive, for a caller with a cache
 * of its own. The thread cache serves al_malloc and al_free themselves, as glibc's tcache and
 * mimalloc's per-thread free lists do, and as numpy's default data allocator keeps one
 * (numpy/core/src/multiarray/alloc.c): up to 4 freed blocks of each 8-byte size class under
 * AL_CACHE_MAX. Its fast paths are alloc.c's al_malloc_at and al_free_at; its general paths,
 * its setting and its upkeep are here, its bins in thread_cache_int.h. A cached block carries
 * ALI_MAGIC_CACHED, so a second free of it is reported as the double free it is (and
 * al_reuse_kept and al_release_kept refuse it: it is the cache's); taken out, it is
 * counted allocated at the new site and meets every refusal a fresh block meets (hard limits,
 * injected failures). While a scope is current the cache is bypassed both ways: the scope's
 * allocations are its own.
 *
 * The cache hangs off the thread's statistics shard (owner only: no lock), is made on the first
 * free and emptied by al_cache_flush and when the thread exits (the shard's retirement).
 * ASTROLAB_THREAD_CACHE=0 turns it off. Why it exists: the cost of a tracked small allocation
 * (docs/PERFORMANCE.md, "The numpy handler's cost, a third time" and "The thread cache serves
 * al_malloc"). */
#include <stdint.h>

#include "alloc_int.h"
#include "front_int.h"
#include "thread_cache_int.h"
#include "util/settings_int.h"

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

/* ASTROLAB_THREAD_CACHE=0: no thread makes a cache; every free gives its block back at once. */
static int cache_enabled = -1; /* -1: not read yet */

static bool cache_wanted(void)
{
    int e = __atomic_load_n(&cache_enabled, __ATOMIC_RELAXED);
    if (AL_UNLIKELY(e < 0)) {
        e = (int)ali_setting_int(ALI_SET_THREAD_CACHE);
        __atomic_store_n(&cache_enabled, e, __ATOMIC_RELAXED);
    }
    return e != 0;
}

void *ali_cache_malloc_general(size_t n, al_site *site)
{
    ali_shard *sh = ali_shard_self();
    cache_bin *bin;
    if (!sh || !sh->cache || n - 1 >= AL_CACHE_MAX || ali_tls_scope ||
        !(bin = bin_of(sh->cache, n))->n)
        return ali_malloc_fresh(n, site);
    /* Out of the bin before admitted(), which may run cleanup (a limit's), and cleanup code may
     * use this thread's cache. */
    ali_block *b = bin_take(bin);
    ali_site *rt = ali_site_get(site, NULL);
    if (AL_UNLIKELY(!admitted(NULL, n, rt, site))) {
        if (bin->n < CACHE_PER_BIN)
            bin_put(bin, b); /* reported; cached again */
        else
            release(b);
        return NULL;
    }
    return revive(resized(b, n), rt, sh);
}

void ali_cache_free_general(void *p, al_site *site)
{
    ali_shard *sh = ali_shard_self();
    if (sh && !sh->cache && !ali_shard_retired() && cache_wanted()) /* none once exit began */
        sh->cache = ali_internal_calloc(1, sizeof(ali_thread_cache));
    if (sh && sh->cache && p && live_on_page(p)) {
        ali_block *b = ali_block_of(p);
        cache_bin *bin;
        if (cacheable(b) && holds_its_class(b) &&
            (bin = bin_of(sh->cache, b->size))->n < CACHE_PER_BIN) {
            b->free_site = site;
            account_freed(b, ALI_MAGIC_CACHED);
            bin_put(bin, b);
            return;
        }
    }
    ali_free(p, site);
}

void ali_thread_cache_empty(ali_shard *sh)
{
    ali_thread_cache *c = sh->cache;
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_BINS; i++) {
        cache_bin *bin = &c->bins[i];
        while (bin->n)
            release(bin_take(bin));
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
