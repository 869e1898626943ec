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

#if defined(ASTROLAB_BACKING_MIMALLOC)
#include <mimalloc.h>
#include <stdint.h>
#include <sys/mman.h>
#define ALI_BACKING_NAME "mimalloc"
#define ALI_BACKING_HAS_HEAPS 1
static inline void *backing_malloc(void *heap, size_t n, size_t align)
{
    if (heap)
        return align ? mi_heap_malloc_aligned_at(heap, n, align, 48) : mi_heap_malloc(heap, n);
    return align ? mi_malloc_aligned_at(n, align, 48) : mi_malloc(n);
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
    uintptr_t page = 4096, a = (uintptr_t)p, lo = (a + page - 1) & ~(page - 1),
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
            return align ? mi_heap_zalloc_aligned_at(heap, n, align, 48) : mi_heap_zalloc(heap, n);
        return align ? mi_zalloc_aligned_at(n, align, 48) : mi_zalloc(n);
    }
    return backing_zero(backing_malloc(heap, n, align), n);
}
static inline void *backing_realloc(void *heap, void *p, size_t n, size_t align)
{
    if (heap)
        return align ? mi_heap_realloc_aligned_at(heap, p, n, align, 48)
                     : mi_heap_realloc(heap, p, n);
    return align ? mi_realloc_aligned_at(p, n, align, 48) : mi_realloc(p, n);
}
static inline void backing_free(void *p) { mi_free(p); }
static inline size_t backing_usable(void *p) { return mi_usable_size(p); }
static inline void *backing_heap_new(void) { return mi_heap_new(); }
static inline void backing_heap_destroy(void *heap) { mi_heap_destroy(heap); }
static inline void backing_heap_delete(void *heap) { mi_heap_delete(heap); }
static inline int backing_owns(const void *p) { return mi_is_in_heap_region(p); }
static inline void backing_purge(void) { mi_collect(true); }
#else
#include <malloc.h>
#define ALI_BACKING_NAME "system"
#define ALI_BACKING_HAS_HEAPS 0
/* The header is 48 bytes, so an aligned user pointer needs the raw block aligned at
 * align - 48 modulo align: allocate with slack and keep the offset in the header. Here we
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
