/* The caching device allocator, in the manner of PyTorch's CUDACachingAllocator: blocks carved
 * from backend segments, cached when freed, found best fit, split and merged; on a failed
 * backend allocation, cached segments are released and the allocation retried, then the
 * registered release functions run and it is retried again. Data structures are in pool.c,
 * backend selection and copies in select.c, statistics and the summary in summary.c.
 *
 * Locking: one mutex per device guards its pools (cuda_int.h). The release functions run with
 * no allocator lock held, because they may free device blocks, and because the comprehensive
 * cleanup empties this cache through the device hooks it registers (ali_device_hooks). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "cuda/cuda_int.h"
#include "memory/services_int.h"
#include "util/format_int.h"

/* The device tried first by al_cuda_free: most programs use one device. */
static _Thread_local int last_device;

__attribute__((constructor)) static void install_hooks(void)
{
    /* They do nothing until the allocator was used: no dlopen happens at load time. */
    static const ali_device_hooks hooks = {
        .release = ali_cuda_release_all,
        .fill_stats = ali_cuda_fill_memory_stats,
        .reset_peaks = ali_cuda_reset_peaks_if_used,
        .device_memory = ali_cuda_device_memory,
    };
    (void)ali_memory_set_device_hooks(&hooks);
}

static uint64_t round_size(uint64_t size)
{
    return size < ALI_CUDA_MIN_BLOCK
               ? ALI_CUDA_MIN_BLOCK
               : (size + ALI_CUDA_MIN_BLOCK - 1) / ALI_CUDA_MIN_BLOCK * ALI_CUDA_MIN_BLOCK;
}

/* Segment size for a rounded request (PyTorch's get_allocation_size). */
static uint64_t segment_size(uint64_t size)
{
    if (size <= ALI_CUDA_SMALL_SIZE)
        return ALI_CUDA_SMALL_BUFFER;
    if (size < ALI_CUDA_MIN_LARGE_ALLOC)
        return ALI_CUDA_LARGE_BUFFER;
    return (size + ALI_CUDA_ROUND_LARGE - 1) / ALI_CUDA_ROUND_LARGE * ALI_CUDA_ROUND_LARGE;
}

/* A remainder worth keeping as its own block: any for the small pool, over 1 MiB for the large
 * one (smaller large-pool remainders would only fragment it). */
static bool should_split(const ali_cuda_block *b, uint64_t size)
{
    uint64_t remaining = b->size - size;
    return b->seg->pool == ALI_POOL_SMALL ? remaining >= ALI_CUDA_MIN_BLOCK
                                          : remaining > ALI_CUDA_SMALL_SIZE;
}

/* Keeps one record for the next split, so that nothing can fail once a block is chosen. */
static void recycle(ali_cuda_device *d, ali_cuda_block *b)
{
    if (!d->spare) {
        memset(b, 0, sizeof *b);
        d->spare = b;
    } else {
        ali_cuda_rec_free(b);
    }
}

/* Takes a new segment of `size` bytes from the backend as one free block (not cached). */
static int segment_new(ali_cuda_device *d, int pool, uint64_t size, ali_cuda_block **out)
{
    if (d->limit && d->st.reserved_bytes + size > d->limit)
        return AL_ECUDA_OOM;
    ali_cuda_segment *seg = ali_cuda_rec_alloc(sizeof *seg);
    ali_cuda_block *b = ali_cuda_rec_alloc(sizeof *b);
    uint64_t ptr = 0;
    int rc =
        seg && b ? ali_cuda.backend->malloc(ali_cuda.backend, d->index, size, &ptr) : AL_ENOMEM;
    if (rc != AL_OK) {
        ali_cuda_rec_free(seg);
        ali_cuda_rec_free(b);
        return rc;
    }
    *seg = (ali_cuda_segment){.base = ptr, .size = size, .pool = pool, .head = b};
    *b = (ali_cuda_block){.ptr = ptr, .size = size, .seg = seg};
    seg->next = d->segments;
    if (d->segments)
        d->segments->prev = seg;
    d->segments = seg;
    d->st.reserved_bytes += size;
    d->st.num_segments++;
    d->st.num_device_allocs++;
    d->pool_reserved[pool] += size;
    d->pool_segments[pool]++;
    ali_cuda_stats_touch(d);
    *out = b;
    return AL_OK;
}

