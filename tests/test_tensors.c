/* Tests of al_tensor: every dtype through create, view, slice, copy and compare; element
 * access rules; wrapping external memory; DLPack both ways with deleters counted; allocation
 * failures. TensorDict tests are in test_tensordict.c, optimize_memory in test_optimize.c. */
#include <dlpack/dlpack.h>
#include <math.h>

#include "astrolab/tensors.h"
#include "test.h"

/* al_tensor_equal's answer, 1 or 0, or its error code: one value for CHECK_EQ_INT. */
static int tensor_equal(const al_tensor *a, const al_tensor *b, al_equal_mode mode)
{
    bool equal = false;
    int rc = al_tensor_equal(a, b, mode, &equal);
    return rc == AL_OK ? equal : rc;
}

static const al_dtype numeric[] = {AL_DTYPE_BOOL,    AL_DTYPE_INT8,   AL_DTYPE_INT16,
                                   AL_DTYPE_INT32,   AL_DTYPE_INT64,  AL_DTYPE_UINT8,
                                   AL_DTYPE_UINT16,  AL_DTYPE_UINT32, AL_DTYPE_UINT64,
                                   AL_DTYPE_FLOAT32, AL_DTYPE_FLOAT64};
#define N_NUMERIC (sizeof numeric / sizeof numeric[0])

/* A 6x3 tensor of `dtype` whose element (r, c) encodes r*3+c (mod 2 for bool). */
static al_tensor *make_grid(al_dtype dtype)
{
    int64_t shape[2] = {6, 3};
    al_tensor *t = dtype == AL_DTYPE_STRING ? al_tensor_new_string(2, shape, 5, AL_CPU, NULL)
                                            : al_tensor_new(dtype, 2, shape, AL_CPU, NULL);
    for (int64_t r = 0; r < 6; r++)
        for (int64_t c = 0; c < 3; c++) {
            int64_t idx[2] = {r, c}, v = r * 3 + c;
            if (dtype == AL_DTYPE_STRING) {
                char s[8];
                int n = snprintf(s, sizeof s, "s%lld", (long long)v);
                CHECK_EQ_INT(al_tensor_set_string(t, idx, s, (size_t)n), AL_OK);
            } else {
                CHECK_EQ_INT(al_tensor_set_int64(t, idx, dtype == AL_DTYPE_BOOL ? v % 2 : v),
                             AL_OK);
            }
        }
    return t;
}

static int64_t expect_value(al_dtype dtype, int64_t r, int64_t c)
{
    return dtype == AL_DTYPE_BOOL ? (r * 3 + c) % 2 : r * 3 + c;
}

static void check_element(const al_tensor *t, const int64_t *idx, al_dtype dtype, int64_t r,
                          int64_t c)
{
    if (dtype == AL_DTYPE_STRING) {
        char buf[16], want[16];
        snprintf(want, sizeof want, "s%lld", (long long)(r * 3 + c));
        CHECK_EQ_INT(al_tensor_get_string(t, idx, buf, sizeof buf, NULL), AL_OK);
        CHECK_EQ_STR(buf, want);
    } else {
        int64_t v = -1;
        CHECK_EQ_INT(al_tensor_get_int64(t, idx, &v), AL_OK);
        CHECK_EQ_INT(v, expect_value(dtype, r, c));
    }
}

