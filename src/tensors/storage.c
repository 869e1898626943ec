/* Reference-counted tensor storage: tracked bytes tagged "tensor", or external memory with a
 * deleter (al_tensor_wrap, DLPack imports). Handles (tensor.c) and DLPack exports (dlpack.c)
 * each hold one reference; the last release frees the bytes. */
#include <string.h>

#include "tensors_int.h"

al_storage *ali_storage_new(size_t nbytes, bool zero, al_device device, al_error *err)
{
    if (device.type != AL_DEVICE_CPU) {
        char name[32];
        al_error_set(err, AL_EUNSUPPORTED, "tensor storage on %s is not supported yet",
                     al_device_name(device, name, sizeof name));
        return NULL;
    }
    al_storage *s = AL_NEW(al_storage);
    if (!s) {
        al_error_set(err, AL_ENOMEM, "out of memory for a storage record");
        return NULL;
    }
    /* One byte at least, so that an empty tensor still has a valid, distinct address. */
    s->data = al_malloc_aligned_at(nbytes ? nbytes : 1, ALI_TENSOR_ALIGN, "tensor", AL_HERE);
    if (!s->data) {
        al_free(s);
        al_error_set(err, AL_ENOMEM, "out of memory for %zu bytes of tensor storage", nbytes);
        return NULL;
    }
    if (zero)
        memset(s->data, 0, nbytes ? nbytes : 1);
    atomic_init(&s->refcount, 0);
    s->nbytes = nbytes;
    s->device = device;
    s->owned = true;
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
    if (s->owned)
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
