/* The backing store under the tracked allocator, chosen at build time (ASTROLAB_BACKING):
 *   mimalloc (default): per-scope heaps, so a scope's leftover blocks go in one heap destroy;
 *   system: the C library's malloc (glibc, or jemalloc when linked): used by the sanitizer
 *           builds, because ASan and TSan see only the system allocator;
 * docs/PERFORMANCE.md has the measurements behind the default. */
#ifndef ASTROLAB_BACKING_H
#define ASTROLAB_BACKING_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ALI_HEADER_SIZE, the size of the tracked allocator's block header: the user pointer of an
 * aligned block sits this far past the raw one. */
#include "block_int.h"

#if defined(ASTROLAB_BACKING_MIMALLOC)
#include <mimalloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#define ALI_BACKING_NAME "mimalloc"
#define ALI_BACKING_HAS_HEAPS 1
/* mimalloc 2.0.9's mi_is_in_heap_region does not know blocks of 1 GiB or more (mapped outside
 * its arenas): backing_owns refused them, so a scope_keep, realloc or free of a 1.2 GB column
 * was "not allocated by the memory manager" and a later free crashed. Blocks from
 * ALI_HUGE_MIN on are kept in a small table (src/memory/huge.c) that backing_owns also asks;
 * every call below looks at it only while it holds a block (one relaxed load otherwise). */
#define ALI_HUGE_MIN ((size_t)512 << 20)
extern _Atomic int ali_huge_count;
void ali_huge_add(void *raw, size_t n, void *heap);
void ali_huge_remove(void *raw);
void ali_huge_forget_heap(void *heap, int destroyed);
int ali_huge_contains(const void *p);
#define ALI_HUGE_ANY()                                                                             \
    __builtin_expect(atomic_load_explicit(&ali_huge_count, memory_order_relaxed), 0)

static inline void *backing_malloc(void *heap, size_t n, size_t align)
{
    void *p;
    /* Small blocks (most of a program's) go straight to mimalloc's small-size path, past its
     * size dispatch. */
    if (__builtin_expect(n <= MI_SMALL_SIZE_MAX && !align, 1))
        return heap ? mi_heap_malloc_small(heap, n) : mi_malloc_small(n);
    if (heap)
        p = align ? mi_heap_malloc_aligned_at(heap, n, align, ALI_HEADER_SIZE)
                  : mi_heap_malloc(heap, n);
    else
        p = align ? mi_malloc_aligned_at(n, align, ALI_HEADER_SIZE) : mi_malloc(n);
    if (__builtin_expect(n >= ALI_HUGE_MIN, 0) && p)
        ali_huge_add(p, n, heap);
    return p;
}
/* Zeroes block p of n bytes. mimalloc 2.0.9's zalloc writes every page of a large block, even
 * fresh ones the kernel gave zeroed: two calloc(256 MiB) with one byte written in each cost 525
 * MiB of RSS where glibc's cost 1.6 MB. Above 1 MiB the whole pages inside the block are given
 * back with MADV_DONTNEED instead, which makes them read as zeros on first touch (mimalloc's
 * memory is private and anonymous); only the partial pages at the two ends are written. */
#define ALI_ZERO_BY_MADVISE ((size_t)1 << 20)
static inline void *backing_zero(void *p, size_t n)
{
    if (!p || n < ALI_ZERO_BY_MADVISE)
        return p ? memset(p, 0, n) : NULL;
    uintptr_t page = ALI_MIN_PAGE, a = (uintptr_t)p, lo = (a + page - 1) & ~(page - 1),
              hi = (a + n) & ~(page - 1);
    if (hi <= lo || madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0)
        return memset(p, 0, n);
    memset(p, 0, lo - a);
    memset((void *)hi, 0, a + n - hi);
    return p;
}
static inline void *backing_zalloc(void *heap, size_t n, size_t align)
{
    if (n < ALI_ZERO_BY_MADVISE) {
        if (heap)
            return align ? mi_heap_zalloc_aligned_at(heap, n, align, ALI_HEADER_SIZE)
                         : mi_heap_zalloc(heap, n);
        return align ? mi_zalloc_aligned_at(n, align, ALI_HEADER_SIZE) : mi_zalloc(n);
    }
    return backing_zero(backing_malloc(heap, n, align), n);
}
static inline void *backing_realloc(void *heap, void *p, size_t n, size_t align)
{
    void *q;
    if (heap)
        q = align ? mi_heap_realloc_aligned_at(heap, p, n, align, ALI_HEADER_SIZE)
                  : mi_heap_realloc(heap, p, n);
    else
        q = align ? mi_realloc_aligned_at(p, n, align, ALI_HEADER_SIZE) : mi_realloc(p, n);
    if (q && ALI_HUGE_ANY())
        ali_huge_remove(p);
    if (q && __builtin_expect(n >= ALI_HUGE_MIN, 0))
        ali_huge_add(q, n, heap);
    return q;
}
static inline void backing_free(void *p)
{
    if (ALI_HUGE_ANY())
        ali_huge_remove(p);
    mi_free(p);
}
static inline size_t backing_usable(void *p) { return mi_usable_size(p); }
static inline void *backing_heap_new(void) { return mi_heap_new(); }
static inline void backing_heap_destroy(void *heap)
{
    if (ALI_HUGE_ANY())
        ali_huge_forget_heap(heap, 1); /* its blocks are gone with it */
    mi_heap_destroy(heap);
}
static inline void backing_heap_delete(void *heap)
{
    if (ALI_HUGE_ANY())
        ali_huge_forget_heap(heap, 0); /* its blocks move to the default heap */
    mi_heap_delete(heap);
}
static inline int backing_owns(const void *p)
{
    return mi_is_in_heap_region(p) || (ALI_HUGE_ANY() && ali_huge_contains(p));
}
static inline void backing_purge(void) { mi_collect(true); }
#else
#include <malloc.h>
#define ALI_BACKING_NAME "system"
#define ALI_BACKING_HAS_HEAPS 0
/* An aligned user pointer needs the raw block aligned at align - ALI_HEADER_SIZE modulo
 * align: allocate with slack and keep the offset in the header. Here we
 * simply over-align the raw block and let alloc.c place the header (see ali_alloc). */
static inline void *backing_malloc(void *heap, size_t n, size_t align)
{
    (void)heap;
    if (align) {
        void *p = NULL;
        return posix_memalign(&p, align, n) == 0 ? p : NULL;
    }
    return malloc(n);
}
static inline void *backing_zalloc(void *heap, size_t n, size_t align)
{
    (void)heap;
    if (align) {
        void *p = backing_malloc(NULL, n, align);
        if (p)
            memset(p, 0, n);
        return p;
    }
    return calloc(1, n);
}
static inline void *backing_realloc(void *heap, void *p, size_t n, size_t align)
{
    (void)heap;
    (void)align; /* alloc.c never reallocates aligned blocks in place on this backing */
    return realloc(p, n);
}
static inline void backing_free(void *p) { free(p); }
static inline size_t backing_usable(void *p) { return malloc_usable_size(p); }
static inline void *backing_heap_new(void) { return NULL; }
static inline void backing_heap_destroy(void *heap) { (void)heap; }
static inline void backing_heap_delete(void *heap) { (void)heap; }
static inline int backing_owns(const void *p) { return p != NULL; }
static inline void backing_purge(void) { malloc_trim(0); }
#endif

#endif