TEST(test_every_dtype_survives_create_view_slice_copy_and_compare)
{
    for (int k = 0; k <= (int)N_NUMERIC; k++) {
        al_dtype dtype = k < (int)N_NUMERIC ? numeric[k] : AL_DTYPE_STRING;
        al_tensor *t = make_grid(dtype);
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK_EQ_INT(al_tensor_dtype(t), dtype);
        CHECK_EQ_INT(al_tensor_numel(t), 18);
        CHECK(al_tensor_is_contiguous(t));
        al_error err;
        al_tensor *rows = al_tensor_slice_rows(t, 2, 5, &err);
        al_tensor *col = al_tensor_select(t, 1, 2, &err);
        al_tensor *nar = al_tensor_narrow(rows, 1, 1, 2, &err);
        CHECK(rows && col && nar);
        CHECK(al_tensor_shares_storage(t, rows) && al_tensor_shares_storage(t, col));
        CHECK_EQ_INT(al_storage_refcount(al_tensor_storage(t)), 4);
        CHECK_EQ_INT(al_tensor_ndim(col), 1);
        CHECK_EQ_INT(al_tensor_shape(col)[0], 6);
        CHECK(!al_tensor_is_contiguous(col));
        for (int64_t r = 0; r < 3; r++)
            for (int64_t c = 0; c < 3; c++)
                check_element(rows, (int64_t[]){r, c}, dtype, r + 2, c);
        for (int64_t r = 0; r < 6; r++)
            check_element(col, (int64_t[]){r}, dtype, r, 2);
        for (int64_t r = 0; r < 3; r++)
            for (int64_t c = 0; c < 2; c++)
                check_element(nar, (int64_t[]){r, c}, dtype, r + 2, c + 1);
        al_tensor *ccopy = al_tensor_copy(col, &err);
        al_tensor *ncopy = al_tensor_copy(nar, &err);
        CHECK(ccopy && ncopy && al_tensor_is_contiguous(ccopy));
        CHECK(!al_tensor_shares_storage(ccopy, col));
        CHECK_EQ_INT(tensor_equal(ccopy, col, AL_EQUAL_BITWISE), 1);
        CHECK_EQ_INT(tensor_equal(ncopy, nar, AL_EQUAL_VALUE), 1);
        CHECK_EQ_INT(tensor_equal(ccopy, nar, AL_EQUAL_VALUE), 0); /* shapes differ */
        /* Writing through a view shows in the tensor; the copy keeps the old value. */
        if (dtype == AL_DTYPE_STRING)
            CHECK_EQ_INT(al_tensor_set_string(col, (int64_t[]){0}, "zz", 2), AL_OK);
        else
            CHECK_EQ_INT(al_tensor_set_int64(col, (int64_t[]){0}, 1), AL_OK);
        CHECK_EQ_INT(tensor_equal(ccopy, col, AL_EQUAL_BITWISE), 0);
        al_tensor *again = make_grid(dtype);
        CHECK_EQ_INT(tensor_equal(again, t, AL_EQUAL_VALUE), 0);
        al_tensor_free(again);
        al_tensor_free(t);
        /* Views keep the storage alive after the original handle goes. */
        check_element(rows, (int64_t[]){0, 0}, dtype, 2, 0);
        al_tensor_free(rows);
        al_tensor_free(col);
        al_tensor_free(nar);
        al_tensor_free(ccopy);
        al_tensor_free(ncopy);
    }
}

