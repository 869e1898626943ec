/* Element-level tensor operations: get/set as double, int64 or string, fill, contiguous copy,
 * dtype conversion and equality. All loops go through ali_walk (tensor.c), so every view layout
 * is handled the same way. The loops read storage bytes on the host: element access, fill and
 * dtype conversion refuse CUDA tensors; copy and equality move device bytes through device.c. */
#include <math.h>
#include <string.h>

#include "tensors_int.h"

static int check_index(const al_tensor *t, const int64_t *index, const char *op)
{
    if (!t || (t->ndim > 0 && !index))
        return AL_EINVAL;
    for (int i = 0; i < t->ndim; i++)
        if (index[i] < 0 || index[i] >= t->shape[i])
            return AL_EINVAL;
    return ali_require_cpu(t, op);
}

/* -------- Scalar stores with range checks -------- */

/* Stores integral value v (given as int64 or, when is_u, as uint64) into p of dtype d. */
static int store_int(void *p, al_dtype d, int64_t v, bool is_u)
{
    int64_t lo;
    uint64_t hi;
    ali_int_range(d, &lo, &hi);
    if (is_u ? (uint64_t)v > hi : (v < lo || (v > 0 && (uint64_t)v > hi)))
        return AL_EOVERFLOW;
    switch (d) {
    case AL_DTYPE_BOOL:
    case AL_DTYPE_INT8:
    case AL_DTYPE_UINT8:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case AL_DTYPE_INT16:
    case AL_DTYPE_UINT16:
        memcpy(p, &(uint16_t){(uint16_t)v}, 2);
        break;
    case AL_DTYPE_INT32:
    case AL_DTYPE_UINT32:
        memcpy(p, &(uint32_t){(uint32_t)v}, 4);
        break;
    default:
        memcpy(p, &(uint64_t){(uint64_t)v}, 8);
        break;
    }
    return AL_OK;
}

static int store_double(void *p, al_dtype d, double v)
{
    if (d == AL_DTYPE_FLOAT64) {
        memcpy(p, &v, 8);
        return AL_OK;
    }
    if (d == AL_DTYPE_FLOAT32) {
        float f = (float)v;
        memcpy(p, &f, 4);
        return AL_OK;
    }
    if (!isfinite(v) || v != floor(v))
        return AL_EOVERFLOW;
    if (v >= 0x1p63) {
        if (d != AL_DTYPE_UINT64 || v >= 0x1p64)
            return AL_EOVERFLOW;
        return store_int(p, d, (int64_t)(uint64_t)v, true);
    }
    if (v < -0x1p63)
        return AL_EOVERFLOW;
    return store_int(p, d, (int64_t)v, false);
}

int al_tensor_get_double(const al_tensor *t, const int64_t *index, double *out)
{
    int rc = check_index(t, index, "al_tensor_get_double");
    if (rc != AL_OK || !out)
        return rc ? rc : AL_EINVAL;
    if (t->dtype == AL_DTYPE_STRING)
        return AL_ETYPE;
    *out = ali_load_f64(ali_tensor_ptr(t, index), t->dtype);
    return AL_OK;
}

int al_tensor_get_int64(const al_tensor *t, const int64_t *index, int64_t *out)
{
    int rc = check_index(t, index, "al_tensor_get_int64");
    if (rc != AL_OK || !out)
        return rc ? rc : AL_EINVAL;
    const char *p = ali_tensor_ptr(t, index);
    switch (t->dtype) {
    case AL_DTYPE_STRING:
        return AL_ETYPE;
    case AL_DTYPE_UINT64:
        if (ali_load_u64(p, t->dtype) > INT64_MAX)
            return AL_EOVERFLOW;
        break;
    case AL_DTYPE_FLOAT32:
    case AL_DTYPE_FLOAT64: {
        double v = ali_load_f64(p, t->dtype);
        if (!isfinite(v) || v != floor(v) || v < -0x1p63 || v >= 0x1p63)
            return AL_EOVERFLOW;
        *out = (int64_t)v;
        return AL_OK;
    }
    default:
        break;
    }
    *out = ali_load_i64(p, t->dtype);
    return AL_OK;
}

