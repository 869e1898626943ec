/* Internals of the CUDA module shared between src/cuda/ files and its tests: the caching
 * allocator's blocks, segments and per-device pools (caching.c), the free-block set and the
 * active-block map (pool.c), statistics and the summary (summary.c). Never installed. */
#ifndef ASTROLAB_CUDA_INT_H
#define ASTROLAB_CUDA_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "astrolab/cuda.h"
#include "astrolab/memory.h"
#include "cuda/backend.h"

#define ALI_CUDA_LOGGER "astrolab.cuda"

/* PyTorch's CUDACachingAllocator constants (c10/cuda/CUDACachingAllocator.cpp). */
#define ALI_CUDA_MIN_BLOCK 512u              /* all sizes are rounded to this */
#define ALI_CUDA_SMALL_SIZE (1u << 20)       /* largest request served by the small pool */
#define ALI_CUDA_SMALL_BUFFER (2u << 20)     /* small-pool segment size */
#define ALI_CUDA_LARGE_BUFFER (20u << 20)    /* segment for large requests under 10 MiB */
#define ALI_CUDA_MIN_LARGE_ALLOC (10u << 20) /* from here, a segment of the request's size */
#define ALI_CUDA_ROUND_LARGE (2u << 20)      /* ... rounded up to 2 MiB */

enum { ALI_POOL_SMALL = 0, ALI_POOL_LARGE = 1, ALI_POOLS = 2 };

typedef struct ali_cuda_segment ali_cuda_segment;

/* One block: a range of a segment, active (handed out) or free (cached). Bookkeeping memory
 * from the backing allocator (see pool.c for why). */
typedef struct ali_cuda_block {
    uint64_t ptr;                        /* device address */
    uint64_t size;                       /* bytes, a multiple of 512 */
    uint64_t requested;                  /* bytes asked for while active; 0 while free */
    struct ali_cuda_block *prev, *next;  /* address neighbours in the segment */
    ali_cuda_segment *seg;               /* owning segment */
    struct ali_cuda_block *left, *right; /* children in the free-block treap while free */
    uint32_t prio;                       /* treap priority */
    bool allocated;                      /* true while handed out */
} ali_cuda_block;

/* One backend allocation, carved into blocks. */
struct ali_cuda_segment {
    uint64_t base;                 /* device address from the backend */
    uint64_t size;                 /* bytes */
    int pool;                      /* ALI_POOL_* */
    ali_cuda_block *head;          /* the block at base: it never moves (lower blocks absorb) */
    ali_cuda_segment *prev, *next; /* the device's segment list */
};

/* An open-addressing map from device address to active block. */
typedef struct ali_cuda_active_map {
    ali_cuda_block **slots; /* NULL: empty */
    uint64_t cap;           /* power of two, or 0 */
    uint64_t count;
} ali_cuda_active_map;

/* One device's caching allocator. `lock` guards every field below it; ali_cuda_device_reset
 * clears every field from free_tree on. */
typedef struct ali_cuda_device {
    pthread_mutex_t lock;
    int index;
    ali_cuda_block *free_tree[ALI_POOLS]; /* cached free blocks, ordered by (size, ptr) */
    ali_cuda_segment *segments;           /* every segment held */
    ali_cuda_active_map active;
    uint64_t limit;                     /* cap on reserved bytes; 0: none */
    uint32_t rng;                       /* treap priorities */
    ali_cuda_block *spare;              /* one record kept for the next split */
    al_cuda_stats st;                   /* counters (inactive_split_* computed on read) */
    uint64_t pool_allocated[ALI_POOLS]; /* allocated_bytes per pool */
    uint64_t pool_reserved[ALI_POOLS];  /* reserved_bytes per pool */
    uint64_t pool_active[ALI_POOLS];    /* active blocks per pool */
    uint64_t pool_cached[ALI_POOLS];    /* cached blocks per pool */
    uint64_t pool_segments[ALI_POOLS];  /* segments per pool */
} ali_cuda_device;

