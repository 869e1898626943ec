/* DLPack exchange (<dlpack/dlpack.h>, Debian's libdlpack-dev 0.6): export a tensor as a
 * DLManagedTensor and import one, both without copying, on the CPU (kDLCPU) and on CUDA devices
 * (kDLCUDA, the device pointer itself). An export holds one storage reference until the
 * consumer runs the deleter; an import wraps the producer's memory in storage whose release
 * runs the producer's deleter exactly once. Handles and views are in tensor.c. */
#include <dlpack/dlpack.h>
#include <string.h>

#include "tensors_int.h"

/* DLPack 0.8 added kDLBool = 6; the 0.6 header lacks it, and PyTorch and NumPy use it. */
#ifndef ALI_DLBOOL
#define ALI_DLBOOL 6
#endif

/* One tracked block per export: the managed tensor and the arrays it points to. */
typedef struct export_ctx {
    DLManagedTensor managed;
    int64_t shape[AL_TENSOR_MAX_DIMS];
    int64_t strides[AL_TENSOR_MAX_DIMS];
    al_storage *storage; /* the reference this export holds */
} export_ctx;

static void export_deleter(DLManagedTensor *self)
{
    if (!self)
        return;
    export_ctx *ctx = self->manager_ctx;
    al_storage *s = ctx->storage;
    al_free(ctx);
    ali_storage_release(s);
}

static int to_dl_dtype(al_dtype d, DLDataType *out)
{
    static const struct {
        uint8_t code, bits;
    } map[] = {
        [AL_DTYPE_BOOL] = {ALI_DLBOOL, 8},   [AL_DTYPE_INT8] = {kDLInt, 8},
        [AL_DTYPE_INT16] = {kDLInt, 16},     [AL_DTYPE_INT32] = {kDLInt, 32},
        [AL_DTYPE_INT64] = {kDLInt, 64},     [AL_DTYPE_UINT8] = {kDLUInt, 8},
        [AL_DTYPE_UINT16] = {kDLUInt, 16},   [AL_DTYPE_UINT32] = {kDLUInt, 32},
        [AL_DTYPE_UINT64] = {kDLUInt, 64},   [AL_DTYPE_FLOAT32] = {kDLFloat, 32},
        [AL_DTYPE_FLOAT64] = {kDLFloat, 64},
    };
    if ((unsigned)d >= AL_DTYPE_STRING)
        return AL_ETYPE;
    *out = (DLDataType){map[d].code, map[d].bits, 1};
    return AL_OK;
}

DLManagedTensor *al_tensor_to_dlpack(const al_tensor *t, al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    DLDataType dt;
    if (to_dl_dtype(t->dtype, &dt) != AL_OK) {
        al_error_set(err, AL_ETYPE, "DLPack cannot represent %s tensors (width %zu)",
                     al_dtype_name(t->dtype), t->itemsize);
        return NULL;
    }
    export_ctx *ctx = AL_NEW(export_ctx);
    if (!ctx) {
        al_error_set(err, AL_ENOMEM, "out of memory for a DLPack export");
        return NULL;
    }
    memcpy(ctx->shape, t->shape, sizeof ctx->shape);
    memcpy(ctx->strides, t->strides, sizeof ctx->strides);
    ctx->storage = t->storage;
    ali_storage_retain(t->storage);
    DLTensor *dl = &ctx->managed.dl_tensor;
    dl->data = t->storage->data;
    al_device dev = t->storage->device;
    dl->device =
        dev.type == AL_DEVICE_CUDA ? (DLDevice){kDLCUDA, dev.index} : (DLDevice){kDLCPU, 0};
    dl->ndim = t->ndim;
    dl->dtype = dt;
    dl->shape = ctx->shape;
    dl->strides = ctx->strides;
    dl->byte_offset = t->offset;
    ctx->managed.manager_ctx = ctx;
    ctx->managed.deleter = export_deleter;
    al_log(AL_LOG_DEBUG, ALI_TLOG, "DLPack export of a %d-d %s tensor at %p (device type %d:%d)",
           t->ndim, al_dtype_name(t->dtype), dl->data, (int)dl->device.device_type,
           dl->device.device_id);
    return &ctx->managed;
}

static int from_dl_dtype(DLDataType dt, al_dtype *out, al_error *err)
{
    if (dt.lanes != 1)
        return al_error_set(err, AL_ETYPE, "DLPack vector types (lanes %u) are not supported",
                            (unsigned)dt.lanes);
    static const al_dtype ints[] = {AL_DTYPE_INT8, AL_DTYPE_INT16, AL_DTYPE_INT32, AL_DTYPE_INT64};
    static const al_dtype uints[] = {AL_DTYPE_UINT8, AL_DTYPE_UINT16, AL_DTYPE_UINT32,
                                     AL_DTYPE_UINT64};
    int k = dt.bits == 8 ? 0 : dt.bits == 16 ? 1 : dt.bits == 32 ? 2 : dt.bits == 64 ? 3 : -1;
    switch (dt.code) {
    case kDLInt:
        if (k >= 0)
            return *out = ints[k], AL_OK;
        break;
    case kDLUInt:
        if (k >= 0)
            return *out = uints[k], AL_OK;
        break;
    case kDLFloat:
        if (k == 2 || k == 3)
            return *out = k == 2 ? AL_DTYPE_FLOAT32 : AL_DTYPE_FLOAT64, AL_OK;
        break;
    case ALI_DLBOOL:
        if (k == 0)
            return *out = AL_DTYPE_BOOL, AL_OK;
        break;
    default:
        break;
    }
    static const char *codes[] = {"int",    "uint",    "float", "opaque handle",
                                  "bfloat", "complex", "bool"};
    return al_error_set(err, AL_ETYPE, "DLPack type %s%u (code %u) has no al_dtype",
                        dt.code < 7 ? codes[dt.code] : "unknown", (unsigned)dt.bits,
                        (unsigned)dt.code);
}