int al_tensor_get_string(const al_tensor *t, const int64_t *index, char *buf, size_t len,
                         size_t *out_len)
{
    int rc = check_index(t, index, "al_tensor_get_string");
    if (rc != AL_OK || !buf)
        return rc ? rc : AL_EINVAL;
    if (t->dtype != AL_DTYPE_STRING)
        return AL_ETYPE;
    if (len < t->itemsize + 1)
        return AL_EINVAL;
    const char *p = ali_tensor_ptr(t, index);
    size_t n = ali_str_len(p, t->itemsize);
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (out_len)
        *out_len = n;
    return AL_OK;
}

int al_tensor_set_double(al_tensor *t, const int64_t *index, double v)
{
    int rc = check_index(t, index, "al_tensor_set_double");
    if (rc != AL_OK)
        return rc;
    if (t->dtype == AL_DTYPE_STRING)
        return AL_ETYPE;
    return store_double(ali_tensor_ptr(t, index), t->dtype, v);
}

static int store_i64_any(void *p, al_dtype d, int64_t v)
{
    if (d == AL_DTYPE_FLOAT64 || d == AL_DTYPE_FLOAT32)
        return store_double(p, d, (double)v);
    return store_int(p, d, v, false);
}

int al_tensor_set_int64(al_tensor *t, const int64_t *index, int64_t v)
{
    int rc = check_index(t, index, "al_tensor_set_int64");
    if (rc != AL_OK)
        return rc;
    if (t->dtype == AL_DTYPE_STRING)
        return AL_ETYPE;
    return store_i64_any(ali_tensor_ptr(t, index), t->dtype, v);
}

int al_tensor_set_string(al_tensor *t, const int64_t *index, const char *s, size_t len)
{
    int rc = check_index(t, index, "al_tensor_set_string");
    if (rc != AL_OK || (!s && len))
        return rc ? rc : AL_EINVAL;
    if (t->dtype != AL_DTYPE_STRING)
        return AL_ETYPE;
    if (len > t->itemsize)
        return AL_EINVAL;
    char *p = ali_tensor_ptr(t, index);
    if (len)
        memcpy(p, s, len);
    memset(p + len, 0, t->itemsize - len);
    return AL_OK;
}

/* -------- Fill: store one prepared element everywhere -------- */

static int fill_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    size_t size;
    memcpy(&size, user, sizeof size);
    const char *elem = (const char *)user + sizeof size;
    for (int64_t i = 0; i < n; i++)
        memcpy(pa + i * sa, elem, size);
    return 0;
}

/* Stores the element at elem (its first t->itemsize of elem_size bytes) in every position of t.
 * Numeric callers pass an 8-byte buffer: the size check keeps the copy inside it, and lets gcc
 * see so (without it, gcc 12 -O3 reports the copy from the 8-byte array as out of bounds). */
static int fill_with(al_tensor *t, const void *elem, size_t elem_size)
{
    /* The element travels behind its size in one buffer (at most 8 bytes or a string width). */
    size_t size = t->itemsize;
    if (size > elem_size)
        return AL_ETYPE;
    char stackbuf[sizeof(size_t) + 64];
    char *buf = size <= 64 ? stackbuf : al_malloc(sizeof(size_t) + size);
    if (!buf)
        return AL_ENOMEM;
    memcpy(buf, &size, sizeof size);
    memcpy(buf + sizeof size, elem, size);
    ali_walk(t, NULL, fill_run, buf);
    if (buf != stackbuf)
        al_free(buf);
    return AL_OK;
}

int al_tensor_fill_double(al_tensor *t, double v)
{
    if (!t)
        return AL_EINVAL;
    if (t->storage->device.type != AL_DEVICE_CPU)
        return ali_require_cpu(t, "al_tensor_fill_double");
    if (t->dtype == AL_DTYPE_STRING)
        return AL_ETYPE;
    char elem[8];
    int rc = store_double(elem, t->dtype, v);
    return rc ? rc : fill_with(t, elem, sizeof elem);
}

