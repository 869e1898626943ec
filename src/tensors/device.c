/* Tensors across devices: al_tensor_to (CPU to CUDA, CUDA to CPU, CUDA to CUDA), the host
 * copies that element loops of device tensors read (equality, decoding), and the refusal that
 * host-only operations give device tensors. Device bytes move only through al_cuda_memcpy_*
 * (<astrolab/cuda.h>), which stage large copies through pinned memory on the driver. Storage
 * allocation on devices is in storage.c; views (metadata only) in tensor.c. */
#include <string.h>

#include "astrolab/cuda.h"
#include "tensors_int.h"

int ali_require_cpu(const al_tensor *t, const char *op)
{
    if (t->storage->device.type == AL_DEVICE_CPU)
        return AL_OK;
    char name[32];
    al_log(AL_LOG_WARNING, ALI_TLOG,
           "%s: the tensor is on %s; element access runs on CPU tensors only (copy it with "
           "al_tensor_to first)",
           op, al_device_name(t->storage->device, name, sizeof name));
    return AL_EUNSUPPORTED;
}

/* Bytes from a view's first element to the end of its last: what a strided copy must fetch. */
static size_t view_span(const al_tensor *t)
{
    if (al_tensor_numel(t) == 0)
        return 0;
    size_t span = t->itemsize;
    for (int i = 0; i < t->ndim; i++)
        span += (size_t)(t->shape[i] - 1) * (size_t)t->strides[i] * t->itemsize;
    return span;
}

/* A stack handle over host bytes `data` with t's layout from `offset`: lets ali_walk run over
 * device bytes fetched to the host without allocating a handle. */
static void host_alias(const al_tensor *t, void *data, size_t nbytes, size_t offset, al_tensor *out,
                       al_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    atomic_init(&ss->refcount, 1);
    ss->data = data;
    ss->nbytes = nbytes;
    ss->device = AL_CPU;
    ss->copyable = true;
    *out = *t;
    out->storage = ss;
    out->offset = offset;
}

static int not_copyable(const al_tensor *t, al_error *err)
{
    char name[32];
    return al_error_set(err, AL_EUNSUPPORTED,
                        "the %s memory at %p is not AstroLab's (a DLPack import or a wrapped "
                        "pointer): al_cuda_memcpy cannot reach it, so it cannot be copied",
                        al_device_name(t->storage->device, name, sizeof name), t->storage->data);
}

static int copy_failed(int rc, size_t n, al_device from, al_device to, al_error *err)
{
    char a[32], b[32];
    return al_error_set(err, rc, "copying %zu bytes from %s to %s failed: %s", n,
                        al_device_name(from, a, sizeof a), al_device_name(to, b, sizeof b),
                        al_strerror(rc));
}

int ali_tensor_read_host(const al_tensor *t, void *dst, al_error *err)
{
    size_t n = al_tensor_nbytes(t);
    al_device from = t->storage->device;
    if (n == 0)
        return AL_OK;
    if (from.type == AL_DEVICE_CPU) {
        ali_tensor_gather(t, dst);
        return AL_OK;
    }
    if (!t->storage->copyable)
        return not_copyable(t, err);
    if (al_tensor_is_contiguous(t)) {
        int rc = al_cuda_memcpy_dtoh(dst, al_tensor_data(t), n);
        return rc == AL_OK ? rc : copy_failed(rc, n, from, AL_CPU, err);
    }
    /* A strided device view: fetch the bytes it spans, then gather on the host. Costs the span
     * in temporary host memory (a column of a wide matrix spans the whole matrix). */
    size_t span = view_span(t);
    void *raw = al_malloc_tagged(span, "tensor");
    if (!raw)
        return al_error_set(err, AL_ENOMEM, "out of memory for %zu bytes of host staging", span);
    int rc = al_cuda_memcpy_dtoh(raw, al_tensor_data(t), span);
    if (rc == AL_OK) {
        al_tensor alias;
        al_storage ss;
        host_alias(t, raw, span, 0, &alias, &ss);
        ali_tensor_gather(&alias, dst);
    } else {
        copy_failed(rc, span, from, AL_CPU, err);
    }
    al_free(raw);
    return rc;
}