/* Releases every fully free segment of d; returns the bytes released. */
static uint64_t release_cached(ali_cuda_device *d)
{
    uint64_t released = 0;
    for (ali_cuda_segment *s = d->segments, *next; s; s = next) {
        next = s->next;
        ali_cuda_block *b = s->head;
        if (b->allocated || b->next)
            continue;
        if (ali_cuda.backend->free(ali_cuda.backend, d->index, s->base) != AL_OK)
            continue; /* logged by the backend; the segment stays cached */
        ali_cuda_tree_remove(d, s->pool, b);
        if (s->prev)
            s->prev->next = s->next;
        else
            d->segments = s->next;
        if (s->next)
            s->next->prev = s->prev;
        d->st.reserved_bytes -= s->size;
        d->st.num_segments--;
        d->st.num_device_frees++;
        d->pool_reserved[s->pool] -= s->size;
        d->pool_segments[s->pool]--;
        released += s->size;
        ali_cuda_rec_free(b);
        ali_cuda_rec_free(s);
    }
    return released;
}

void ali_cuda_device_reset(ali_cuda_device *d)
{
    release_cached(d);
    ali_cuda_map_clear(&d->active);
    ali_cuda_rec_free(d->spare);
    size_t from = offsetof(ali_cuda_device, free_tree);
    memset((char *)d + from, 0, sizeof *d - from);
    d->rng = 2463534242u;
}

/* "CUDA out of memory on device 0 (sim): tried to allocate ...". Lock held. */
static void report_oom(ali_cuda_device *d, uint64_t size, al_error *err)
{
    uint64_t free_bytes = 0, total = 0;
    ali_cuda.backend->mem_get_info(ali_cuda.backend, d->index, &free_bytes, &total);
    char req[32], alloc[32], res[32], fr[32], tot[32], limit[32], lim[64] = "";
    ali_fmt_bytes(size, req, sizeof req);
    ali_fmt_bytes(d->st.allocated_bytes, alloc, sizeof alloc);
    ali_fmt_bytes(d->st.reserved_bytes, res, sizeof res);
    ali_fmt_bytes(free_bytes, fr, sizeof fr);
    ali_fmt_bytes(total, tot, sizeof tot);
    if (d->limit) {
        ali_fmt_bytes(d->limit, limit, sizeof limit);
        snprintf(lim, sizeof lim, "; allocator limit %s", limit);
    }
    char msg[AL_ERROR_MESSAGE_LEN + 256]; /* logged whole; al_error_set truncates */
    snprintf(msg, sizeof msg,
             "CUDA out of memory on device %d (%s): tried to allocate %s; %s allocated, %s "
             "reserved, %s free of %s total%s",
             d->index, ali_cuda.backend->name, req, alloc, res, fr, tot, lim);
    al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER, "%s", msg);
    al_error_set(err, AL_ECUDA_OOM, "%s", msg);
}

/* Finds or makes a free block of at least `size` bytes, taken out of the cache. Lock held on
 * entry and exit; released while the release functions run. */
static int find_block(ali_cuda_device *d, uint64_t size, ali_cuda_block **out)
{
    int pool = size <= ALI_CUDA_SMALL_SIZE ? ALI_POOL_SMALL : ALI_POOL_LARGE;
    ali_cuda_block *b = ali_cuda_tree_best_fit(d, pool, size);
    if (b) {
        ali_cuda_tree_remove(d, pool, b);
        *out = b;
        return AL_OK;
    }
    uint64_t seg = segment_size(size);
    int rc = segment_new(d, pool, seg, out);
    if (rc != AL_ECUDA_OOM)
        return rc;
    /* 1. Give this device's cached segments back and retry. */
    release_cached(d);
    d->st.num_alloc_retries++;
    if ((rc = segment_new(d, pool, seg, out)) != AL_ECUDA_OOM)
        return rc;
    /* 2. Run the registered release functions (they may free device blocks) and empty every
     * cache, then retry. On a thread already inside a cleanup (a release function allocating)
     * the guard refuses, and the allocation fails here. */
    if (!ali_cleanup_enter())
        return rc;
    ali_cuda_backend *backend = ali_cuda.backend;
    al_cleanup_result ignored;
    pthread_mutex_unlock(&d->lock);
    ali_cleanup_comprehensive(&ignored);
    pthread_mutex_lock(&d->lock);
    ali_cleanup_leave();
    if (ali_cuda.backend != backend || d->index >= atomic_load(&ali_cuda.ndevices))
        return AL_ECUDA_UNAVAILABLE;
    if ((b = ali_cuda_tree_best_fit(d, pool, size))) {
        ali_cuda_tree_remove(d, pool, b);
        *out = b;
        return AL_OK;
    }
    release_cached(d);
    d->st.num_alloc_retries++;
    return segment_new(d, pool, seg, out);
}