int al_tensor_fill_int64(al_tensor *t, int64_t v)
{
    if (!t)
        return AL_EINVAL;
    if (t->storage->device.type != AL_DEVICE_CPU)
        return ali_require_cpu(t, "al_tensor_fill_int64");
    if (t->dtype == AL_DTYPE_STRING)
        return AL_ETYPE;
    char elem[8];
    int rc = store_i64_any(elem, t->dtype, v);
    return rc ? rc : fill_with(t, elem, sizeof elem);
}

int al_tensor_fill_string(al_tensor *t, const char *s, size_t len)
{
    if (!t || (!s && len))
        return AL_EINVAL;
    if (t->storage->device.type != AL_DEVICE_CPU)
        return ali_require_cpu(t, "al_tensor_fill_string");
    if (t->dtype != AL_DTYPE_STRING)
        return AL_ETYPE;
    if (len > t->itemsize)
        return AL_EINVAL;
    char *elem = al_calloc(1, t->itemsize);
    if (!elem)
        return AL_ENOMEM;
    if (len)
        memcpy(elem, s, len);
    int rc = fill_with(t, elem, t->itemsize);
    al_free(elem);
    return rc;
}

/* -------- Copies and conversion -------- */

typedef struct cursor {
    char *dst;
    size_t item;
} cursor;

static int gather_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    cursor *c = user;
    if (sa == (int64_t)c->item) {
        memcpy(c->dst, pa, (size_t)n * c->item);
    } else {
        for (int64_t i = 0; i < n; i++)
            memcpy(c->dst + (size_t)i * c->item, pa + i * sa, c->item);
    }
    c->dst += (size_t)n * c->item;
    return 0;
}

void ali_tensor_gather(const al_tensor *t, void *dst)
{
    cursor c = {dst, t->itemsize};
    ali_walk(t, NULL, gather_run, &c);
}

al_tensor *al_tensor_copy(const al_tensor *t, al_error *err)
{
    if (!t) {
        al_error_set(err, AL_EINVAL, "tensor is NULL");
        return NULL;
    }
    if (t->storage->device.type != AL_DEVICE_CPU)
        return al_tensor_to(t, t->storage->device, err); /* device to device */
    al_tensor *c = ali_tensor_empty_like(t, t->dtype, t->itemsize, err);
    if (c)
        ali_tensor_gather(t, c->storage->data);
    return c;
}

typedef struct convert_ctx {
    char *dst;
    al_dtype src, out;
} convert_ctx;

/* One typed loop per (source, destination) pair: the conversion of a 10^7-row catalog column
 * must run at memory speed, which a per-element switch does not. */
