/* Data types and devices: names, sizes, ranges and the scalar load helpers that every other
 * tensors file uses to read one element of any type. Storage lives in storage.c, handles and
 * views in tensor.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensors_int.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[AL_DTYPE_COUNT_] = {
    [AL_DTYPE_BOOL] = {"bool", 1},       [AL_DTYPE_INT8] = {"int8", 1},
    [AL_DTYPE_INT16] = {"int16", 2},     [AL_DTYPE_INT32] = {"int32", 4},
    [AL_DTYPE_INT64] = {"int64", 8},     [AL_DTYPE_UINT8] = {"uint8", 1},
    [AL_DTYPE_UINT16] = {"uint16", 2},   [AL_DTYPE_UINT32] = {"uint32", 4},
    [AL_DTYPE_UINT64] = {"uint64", 8},   [AL_DTYPE_FLOAT32] = {"float32", 4},
    [AL_DTYPE_FLOAT64] = {"float64", 8}, [AL_DTYPE_STRING] = {"string", 0},
};

const char *al_dtype_name(al_dtype dtype)
{
    return (unsigned)dtype < AL_DTYPE_COUNT_ ? dtypes[dtype].name : "?";
}

size_t al_dtype_size(al_dtype dtype)
{
    return (unsigned)dtype < AL_DTYPE_COUNT_ ? dtypes[dtype].size : 0;
}

int al_dtype_parse(const char *name, al_dtype *out)
{
    if (!name || !out)
        return AL_EINVAL;
    for (int i = 0; i < AL_DTYPE_COUNT_; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (al_dtype)i;
            return AL_OK;
        }
    return AL_EINVAL;
}

char *al_device_name(al_device device, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    if (device.type == AL_DEVICE_CPU)
        snprintf(buf, len, "cpu");
    else if (device.type == AL_DEVICE_CUDA)
        snprintf(buf, len, "cuda:%d", device.index);
    else
        snprintf(buf, len, "unknown:%d", device.index);
    return buf;
}

bool ali_dtype_is_int(al_dtype d) { return d >= AL_DTYPE_INT8 && d <= AL_DTYPE_UINT64; }
bool ali_dtype_is_signed(al_dtype d) { return d >= AL_DTYPE_INT8 && d <= AL_DTYPE_INT64; }
bool ali_dtype_is_float(al_dtype d) { return d == AL_DTYPE_FLOAT32 || d == AL_DTYPE_FLOAT64; }

/* Loads go through memcpy: views of imported (DLPack) memory need not be aligned. */
#define LOAD(T, p)                                                                                 \
    (__extension__({                                                                               \
        T v_;                                                                                      \
        memcpy(&v_, (p), sizeof v_);                                                               \
        v_;                                                                                        \
    }))

int64_t ali_load_i64(const void *p, al_dtype d)
{
    switch (d) {
    case AL_DTYPE_BOOL:
        return LOAD(uint8_t, p) != 0;
    case AL_DTYPE_INT8:
        return LOAD(int8_t, p);
    case AL_DTYPE_INT16:
        return LOAD(int16_t, p);
    case AL_DTYPE_INT32:
        return LOAD(int32_t, p);
    case AL_DTYPE_INT64:
        return LOAD(int64_t, p);
    case AL_DTYPE_UINT8:
        return LOAD(uint8_t, p);
    case AL_DTYPE_UINT16:
        return LOAD(uint16_t, p);
    case AL_DTYPE_UINT32:
        return LOAD(uint32_t, p);
    case AL_DTYPE_UINT64:
        return (int64_t)LOAD(uint64_t, p);
    case AL_DTYPE_FLOAT32:
        return (int64_t)LOAD(float, p);
    case AL_DTYPE_FLOAT64:
        return (int64_t)LOAD(double, p);
    default:
        return 0;
    }
}

uint64_t ali_load_u64(const void *p, al_dtype d)
{
    return d == AL_DTYPE_UINT64 ? LOAD(uint64_t, p) : (uint64_t)ali_load_i64(p, d);
}

double ali_load_f64(const void *p, al_dtype d)
{
    switch (d) {
    case AL_DTYPE_FLOAT32:
        return LOAD(float, p);
    case AL_DTYPE_FLOAT64:
        return LOAD(double, p);
    case AL_DTYPE_UINT64:
        return (double)LOAD(uint64_t, p);
    default:
        return (double)ali_load_i64(p, d);
    }
}

void ali_int_range(al_dtype d, int64_t *min, uint64_t *max)
{
    switch (d) {
    case AL_DTYPE_BOOL:
        *min = 0, *max = 1;
        break;
    case AL_DTYPE_INT8:
        *min = INT8_MIN, *max = INT8_MAX;
        break;
    case AL_DTYPE_INT16:
        *min = INT16_MIN, *max = INT16_MAX;
        break;
    case AL_DTYPE_INT32:
        *min = INT32_MIN, *max = INT32_MAX;
        break;
    case AL_DTYPE_INT64:
        *min = INT64_MIN, *max = INT64_MAX;
        break;
    case AL_DTYPE_UINT8:
        *min = 0, *max = UINT8_MAX;
        break;
    case AL_DTYPE_UINT16:
        *min = 0, *max = UINT16_MAX;
        break;
    case AL_DTYPE_UINT32:
        *min = 0, *max = UINT32_MAX;
        break;
    case AL_DTYPE_UINT64:
        *min = 0, *max = UINT64_MAX;
        break;
    default:
        *min = 0, *max = 0;
        break;
    }
}

size_t ali_str_len(const char *p, size_t width)
{
    /* The last non-NUL byte ends the string, so embedded NULs survive a round trip. */
    while (width > 0 && p[width - 1] == '\0')
        width--;
    return width;
}

static bool fits(al_dtype d, int64_t min, uint64_t max)
{
    int64_t lo;
    uint64_t hi;
    ali_int_range(d, &lo, &hi);
    return min >= lo && max <= hi;
}

al_dtype al_dtype_narrowest_int(al_dtype from, int64_t min, uint64_t max)
{
    if (!ali_dtype_is_int(from))
        return from;
    if (min > 0)
        min = 0;
    bool is_signed = ali_dtype_is_signed(from);
    static const al_dtype by_size[4][2] = {{AL_DTYPE_INT8, AL_DTYPE_UINT8},
                                           {AL_DTYPE_INT16, AL_DTYPE_UINT16},
                                           {AL_DTYPE_INT32, AL_DTYPE_UINT32},
                                           {AL_DTYPE_INT64, AL_DTYPE_UINT64}};
    for (int s = 0; s < 4; s++) {
        al_dtype same = by_size[s][is_signed ? 0 : 1], other = by_size[s][is_signed ? 1 : 0];
        if (al_dtype_size(same) >= al_dtype_size(from))
            break;
        if (fits(same, min, max))
            return same;
        if (fits(other, min, max))
            return other;
    }
    return from;
}
