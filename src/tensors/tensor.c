/* Tensor handles: creation, external wrapping, layout accessors, views (narrow, select, row
 * slices) and the run walker that every element loop is built on. Views only touch metadata,
 * so they work on every device. Element access, copies and comparison are in tensor_ops.c;
 * copies between devices in device.c; storage in storage.c; DLPack in dlpack.c. */
#include <string.h>

#include "tensors_int.h"

/* Widest fixed-width string: keeps width * numel far from overflow in practice and catches
 * garbage widths early. */
#define MAX_STRING_WIDTH ((size_t)1 << 24)

int ali_check_layout(al_dtype dtype, size_t width, int ndim, const int64_t *shape, size_t *itemsize,
                     int64_t *numel, al_error *err)
{
    if ((unsigned)dtype >= AL_DTYPE_COUNT_)
        return al_error_set(err, AL_EINVAL, "unknown dtype %d", (int)dtype);
    size_t item = dtype == AL_DTYPE_STRING ? width : al_dtype_size(dtype);
    if (dtype == AL_DTYPE_STRING && (width == 0 || width > MAX_STRING_WIDTH))
        return al_error_set(err, AL_EINVAL, "string width %zu is outside 1..%zu", width,
                            MAX_STRING_WIDTH);
    if (ndim < 0 || ndim > AL_TENSOR_MAX_DIMS)
        return al_error_set(err, AL_EINVAL, "ndim %d is outside 0..%d", ndim, AL_TENSOR_MAX_DIMS);
    if (ndim > 0 && !shape)
        return al_error_set(err, AL_EINVAL, "shape is NULL for ndim %d", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return al_error_set(err, AL_EINVAL, "dimension %d is negative (%lld)", i,
                                (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / shape[i])
            return al_error_set(err, AL_EOVERFLOW, "shape has more than 2^63 elements");
        n *= shape[i];
    }
    if (n > 0 && (uint64_t)n > SIZE_MAX / item)
        return al_error_set(err, AL_EOVERFLOW, "%lld elements of %zu bytes overflow size_t",
                            (long long)n, item);
    *itemsize = item;
    *numel = n;
    return AL_OK;
}

static void c_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] ? shape[i] : 1;
    }
}

al_tensor *ali_tensor_on(al_storage *storage, al_dtype dtype, size_t itemsize, int ndim,
                         const int64_t *shape, size_t offset, al_error *err)
{
    al_tensor *t = AL_NEW(al_tensor);
    if (!t) {
        al_error_set(err, AL_ENOMEM, "out of memory for a tensor handle");
        return NULL;
    }
    t->storage = storage;
    t->dtype = dtype;
    t->itemsize = itemsize;
    t->ndim = ndim;
    t->offset = offset;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    c_strides(ndim, t->shape, t->strides);
    ali_storage_retain(storage);
    return t;
}

static al_tensor *tensor_alloc(al_dtype dtype, size_t width, int ndim, const int64_t *shape,
                               al_device device, bool zero, al_error *err)
{
    size_t item;
    int64_t n;
    if (ali_check_layout(dtype, width, ndim, shape, &item, &n, err) != AL_OK)
        return NULL;
    al_storage *s = ali_storage_new((size_t)n * item, zero, device, err);
    if (!s)
        return NULL;
    al_tensor *t = ali_tensor_on(s, dtype, item, ndim, shape, 0, err);
    if (!t) {
        ali_storage_retain(s);
        ali_storage_release(s);
    }
    return t;
}

al_tensor *ali_tensor_empty_like(const al_tensor *like, al_dtype dtype, size_t itemsize,
                                 al_error *err)
{
    return tensor_alloc(dtype, itemsize, like->ndim, like->shape, like->storage->device, false,
                        err);
}

al_tensor *ali_tensor_empty_on(const al_tensor *like, al_device device, al_error *err)
{
    return tensor_alloc(like->dtype, like->itemsize, like->ndim, like->shape, device, false, err);
}

al_tensor *al_tensor_new(al_dtype dtype, int ndim, const int64_t *shape, al_device device,
                         al_error *err)
{
    if (dtype == AL_DTYPE_STRING) {
        al_error_set(err, AL_EINVAL, "string tensors need a width: use al_tensor_new_string");
        return NULL;
    }
    return tensor_alloc(dtype, 0, ndim, shape, device, true, err);
}