TEST(test_bad_layouts_and_view_ranges_are_refused_with_a_message)
{
    al_error err;
    int64_t shape[2] = {4, -1};
    CHECK(al_tensor_new(AL_DTYPE_INT32, 2, shape, AL_CPU, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "negative") != NULL);
    CHECK(al_tensor_new(AL_DTYPE_INT32, 9, shape, AL_CPU, &err) == NULL);
    CHECK(al_tensor_new(AL_DTYPE_STRING, 1, shape, AL_CPU, &err) == NULL);
    CHECK(al_tensor_new_string(1, shape, 0, AL_CPU, &err) == NULL);
    CHECK(al_tensor_new(AL_DTYPE_INT32, 1, shape, (al_device){AL_DEVICE_CUDA, -1}, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "cuda:-1") != NULL);
    int64_t big[2] = {INT64_MAX / 2, 4};
    CHECK(al_tensor_new(AL_DTYPE_INT32, 2, big, AL_CPU, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EOVERFLOW);
    al_tensor *t = make_grid(AL_DTYPE_INT32);
    CHECK(al_tensor_slice_rows(t, 4, 7, &err) == NULL);
    CHECK(strstr(err.message, "outside dimension 0") != NULL);
    CHECK(al_tensor_select(t, 2, 0, &err) == NULL);
    CHECK(al_tensor_select(t, 1, 3, &err) == NULL);
    int64_t v;
    CHECK_EQ_INT(al_tensor_get_int64(t, (int64_t[]){6, 0}, &v), AL_EINVAL);
    al_tensor *empty = al_tensor_slice_rows(t, 6, 6, &err);
    CHECK(empty && al_tensor_numel(empty) == 0);
    al_tensor *ecopy = al_tensor_copy(empty, &err);
    CHECK(ecopy && tensor_equal(ecopy, empty, AL_EQUAL_VALUE) == 1);
    al_tensor_free(ecopy);
    al_tensor_free(empty);
    al_tensor_free(t);
}

TEST(test_element_access_converts_only_exactly)
{
    int64_t one[1] = {1}, i0[1] = {0};
    al_tensor *i8 = al_tensor_new(AL_DTYPE_INT8, 1, one, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_set_int64(i8, i0, 128), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_set_int64(i8, i0, -128), AL_OK);
    CHECK_EQ_INT(al_tensor_set_double(i8, i0, 1.5), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_set_double(i8, i0, NAN), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_set_double(i8, i0, -7.0), AL_OK);
    double d;
    CHECK_EQ_INT(al_tensor_get_double(i8, i0, &d), AL_OK);
    CHECK(d == -7.0);
    char buf[8];
    CHECK_EQ_INT(al_tensor_get_string(i8, i0, buf, sizeof buf, NULL), AL_ETYPE);
    al_tensor_free(i8);

    al_tensor *u64 = al_tensor_new(AL_DTYPE_UINT64, 1, one, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_set_double(u64, i0, 0x1p63), AL_OK);
    int64_t v;
    CHECK_EQ_INT(al_tensor_get_int64(u64, i0, &v), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_set_int64(u64, i0, -1), AL_EOVERFLOW);
    al_tensor_free(u64);

    al_tensor *f = al_tensor_new(AL_DTYPE_FLOAT64, 1, one, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_fill_double(f, 2.5), AL_OK);
    CHECK_EQ_INT(al_tensor_get_int64(f, i0, &v), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_fill_double(f, 42.0), AL_OK);
    CHECK_EQ_INT(al_tensor_get_int64(f, i0, &v), AL_OK);
    CHECK_EQ_INT(v, 42);
    al_tensor_free(f);

    al_tensor *b = al_tensor_new(AL_DTYPE_BOOL, 1, one, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_set_int64(b, i0, 2), AL_EOVERFLOW);
    CHECK_EQ_INT(al_tensor_fill_int64(b, 1), AL_OK);
    al_tensor_free(b);

    al_tensor *s = al_tensor_new_string(1, one, 4, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_set_string(s, i0, "abcde", 5), AL_EINVAL);
    CHECK_EQ_INT(al_tensor_fill_string(s, "abcd", 4), AL_OK);
    size_t len;
    CHECK_EQ_INT(al_tensor_get_string(s, i0, buf, 4, &len), AL_EINVAL); /* no room for NUL */
    CHECK_EQ_INT(al_tensor_get_string(s, i0, buf, sizeof buf, &len), AL_OK);
    CHECK_EQ_STR(buf, "abcd");
    CHECK_EQ_INT(len, 4);
    CHECK_EQ_INT(al_tensor_set_double(s, i0, 1.0), AL_ETYPE);
    al_tensor_free(s);
}

TEST(test_equal_modes_treat_nan_and_negative_zero_as_documented)
{
    double a[3] = {NAN, 0.0, 1.0}, b[3] = {NAN, -0.0, 1.0};
    int64_t shape[1] = {3};
    al_tensor *ta = al_tensor_from_buffer(AL_DTYPE_FLOAT64, 0, 1, shape, a, NULL);
    al_tensor *tb = al_tensor_from_buffer(AL_DTYPE_FLOAT64, 0, 1, shape, b, NULL);
    CHECK_EQ_INT(tensor_equal(ta, tb, AL_EQUAL_VALUE), 0);     /* NaN != NaN */
    CHECK_EQ_INT(tensor_equal(ta, tb, AL_EQUAL_VALUE_NAN), 1); /* and 0.0 == -0.0 */
    CHECK_EQ_INT(tensor_equal(ta, tb, AL_EQUAL_BITWISE), 0);   /* the sign of zero */
    CHECK_EQ_INT(tensor_equal(ta, ta, AL_EQUAL_BITWISE), 1);
    CHECK_EQ_INT(tensor_equal(ta, NULL, AL_EQUAL_BITWISE), AL_EINVAL);
    al_tensor *f32 = al_tensor_to_dtype(ta, AL_DTYPE_FLOAT32, NULL);
    CHECK(f32 != NULL);
    CHECK_EQ_INT(tensor_equal(ta, f32, AL_EQUAL_VALUE_NAN), 0); /* dtypes differ */
    al_tensor_free(f32);
    al_tensor_free(ta);
    al_tensor_free(tb);
}

TEST(test_to_dtype_refuses_values_that_do_not_fit)
{
    int64_t vals[3] = {-5, 300, 7}, shape[1] = {3};
    al_tensor *t = al_tensor_from_buffer(AL_DTYPE_INT64, 0, 1, shape, vals, NULL);
    al_error err;
    CHECK(al_tensor_to_dtype(t, AL_DTYPE_INT8, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EOVERFLOW);
    CHECK(strstr(err.message, "element 1") != NULL);
    CHECK(al_tensor_to_dtype(t, AL_DTYPE_UINT16, &err) == NULL);
    al_tensor *i16 = al_tensor_to_dtype(t, AL_DTYPE_INT16, &err);
    CHECK(i16 && al_tensor_itemsize(i16) == 2);
    int64_t v;
    CHECK_EQ_INT(al_tensor_get_int64(i16, (int64_t[]){1}, &v), AL_OK);
    CHECK_EQ_INT(v, 300);
    al_tensor_free(i16);
    al_tensor_free(t);
}

static int wrap_deleted;
static void count_wrap_delete(void *data, void *ctx)
{
    (void)data;
    wrap_deleted++;
    CHECK(ctx == &wrap_deleted);
}

TEST(test_wrapped_memory_is_released_once_when_the_last_view_goes)
{
    static int32_t data[12];
    for (int i = 0; i < 12; i++)
        data[i] = i;
    int64_t shape[2] = {3, 4};
    wrap_deleted = 0;
    al_tensor *t = al_tensor_wrap(AL_DTYPE_INT32, 0, 2, shape, NULL, data, AL_CPU,
                                  count_wrap_delete, &wrap_deleted, NULL);
    CHECK(t && al_tensor_data(t) == data);
    CHECK_EQ_INT(al_storage_nbytes(al_tensor_storage(t)), sizeof data);
    al_tensor *v = al_tensor_select(t, 1, 3, NULL);
    al_tensor_free(t);
    CHECK_EQ_INT(wrap_deleted, 0);
    int64_t x;
    CHECK_EQ_INT(al_tensor_get_int64(v, (int64_t[]){2}, &x), AL_OK);
    CHECK_EQ_INT(x, 11);
    al_tensor_free(v);
    CHECK_EQ_INT(wrap_deleted, 1);
    /* A transposed (column-major) view over the same bytes. */
    int64_t tshape[2] = {4, 3}, tstrides[2] = {1, 4};
    t = al_tensor_wrap(AL_DTYPE_INT32, 0, 2, tshape, tstrides, data, AL_CPU, NULL, NULL, NULL);
    CHECK_EQ_INT(al_tensor_get_int64(t, (int64_t[]){3, 1}, &x), AL_OK);
    CHECK_EQ_INT(x, 7);
    int64_t bad[2] = {-1, 4};
    al_error err;
    CHECK(al_tensor_wrap(AL_DTYPE_INT32, 0, 2, tshape, bad, data, AL_CPU, count_wrap_delete, NULL,
                         &err) == NULL);
    CHECK_EQ_INT(wrap_deleted, 1); /* refused: the deleter does not run */
    al_tensor_free(t);
}

/* -------- DLPack -------- */

TEST(test_dlpack_export_keeps_storage_until_the_consumer_deletes)
{
    al_tensor *t = make_grid(AL_DTYPE_FLOAT32);
    al_tensor *col = al_tensor_select(t, 1, 1, NULL);
    uint64_t live = test_live_blocks();
    DLManagedTensor *m = al_tensor_to_dlpack(col, NULL);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_EQ_INT(m->dl_tensor.ndim, 1);
    CHECK_EQ_INT(m->dl_tensor.shape[0], 6);
    CHECK_EQ_INT(m->dl_tensor.strides[0], 3);
    CHECK_EQ_INT(m->dl_tensor.dtype.code, kDLFloat);
    CHECK_EQ_INT(m->dl_tensor.dtype.bits, 32);
    CHECK_EQ_INT(m->dl_tensor.dtype.lanes, 1);
    CHECK_EQ_INT(m->dl_tensor.device.device_type, kDLCPU);
    CHECK_EQ_INT(m->dl_tensor.byte_offset, 4);
    al_tensor_free(col);
    al_tensor_free(t);
    /* The consumer still reads every value. */
    const float *base = (const float *)((char *)m->dl_tensor.data + m->dl_tensor.byte_offset);
    for (int r = 0; r < 6; r++)
        CHECK(base[r * 3] == (float)(r * 3 + 1));
    CHECK(test_live_blocks() < live); /* the handles went, the storage stays */
    m->deleter(m);
    CHECK_EQ_INT(test_live_blocks(), live - 4); /* handle t, handle col, storage, bytes */
}

static int producer_deleted;
typedef struct producer {
    DLManagedTensor m;
    int64_t shape[2];
    int64_t strides[2];
    int64_t data[8];
} producer;

static void producer_delete(DLManagedTensor *self)
{
    producer_deleted++;
    CHECK(self->manager_ctx == self);
}

static void producer_init(producer *p, DLDataType dt)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 8; i++)
        p->data[i] = 10 * i;
    p->shape[0] = 4, p->shape[1] = 2;
    p->m.dl_tensor = (DLTensor){p->data, {kDLCPU, 0}, 2, dt, p->shape, NULL, 0};
    p->m.manager_ctx = p;
    p->m.deleter = producer_delete;
}