/* The allocator state: `select_lock` serialises backend selection, which also holds every
 * device lock while it swaps `backend` and `ndevices`; readers take one device lock. */
typedef struct ali_cuda_state {
    pthread_mutex_t select_lock;
    atomic_bool selected;      /* a selection (possibly "none") has happened */
    _Atomic int ndevices;      /* devices of the backend; 0: not available */
    ali_cuda_backend *backend; /* NULL: not available */
    char reason[256];          /* why not available */
    ali_cuda_device dev[AL_CUDA_MAX_DEVICES];
} ali_cuda_state;

extern ali_cuda_state ali_cuda;

/* Selects the backend from the environment on first use. Returns the device count. */
int ali_cuda_ensure(void);
/* Locks and returns device `device` of the current backend; NULL with *rc set to
 * AL_ECUDA_UNAVAILABLE or AL_EINVAL (select.c). */
ali_cuda_device *ali_cuda_device_lock(int device, int *rc);
/* Gives every segment back to the backend and clears the pools, statistics and limit; no block
 * may be active. Device lock held (caching.c). */
void ali_cuda_device_reset(ali_cuda_device *d);

/* -------- Bookkeeping memory and its fault injection (pool.c). -------- */
void *ali_cuda_rec_alloc(size_t n);
void ali_cuda_rec_free(void *p);
/* Bookkeeping records live now. */
uint64_t ali_cuda_rec_live(void);
/* Makes the n-th next bookkeeping allocation fail (0 disarms): tests of error paths. */
void ali_cuda_rec_fail_after(uint64_t n);

/* -------- Free-block treap and active map (pool.c); the device lock is held. -------- */
void ali_cuda_tree_insert(ali_cuda_device *d, int pool, ali_cuda_block *b);
void ali_cuda_tree_remove(ali_cuda_device *d, int pool, ali_cuda_block *b);
/* Smallest cached block of at least `size` bytes (lowest address among equals), or NULL. */
ali_cuda_block *ali_cuda_tree_best_fit(ali_cuda_device *d, int pool, uint64_t size);
/* Calls fn on every cached block of `pool` in (size, ptr) order. */
void ali_cuda_tree_walk(ali_cuda_block *root, void (*fn)(ali_cuda_block *, void *), void *arg);

/* Reserves room for one more entry; false when out of memory. */
bool ali_cuda_map_reserve(ali_cuda_active_map *m);
void ali_cuda_map_put(ali_cuda_active_map *m, ali_cuda_block *b);
ali_cuda_block *ali_cuda_map_get(const ali_cuda_active_map *m, uint64_t ptr);
ali_cuda_block *ali_cuda_map_take(ali_cuda_active_map *m, uint64_t ptr);
void ali_cuda_map_clear(ali_cuda_active_map *m);

/* -------- Statistics helpers (summary.c); the device lock is held. -------- */
/* Fills *out from d, computing the inactive-split figures. */
void ali_cuda_device_stats(ali_cuda_device *d, al_cuda_stats *out);
/* Raises the peaks after a change. */
void ali_cuda_stats_touch(ali_cuda_device *d);
/* The memory module's hooks (memory_int.h), installed by a constructor in caching.c. */
uint64_t ali_cuda_release_all(void);
void ali_cuda_reset_peaks_if_used(void);
int ali_cuda_device_memory(uint64_t *used_bytes, uint64_t *total_bytes);
void ali_cuda_fill_memory_stats(al_memory_stats *out);

/* -------- Checks for the tests (caching.c). -------- */
/* Verifies every invariant of device `dev`'s pools: blocks tile each segment exactly, no two
 * free neighbours, the cache and map agree with the blocks, the counters agree with a recount.
 * Returns AL_OK, or AL_ECORRUPT with the first violation in msg. */
int ali_cuda_check_invariants(int dev, char *msg, size_t len);
/* Makes the driver backend open `soname` instead of libcuda.so.1 on its next open (NULL
 * restores it): tests of "no driver" on machines that have one. */
void ali_cuda_driver_set_library(const char *soname);

#endif
