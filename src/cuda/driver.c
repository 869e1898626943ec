/* The driver backend (backend.h): the NVIDIA driver API loaded at run time with dlopen, so that
 * nothing CUDA is needed to build and a machine without a GPU only finds CUDA "not available".
 * The few types and prototypes used are declared here as cuda.h declares them; the symbols are
 * the `_v2` ones the driver has exported since CUDA 3.2 (the unsuffixed names are macros in
 * cuda.h and, for these functions, the old 32-bit ABI in the library).
 *
 * Each device's primary context is retained on first use and made current on the calling
 * thread before every call (cheap: a thread-local store in the driver), so any thread may use
 * any device. Host-device copies of at least ASTROLAB_CUDA_PINNED_MIN_BYTES go through a pinned
 * staging buffer per device (cuMemAllocHost), in chunks. libcuda is never unloaded. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/log.h"
#include "cuda/cuda_int.h"
#include "util/dl_int.h"
#include "util/settings_int.h"

/* -------- The driver API subset, as cuda.h declares it. -------- */
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;
#define CUDA_SUCCESS 0
#define CUDA_ERROR_OUT_OF_MEMORY 2

typedef struct driver_api {
    CUresult (*cuInit)(unsigned flags);
    CUresult (*cuDeviceGetCount)(int *count);
    CUresult (*cuDeviceGet)(CUdevice *dev, int ordinal);
    CUresult (*cuDeviceGetName)(char *name, int len, CUdevice dev);
    CUresult (*cuDeviceTotalMem_v2)(size_t *bytes, CUdevice dev);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev);
    CUresult (*cuCtxSetCurrent)(CUcontext ctx);
    CUresult (*cuMemAlloc_v2)(CUdeviceptr *ptr, size_t bytes);
    CUresult (*cuMemFree_v2)(CUdeviceptr ptr);
    CUresult (*cuMemGetInfo_v2)(size_t *free_bytes, size_t *total);
    CUresult (*cuMemcpyHtoD_v2)(CUdeviceptr dst, const void *src, size_t n);
    CUresult (*cuMemcpyDtoH_v2)(void *dst, CUdeviceptr src, size_t n);
    CUresult (*cuMemcpyDtoD_v2)(CUdeviceptr dst, CUdeviceptr src, size_t n);
    CUresult (*cuMemAllocHost_v2)(void **p, size_t bytes);
    CUresult (*cuMemFreeHost)(void *p);
    CUresult (*cuGetErrorString)(CUresult rc, const char **text);
} driver_api;

#define SYM(name)                                                                                  \
    {                                                                                              \
#name, offsetof(driver_api, name)                                                          \
    }
static const ali_dl_symbol symbols[] = {
    SYM(cuInit),           SYM(cuDeviceGetCount),    SYM(cuDeviceGet),
    SYM(cuDeviceGetName),  SYM(cuDeviceTotalMem_v2), SYM(cuDevicePrimaryCtxRetain),
    SYM(cuCtxSetCurrent),  SYM(cuMemAlloc_v2),       SYM(cuMemFree_v2),
    SYM(cuMemGetInfo_v2),  SYM(cuMemcpyHtoD_v2),     SYM(cuMemcpyDtoH_v2),
    SYM(cuMemcpyDtoD_v2),  SYM(cuMemAllocHost_v2),   SYM(cuMemFreeHost),
    SYM(cuGetErrorString),
};

#define STAGE_CHUNK (4u << 20) /* bytes per staged copy step */

static struct {
    pthread_mutex_t lock; /* guards opening, contexts and staging buffers */
    bool open;            /* api, ndev and dev[] are valid */
    const char *soname;   /* library to open; tests point it at a missing one */
    void *lib;
    driver_api api;
    int ndev;
    CUdevice dev[AL_CUDA_MAX_DEVICES];
    CUcontext ctx[AL_CUDA_MAX_DEVICES];              /* retained primary contexts, or NULL */
    pthread_mutex_t stage_lock[AL_CUDA_MAX_DEVICES]; /* one staged copy at a time per device */
    void *stage[AL_CUDA_MAX_DEVICES];                /* pinned buffer of STAGE_CHUNK, or NULL */
    uint64_t pinned_min;                             /* ASTROLAB_CUDA_PINNED_MIN_BYTES */
    ali_cuda_backend base;
} drv = {.lock = PTHREAD_MUTEX_INITIALIZER, .soname = "libcuda.so.1"};

void ali_cuda_driver_set_library(const char *soname)
{
    pthread_mutex_lock(&drv.lock);
    drv.soname = soname ? soname : "libcuda.so.1";
    pthread_mutex_unlock(&drv.lock);
}

static const char *cu_text(CUresult rc)
{
    const char *text = NULL;
    if (drv.api.cuGetErrorString && drv.api.cuGetErrorString(rc, &text) != CUDA_SUCCESS)
        text = NULL;
    return text ? text : "unknown CUDA error";
}