TEST(test_dlpack_import_calls_the_producer_deleter_exactly_once)
{
    producer p;
    producer_init(&p, (DLDataType){kDLInt, 64, 1});
    producer_deleted = 0;
    al_tensor *t = al_tensor_from_dlpack(&p.m, NULL);
    CHECK(t && al_tensor_data(t) == p.data); /* zero copy */
    al_tensor *row = al_tensor_slice_rows(t, 3, 4, NULL);
    al_tensor_free(t);
    CHECK_EQ_INT(producer_deleted, 0);
    int64_t v;
    CHECK_EQ_INT(al_tensor_get_int64(row, (int64_t[]){0, 1}, &v), AL_OK);
    CHECK_EQ_INT(v, 70);
    al_tensor_free(row);
    CHECK_EQ_INT(producer_deleted, 1);

    /* Explicit strides and a byte offset: a column view. */
    producer_init(&p, (DLDataType){kDLInt, 64, 1});
    p.strides[0] = 2, p.strides[1] = 1;
    p.shape[1] = 1;
    p.m.dl_tensor.strides = p.strides;
    p.m.dl_tensor.byte_offset = 8;
    t = al_tensor_from_dlpack(&p.m, NULL);
    CHECK_EQ_INT(al_tensor_get_int64(t, (int64_t[]){2, 0}, &v), AL_OK);
    CHECK_EQ_INT(v, 50);
    al_tensor_free(t);
    CHECK_EQ_INT(producer_deleted, 2);
}