#define CONV_LOOP(ST, DT)                                                                          \
    do {                                                                                           \
        DT *d_ = (DT *)c->dst;                                                                     \
        if (sa == (int64_t)sizeof(ST)) {                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                ST v_;                                                                             \
                memcpy(&v_, pa + i * (int64_t)sizeof(ST), sizeof v_);                              \
                d_[i] = (DT)v_;                                                                    \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                ST v_;                                                                             \
                memcpy(&v_, pa + i * sa, sizeof v_);                                               \
                d_[i] = (DT)v_;                                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define CONV_TO(ST)                                                                                \
    switch (c->out) {                                                                              \
    case AL_DTYPE_BOOL:                                                                            \
    case AL_DTYPE_UINT8:                                                                           \
        CONV_LOOP(ST, uint8_t);                                                                    \
        break;                                                                                     \
    case AL_DTYPE_INT8:                                                                            \
        CONV_LOOP(ST, int8_t);                                                                     \
        break;                                                                                     \
    case AL_DTYPE_INT16:                                                                           \
        CONV_LOOP(ST, int16_t);                                                                    \
        break;                                                                                     \
    case AL_DTYPE_INT32:                                                                           \
        CONV_LOOP(ST, int32_t);                                                                    \
        break;                                                                                     \
    case AL_DTYPE_INT64:                                                                           \
        CONV_LOOP(ST, int64_t);                                                                    \
        break;                                                                                     \
    case AL_DTYPE_UINT16:                                                                          \
        CONV_LOOP(ST, uint16_t);                                                                   \
        break;                                                                                     \
    case AL_DTYPE_UINT32:                                                                          \
        CONV_LOOP(ST, uint32_t);                                                                   \
        break;                                                                                     \
    case AL_DTYPE_UINT64:                                                                          \
        CONV_LOOP(ST, uint64_t);                                                                   \
        break;                                                                                     \
    case AL_DTYPE_FLOAT32:                                                                         \
        CONV_LOOP(ST, float);                                                                      \
        break;                                                                                     \
    case AL_DTYPE_FLOAT64:                                                                         \
        CONV_LOOP(ST, double);                                                                     \
        break;                                                                                     \
    default:                                                                                       \
        break;                                                                                     \
    }

static int convert_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    convert_ctx *c = user;
    switch (c->src) {
    case AL_DTYPE_BOOL:
    case AL_DTYPE_UINT8:
        CONV_TO(uint8_t);
        break;
    case AL_DTYPE_INT8:
        CONV_TO(int8_t);
        break;
    case AL_DTYPE_INT16:
        CONV_TO(int16_t);
        break;
    case AL_DTYPE_INT32:
        CONV_TO(int32_t);
        break;
    case AL_DTYPE_INT64:
        CONV_TO(int64_t);
        break;
    case AL_DTYPE_UINT16:
        CONV_TO(uint16_t);
        break;
    case AL_DTYPE_UINT32:
        CONV_TO(uint32_t);
        break;
    case AL_DTYPE_UINT64:
        CONV_TO(uint64_t);
        break;
    case AL_DTYPE_FLOAT32:
        CONV_TO(float);
        break;
    case AL_DTYPE_FLOAT64:
        CONV_TO(double);
        break;
    default:
        break;
    }
    c->dst += (size_t)n * al_dtype_size(c->out);
    return 0;
}

void ali_tensor_convert_into(const al_tensor *t, al_dtype dtype, void *dst)
{
    convert_ctx c = {dst, t->dtype, dtype};
    ali_walk(t, NULL, convert_run, &c);
}

typedef struct fits_ctx {
    al_dtype src, out;
    int64_t index; /* elements checked so far: the first failing one is reported */
} fits_ctx;

static int fits_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    fits_ctx *c = user;
    char tmp[8];
    for (int64_t i = 0; i < n; i++, c->index++) {
        const char *p = pa + i * sa;
        int rc;
        if (ali_dtype_is_float(c->src)) {
            double v = ali_load_f64(p, c->src);
            rc = store_double(tmp, c->out, v);
            if (!rc && c->out == AL_DTYPE_FLOAT32 && !isnan(v) && (double)(float)v != v)
                rc = AL_EOVERFLOW;
        } else if (c->src == AL_DTYPE_UINT64 && ali_load_u64(p, c->src) > INT64_MAX) {
            uint64_t u = ali_load_u64(p, c->src);
            if (ali_dtype_is_float(c->out)) {
                double dv = c->out == AL_DTYPE_FLOAT32 ? (double)(float)u : (double)u;
                rc = (dv >= 0x1p64 || (uint64_t)dv != u) ? AL_EOVERFLOW : AL_OK;
            } else {
                rc = store_int(tmp, c->out, (int64_t)u, true);
            }
        } else {
            int64_t v = ali_load_i64(p, c->src);
            if (ali_dtype_is_float(c->out)) {
                double dv = c->out == AL_DTYPE_FLOAT32 ? (double)(float)v : (double)v;
                rc = (dv >= 0x1p63 || (int64_t)dv != v) ? AL_EOVERFLOW : AL_OK;
            } else {
                rc = store_int(tmp, c->out, v, false);
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

al_tensor *al_tensor_to_dtype(const al_tensor *t, al_dtype dtype, al_error *err)
{
    if (!t || (unsigned)dtype >= AL_DTYPE_COUNT_) {
        al_error_set(err, AL_EINVAL, "tensor is NULL or dtype unknown");
        return NULL;
    }
    if (t->dtype == AL_DTYPE_STRING || dtype == AL_DTYPE_STRING) {
        al_error_set(err, AL_ETYPE, "cannot convert %s to %s", al_dtype_name(t->dtype),
                     al_dtype_name(dtype));
        return NULL;
    }
    if (t->storage->device.type != AL_DEVICE_CPU) {
        char name[32];
        al_error_set(err, AL_EUNSUPPORTED,
                     "al_tensor_to_dtype: the tensor is on %s; conversion runs on the CPU only "
                     "(move it with al_tensor_to first)",
                     al_device_name(t->storage->device, name, sizeof name));
        return NULL;
    }
    fits_ctx f = {t->dtype, dtype, 0};
    if (ali_walk(t, NULL, fits_run, &f)) {
        al_error_set(err, AL_EOVERFLOW, "element %lld of the %s tensor is not exactly a %s",
                     (long long)f.index, al_dtype_name(t->dtype), al_dtype_name(dtype));
        return NULL;
    }
    al_tensor *c = ali_tensor_empty_like(t, dtype, al_dtype_size(dtype), err);
    if (c)
        ali_tensor_convert_into(t, dtype, c->storage->data);
    return c;
}

/* -------- Equality -------- */

typedef struct equal_ctx {
    al_dtype dtype;
    size_t item;
    al_equal_mode mode;
} equal_ctx;

static int equal_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    equal_ctx *c = user;
    bool bitwise = c->mode == AL_EQUAL_BITWISE || !ali_dtype_is_float(c->dtype);
    if (bitwise && c->dtype != AL_DTYPE_BOOL) {
        if (sa == (int64_t)c->item && sb == (int64_t)c->item)
            return memcmp(pa, pb, (size_t)n * c->item) != 0;
        for (int64_t i = 0; i < n; i++)
            if (memcmp(pa + i * sa, pb + i * sb, c->item) != 0)
                return 1;
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        if (c->dtype == AL_DTYPE_BOOL) {
            if ((pa[i * sa] != 0) != (pb[i * sb] != 0))
                return 1;
            continue;
        }
        double x = ali_load_f64(pa + i * sa, c->dtype), y = ali_load_f64(pb + i * sb, c->dtype);
        if (x == y)
            continue;
        if (c->mode == AL_EQUAL_VALUE_NAN && isnan(x) && isnan(y))
            continue;
        return 1;
    }
    return 0;
}

int al_tensor_equal(const al_tensor *a, const al_tensor *b, al_equal_mode mode, bool *equal)
{
    if (!a || !b || !equal)
        return AL_EINVAL;
    bool same = a->dtype == b->dtype && a->itemsize == b->itemsize && a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++)
        same = a->shape[i] == b->shape[i];
    equal_ctx c = {a->dtype, a->itemsize, mode};
    if (!same ||
        (a->storage->device.type == AL_DEVICE_CPU && b->storage->device.type == AL_DEVICE_CPU)) {
        *equal = same && ali_walk(a, b, equal_run, &c) == 0;
        return AL_OK;
    }
    /* A device operand is compared from a host copy of its elements. */
    al_tensor ha, hb;
    al_storage sa, sb;
    int rc = ali_host_shadow(a, &ha, &sa, NULL);
    if (rc == AL_OK && (rc = ali_host_shadow(b, &hb, &sb, NULL)) != AL_OK)
        ali_host_shadow_free(&sa);
    if (rc != AL_OK)
        return rc;
    *equal = ali_walk(&ha, &hb, equal_run, &c) == 0;
    ali_host_shadow_free(&sa);
    ali_host_shadow_free(&sb);
    return AL_OK;
}
