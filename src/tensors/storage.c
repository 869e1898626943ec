/* Reference-counted tensor storage: tracked bytes tagged "tensor" on the CPU, blocks of the CUDA
 * caching allocator (<astrolab/cuda.h>) on a device, or external memory with a deleter
 * (al_tensor_wrap, DLPack imports). Handles (tensor.c) and DLPack exports (dlpack.c) each hold
 * one reference; the last release frees the bytes. Copies between devices are in device.c. */
#include <string.h>

#include "astrolab/cuda.h"
#include "tensors_int.h"

/* Zeroes for clearing device memory: there is no memset in the backend seam, so new device
 * storage is cleared by host-to-device copies from here. It lives in .bss and is only read,
 * so every page maps the kernel's shared zero page: no resident memory. */
#define ZERO_CHUNK ((size_t)1 << 20)
static char zeros[ZERO_CHUNK];

int ali_device_check(al_device device, al_error *err)
{
    char name[32];
    if (device.type == AL_DEVICE_CPU)
        return AL_OK;
    if (device.type != AL_DEVICE_CUDA)
        return al_error_set(err, AL_EINVAL, "unknown device type %d", (int)device.type);
    if (device.index < 0)
        return al_error_set(err, AL_EINVAL, "device %s: the index is negative",
                            al_device_name(device, name, sizeof name));
    if (!al_cuda_available())
        return al_error_set(err, AL_ECUDA_UNAVAILABLE, "device %s: CUDA is not available (%s)",
                            al_device_name(device, name, sizeof name),
                            al_cuda_unavailable_reason());
    int n = al_cuda_device_count();
    if (device.index >= n)
        return al_error_set(err, AL_EINVAL, "device %s does not exist (%d CUDA device%s)",
                            al_device_name(device, name, sizeof name), n, n == 1 ? "" : "s");
    return AL_OK;
}

static int zero_device(char *data, size_t nbytes, al_error *err)
{
    for (size_t done = 0; done < nbytes; done += ZERO_CHUNK) {
        size_t step = nbytes - done < ZERO_CHUNK ? nbytes - done : ZERO_CHUNK;
        int rc = al_cuda_memcpy_htod(data + done, zeros, step);
        if (rc != AL_OK)
            return al_error_set(err, rc, "clearing %zu bytes of new device storage: %s", nbytes,
                                al_strerror(rc));
    }
    return AL_OK;
}

al_storage *ali_storage_new(size_t nbytes, bool zero, al_device device, al_error *err)
{
    if (ali_device_check(device, err) != AL_OK)
        return NULL;
    al_storage *s = AL_NEW(al_storage);
    if (!s) {
        al_error_set(err, AL_ENOMEM, "out of memory for a storage record");
        return NULL;
    }
    /* One byte at least, so that an empty tensor still has a valid, distinct address. */
    size_t n = nbytes ? nbytes : 1;
    if (device.type == AL_DEVICE_CUDA) {
        al_error local;
        s->data = al_cuda_malloc_ex(n, device.index, &local);
        if (!s->data) {
            al_free(s);
            char name[32];
            al_error_set(err, local.code, "%zu bytes of tensor storage on %s: %s", nbytes,
                         al_device_name(device, name, sizeof name), local.message);
            return NULL;
        }
        if (zero && zero_device(s->data, n, err) != AL_OK) {
            (void)al_cuda_free(s->data);
            al_free(s);
            return NULL;
        }
    } else {
        s->data = al_malloc_aligned_at(n, ALI_TENSOR_ALIGN, "tensor", AL_HERE);
        if (!s->data) {
            al_free(s);
            al_error_set(err, AL_ENOMEM, "out of memory for %zu bytes of tensor storage", nbytes);
            return NULL;
        }
        if (zero)
            memset(s->data, 0, n);
    }
    atomic_init(&s->refcount, 0);
    s->nbytes = nbytes;
    s->device = device;
    s->owned = true;
    s->copyable = true;
    return s;
}

al_storage *ali_storage_wrap(void *data, size_t nbytes, al_device device, al_tensor_deleter deleter,
                             void *ctx, al_error *err)
{
    al_storage *s = AL_NEW(al_storage);
    if (!s) {
        al_error_set(err, AL_ENOMEM, "out of memory for a storage record");
        return NULL;
    }
    atomic_init(&s->refcount, 0);
    s->data = data;
    s->nbytes = nbytes;
    s->device = device;
    s->deleter = deleter;
    s->deleter_ctx = ctx;
    /* al_cuda_memcpy_* only reach the allocator's segments; a block start with its requested
     * size covering the range is the test that needs no segment walk. */
    s->copyable =
        device.type == AL_DEVICE_CPU ||
        (data && al_cuda_block_device(data) == device.index && nbytes <= al_cuda_block_size(data));
    return s;
}

void ali_storage_retain(al_storage *s)
{
    atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
}

void ali_storage_release(al_storage *s)
{
    if (!s)
        return;
    /* acq_rel: every write through other handles happens before the bytes are freed. */
    if (atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) != 1)
        return;
    if (s->owned && s->device.type == AL_DEVICE_CUDA)
        (void)al_cuda_free(s->data);
    else if (s->owned)
        al_free(s->data);
    else if (s->deleter)
        s->deleter(s->data, s->deleter_ctx);
    al_free(s);
}

uint64_t al_storage_nbytes(const al_storage *s) { return s ? s->nbytes : 0; }

long al_storage_refcount(const al_storage *s)
{
    return s ? atomic_load_explicit(&((al_storage *)s)->refcount, memory_order_relaxed) : 0;
}

al_device al_storage_device(const al_storage *s) { return s ? s->device : AL_CPU; }
