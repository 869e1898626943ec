/* The caching allocator's invariant check, for the property tests (tests/test_cuda.c) and for
 * debugging: every block tiles its segment, no two free neighbours, the free-block treap and
 * the active map hold exactly the free and active blocks, and every counter agrees with a
 * recount. Costs O(blocks); never called by the allocator itself. */
#include <stdarg.h>
#include <stdio.h>

#include "cuda/cuda_int.h"

typedef struct walk {
    uint64_t count[ALI_POOLS];
    const ali_cuda_block *last;
    int pool;
    bool bad;
    char *msg;
    size_t len;
} walk;

static int fail(char *msg, size_t len, const char *fmt, ...) AL_PRINTF(3, 4);
static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return AL_ECORRUPT;
}

static void tree_visit(ali_cuda_block *b, void *arg)
{
    walk *w = arg;
    if (w->bad)
        return;
    if (b->allocated || b->seg->pool != w->pool ||
        (w->last &&
         (w->last->size > b->size || (w->last->size == b->size && w->last->ptr >= b->ptr)))) {
        snprintf(w->msg, w->len, "cache tree: block 0x%llx misplaced (allocated %d, pool %d)",
                 (unsigned long long)b->ptr, b->allocated, b->seg->pool);
        w->bad = true;
    }
    w->last = b;
    w->count[w->pool]++;
}

/* Checks one segment's blocks and adds them to the recount. */
static int check_segment(ali_cuda_device *d, ali_cuda_segment *s, al_cuda_stats *r,
                         uint64_t *pool_alloc, char *msg, size_t len)
{
    uint64_t sum = 0, at = s->base;
    const ali_cuda_block *prev = NULL;
    if (!s->head || s->head->ptr != s->base || s->head->prev)
        return fail(msg, len, "segment 0x%llx: head block wrong", (unsigned long long)s->base);
    for (const ali_cuda_block *b = s->head; b; prev = b, b = b->next) {
        if (b->seg != s || b->prev != prev || b->ptr != at || b->size == 0 ||
            b->size % ALI_CUDA_MIN_BLOCK)
            return fail(msg, len, "segment 0x%llx: block 0x%llx (size %llu) does not tile it",
                        (unsigned long long)s->base, (unsigned long long)b->ptr,
                        (unsigned long long)b->size);
        if (prev && !prev->allocated && !b->allocated)
            return fail(msg, len, "segment 0x%llx: free neighbours 0x%llx and 0x%llx unmerged",
                        (unsigned long long)s->base, (unsigned long long)prev->ptr,
                        (unsigned long long)b->ptr);
        if (b->allocated) {
            if (ali_cuda_map_get(&d->active, b->ptr) != b)
                return fail(msg, len, "active block 0x%llx missing from the map",
                            (unsigned long long)b->ptr);
            r->allocated_bytes += b->size;
            r->requested_bytes += b->requested;
            r->active_blocks++;
            pool_alloc[s->pool] += b->size;
        } else {
            r->cached_blocks++;
            if (ali_cuda_tree_best_fit(d, s->pool, b->size) == NULL)
                return fail(msg, len, "free block 0x%llx not in the cache",
                            (unsigned long long)b->ptr);
        }
        sum += b->size;
        at += b->size;
    }
    if (sum != s->size)
        return fail(msg, len, "segment 0x%llx: blocks sum to %llu, segment is %llu",
                    (unsigned long long)s->base, (unsigned long long)sum,
                    (unsigned long long)s->size);
    r->reserved_bytes += s->size;
    r->num_segments++;
    return AL_OK;
}

static int check_locked(ali_cuda_device *d, char *msg, size_t len)
{
    al_cuda_stats r = {0};
    uint64_t pool_alloc[ALI_POOLS] = {0}, pool_res[ALI_POOLS] = {0};
    const ali_cuda_segment *prev = NULL;
    for (ali_cuda_segment *s = d->segments; s; prev = s, s = s->next) {
        if (s->prev != prev)
            return fail(msg, len, "segment list broken at 0x%llx", (unsigned long long)s->base);
        int rc = check_segment(d, s, &r, pool_alloc, msg, len);
        if (rc != AL_OK)
            return rc;
        pool_res[s->pool] += s->size;
    }
    walk w = {.msg = msg, .len = len};
    for (w.pool = 0; w.pool < ALI_POOLS; w.pool++) {
        w.last = NULL;
        ali_cuda_tree_walk(d->free_tree[w.pool], tree_visit, &w);
        if (w.bad)
            return AL_ECORRUPT;
        if (w.count[w.pool] != d->pool_cached[w.pool])
            return fail(msg, len, "pool %d: %llu cached blocks in the tree, counter says %llu",
                        w.pool, (unsigned long long)w.count[w.pool],
                        (unsigned long long)d->pool_cached[w.pool]);
    }
    const al_cuda_stats *s = &d->st;
    if (w.count[0] + w.count[1] != r.cached_blocks || s->cached_blocks != r.cached_blocks ||
        s->allocated_bytes != r.allocated_bytes || s->requested_bytes != r.requested_bytes ||
        s->active_blocks != r.active_blocks || s->reserved_bytes != r.reserved_bytes ||
        s->num_segments != r.num_segments || d->active.count != r.active_blocks ||
        s->peak_allocated_bytes < s->allocated_bytes || s->peak_reserved_bytes < s->reserved_bytes)
        return fail(msg, len,
                    "counters disagree with a recount: allocated %llu/%llu, reserved %llu/%llu, "
                    "active %llu/%llu, cached %llu/%llu, segments %llu/%llu",
                    (unsigned long long)s->allocated_bytes, (unsigned long long)r.allocated_bytes,
                    (unsigned long long)s->reserved_bytes, (unsigned long long)r.reserved_bytes,
                    (unsigned long long)s->active_blocks, (unsigned long long)r.active_blocks,
                    (unsigned long long)s->cached_blocks, (unsigned long long)r.cached_blocks,
                    (unsigned long long)s->num_segments, (unsigned long long)r.num_segments);
    for (int p = 0; p < ALI_POOLS; p++)
        if (pool_alloc[p] != d->pool_allocated[p] || pool_res[p] != d->pool_reserved[p])
            return fail(msg, len, "pool %d counters disagree with a recount", p);
    return AL_OK;
}

int ali_cuda_check_invariants(int dev, char *msg, size_t len)
{
    int rc;
    ali_cuda_device *d = ali_cuda_device_lock(dev, &rc);
    if (!d)
        return rc;
    rc = check_locked(d, msg, len);
    pthread_mutex_unlock(&d->lock);
    return rc;
}