al_tensor *al_tensor_new_string(int ndim, const int64_t *shape, size_t width, al_device device,
                                al_error *err)
{
    return tensor_alloc(AL_DTYPE_STRING, width, ndim, shape, device, true, err);
}

al_tensor *al_tensor_from_buffer(al_dtype dtype, size_t width, int ndim, const int64_t *shape,
                                 const void *data, al_error *err)
{
    al_tensor *t = tensor_alloc(dtype, width, ndim, shape, AL_CPU, false, err);
    if (!t)
        return NULL;
    size_t nbytes = t->storage->nbytes;
    if (nbytes && !data) {
        al_tensor_free(t);
        al_error_set(err, AL_EINVAL, "data is NULL for %zu bytes", nbytes);
        return NULL;
    }
    if (nbytes)
        memcpy(t->storage->data, data, nbytes);
    return t;
}

al_tensor *al_tensor_wrap(al_dtype dtype, size_t width, int ndim, const int64_t *shape,
                          const int64_t *strides, void *data, al_device device,
                          al_tensor_deleter deleter, void *ctx, al_error *err)
{
    size_t item;
    int64_t n;
    if (ali_check_layout(dtype, width, ndim, shape, &item, &n, err) != AL_OK)
        return NULL;
    if (!data && n > 0) {
        al_error_set(err, AL_EINVAL, "data is NULL");
        return NULL;
    }
    if (ali_device_check(device, err) != AL_OK)
        return NULL;
    int64_t st[AL_TENSOR_MAX_DIMS];
    if (strides)
        memcpy(st, strides, (size_t)ndim * sizeof *st);
    else
        c_strides(ndim, shape, st);
    uint64_t extent = n > 0 ? item : 0; /* bytes from data to the end of the last element */
    for (int i = 0; i < ndim && n > 0; i++) {
        if (st[i] < 0) {
            al_error_set(err, AL_EINVAL, "stride %d is negative (%lld)", i, (long long)st[i]);
            return NULL;
        }
        extent += (uint64_t)(shape[i] - 1) * (uint64_t)st[i] * item;
    }
    al_storage *s = ali_storage_wrap(data, extent, device, deleter, ctx, err);
    if (!s)
        return NULL;
    al_tensor *t = ali_tensor_on(s, dtype, item, ndim, shape, 0, err);
    if (!t) {
        al_free(s); /* nothing taken: the caller keeps data */
        return NULL;
    }
    if (ndim)
        memcpy(t->strides, st, (size_t)ndim * sizeof *st);
    al_log(AL_LOG_DEBUG, ALI_TLOG, "wrapped %llu external bytes at %p", (unsigned long long)extent,
           data);
    return t;
}

void al_tensor_free(al_tensor *t)
{
    if (!t)
        return;
    ali_storage_release(t->storage);
    al_free(t);
}

al_dtype al_tensor_dtype(const al_tensor *t) { return t->dtype; }
int al_tensor_ndim(const al_tensor *t) { return t->ndim; }
const int64_t *al_tensor_shape(const al_tensor *t) { return t->shape; }
const int64_t *al_tensor_strides(const al_tensor *t) { return t->strides; }
size_t al_tensor_offset(const al_tensor *t) { return t->offset; }
size_t al_tensor_itemsize(const al_tensor *t) { return t->itemsize; }
al_device al_tensor_device(const al_tensor *t) { return t->storage->device; }
void *al_tensor_data(const al_tensor *t) { return (char *)t->storage->data + t->offset; }
const al_storage *al_tensor_storage(const al_tensor *t) { return t->storage; }

int64_t al_tensor_numel(const al_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

uint64_t al_tensor_nbytes(const al_tensor *t) { return (uint64_t)al_tensor_numel(t) * t->itemsize; }

int al_tensor_is_contiguous(const al_tensor *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0)
            return 1;
        if (t->shape[i] != 1 && t->strides[i] != expect)
            return 0;
        expect *= t->shape[i];
    }
    return 1;
}

int al_tensor_shares_storage(const al_tensor *a, const al_tensor *b)
{
    return a && b && a->storage == b->storage;
}

char *ali_tensor_ptr(const al_tensor *t, const int64_t *index)
{
    char *p = (char *)t->storage->data + t->offset;
    for (int i = 0; i < t->ndim; i++)
        p += index[i] * t->strides[i] * (int64_t)t->itemsize;
    return p;
}

/* -------- Views -------- */

