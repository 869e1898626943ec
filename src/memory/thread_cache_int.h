/* The thread cache's bins, shared by its fast paths (alloc.c's al_malloc_at and al_free_at,
 * inlined there) and its general paths and upkeep (kept.c). A thread's cache hangs off its
 * statistics shard (owner only: no lock). Private to src/memory/. Never installed. */
#ifndef ASTROLAB_THREAD_CACHE_INT_H
#define ASTROLAB_THREAD_CACHE_INT_H

#include <stdbool.h>
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

/* A bin holds blocks of one 8-byte size class. Every block's backing request is rounded up to
 * the class (raw_size), so any of them serves any size of the class: the block taken is
 * resized in its header and its guard moved. */
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

/* Takes the last block of a bin that has one. */
static inline ali_block *bin_take(cache_bin *bin)
{
    ali_block *b = bin->block[--bin->n];
    cache_poison(b, false);
    return b;
}

/* Puts block b (marked ALI_MAGIC_CACHED, counted freed) into bin, which has room. */
static inline void bin_put(cache_bin *bin, ali_block *b)
{
    cache_poison(b, true);
    bin->block[bin->n++] = b;
}

/* Cached block b, resized to n bytes of its class. */
static inline ali_block *resized(ali_block *b, size_t n)
{
    b->size = n;
    guard_write(b);
    return b;
}

/* Whether block b's backing block holds every size of b's class. The guard check on free vouches
 * for the header's size; with ASTROLAB_CHECK_GUARDS=0 an overflow from the block before may have
 * rewritten it, and the cache would hand the block out for a class it does not hold, so then
 * the backing store is asked. */
static inline bool holds_its_class(ali_block *b)
{
    size_t need;
    return ali_check_guards || (raw_size(b->size, front_space(b->align_log2), &need) &&
                                need <= backing_usable(raw_of(b)));
}

/* Whether live block b is of a kind a cache keeps: small, owned by no scope, watched by nobody.
 * The fast path (al_free_at) also needs the guard check on; the general path asks
 * holds_its_class. */
static inline bool cacheable(const ali_block *b)
{
    return b->size - 1 < AL_CACHE_MAX && !b->chunk && !(ali_block_flags(b) & ALI_BLOCK_WATCHED);
}

/* The general paths, which handle every case the inlined fast paths leave (kept.c): the
 * cache's first use, a site not resolved yet, a gate armed, a balance due for publishing. */
void *ali_cache_malloc_general(size_t n, al_site *site);
void ali_cache_free_general(void *p, al_site *site);

#endif