TEST(test_dlpack_round_trips_in_both_directions)
{
    for (size_t k = 0; k < N_NUMERIC; k++) {
        al_tensor *t = make_grid(numeric[k]);
        DLManagedTensor *m = al_tensor_to_dlpack(t, NULL);
        al_tensor *back = m ? al_tensor_from_dlpack(m, NULL) : NULL;
        CHECK(back != NULL);
        if (!back)
            continue;
        CHECK(al_tensor_data(back) == al_tensor_data(t));
        CHECK_EQ_INT(al_tensor_dtype(back), numeric[k]);
        CHECK_EQ_INT(tensor_equal(back, t, AL_EQUAL_BITWISE), 1);
        al_tensor_free(t);
        al_tensor_free(back); /* runs the export's deleter, which frees the storage */
    }
    /* Producer -> al_tensor -> DLPack -> al_tensor: the producer's deleter runs once, last. */
    producer p;
    producer_init(&p, (DLDataType){kDLUInt, 8, 1});
    producer_deleted = 0;
    al_tensor *t = al_tensor_from_dlpack(&p.m, NULL);
    DLManagedTensor *m = al_tensor_to_dlpack(t, NULL);
    al_tensor_free(t);
    CHECK_EQ_INT(producer_deleted, 0);
    al_tensor *again = al_tensor_from_dlpack(m, NULL);
    CHECK(again && al_tensor_data(again) == p.data);
    CHECK_EQ_INT(al_tensor_dtype(again), AL_DTYPE_UINT8);
    al_tensor_free(again);
    CHECK_EQ_INT(producer_deleted, 1);
}

