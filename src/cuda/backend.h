/* The backend seam under the CUDA caching allocator: what a device must offer (allocate, free,
 * query memory, copy), as a table of function pointers. Two implementations: driver.c (the
 * NVIDIA driver, loaded at run time) and sim.c (a simulated device of fixed capacity in host
 * memory, whose first-fit arena makes fragmentation and out-of-memory real). The caching
 * allocator (caching.c) calls these with the device's pool lock held, except the copies. */
#ifndef ASTROLAB_CUDA_BACKEND_H
#define ASTROLAB_CUDA_BACKEND_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "astrolab/cuda.h" /* al_cuda_device_props */

typedef struct ali_cuda_backend ali_cuda_backend;

/* Every function returns AL_OK or a negative code: AL_ECUDA_OOM when the device lacks the
 * memory (nothing logged: the allocator decides), AL_ECUDA for any other failure (logged by
 * the backend on "astrolab.cuda", naming the driver's error). Device addresses are uint64_t,
 * as CUdeviceptr is. Every function is thread-safe. */
struct ali_cuda_backend {
    const char *name; /* "driver" or "sim"; static */
    int ndevices;     /* devices, at least 1 */
    int (*props)(ali_cuda_backend *b, int dev, al_cuda_device_props *out);
    int (*malloc)(ali_cuda_backend *b, int dev, uint64_t size, uint64_t *out);
    int (*free)(ali_cuda_backend *b, int dev, uint64_t ptr);
    int (*mem_get_info)(ali_cuda_backend *b, int dev, uint64_t *free_bytes, uint64_t *total);
    int (*memcpy_htod)(ali_cuda_backend *b, int dev, uint64_t dst, const void *src, size_t n);
    int (*memcpy_dtoh)(ali_cuda_backend *b, int dev, void *dst, uint64_t src, size_t n);
    int (*memcpy_dtod)(ali_cuda_backend *b, int dev, uint64_t dst, uint64_t src, size_t n);
    /* Releases the backend (every device block must have been freed); may be NULL. */
    void (*destroy)(ali_cuda_backend *b);
};

/* Opens the driver backend (a process-wide singleton: libcuda stays loaded). Returns AL_OK,
 * or AL_ECUDA_UNAVAILABLE with the reason in `reason` (no library, a missing symbol, cuInit
 * failing, no device). */
int ali_cuda_driver_open(ali_cuda_backend **out, char *reason, size_t reason_len);

/* Makes a simulated backend of `ndevices` devices of `capacity` bytes each. Returns AL_OK,
 * AL_EINVAL or AL_ENOMEM. */
int ali_cuda_sim_new(uint64_t capacity, int ndevices, ali_cuda_backend **out);

/* The backend of the current selection (selecting it on first use), or NULL when CUDA is not
 * available: the uncached baseline of bench/bench_cuda.c. */
ali_cuda_backend *ali_cuda_backend_current(void);

#endif