/* The allocation worker. Lock held. */
static int alloc_locked(ali_cuda_device *d, uint64_t requested, void **out, al_error *err)
{
    uint64_t size = round_size(requested);
    if (!ali_cuda_map_reserve(&d->active) ||
        (!d->spare && !(d->spare = ali_cuda_rec_alloc(sizeof *d->spare))))
        return al_error_set(err, AL_ENOMEM, "out of host memory for CUDA allocator records");
    ali_cuda_block *b;
    int rc = find_block(d, size, &b);
    if (rc == AL_ECUDA_OOM) {
        d->st.num_ooms++;
        report_oom(d, requested, err);
        return rc;
    }
    if (rc != AL_OK)
        return al_error_set(err, rc, "CUDA allocation of %llu bytes on device %d: %s",
                            (unsigned long long)requested, d->index, al_strerror(rc));
    /* find_block may have dropped the lock: make sure the records are still there. */
    if (!ali_cuda_map_reserve(&d->active) ||
        (!d->spare && !(d->spare = ali_cuda_rec_alloc(sizeof *d->spare)))) {
        ali_cuda_tree_insert(d, b->seg->pool, b);
        return al_error_set(err, AL_ENOMEM, "out of host memory for CUDA allocator records");
    }
    int pool = b->seg->pool;
    if (should_split(b, size)) {
        ali_cuda_block *r = d->spare;
        d->spare = NULL;
        *r = (ali_cuda_block){.ptr = b->ptr + size,
                              .size = b->size - size,
                              .seg = b->seg,
                              .prev = b,
                              .next = b->next};
        if (b->next)
            b->next->prev = r;
        b->next = r;
        b->size = size;
        ali_cuda_tree_insert(d, pool, r);
    }
    b->allocated = true;
    b->requested = requested;
    ali_cuda_map_put(&d->active, b);
    d->st.allocated_bytes += b->size;
    d->st.requested_bytes += requested;
    d->st.active_blocks++;
    d->st.num_allocs++;
    d->pool_allocated[pool] += b->size;
    d->pool_active[pool]++;
    ali_cuda_stats_touch(d);
    *out = (void *)(uintptr_t)b->ptr;
    return AL_OK;
}

void *al_cuda_malloc_ex(size_t size, int device, al_error *err)
{
    int rc;
    if (size == 0 || size > (SIZE_MAX >> 2)) {
        al_error_set(err, AL_EINVAL, "al_cuda_malloc: size %zu out of range", size);
        return NULL;
    }
    ali_cuda_device *d = ali_cuda_device_lock(device, &rc);
    if (!d) {
        if (rc == AL_EINVAL)
            al_error_set(err, rc, "al_cuda_malloc: no device %d (%d device(s))", device,
                         al_cuda_device_count());
        else
            al_error_set(err, rc, "CUDA not available: %s", al_cuda_unavailable_reason());
        return NULL;
    }
    void *p = NULL;
    rc = alloc_locked(d, size, &p, err);
    pthread_mutex_unlock(&d->lock);
    if (rc == AL_OK)
        last_device = device;
    return p;
}

void *al_cuda_malloc(size_t size, int device) { return al_cuda_malloc_ex(size, device, NULL); }

/* Returns active block b to the cache, merging it with free neighbours. Lock held. */
static void free_locked(ali_cuda_device *d, ali_cuda_block *b)
{
    int pool = b->seg->pool;
    d->st.allocated_bytes -= b->size;
    d->st.requested_bytes -= b->requested;
    d->st.active_blocks--;
    d->st.num_frees++;
    d->pool_allocated[pool] -= b->size;
    d->pool_active[pool]--;
    b->allocated = false;
    b->requested = 0;
    ali_cuda_block *n = b->next;
    if (n && !n->allocated) {
        ali_cuda_tree_remove(d, pool, n);
        b->size += n->size;
        b->next = n->next;
        if (n->next)
            n->next->prev = b;
        recycle(d, n);
    }
    ali_cuda_block *p = b->prev;
    if (p && !p->allocated) {
        ali_cuda_tree_remove(d, pool, p);
        p->size += b->size;
        p->next = b->next;
        if (b->next)
            b->next->prev = p;
        recycle(d, b);
        b = p;
    }
    ali_cuda_tree_insert(d, pool, b);
}

/* Reports a refused free: the start of a free block, or an address inside one, was freed
 * already; an address inside an active block is an interior pointer; anything else is
 * foreign. */
