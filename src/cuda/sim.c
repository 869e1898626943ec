/* The simulated device: a backend (backend.h) whose devices are fixed-capacity arenas of host
 * memory, so the caching allocator's logic (splits, merges, fragmentation, out-of-memory
 * recovery, empty cache) runs where there is no GPU. Each arena is reserved with mmap
 * (MAP_NORESERVE: untouched pages cost nothing) and carved first-fit at 512-byte granularity,
 * like a device heap with no virtual-memory tricks, so fragmentation and OOM are real: a
 * request fails when no single gap is large enough, even if the free total would be.
 * Pages once touched stay resident until the backend is destroyed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "astrolab/log.h"
#include "cuda/cuda_int.h"
#include "memory/services_int.h"
#include "util/grow_int.h"

#define SIM_ALIGN 512u

typedef struct extent {
    uint64_t off;  /* from the arena's start */
    uint64_t size; /* bytes, a multiple of SIM_ALIGN */
} extent;

typedef struct sim_device {
    pthread_mutex_t lock; /* guards every field below */
    unsigned char *arena; /* capacity bytes */
    extent *ext;          /* allocations, sorted by offset */
    uint64_t n, cap;      /* entries and room in ext */
    uint64_t used;        /* bytes allocated */
} sim_device;

typedef struct sim_backend {
    ali_cuda_backend base;
    uint64_t capacity;
    sim_device dev[AL_CUDA_MAX_DEVICES];
} sim_backend;

static sim_device *device_of(ali_cuda_backend *b, int dev) { return &((sim_backend *)b)->dev[dev]; }
static uint64_t capacity_of(ali_cuda_backend *b) { return ((sim_backend *)b)->capacity; }

static int sim_props(ali_cuda_backend *b, int dev, al_cuda_device_props *out)
{
    sim_device *d = device_of(b, dev);
    memset(out, 0, sizeof *out);
    out->index = dev;
    snprintf(out->name, sizeof out->name, "AstroLab simulated device %d", dev);
    snprintf(out->backend, sizeof out->backend, "sim");
    out->total_bytes = capacity_of(b);
    pthread_mutex_lock(&d->lock);
    out->free_bytes = capacity_of(b) - d->used;
    pthread_mutex_unlock(&d->lock);
    return AL_OK;
}