static al_tensor *clone_handle(const al_tensor *t, al_error *err)
{
    al_tensor *v = AL_NEW(al_tensor);
    if (!v) {
        al_error_set(err, AL_ENOMEM, "out of memory for a tensor view");
        return NULL;
    }
    *v = *t;
    ali_storage_retain(v->storage);
    return v;
}

al_tensor *al_tensor_view(const al_tensor *t, al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    return clone_handle(t, err);
}

al_tensor *al_tensor_narrow(const al_tensor *t, int dim, int64_t start, int64_t length,
                            al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    if (dim < 0 || dim >= t->ndim) {
        al_error_set(err, AL_EINVAL, "dimension %d is outside 0..%d", dim, t->ndim - 1);
        return NULL;
    }
    if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start) {
        al_error_set(err, AL_EINVAL, "range %lld..%lld is outside dimension %d of size %lld",
                     (long long)start, (long long)(start + length), dim, (long long)t->shape[dim]);
        return NULL;
    }
    al_tensor *v = clone_handle(t, err);
    if (!v)
        return NULL;
    if (length > 0)
        v->offset += (size_t)(start * t->strides[dim]) * t->itemsize;
    v->shape[dim] = length;
    return v;
}

al_tensor *al_tensor_slice_rows(const al_tensor *t, int64_t start, int64_t stop, al_error *err)
{
    if (t && stop < start) {
        al_error_set(err, AL_EINVAL, "row range %lld..%lld is reversed", (long long)start,
                     (long long)stop);
        return NULL;
    }
    return al_tensor_narrow(t, 0, start, stop - start, err);
}

al_tensor *al_tensor_select(const al_tensor *t, int dim, int64_t index, al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    if (dim < 0 || dim >= t->ndim) {
        al_error_set(err, AL_EINVAL, "dimension %d is outside 0..%d", dim, t->ndim - 1);
        return NULL;
    }
    if (index < 0 || index >= t->shape[dim]) {
        al_error_set(err, AL_EINVAL, "index %lld is outside dimension %d of size %lld",
                     (long long)index, dim, (long long)t->shape[dim]);
        return NULL;
    }
    al_tensor *v = clone_handle(t, err);
    if (!v)
        return NULL;
    v->offset += (size_t)(index * t->strides[dim]) * t->itemsize;
    for (int i = dim; i < t->ndim - 1; i++) {
        v->shape[i] = t->shape[i + 1];
        v->strides[i] = t->strides[i + 1];
    }
    v->ndim = t->ndim - 1;
    return v;
}

/* -------- The run walker -------- */

int ali_walk(const al_tensor *a, const al_tensor *b, ali_run_fn fn, void *user)
{
    if (al_tensor_numel(a) == 0)
        return 0;
    int64_t shp[AL_TENSOR_MAX_DIMS], sa[AL_TENSOR_MAX_DIMS], sb[AL_TENSOR_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] == 1)
            continue;
        int64_t ca = a->strides[i] * (int64_t)a->itemsize;
        int64_t cb = b ? b->strides[i] * (int64_t)b->itemsize : 0;
        /* Merge with the outer dimension when it steps exactly over this one in both. */
        if (nd > 0 && sa[nd - 1] == ca * a->shape[i] && sb[nd - 1] == cb * a->shape[i]) {
            shp[nd - 1] *= a->shape[i];
            sa[nd - 1] = ca;
            sb[nd - 1] = cb;
        } else {
            shp[nd] = a->shape[i];
            sa[nd] = ca;
            sb[nd] = cb;
            nd++;
        }
    }
    char *pa = (char *)a->storage->data + a->offset;
    char *pb = b ? (char *)b->storage->data + b->offset : NULL;
    if (nd == 0)
        return fn(pa, pb, 1, (int64_t)a->itemsize, b ? (int64_t)b->itemsize : 0, user);
    int64_t idx[AL_TENSOR_MAX_DIMS] = {0};
    int inner = nd - 1;
    for (;;) {
        int rc = fn(pa, pb, shp[inner], sa[inner], sb[inner], user);
        if (rc)
            return rc;
        int d = inner - 1;
        for (; d >= 0; d--) {
            pa += sa[d];
            if (pb)
                pb += sb[d];
            if (++idx[d] < shp[d])
                break;
            pa -= sa[d] * shp[d];
            if (pb)
                pb -= sb[d] * shp[d];
            idx[d] = 0;
        }
        if (d < 0)
            return 0;
    }
}
