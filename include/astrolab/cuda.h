/* AstroLab CUDA: the NVIDIA driver loaded at run time, and a caching device allocator in the
 * manner of PyTorch's CUDACachingAllocator, over a backend seam (the real driver, or a simulated
 * device of fixed capacity in host memory).
 *
 * Nothing CUDA is needed to build: libcuda.so.1 is opened with dlopen on first use. Where there
 * is no driver or no device, every call answers "not available" (AL_ECUDA_UNAVAILABLE, 0 or
 * NULL); nothing crashes and nothing is printed except through the logger "astrolab.cuda".
 *
 * Device pointers are `void *` device addresses, as cudaMalloc gives: never dereference them
 * on the host (on the simulated device they happen to be host addresses inside its arena, but
 * programs must not rely on that); move data with al_cuda_memcpy_htod / _dtoh.
 *
 *     void *d = al_cuda_malloc(n * sizeof(float), 0);   // from the cache when it can be
 *     al_cuda_memcpy_htod(d, host, n * sizeof(float));
 *     ...
 *     al_cuda_free(d);                                   // back to the cache, not the driver
 *     al_cuda_empty_cache();                             // now the driver gets it back
 *
 * Backends. The environment variable ASTROLAB_CUDA_BACKEND, read once on first use, chooses:
 *   auto    (the default) the driver when it loads and has a device, otherwise none: CUDA is
 *           "not available";
 *   driver  the driver only (unavailable when it does not load or has no device);
 *   sim     the simulated device: ASTROLAB_CUDA_SIM_BYTES bytes per device (default 1 GiB,
 *           reserved lazily), ASTROLAB_CUDA_SIM_DEVICES devices (default 1);
 *   none    CUDA switched off.
 * Programs and tests may switch with al_cuda_use_simulated() or al_cuda_set_backend(). The
 * library's own default is "auto"; AstroLab's test suite uses the simulated device unless
 * ASTROLAB_CUDA_BACKEND=driver (that is what `make test-gpu` sets). */
#ifndef ASTROLAB_CUDA_H
#define ASTROLAB_CUDA_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* AL_OK, AL_E*, al_error */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Backends and devices: thread-safe. --------
 * Switching backends is refused while any device block is allocated; it releases the cached
 * segments to the old backend first and resets the statistics. */

/* Most devices the allocator manages; devices beyond it are ignored. */
#define AL_CUDA_MAX_DEVICES 16
/* For al_cuda_memory_stats and friends: every device, summed. */
#define AL_CUDA_ALL_DEVICES (-1)

/* True (1) when a backend with at least one device is selected (selecting it on first use). */
AL_API int al_cuda_available(void);
/* Number of devices of the selected backend; 0 when CUDA is not available. */
AL_API int al_cuda_device_count(void);
/* "driver", "sim" or "none"; static. */
AL_API const char *al_cuda_backend_name(void);
/* Why CUDA is not available ("libcuda.so.1: cannot open shared object file..."), or "" when
 * it is; borrowed, valid until the next backend selection. */
AL_API const char *al_cuda_unavailable_reason(void);

/* Selects a backend by name: "auto", "driver", "sim" (sized by the environment, as above) or
 * "none". Returns AL_OK, AL_EINVAL for an unknown name, AL_ESTATE while blocks are allocated,
 * AL_ECUDA_UNAVAILABLE when the backend has no device (CUDA is then unavailable), AL_ENOMEM. */
AL_API AL_NODISCARD int al_cuda_set_backend(const char *name);
/* Selects the simulated backend: `ndevices` (1..AL_CUDA_MAX_DEVICES) devices of
 * `capacity_bytes` each (at least 1 MiB), in host memory reserved lazily. Returns AL_OK,
 * AL_EINVAL, AL_ESTATE while blocks are allocated, AL_ENOMEM. */
AL_API AL_NODISCARD int al_cuda_use_simulated(uint64_t capacity_bytes, int ndevices);

/* What the backend says of one device (cudaDeviceProp's few fields the manager needs). */
typedef struct al_cuda_device_props {
    int index;            /* device ordinal */
    char name[128];       /* "NVIDIA H100 80GB HBM3", "AstroLab simulated device 0" */
    char backend[8];      /* "driver" or "sim" */
    uint64_t total_bytes; /* device memory, bytes */
    uint64_t free_bytes;  /* free device memory now, bytes (the cache's reserve counts used) */
} al_cuda_device_props;

/* Fills *out for device `device`. Returns AL_OK, AL_EINVAL (NULL out or device out of range),
 * AL_ECUDA_UNAVAILABLE, AL_ECUDA (driver error, logged). */
AL_API AL_NODISCARD int al_cuda_device_info(int device, al_cuda_device_props *out);

/* -------- Caching allocator: thread-safe (one lock per device). --------
 * Sizes are rounded up to 512 bytes. Requests up to 1 MiB come from the small pool (2 MiB
 * segments); larger ones from the large pool (20 MiB segments for requests under 10 MiB,
 * otherwise a segment of the request rounded up to 2 MiB). Free blocks are cached, found best
 * fit, split when the remainder is worth keeping and merged with free neighbours. A backend
 * allocation that fails is retried after emptying this device's cache, then after running the
 * registered release functions (al_force_comprehensive_cleanup, without any allocator lock
 * held); then the allocation fails with an ERROR giving requested, allocated, reserved, free
 * and total bytes. */