/* First fit: the lowest gap that holds `size`. */
static int sim_malloc(ali_cuda_backend *b, int dev, uint64_t size, uint64_t *out)
{
    sim_device *d = device_of(b, dev);
    uint64_t cap = capacity_of(b);
    if (size == 0 || size > cap)
        return AL_ECUDA_OOM;
    size = (size + SIM_ALIGN - 1) / SIM_ALIGN * SIM_ALIGN;
    int rc = AL_ECUDA_OOM;
    pthread_mutex_lock(&d->lock);
    uint64_t at = 0, i = 0;
    for (; i <= d->n; i++) {
        uint64_t gap_end = i < d->n ? d->ext[i].off : cap;
        if (gap_end - at >= size)
            break;
        if (i < d->n)
            at = d->ext[i].off + d->ext[i].size;
    }
    if (i <= d->n) {
        if (d->n == d->cap) {
            size_t ncap = 0;
            extent *e = NULL;
            if (ali_grow_cap(d->cap, d->n + 1, 64, sizeof *e, &ncap))
                e = ali_internal_realloc(d->ext, ncap * sizeof *e);
            if (!e) {
                pthread_mutex_unlock(&d->lock);
                return AL_ENOMEM;
            }
            d->ext = e;
            d->cap = ncap;
        }
        memmove(&d->ext[i + 1], &d->ext[i], (d->n - i) * sizeof *d->ext);
        d->ext[i] = (extent){at, size};
        d->n++;
        d->used += size;
        *out = (uint64_t)(uintptr_t)(d->arena + at);
        rc = AL_OK;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* Index of the extent containing arena offset `off`, or -1. Lock held. */
static int64_t extent_find(const sim_device *d, uint64_t off)
{
    uint64_t lo = 0, hi = d->n;
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (d->ext[mid].off + d->ext[mid].size <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->ext[lo].off <= off ? (int64_t)lo : -1;
}

static int sim_free(ali_cuda_backend *b, int dev, uint64_t ptr)
{
    sim_device *d = device_of(b, dev);
    uint64_t off = ptr - (uint64_t)(uintptr_t)d->arena;
    int rc = AL_OK;
    pthread_mutex_lock(&d->lock);
    int64_t i = ptr >= (uint64_t)(uintptr_t)d->arena ? extent_find(d, off) : -1;
    if (i < 0 || d->ext[i].off != off) {
        rc = AL_ECUDA;
    } else {
        d->used -= d->ext[i].size;
        memmove(&d->ext[i], &d->ext[i + 1], (d->n - (uint64_t)i - 1) * sizeof *d->ext);
        d->n--;
    }
    pthread_mutex_unlock(&d->lock);
    if (rc != AL_OK)
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "simulated device %d: free of 0x%llx, which is not an allocation start", dev,
               (unsigned long long)ptr);
    return rc;
}

static int sim_mem_get_info(ali_cuda_backend *b, int dev, uint64_t *free_bytes, uint64_t *total)
{
    sim_device *d = device_of(b, dev);
    pthread_mutex_lock(&d->lock);
    *free_bytes = capacity_of(b) - d->used;
    pthread_mutex_unlock(&d->lock);
    *total = capacity_of(b);
    return AL_OK;
}

/* Host address of device range [ptr, ptr + n) when it lies inside one allocation, else NULL. */
static unsigned char *range_host(ali_cuda_backend *b, int dev, uint64_t ptr, size_t n)
{
    sim_device *d = device_of(b, dev);
    uint64_t base = (uint64_t)(uintptr_t)d->arena;
    if (ptr < base || ptr - base >= capacity_of(b))
        return NULL;
    uint64_t off = ptr - base;
    pthread_mutex_lock(&d->lock);
    int64_t i = extent_find(d, off);
    bool ok = i >= 0 && n <= d->ext[i].off + d->ext[i].size - off;
    pthread_mutex_unlock(&d->lock);
    if (!ok) {
        al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER,
               "simulated device %d: copy of %zu bytes at 0x%llx leaves its allocation", dev, n,
               (unsigned long long)ptr);
        return NULL;
    }
    return d->arena + off;
}

static int sim_htod(ali_cuda_backend *b, int dev, uint64_t dst, const void *src, size_t n)
{
    unsigned char *h = range_host(b, dev, dst, n);
    if (!h)
        return AL_ECUDA;
    memcpy(h, src, n);
    return AL_OK;
}

static int sim_dtoh(ali_cuda_backend *b, int dev, void *dst, uint64_t src, size_t n)
{
    unsigned char *h = range_host(b, dev, src, n);
    if (!h)
        return AL_ECUDA;
    memcpy(dst, h, n);
    return AL_OK;
}

/* `dev` is the destination's device; the source may be on any simulated device. */
static int sim_dtod(ali_cuda_backend *b, int dev, uint64_t dst, uint64_t src, size_t n)
{
    unsigned char *h = range_host(b, dev, dst, n), *s = NULL;
    for (int i = 0; h && !s && i < b->ndevices; i++) {
        uint64_t base = (uint64_t)(uintptr_t)device_of(b, i)->arena;
        if (src >= base && src - base < capacity_of(b))
            s = range_host(b, i, src, n);
    }
    if (!h || !s)
        return AL_ECUDA;
    memmove(h, s, n);
    return AL_OK;
}

static void sim_destroy(ali_cuda_backend *b)
{
    sim_backend *sb = (sim_backend *)b;
    for (int i = 0; i < b->ndevices; i++) {
        munmap(sb->dev[i].arena, sb->capacity);
        ali_internal_free(sb->dev[i].ext);
        pthread_mutex_destroy(&sb->dev[i].lock);
    }
    ali_cuda_rec_free(sb);
}

int ali_cuda_sim_new(uint64_t capacity, int ndevices, ali_cuda_backend **out)
{
    if (ndevices < 1 || ndevices > AL_CUDA_MAX_DEVICES || capacity < (1u << 20) ||
        capacity > (UINT64_C(1) << 46))
        return AL_EINVAL;
    capacity = capacity / SIM_ALIGN * SIM_ALIGN;
    sim_backend *sb = ali_cuda_rec_alloc(sizeof *sb);
    if (!sb)
        return AL_ENOMEM;
    sb->capacity = capacity;
    sb->base =
        (ali_cuda_backend){"sim",    0,        sim_props, sim_malloc, sim_free, sim_mem_get_info,
                           sim_htod, sim_dtoh, sim_dtod,  sim_destroy};
    for (int i = 0; i < ndevices; i++) {
        void *a = mmap(NULL, capacity, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a == MAP_FAILED) {
            sim_destroy(&sb->base);
            return AL_ENOMEM;
        }
        sb->dev[i].arena = a;
        pthread_mutex_init(&sb->dev[i].lock, NULL);
        sb->base.ndevices = i + 1;
    }
    *out = &sb->base;
    return AL_OK;
}