/* Logs a failed call and maps it to a code. */
static int cu_check(CUresult rc, const char *what, int dev)
{
    if (rc == CUDA_SUCCESS)
        return AL_OK;
    if (rc == CUDA_ERROR_OUT_OF_MEMORY)
        return AL_ECUDA_OOM;
    al_log(AL_LOG_ERROR, ALI_CUDA_LOGGER, "%s on device %d failed: %s (CUresult %d)", what, dev,
           cu_text(rc), rc);
    return AL_ECUDA;
}

/* Makes device dev's primary context current on this thread, retaining it on first use. */
static int use_device(int dev)
{
    CUcontext ctx = __atomic_load_n(&drv.ctx[dev], __ATOMIC_ACQUIRE);
    if (!ctx) {
        pthread_mutex_lock(&drv.lock);
        CUresult rc = CUDA_SUCCESS;
        if (!drv.ctx[dev] &&
            (rc = drv.api.cuDevicePrimaryCtxRetain(&ctx, drv.dev[dev])) == CUDA_SUCCESS)
            __atomic_store_n(&drv.ctx[dev], ctx, __ATOMIC_RELEASE);
        ctx = drv.ctx[dev];
        pthread_mutex_unlock(&drv.lock);
        if (rc != CUDA_SUCCESS)
            return cu_check(rc, "cuDevicePrimaryCtxRetain", dev);
    }
    return cu_check(drv.api.cuCtxSetCurrent(ctx), "cuCtxSetCurrent", dev);
}

static int drv_props(ali_cuda_backend *b, int dev, al_cuda_device_props *out)
{
    (void)b;
    memset(out, 0, sizeof *out);
    out->index = dev;
    snprintf(out->backend, sizeof out->backend, "driver");
    size_t total = 0, free_bytes = 0, ignored;
    int rc = cu_check(drv.api.cuDeviceGetName(out->name, (int)sizeof out->name, drv.dev[dev]),
                      "cuDeviceGetName", dev);
    if (rc == AL_OK)
        rc = cu_check(drv.api.cuDeviceTotalMem_v2(&total, drv.dev[dev]), "cuDeviceTotalMem", dev);
    if (rc == AL_OK && (rc = use_device(dev)) == AL_OK)
        rc = cu_check(drv.api.cuMemGetInfo_v2(&free_bytes, &ignored), "cuMemGetInfo", dev);
    out->total_bytes = total;
    out->free_bytes = free_bytes;
    return rc == AL_ECUDA_OOM ? AL_ECUDA : rc;
}

static int drv_malloc(ali_cuda_backend *b, int dev, uint64_t size, uint64_t *out)
{
    (void)b;
    int rc = use_device(dev);
    CUdeviceptr p = 0;
    if (rc == AL_OK)
        rc = cu_check(drv.api.cuMemAlloc_v2(&p, size), "cuMemAlloc", dev);
    if (rc == AL_OK)
        *out = p;
    return rc;
}

static int drv_free(ali_cuda_backend *b, int dev, uint64_t ptr)
{
    (void)b;
    int rc = use_device(dev);
    return rc == AL_OK ? cu_check(drv.api.cuMemFree_v2(ptr), "cuMemFree", dev) : rc;
}

static int drv_mem_get_info(ali_cuda_backend *b, int dev, uint64_t *free_bytes, uint64_t *total)
{
    (void)b;
    size_t f = 0, t = 0;
    int rc = use_device(dev);
    if (rc == AL_OK)
        rc = cu_check(drv.api.cuMemGetInfo_v2(&f, &t), "cuMemGetInfo", dev);
    *free_bytes = f;
    *total = t;
    return rc;
}

/* The device's pinned staging buffer, allocating it on first use; NULL: copy directly. Called
 * with stage_lock[dev] held. */
static void *stage_buffer(int dev)
{
    if (!drv.stage[dev] && drv.api.cuMemAllocHost_v2(&drv.stage[dev], STAGE_CHUNK) != 0)
        drv.stage[dev] = NULL;
    return drv.stage[dev];
}

/* One host-device copy in either direction, without staging. */
static CUresult copy_direct(bool to_device, uint64_t dptr, unsigned char *host, size_t n)
{
    return to_device ? drv.api.cuMemcpyHtoD_v2(dptr, host, n)
                     : drv.api.cuMemcpyDtoH_v2(host, dptr, n);
}

/* A copy between the n bytes at `host` and the device memory at dptr, to the device or from
 * it: directly below pinned_min bytes (or without a staging buffer), else through the device's
 * pinned staging buffer, STAGE_CHUNK bytes at a time. The two directions differ only in which
 * side of each step the memcpy is on. */
