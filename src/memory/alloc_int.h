/* The allocation worker's private helpers, shared by the tracked allocator (alloc.c) and its
 * kept blocks and thread caches (kept.c): where a block's memory starts, its guard, the checks
 * that a pointer is a live or a kept block, the refusals every allocation meets, and the
 * accounting of a freed block. Private to src/memory/. Never installed. */
#ifndef ASTROLAB_ALLOC_INT_H
#define ASTROLAB_ALLOC_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "backing.h"
#include "block_int.h"
#include "memory_int.h"

/* Bytes before the user pointer: the header, and for large alignments on the system backing,
 * padding so that the user pointer lands on the alignment. */
static inline size_t front_space(unsigned align_log2)
{
#if ALI_BACKING_HAS_HEAPS
    (void)align_log2;
    return sizeof(ali_block);
#else
    size_t align = align_log2 ? (size_t)1 << align_log2 : 16;
    return (sizeof(ali_block) + align - 1) / align * align; /* a multiple of align, >= the header */
#endif
}

/* The backing store's request for a block of n user bytes behind `front` bytes: n rounded up to
 * 8, so that any block of an 8-byte size class can serve any size of that class when the thread
 * cache hands it out again (kept.c), plus the guard. False when it overflows. */
static inline bool raw_size(size_t n, size_t front, size_t *total)
{
    size_t rounded;
    return !__builtin_add_overflow(n, 7, &rounded) &&
           !__builtin_add_overflow(rounded & ~(size_t)7, front + ALI_GUARD_SIZE, total) &&
           *total <= PTRDIFF_MAX;
}

/* Blocks up to ALI_GUARD_MAX bytes carry a guard. Larger ones do not: writing it would fault in
 * a page the program may never touch (measured: +0.1 s of page faults per 60,000 large blocks
 * in bench_alloc), and zeroed large blocks from fresh OS memory would lose their free zeroing. */
static inline void guard_write(ali_block *b)
{
    if (AL_LIKELY(b->size <= ALI_GUARD_MAX))
        memset((char *)ali_block_user(b) + b->size, ALI_GUARD_BYTE, ALI_GUARD_SIZE);
}

static inline void *raw_of(ali_block *b)
{
    return (char *)ali_block_user(b) - front_space(b->align_log2);
}

/* ASTROLAB_CHECK_GUARDS=0 skips the check on free (the guard is still written): the check
 * reads a second cache line per free, measured at about a third of the tracked free's cost on
 * bench_alloc's workload. */
extern int ali_check_guards; /* alloc.c: ASTROLAB_CHECK_GUARDS, read once at load */

static inline bool guard_intact(const ali_block *b)
{
    if (b->size > ALI_GUARD_MAX || !ali_check_guards)
        return true;
    static const unsigned char expect[ALI_GUARD_SIZE] = {ALI_GUARD_BYTE, ALI_GUARD_BYTE,
                                                         ALI_GUARD_BYTE, ALI_GUARD_BYTE,
                                                         ALI_GUARD_BYTE, ALI_GUARD_BYTE,
                                                         ALI_GUARD_BYTE, ALI_GUARD_BYTE};
    return memcmp((const char *)(b + 1) + b->size, expect, ALI_GUARD_SIZE) == 0;
}

/* al_malloc_at without the thread cache: a fresh block from the backing store (alloc.c). */
void *ali_malloc_fresh(size_t n, al_site *site);

/* Reports a refused allocation of n bytes at loc (ERROR, counted), sets errno to ENOMEM and
 * returns NULL. */
void *ali_alloc_fail(size_t n, const al_site *loc, const char *why);

/* Whether n more bytes at `site` may be allocated: the site's record exists, no failure is
 * injected, the hard limit admits them; false, reported, otherwise. A fresh block and a kept
 * one taken again (al_reuse_kept) meet the same refusals. */
static inline __attribute__((always_inline)) bool admitted(al_scope *scope, size_t n,
                                                           ali_site *site, const al_site *loc)
{
    if (AL_UNLIKELY(!site))
        return ali_alloc_fail(n, loc, "out of memory for the site record"), false;
    unsigned gates = ali_gates_now();
    if (AL_LIKELY(!gates))
        return true;
    if ((gates & ALI_GATE_FAULT) && ali_fault_should_fail(site->tag, scope))
        return ali_alloc_fail(n, loc, "injected failure (al_memory_fail_after)"), false;
    return !(gates & ALI_GATE_LIMITS) || ali_limits_admit(n, loc); /* limits.c reports refusals */
}

/* Reads the header before p, which may not be ours: for a foreign pointer on the system
 * backing (sanitizer builds) that is another object's memory or a redzone, and for a double
 * free it is freed memory, so these reads are exempt from the sanitizers: detecting exactly
 * those mistakes is our job here. With mimalloc, backing_owns has vouched for p first. */
#define ALI_NO_SANITIZE __attribute__((no_sanitize("address", "thread")))
ALI_NO_SANITIZE static inline uint32_t peek_magic(const void *p)
{
    return ((const volatile ali_block *)ali_block_of(p))->magic;
}

/* Whether p is, without asking the backing store, a live and intact block: when the header
 * lies on p's own page, reading it cannot fault, and the 32-bit magic stands in for asking the
 * backing store whether it owns p (a region lookup); near a page start the caller asks. */
static inline bool live_on_page(const void *p)
{
    uintptr_t in_page = (uintptr_t)p & (ALI_MIN_PAGE - 1);
    return (in_page & 15) == 0 && in_page >= sizeof(ali_block) && peek_magic(p) == ALI_MAGIC_LIVE &&
           guard_intact(ali_block_of(p));
}

/* Whether p is a block kept by al_free_keep (on its page, as above, or asking the backing store).
 */
static inline bool kept(const void *p)
{
    uintptr_t in_page = (uintptr_t)p & (ALI_MIN_PAGE - 1);
    return (in_page & 15) == 0 && (in_page >= sizeof(ali_block) || backing_owns(p)) &&
           peek_magic(p) == ALI_MAGIC_KEPT;
}

/* Marks kept or cached block b live again, made at rt by thread tid; no accounting. */
static inline void *revive_header(ali_block *b, ali_site *rt, unsigned tid)
{
    b->site = rt;
    b->free_site = NULL;
    b->tid = tid;
    b->magic = ALI_MAGIC_LIVE;
    return b + 1;
}

/* Counts block b freed at its site and in the thread's balance, and marks it `magic` (freed,
 * or kept by al_free_keep). */
static inline void account_freed(ali_block *b, uint32_t magic)
{
    ali_shard *sh = ali_shard_self();
    if (AL_LIKELY(sh != NULL))
        ali_account_free(sh, b->site->id, b->size);
    b->magic = magic;
}

#endif