int ali_host_shadow(const al_tensor *t, al_tensor *out, al_storage *ss, al_error *err)
{
    if (t->storage->device.type == AL_DEVICE_CPU) {
        memset(ss, 0, sizeof *ss);
        *out = *t;
        return AL_OK;
    }
    size_t n = al_tensor_nbytes(t);
    void *buf = al_malloc_tagged(n ? n : 1, "tensor");
    if (!buf)
        return al_error_set(err, AL_ENOMEM, "out of memory for %zu bytes of host staging", n);
    int rc = ali_tensor_read_host(t, buf, err);
    if (rc != AL_OK) {
        al_free(buf);
        memset(ss, 0, sizeof *ss);
        return rc;
    }
    host_alias(t, buf, n, 0, out, ss);
    /* Contiguous C-order strides over the copy. */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        out->strides[i] = s;
        s *= t->shape[i] ? t->shape[i] : 1;
    }
    return AL_OK;
}

void ali_host_shadow_free(al_storage *ss)
{
    al_free(ss->data); /* NULL for a CPU tensor's shadow */
    ss->data = NULL;
}

/* Writes t's elements into out, a new contiguous tensor of t's layout on another device (or
 * the same one). */
static int copy_into(const al_tensor *t, al_tensor *out, al_error *err)
{
    size_t n = al_tensor_nbytes(t);
    al_device from = t->storage->device, to = out->storage->device;
    void *dst = al_tensor_data(out);
    if (n == 0)
        return AL_OK;
    if (to.type == AL_DEVICE_CPU)
        return ali_tensor_read_host(t, dst, err);
    int rc;
    if (al_tensor_is_contiguous(t) && from.type == AL_DEVICE_CUDA) {
        if (!t->storage->copyable)
            return not_copyable(t, err);
        rc = al_cuda_memcpy_dtod(dst, al_tensor_data(t), n);
        return rc == AL_OK ? rc : copy_failed(rc, n, from, to, err);
    }
    if (al_tensor_is_contiguous(t)) {
        rc = al_cuda_memcpy_htod(dst, al_tensor_data(t), n);
        return rc == AL_OK ? rc : copy_failed(rc, n, from, to, err);
    }
    /* Strided source: make it contiguous on the host first, then one upload. */
    void *tmp = al_malloc_tagged(n, "tensor");
    if (!tmp)
        return al_error_set(err, AL_ENOMEM, "out of memory for %zu bytes of host staging", n);
    rc = ali_tensor_read_host(t, tmp, err);
    if (rc == AL_OK && (rc = al_cuda_memcpy_htod(dst, tmp, n)) != AL_OK)
        copy_failed(rc, n, AL_CPU, to, err);
    al_free(tmp);
    return rc;
}

al_tensor *al_tensor_to(const al_tensor *t, al_device device, al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    if (ali_device_check(device, err) != AL_OK)
        return NULL;
    if (t->storage->device.type != AL_DEVICE_CPU && !t->storage->copyable) {
        not_copyable(t, err);
        return NULL;
    }
    al_tensor *out = ali_tensor_empty_on(t, device, err);
    if (!out)
        return NULL;
    if (copy_into(t, out, err) != AL_OK) {
        al_tensor_free(out);
        return NULL;
    }
    if (al_log_enabled(AL_LOG_DEBUG, ALI_TLOG)) {
        char a[32], b[32];
        al_log(AL_LOG_DEBUG, ALI_TLOG, "copied a %s tensor of %llu bytes from %s to %s",
               al_dtype_name(t->dtype), (unsigned long long)al_tensor_nbytes(t),
               al_device_name(t->storage->device, a, sizeof a),
               al_device_name(device, b, sizeof b));
    }
    return out;
}