static int staged_copy(int dev, bool to_device, uint64_t dptr, unsigned char *host, size_t n)
{
    const char *what = to_device ? "cuMemcpyHtoD" : "cuMemcpyDtoH";
    int rc = use_device(dev);
    if (rc != AL_OK)
        return rc;
    if (n < drv.pinned_min)
        return cu_check(copy_direct(to_device, dptr, host, n), what, dev);
    pthread_mutex_lock(&drv.stage_lock[dev]);
    unsigned char *stage = stage_buffer(dev);
    if (!stage)
        rc = cu_check(copy_direct(to_device, dptr, host, n), what, dev);
    for (size_t done = 0; stage && rc == AL_OK && done < n; done += STAGE_CHUNK) {
        size_t step = n - done < STAGE_CHUNK ? n - done : STAGE_CHUNK;
        if (to_device)
            memcpy(stage, host + done, step);
        rc = cu_check(copy_direct(to_device, dptr + done, stage, step), what, dev);
        if (rc == AL_OK && !to_device)
            memcpy(host + done, stage, step);
    }
    pthread_mutex_unlock(&drv.stage_lock[dev]);
    return rc;
}

static int drv_htod(ali_cuda_backend *b, int dev, uint64_t dst, const void *src, size_t n)
{
    (void)b;
    /* The cast only lets one function serve both directions: host memory is read here. */
    return staged_copy(dev, true, dst, (unsigned char *)(uintptr_t)src, n);
}

static int drv_dtoh(ali_cuda_backend *b, int dev, void *dst, uint64_t src, size_t n)
{
    (void)b;
    return staged_copy(dev, false, src, dst, n);
}

/* With unified addressing the driver finds the source's device itself. */
static int drv_dtod(ali_cuda_backend *b, int dev, uint64_t dst, uint64_t src, size_t n)
{
    (void)b;
    int rc = use_device(dev);
    return rc == AL_OK ? cu_check(drv.api.cuMemcpyDtoD_v2(dst, src, n), "cuMemcpyDtoD", dev) : rc;
}

/* Loads the library and its symbols, initialises the driver and lists the devices. Lock held. */
static int open_locked(char *reason, size_t len)
{
    if (!drv.lib) {
        const char *sonames[] = {drv.soname, NULL};
        drv.lib = ali_dl_load(sonames, symbols, sizeof symbols / sizeof symbols[0], &drv.api,
                              reason, len);
        size_t named = strlen(drv.soname), used = strlen(reason);
        if (!drv.lib) { /* "SONAME has no SYMBOL": it loaded, without a function we call */
            if (strncmp(reason, drv.soname, named) == 0 &&
                strncmp(reason + named, " has no ", 8) == 0 && used < len)
                snprintf(reason + used, len - used, " (driver too old?)");
            return AL_ECUDA_UNAVAILABLE;
        }
    }
    int n = 0;
    CUresult rc = drv.api.cuInit(0);
    if (rc == CUDA_SUCCESS)
        rc = drv.api.cuDeviceGetCount(&n);
    if (rc != CUDA_SUCCESS) {
        snprintf(reason, len, "cuInit: %s (CUresult %d)", cu_text(rc), rc);
        return AL_ECUDA_UNAVAILABLE;
    }
    if (n <= 0) {
        snprintf(reason, len, "the driver found no CUDA device");
        return AL_ECUDA_UNAVAILABLE;
    }
    drv.ndev = n < AL_CUDA_MAX_DEVICES ? n : AL_CUDA_MAX_DEVICES;
    for (int i = 0; i < drv.ndev; i++) {
        if ((rc = drv.api.cuDeviceGet(&drv.dev[i], i)) != CUDA_SUCCESS) {
            snprintf(reason, len, "cuDeviceGet(%d): %s", i, cu_text(rc));
            return AL_ECUDA_UNAVAILABLE;
        }
        pthread_mutex_init(&drv.stage_lock[i], NULL);
    }
    drv.pinned_min = (uint64_t)ali_setting_int(ALI_SET_CUDA_PINNED_MIN_BYTES);
    if (!drv.pinned_min)
        drv.pinned_min = UINT64_MAX; /* 0 switches staging off */
    drv.base = (ali_cuda_backend){"driver",         drv.ndev, drv_props, drv_malloc, drv_free,
                                  drv_mem_get_info, drv_htod, drv_dtoh,  drv_dtod,   NULL};
    drv.open = true;
    return AL_OK;
}

int ali_cuda_driver_open(ali_cuda_backend **out, char *reason, size_t reason_len)
{
    pthread_mutex_lock(&drv.lock);
    int rc = AL_OK;
    /* A test pointing at a missing library must find it missing even where the real one is
     * loaded already. */
    if (strcmp(drv.soname, "libcuda.so.1") != 0) {
        void *probe = dlopen(drv.soname, RTLD_NOW | RTLD_LOCAL);
        if (!probe) {
            const char *e = dlerror();
            snprintf(reason, reason_len, "%s", e ? e : drv.soname);
            rc = AL_ECUDA_UNAVAILABLE;
        } else {
            dlclose(probe);
        }
    }
    if (rc == AL_OK && !drv.open)
        rc = open_locked(reason, reason_len);
    pthread_mutex_unlock(&drv.lock);
    if (rc == AL_OK)
        *out = &drv.base;
    return rc;
}