static int refuse_free(uint64_t ptr)
{
    int ndev = atomic_load(&ali_cuda.ndevices), owner = -1;
    bool in_free = false;
    uint64_t start = 0, size = 0;
    for (int i = 0; i < ndev && owner < 0; i++) {
        ali_cuda_device *d = &ali_cuda.dev[i];
        pthread_mutex_lock(&d->lock);
        for (ali_cuda_segment *s = d->segments; s && owner < 0; s = s->next) {
            if (ptr < s->base || ptr - s->base >= s->size)
                continue;
            owner = i;
            for (ali_cuda_block *b = s->head; b; b = b->next)
                if (ptr >= b->ptr && ptr - b->ptr < b->size) {
                    in_free = !b->allocated;
                    start = b->ptr;
                    size = b->size;
                }
        }
        pthread_mutex_unlock(&d->lock);
    }
    ali_stats_error();
    void *p = (void *)(uintptr_t)ptr;
    int rc = AL_EBADPTR;
    if (owner >= 0 && in_free) {
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_free(%p): double free: the address is in a free cached block of device "
               "%d; ignored",
               p, owner);
        rc = AL_EDOUBLEFREE;
    } else if (owner >= 0) {
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_free(%p): interior pointer: inside the active block %p (%llu bytes) of "
               "device %d, not its start; ignored",
               p, (void *)(uintptr_t)start, (unsigned long long)size, owner);
    } else {
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "al_cuda_free(%p): pointer not allocated by the CUDA caching allocator (foreign, "
               "or freed and its segment given back); ignored",
               p);
    }
    ali_abort_if_asked();
    return rc;
}

/* Finds live block ptr and locks its device; NULL when it is none. */
static ali_cuda_device *lock_owner(uint64_t ptr, ali_cuda_block **out, bool take)
{
    int ndev = atomic_load_explicit(&ali_cuda.ndevices, memory_order_acquire);
    int first = last_device < ndev ? last_device : 0;
    for (int k = 0; k < ndev; k++) {
        ali_cuda_device *d = &ali_cuda.dev[(first + k) % ndev];
        pthread_mutex_lock(&d->lock);
        ali_cuda_block *b =
            take ? ali_cuda_map_take(&d->active, ptr) : ali_cuda_map_get(&d->active, ptr);
        if (b) {
            *out = b;
            return d;
        }
        pthread_mutex_unlock(&d->lock);
    }
    return NULL;
}

int al_cuda_free(void *p)
{
    if (!p)
        return AL_OK;
    ali_cuda_block *b;
    ali_cuda_device *d = lock_owner((uintptr_t)p, &b, true);
    if (!d)
        return refuse_free((uintptr_t)p);
    free_locked(d, b);
    pthread_mutex_unlock(&d->lock);
    return AL_OK;
}

size_t al_cuda_block_size(const void *p)
{
    ali_cuda_block *b;
    ali_cuda_device *d = p ? lock_owner((uintptr_t)p, &b, false) : NULL;
    if (!d)
        return 0;
    size_t n = b->requested;
    pthread_mutex_unlock(&d->lock);
    return n;
}

int al_cuda_block_device(const void *p)
{
    ali_cuda_block *b;
    ali_cuda_device *d = p ? lock_owner((uintptr_t)p, &b, false) : NULL;
    if (!d)
        return -1;
    int dev = d->index;
    pthread_mutex_unlock(&d->lock);
    return dev;
}

uint64_t ali_cuda_release_all(void)
{
    if (!atomic_load(&ali_cuda.selected))
        return 0;
    uint64_t released = 0;
    int ndev = atomic_load(&ali_cuda.ndevices);
    for (int i = 0; i < ndev; i++) {
        pthread_mutex_lock(&ali_cuda.dev[i].lock);
        if (i < atomic_load(&ali_cuda.ndevices))
            released += release_cached(&ali_cuda.dev[i]);
        pthread_mutex_unlock(&ali_cuda.dev[i].lock);
    }
    if (released)
        al_log(AL_LOG_DEBUG, ALI_CUDA_LOGGER, "CUDA cache emptied: %llu bytes released",
               (unsigned long long)released);
    return released;
}

uint64_t al_cuda_empty_cache(void) { return ali_cuda_release_all(); }

int al_cuda_set_memory_limit(int device, uint64_t bytes)
{
    int rc;
    ali_cuda_device *d = ali_cuda_device_lock(device, &rc);
    if (!d)
        return rc;
    d->limit = bytes;
    pthread_mutex_unlock(&d->lock);
    return AL_OK;
}