/* A device block of `size` bytes on `device`; free with al_cuda_free. NULL on failure: size
 * 0, bad device, CUDA not available, or out of device memory (logged). */
AL_API AL_NODISCARD void *al_cuda_malloc(size_t size, int device);
/* As al_cuda_malloc; on failure fills `err` (may be NULL) with the code and the message. */
AL_API AL_NODISCARD void *al_cuda_malloc_ex(size_t size, int device, al_error *err);
/* Returns block p to the cache; al_cuda_free(NULL) does nothing and returns AL_OK. A second
 * free (AL_EDOUBLEFREE) or a pointer this allocator did not give out (AL_EBADPTR) is logged at
 * ERROR naming the pointer and ignored. */
AL_API int al_cuda_free(void *p);
/* Requested size of live block p, or 0 when p is not a live block's start. */
AL_API size_t al_cuda_block_size(const void *p);
/* Device of live block p, or -1 when p is not a live block's start. */
AL_API int al_cuda_block_device(const void *p);
/* Releases every fully free cached segment of every device back to the backend. Returns the
 * bytes released (0 when CUDA was never used). */
AL_API uint64_t al_cuda_empty_cache(void);
/* Caps the bytes the allocator may reserve on `device` (0: no cap; as PyTorch's memory
 * fraction). Crossing it counts as out of memory. Returns AL_OK, AL_EINVAL, or
 * AL_ECUDA_UNAVAILABLE. */
AL_API AL_NODISCARD int al_cuda_set_memory_limit(int device, uint64_t bytes);

/* -------- Statistics: thread-safe. -------- */
typedef struct al_cuda_stats {
    uint64_t allocated_bytes;       /* bytes in active blocks (512-byte rounded sizes) */
    uint64_t reserved_bytes;        /* bytes in segments held from the backend */
    uint64_t peak_allocated_bytes;  /* highest allocated_bytes since start or reset */
    uint64_t peak_reserved_bytes;   /* highest reserved_bytes since start or reset */
    uint64_t active_blocks;         /* blocks handed out and not yet freed */
    uint64_t cached_blocks;         /* free blocks held in the cache */
    uint64_t num_alloc_retries;     /* backend allocations retried after freeing memory */
    uint64_t num_ooms;              /* allocations that failed for lack of device memory */
    uint64_t num_segments;          /* segments held from the backend */
    uint64_t requested_bytes;       /* bytes asked for by active blocks (before rounding) */
    uint64_t cached_bytes;          /* reserved_bytes - allocated_bytes */
    uint64_t inactive_split_blocks; /* free blocks inside partly used segments (PyTorch's) */
    uint64_t inactive_split_bytes;  /* bytes of those */
    uint64_t num_allocs;            /* successful al_cuda_malloc calls */
    uint64_t num_frees;             /* successful al_cuda_free calls */
    uint64_t num_device_allocs;     /* backend allocations (cuMemAlloc) */
    uint64_t num_device_frees;      /* backend frees (cuMemFree) */
} al_cuda_stats;

/* Fills *out for `device`, or summed over every device for AL_CUDA_ALL_DEVICES. Returns AL_OK,
 * AL_EINVAL, or AL_ECUDA_UNAVAILABLE (all-devices on no CUDA fills zeros and returns AL_OK). */
AL_API AL_NODISCARD int al_cuda_memory_stats(int device, al_cuda_stats *out);
/* Sets the peaks of `device` (or every device) to the current figures. */
AL_API void al_cuda_reset_peak_memory_stats(int device);
/* The statistics of `device` (or all devices) as a JSON object under the field names above;
 * free() it. NULL when out of memory or CUDA is not available. */
AL_API AL_NODISCARD char *al_cuda_memory_stats_json(int device);
/* A text table of every device's pools, blocks and counters; free() it. NULL when CUDA is not
 * available or out of memory. */
AL_API AL_NODISCARD char *al_cuda_memory_summary(void);

/* -------- Copies: thread-safe; synchronous. --------
 * Device ranges must lie inside one segment of this allocator. On the driver, copies of at
 * least ASTROLAB_CUDA_PINNED_MIN_BYTES (default 1 MiB) go through a pinned staging buffer. */

/* Copies n bytes from host `src` to device `dst`. Returns AL_OK, AL_EINVAL (NULL pointer or a
 * device range outside the allocator's segments), AL_ECUDA_UNAVAILABLE, AL_ECUDA. */
AL_API AL_NODISCARD int al_cuda_memcpy_htod(void *dst, const void *src, size_t n);
/* Copies n bytes from device `src` to host `dst`. Returns as al_cuda_memcpy_htod. */
AL_API AL_NODISCARD int al_cuda_memcpy_dtoh(void *dst, const void *src, size_t n);
/* Copies n bytes between device ranges (same or different devices). Returns as above. */
AL_API AL_NODISCARD int al_cuda_memcpy_dtod(void *dst, const void *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* ASTROLAB_CUDA_H */