/* The al_device of a DLPack device: kDLCPU, or kDLCUDA with an existing device id. */
static int import_device(DLDevice d, al_device *out, al_error *err)
{
    /* Types after kDLCUDAManaged came with DLPack 0.7 and 0.8; the 0.6 header lacks them. */
    static const struct {
        int type;
        const char *name;
    } names[] = {
        {kDLCPU, "kDLCPU"},
        {kDLCUDA, "kDLCUDA"},
        {kDLCUDAHost, "kDLCUDAHost"},
        {kDLOpenCL, "kDLOpenCL"},
        {kDLVulkan, "kDLVulkan"},
        {kDLMetal, "kDLMetal"},
        {kDLVPI, "kDLVPI"},
        {kDLROCM, "kDLROCM"},
        {kDLROCMHost, "kDLROCMHost"},
        {kDLExtDev, "kDLExtDev"},
        {kDLCUDAManaged, "kDLCUDAManaged"},
        {14, "kDLOneAPI"},
        {15, "kDLWebGPU"},
        {16, "kDLHexagon"},
    };
    if (d.device_type == kDLCPU) {
        *out = AL_CPU;
        return AL_OK;
    }
    if (d.device_type == kDLCUDA) {
        al_error local;
        al_device dev = {AL_DEVICE_CUDA, d.device_id};
        int rc = ali_device_check(dev, &local);
        if (rc != AL_OK)
            return al_error_set(err, rc, "DLPack kDLCUDA tensor: %s", local.message);
        *out = dev;
        return AL_OK;
    }
    const char *name = "unknown";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].type == (int)d.device_type)
            name = names[i].name;
    return al_error_set(err, AL_EUNSUPPORTED,
                        "DLPack device %s (type %d, id %d) is not supported: only kDLCPU and "
                        "kDLCUDA",
                        name, (int)d.device_type, d.device_id);
}

static void import_deleter(void *data, void *ctx)
{
    (void)data;
    DLManagedTensor *m = ctx;
    if (m->deleter)
        m->deleter(m);
}

al_tensor *al_tensor_from_dlpack(DLManagedTensor *m, al_error *err)
{
    if (!m) {
        al_error_set(err, AL_EINVAL, "DLManagedTensor is NULL");
        return NULL;
    }
    const DLTensor *dl = &m->dl_tensor;
    al_dtype dtype = AL_DTYPE_BOOL;
    if (from_dl_dtype(dl->dtype, &dtype, err) != AL_OK)
        return NULL;
    al_device device;
    if (import_device(dl->device, &device, err) != AL_OK)
        return NULL;
    if (dl->ndim < 0 || dl->ndim > AL_TENSOR_MAX_DIMS || (dl->ndim > 0 && !dl->shape)) {
        al_error_set(err, AL_EINVAL, "DLPack ndim %d is outside 0..%d", dl->ndim,
                     AL_TENSOR_MAX_DIMS);
        return NULL;
    }
    size_t item;
    int64_t n;
    if (ali_check_layout(dtype, 0, dl->ndim, dl->shape, &item, &n, err) != AL_OK)
        return NULL;
    if (n > 0 && !dl->data) {
        al_error_set(err, AL_EINVAL, "DLPack data is NULL for %lld elements", (long long)n);
        return NULL;
    }
    int64_t st[AL_TENSOR_MAX_DIMS];
    uint64_t extent = n > 0 ? item : 0;
    int64_t s = 1;
    for (int i = dl->ndim - 1; i >= 0; i--) {
        st[i] = dl->strides ? dl->strides[i] : s;
        s *= dl->shape[i] ? dl->shape[i] : 1;
        if (st[i] < 0) {
            al_error_set(err, AL_EINVAL, "DLPack stride %d is negative (%lld)", i,
                         (long long)st[i]);
            return NULL;
        }
        if (n > 0)
            extent += (uint64_t)(dl->shape[i] - 1) * (uint64_t)st[i] * item;
    }
    al_storage *storage =
        ali_storage_wrap(dl->data, dl->byte_offset + extent, device, import_deleter, m, err);
    if (!storage)
        return NULL;
    al_tensor *t = ali_tensor_on(storage, dtype, item, dl->ndim, dl->shape, dl->byte_offset, err);
    if (!t) {
        al_free(storage); /* nothing taken: the caller keeps m */
        return NULL;
    }
    if (dl->ndim)
        memcpy(t->strides, st, (size_t)dl->ndim * sizeof *st);
    al_log(AL_LOG_DEBUG, ALI_TLOG, "DLPack import of a %d-d %s tensor at %p (device type %d:%d)",
           dl->ndim, al_dtype_name(dtype), dl->data, (int)dl->device.device_type,
           dl->device.device_id);
    return t;
}
