/* A cache of the program's freed small blocks per thread, as glibc's tcache keeps one: up to 7
 * lean blocks of each 16-byte size class up to LEAN_CACHE_MAX bytes, taken last in, first out
 * by the thread's next allocation of the class. Why: mimalloc hands out the blocks of a page in
 * an order that rarely repeats the last freed one, so on a program that frees and allocates in
 * turn most allocations start with a cache miss on the block's first line (measured on
 * bench/preload.sh's leak_workload: mimalloc's pop was a third of the run); the block freed
 * last was just read by its free and is still in the CPU's cache. docs/PERFORMANCE.md, "A
 * thread cache for the program's blocks".
 *
 * A cached block is freed in every count and marked LEAN_FREED, so a second free of it is the
 * double free it is; taken again it is counted allocated at its new site. A block's bin is the
 * largest size its mimalloc block can hold (with the guard, when guards are on), so any block of
 * a bin serves any size of it; lean_total rounds requests up to 16 bytes so that blocks fill
 * their classes. The blocks of a thread's cache go back to mimalloc when the thread exits
 * (lean_cache.c). Private to src/preload/. */
#ifndef ASTROLAB_LEAN_CACHE_H
#define ASTROLAB_LEAN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mimalloc.h>

#include "memory/memory_int.h" /* ALI_TLS, AL_LIKELY */
#include "preload_int.h"       /* lean_block */

#define LEAN_CACHE_MAX 1024                   /* bytes requested */
#define LEAN_CACHE_BINS (LEAN_CACHE_MAX / 16) /* bin (size - 1) / 16 */
#define LEAN_CACHE_PER_BIN 7

/* Blocks are kept complemented, as preload.c keeps last_block: the exit scan (reach.c) reads
 * thread-local storage as a root, and a plain pointer left in a bin after its block was taken
 * again would make that block, and all it points to, look reachable. */
typedef struct lean_bin {
    uintptr_t block[LEAN_CACHE_PER_BIN]; /* ~(uintptr_t)block */
    uint32_t n, pad;                     /* 64 bytes: a bin's address is a shift */
} lean_bin;
_Static_assert(sizeof(lean_bin) == 64, "a lean bin is 64 bytes");

typedef struct lean_cache {
    lean_bin bins[LEAN_CACHE_BINS];
    bool open;   /* the thread's exit will empty it (lean_cache_open) */
    bool closed; /* the thread's exit emptied it: caches nothing more */
} lean_cache;

extern ALI_TLS lean_cache ali_tls_lean_cache; /* lean_cache.c */

/* Readies the calling thread's cache for its first block: arranges for its exit to give the
 * blocks back. False when that cannot be done or the thread's exit has begun. */
bool ali_lean_cache_open(void);

/* The backing request for a lean block of n bytes with a guard of `guard` bytes: n rounded up
 * to 16, so that a block cached for one size of its class fits any other. False on overflow. */
static inline bool lean_total(size_t n, size_t guard, size_t *total)
{
    size_t rounded;
    return !__builtin_add_overflow(n, 15, &rounded) &&
           !__builtin_add_overflow(rounded & ~(size_t)15, sizeof(lean_block) + guard, total) &&
           *total <= PTRDIFF_MAX;
}

/* A cached block for n bytes (its header still the freed one's), or NULL. */
static inline lean_block *lean_cache_take(size_t n)
{
    if (n - 1 >= LEAN_CACHE_MAX)
        return NULL;
    lean_bin *bin = &ali_tls_lean_cache.bins[(n - 1) / 16];
    return bin->n ? (lean_block *)~bin->block[--bin->n] : NULL;
}

/* Keeps freed block h of `size` bytes (counted freed, marked LEAN_FREED), with a guard of `guard`
 * bytes when guards are on; false when it is not kept: the caller
 * gives it back. Its bin comes from what mimalloc says the block holds, not from its header's
 * size: an overflow from the block before may have rewritten that size (nothing checks it when
 * guards are off, the default), and blocks freed before preload_init were sized without the
 * guard that blocks made after it may need. */
static inline bool lean_cache_put(lean_block *h, size_t size, size_t guard)
{
    if (size > LEAN_CACHE_MAX) /* the header's word, as a hint: its block is not small */
        return false;
    lean_cache *c = &ali_tls_lean_cache;
    if (AL_UNLIKELY(!c->open) && !ali_lean_cache_open())
        return false;
    size_t usable = mi_usable_size(h), fits; /* any size up to `fits` bytes */
    if (usable < sizeof(lean_block) + guard + 16 ||
        (fits = (usable - sizeof(lean_block) - guard) & ~(size_t)15) > LEAN_CACHE_MAX)
        return false;
    lean_bin *bin = &c->bins[fits / 16 - 1];
    if (bin->n == LEAN_CACHE_PER_BIN)
        return false;
    bin->block[bin->n++] = ~(uintptr_t)h;
    return true;
}

#endif