TEST(test_dlpack_refuses_what_it_cannot_represent)
{
    al_error err;
    al_tensor *s = make_grid(AL_DTYPE_STRING);
    CHECK(al_tensor_to_dlpack(s, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ETYPE);
    CHECK(strstr(err.message, "string") != NULL);
    al_tensor_free(s);

    producer p;
    producer_deleted = 0;
    struct {
        DLDataType dt;
        int code;
        const char *words;
    } bad[] = {
        {{kDLBfloat, 16, 1}, AL_ETYPE, "bfloat16"},   {{kDLFloat, 16, 1}, AL_ETYPE, "float16"},
        {{kDLComplex, 64, 1}, AL_ETYPE, "complex64"}, {{kDLFloat, 32, 4}, AL_ETYPE, "lanes 4"},
        {{kDLInt, 12, 1}, AL_ETYPE, "int12"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        producer_init(&p, bad[i].dt);
        CHECK(al_tensor_from_dlpack(&p.m, &err) == NULL);
        CHECK_EQ_INT(err.code, bad[i].code);
        CHECK(strstr(err.message, bad[i].words) != NULL);
    }
    producer_init(&p, (DLDataType){kDLFloat, 32, 1});
    p.m.dl_tensor.device = (DLDevice){kDLOpenCL, 0};
    CHECK(al_tensor_from_dlpack(&p.m, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "kDLOpenCL") != NULL);
    producer_init(&p, (DLDataType){kDLFloat, 32, 1});
    p.m.dl_tensor.ndim = 9;
    CHECK(al_tensor_from_dlpack(&p.m, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK_EQ_INT(producer_deleted, 0); /* refused: the caller keeps ownership */
}

TEST(test_allocation_failures_in_tensor_calls_leak_nothing)
{
    al_tensor *src = make_grid(AL_DTYPE_INT16);
    uint64_t live = test_live_blocks();
    int done = 0;
    for (uint64_t n = 1; !done && n < 50; n++) {
        al_memory_fail_after(n, 0);
        al_tensor *c = al_tensor_copy(src, NULL);
        al_tensor *v = al_tensor_select(src, 1, 0, NULL);
        DLManagedTensor *m = al_tensor_to_dlpack(src, NULL);
        al_tensor *w = al_tensor_new_string(1, (int64_t[]){3}, 3, AL_CPU, NULL);
        int rc = w ? al_tensor_fill_string(w, "ab", 2) : AL_ENOMEM;
        al_memory_fail_after(0, 0);
        done = c && v && m && w && rc == AL_OK;
        al_tensor_free(c);
        al_tensor_free(v);
        al_tensor_free(w);
        if (m)
            m->deleter(m);
        CHECK_EQ_INT(test_live_blocks(), live);
    }
    CHECK(done);
    producer p;
    producer_init(&p, (DLDataType){kDLInt, 32, 1});
    producer_deleted = 0;
    al_tensor *t = NULL;
    for (uint64_t n = 1; !t && n < 10; n++) {
        al_memory_fail_after(n, 0);
        t = al_tensor_from_dlpack(&p.m, NULL);
        al_memory_fail_after(0, 0);
        CHECK_EQ_INT(producer_deleted, 0);
    }
    CHECK(t != NULL);
    al_tensor_free(t);
    CHECK_EQ_INT(producer_deleted, 1);
    al_tensor_free(src);
}

TEST(test_dtype_and_device_names_round_trip)
{
    for (int d = 0; d < AL_DTYPE_COUNT_; d++) {
        al_dtype back;
        CHECK_EQ_INT(al_dtype_parse(al_dtype_name((al_dtype)d), &back), AL_OK);
        CHECK_EQ_INT(back, d);
    }
    al_dtype x;
    CHECK_EQ_INT(al_dtype_parse("float16", &x), AL_EINVAL);
    char buf[16];
    CHECK_EQ_STR(al_device_name(AL_CPU, buf, sizeof buf), "cpu");
    CHECK_EQ_STR(al_device_name((al_device){AL_DEVICE_CUDA, 1}, buf, sizeof buf), "cuda:1");
    CHECK_EQ_INT(al_dtype_size(AL_DTYPE_UINT32), 4);
    CHECK_EQ_INT(al_dtype_size(AL_DTYPE_STRING), 0);
}

TEST_MAIN()
