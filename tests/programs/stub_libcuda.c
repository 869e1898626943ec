/* A stand-in for the NVIDIA driver library (libcuda.so.1) for test_cuda: the driver API calls
 * src/cuda/driver.c loads, with one device whose memory is host memory, so that the driver
 * backend's own logic (contexts, staged copies, error paths) runs on machines without a GPU.
 * It counts the copies and where their host side was, and fails the copy it is told to. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;
#define CUDA_SUCCESS 0
#define CUDA_ERROR_OUT_OF_MEMORY 2
#define CUDA_ERROR_ILLEGAL_ADDRESS 700

#define STUB_TOTAL (1ull << 30) /* the device's memory, bytes */

/* Read by the test (dlsym). */
unsigned stub_cuda_htod_calls;   /* cuMemcpyHtoD calls */
unsigned stub_cuda_dtoh_calls;   /* cuMemcpyDtoH calls */
unsigned stub_cuda_pinned_calls; /* copies whose host side was memory from cuMemAllocHost */
unsigned stub_cuda_fail_at;      /* set by the test: that copy (counting both kinds, from 1)
                                    fails with CUDA_ERROR_ILLEGAL_ADDRESS; 0: none */

static struct CUctx_st {
    int unused;
} context;
static void *pinned; /* the last cuMemAllocHost block */

CUresult cuInit(unsigned flags)
{
    (void)flags;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count)
{
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *dev, int ordinal)
{
    *dev = ordinal;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    (void)dev;
    strncpy(name, "AstroLab stub device", (size_t)len - 1);
    name[len - 1] = '\0';
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    (void)dev;
    *bytes = STUB_TOTAL;
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev)
{
    (void)dev;
    *ctx = &context;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
    return ctx == &context ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_ADDRESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    *ptr = (CUdeviceptr)(uintptr_t)p;
    return p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuMemFree_v2(CUdeviceptr ptr)
{
    free((void *)(uintptr_t)ptr);
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    *free_bytes = STUB_TOTAL / 2;
    *total = STUB_TOTAL;
    return CUDA_SUCCESS;
}

/* Counts one copy whose host side is `host`; false when it is the one to fail. */
static int copy_allowed(const void *host)
{
    stub_cuda_pinned_calls += host == pinned;
    return stub_cuda_fail_at == 0 ||
           stub_cuda_htod_calls + stub_cuda_dtoh_calls != stub_cuda_fail_at;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
    stub_cuda_htod_calls++;
    if (!copy_allowed(src))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    memcpy((void *)(uintptr_t)dst, src, n);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
    stub_cuda_dtoh_calls++;
    if (!copy_allowed(dst))
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    memcpy(dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

CUresult cuMemAllocHost_v2(void **p, size_t bytes)
{
    *p = pinned = malloc(bytes);
    return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuMemFreeHost(void *p)
{
    free(p);
    return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult rc, const char **text)
{
    *text = rc == CUDA_ERROR_ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
                                             : "stub error";
    return CUDA_SUCCESS;
}
