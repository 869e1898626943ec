// ctest-labels: gpu
/* Tests of tensors and tensordicts on CUDA devices (<astrolab/tensors.h> over <astrolab/cuda.h>):
 * allocation through the caching allocator, copies between devices byte for byte, views,
 * DLPack kDLCUDA export and import, tensordicts on a device, memory_info per device, cleanup
 * releasing device storage, and device and host allocation failures leaking nothing.
 *
 * They run against the simulated device (64 MiB, 2 devices) by default, and against the real
 * driver when ASTROLAB_CUDA_BACKEND=driver (make test-gpu); tests of a second device say
 * "skipped" where there is only one. Every test checks that the device's allocated bytes are
 * back where they started. */
#include <dlpack/dlpack.h>
#include <pthread.h>
#include <stdbool.h>

#include "astrolab/cuda.h"
#include "log_capture.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)
#define CUDA0 ((al_device){AL_DEVICE_CUDA, 0})
#define CUDA1 ((al_device){AL_DEVICE_CUDA, 1})

/* al_tensor_equal's answer, 1 or 0, or its error code: one value for CHECK_EQ_INT. */
static int tensor_equal(const al_tensor *a, const al_tensor *b, al_equal_mode mode)
{
    bool equal = false;
    int rc = al_tensor_equal(a, b, mode, &equal);
    return rc == AL_OK ? equal : rc;
}

static bool on_driver(void)
{
    const char *b = getenv("ASTROLAB_CUDA_BACKEND");
    return b && strcmp(b, "driver") == 0;
}

static uint64_t allocated(int dev)
{
    al_cuda_stats s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(al_cuda_memory_stats(dev, &s), AL_OK);
    return s.allocated_bytes;
}

/* Selects the backend under test with empty pools and no limit. */
static void setup(void)
{
    if (on_driver())
        CHECK_EQ_INT(al_cuda_set_backend("driver"), AL_OK);
    else
        CHECK_EQ_INT(al_cuda_use_simulated(64 * MiB, 2), AL_OK);
    CHECK(al_cuda_available());
    CHECK_EQ_INT(allocated(AL_CUDA_ALL_DEVICES), 0);
}

/* Every block the test allocated is back in the cache. */
static void teardown(void)
{
    for (int i = 0; i < al_cuda_device_count(); i++) {
        al_cuda_stats s;
        CHECK_EQ_INT(al_cuda_memory_stats(i, &s), AL_OK);
        CHECK_EQ_INT(s.active_blocks, 0);
        CHECK_EQ_INT(s.allocated_bytes, 0);
        (void)!al_cuda_set_memory_limit(i, 0);
    }
    al_cuda_empty_cache();
}

static bool two_devices(const char *test)
{
    if (al_cuda_device_count() >= 2)
        return true;
    printf("     %s: second device skipped (one device)\n", test);
    return false;
}

/* -------- Log capture (log_capture.h): warnings and errors of every logger. -------- */
static void capture_warnings(void) { capture_only(NULL, AL_LOG_WARNING); }

/* -------- Helpers. -------- */

/* A CPU tensor of `dtype` whose bytes are a pattern (every bit pattern for numbers, so floats
 * include NaNs with payloads and -0.0; bools 0 or 1). */
static al_tensor *patterned(al_dtype dtype, int ndim, const int64_t *shape, uint32_t seed)
{
    al_tensor *t = dtype == AL_DTYPE_STRING ? al_tensor_new_string(ndim, shape, 5, AL_CPU, NULL)
                                            : al_tensor_new(dtype, ndim, shape, AL_CPU, NULL);
    if (!t)
        return NULL;
    unsigned char *p = al_tensor_data(t);
    uint64_t n = al_tensor_nbytes(t), x = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = dtype == AL_DTYPE_BOOL ? (unsigned char)(x & 1) : (unsigned char)x;
    }
    return t;
}

static bool same_bytes(const al_tensor *a, const al_tensor *b)
{
    return al_tensor_nbytes(a) == al_tensor_nbytes(b) &&
           memcmp(al_tensor_data(a), al_tensor_data(b), al_tensor_nbytes(a)) == 0;
}

static bool on(const al_tensor *t, al_device d)
{
    al_device x = al_tensor_device(t);
    return x.type == d.type && x.index == d.index;
}

/* -------- Tensors. -------- */

TEST(test_every_dtype_round_trips_cpu_to_cuda_to_cpu_exactly)
{
    setup();
    int64_t shape[2] = {7, 3};
    for (int d = 0; d < AL_DTYPE_COUNT_; d++) {
        al_tensor *h = patterned((al_dtype)d, 2, shape, (uint32_t)d + 1);
        al_error err = {0};
        al_tensor *g = al_tensor_to(h, CUDA0, &err);
        CHECK(g != NULL);
        if (!g) {
            fprintf(stderr, "  %s: %s\n", al_dtype_name((al_dtype)d), err.message);
            al_tensor_free(h);
            continue;
        }
        CHECK(on(g, CUDA0));
        CHECK(al_tensor_is_contiguous(g));
        CHECK_EQ_INT(al_tensor_dtype(g), d);
        CHECK_EQ_INT(al_tensor_itemsize(g), al_tensor_itemsize(h));
        CHECK(allocated(0) >= al_tensor_nbytes(h));
        CHECK_EQ_INT(tensor_equal(g, h, AL_EQUAL_BITWISE), 1); /* across devices */
        al_tensor *back = al_tensor_to(g, AL_CPU, &err);
        CHECK(back && on(back, AL_CPU) && same_bytes(back, h));
        al_tensor_free(back);
        if (al_cuda_device_count() >= 2) { /* cuda:0 -> cuda:1 -> cpu */
            al_tensor *g1 = al_tensor_to(g, CUDA1, &err);
            al_tensor *b1 = g1 ? al_tensor_to(g1, AL_CPU, &err) : NULL;
            CHECK(g1 && on(g1, CUDA1) && b1 && same_bytes(b1, h));
            al_tensor_free(b1);
            al_tensor_free(g1);
        }
        al_tensor_free(g);
        al_tensor_free(h);
    }
    /* Large enough for the driver's pinned staging (1 MiB and up), and a scalar. */
    int64_t big[1] = {300000};
    al_tensor *h = patterned(AL_DTYPE_FLOAT64, 1, big, 99);
    al_tensor *g = al_tensor_to(h, CUDA0, NULL), *back = g ? al_tensor_to(g, AL_CPU, NULL) : NULL;
    CHECK(back && same_bytes(back, h));
    al_tensor_free(back);
    al_tensor_free(g);
    al_tensor_free(h);
    al_tensor *s = patterned(AL_DTYPE_INT32, 0, NULL, 5);
    g = al_tensor_to(s, CUDA0, NULL);
    back = g ? al_tensor_to(g, AL_CPU, NULL) : NULL;
    CHECK(back && al_tensor_ndim(back) == 0 && same_bytes(back, s));
    al_tensor_free(back);
    al_tensor_free(g);
    al_tensor_free(s);
    teardown();
}

TEST(test_device_storage_is_zeroed_refcounted_and_returned_to_the_cache)
{
    setup();
    int64_t shape[1] = {1000};
    al_tensor *g = al_tensor_new(AL_DTYPE_INT32, 1, shape, CUDA0, NULL);
    CHECK(g != NULL);
    CHECK_EQ_INT(al_storage_device(al_tensor_storage(g)).type, AL_DEVICE_CUDA);
    CHECK_EQ_INT(al_storage_nbytes(al_tensor_storage(g)), 4000);
    CHECK_EQ_INT(allocated(0), 4096); /* 4000 rounded to 512 */
    al_memory_stats ms;
    CHECK_EQ_INT(al_get_memory_stats(&ms), AL_OK);
    CHECK_EQ_INT(ms.cuda_allocated_bytes, 4096); /* the manager's report sees device tensors */
    CHECK_EQ_INT(al_cuda_block_device(al_tensor_data(g)), 0);
    al_tensor *h = al_tensor_to(g, AL_CPU, NULL),
              *zero = al_tensor_new(AL_DTYPE_INT32, 1, shape, AL_CPU, NULL);
    CHECK(h && zero && same_bytes(h, zero));
    al_tensor_free(h);
    al_tensor_free(zero);
    al_tensor *v = al_tensor_slice_rows(g, 10, 20, NULL);
    CHECK_EQ_INT(al_storage_refcount(al_tensor_storage(g)), 2);
    al_tensor_free(g);
    CHECK_EQ_INT(allocated(0), 4096); /* the view keeps the block */
    al_tensor_free(v);
    CHECK_EQ_INT(allocated(0), 0);
    /* An empty tensor still owns a distinct block, as on the CPU. */
    int64_t none[1] = {0};
    al_tensor *e = al_tensor_new(AL_DTYPE_FLOAT32, 1, none, CUDA0, NULL);
    CHECK(e && al_tensor_nbytes(e) == 0);
    al_tensor *ec = e ? al_tensor_to(e, AL_CPU, NULL) : NULL;
    CHECK(ec && al_tensor_numel(ec) == 0);
    al_tensor_free(ec);
    al_tensor_free(e);
    /* Devices that cannot hold tensors are named. */
    al_error err;
    CHECK(al_tensor_new(AL_DTYPE_INT32, 1, shape, (al_device){AL_DEVICE_CUDA, 9}, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "cuda:9") != NULL);
    al_tensor *s = patterned(AL_DTYPE_INT8, 0, NULL, 1);
    CHECK(al_tensor_to(s, (al_device){(al_device_type)7, 0}, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "unknown device type 7") != NULL);
    al_tensor_free(s);
    teardown();
}

TEST(test_views_of_device_tensors_share_storage_and_copy_exactly)
{
    setup();
    int64_t shape[2] = {6, 4};
    al_tensor *h = patterned(AL_DTYPE_FLOAT32, 2, shape, 7);
    al_tensor *g = al_tensor_to(h, CUDA0, NULL);
    CHECK(g != NULL);
    uint64_t used = allocated(0);
    al_tensor *col_g = al_tensor_select(g, 1, 2, NULL), *col_h = al_tensor_select(h, 1, 2, NULL);
    al_tensor *rows_g = al_tensor_slice_rows(g, 1, 5, NULL);
    al_tensor *block_g = al_tensor_narrow(rows_g, 1, 1, 2, NULL);
    al_tensor *block_h = al_tensor_narrow(h, 0, 1, 4, NULL), *bh = NULL;
    if (block_h)
        bh = al_tensor_narrow(block_h, 1, 1, 2, NULL);
    CHECK(col_g && rows_g && block_g && bh);
    CHECK(al_tensor_shares_storage(col_g, g) && al_tensor_shares_storage(block_g, g));
    CHECK(!al_tensor_is_contiguous(col_g) && on(col_g, CUDA0));
    CHECK_EQ_INT(allocated(0), used); /* views are metadata only */
    CHECK_EQ_INT(tensor_equal(col_g, col_h, AL_EQUAL_BITWISE), 1);
    CHECK_EQ_INT(tensor_equal(block_g, bh, AL_EQUAL_BITWISE), 1);
    CHECK_EQ_INT(tensor_equal(block_g, col_h, AL_EQUAL_BITWISE), 0);
    /* A strided device view to the host, and a device copy of it (via the host). */
    al_tensor *col_back = al_tensor_to(col_g, AL_CPU, NULL),
              *col_copy = al_tensor_copy(col_g, NULL);
    al_tensor *hc = al_tensor_copy(col_h, NULL);
    CHECK(col_back && hc && same_bytes(col_back, hc));
    CHECK(col_copy && on(col_copy, CUDA0) && al_tensor_is_contiguous(col_copy));
    CHECK(col_copy && !al_tensor_shares_storage(col_copy, g));
    CHECK_EQ_INT(tensor_equal(col_copy, col_h, AL_EQUAL_BITWISE), 1);
    /* A contiguous device copy (device to device) and a strided CPU view to the device. */
    al_tensor *rows_copy = al_tensor_copy(rows_g, NULL), *bh_g = al_tensor_to(bh, CUDA0, NULL);
    CHECK(rows_copy && on(rows_copy, CUDA0) && !al_tensor_shares_storage(rows_copy, g));
    CHECK_EQ_INT(tensor_equal(rows_copy, rows_g, AL_EQUAL_BITWISE), 1);
    CHECK(bh_g && al_tensor_is_contiguous(bh_g));
    CHECK_EQ_INT(tensor_equal(bh_g, block_g, AL_EQUAL_BITWISE), 1);
    if (two_devices("views")) {
        al_tensor *x = al_tensor_to(block_g, CUDA1, NULL);
        CHECK(x && on(x, CUDA1));
        CHECK_EQ_INT(tensor_equal(x, bh, AL_EQUAL_BITWISE), 1);
        al_tensor_free(x);
    }
    al_tensor *all[] = {col_g,    col_h, rows_g,    block_g, block_h, bh, col_back,
                        col_copy, hc,    rows_copy, bh_g,    g,       h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        al_tensor_free(all[i]);
    teardown();
}

TEST(test_host_only_operations_refuse_device_tensors_naming_the_device)
{
    setup();
    int64_t shape[1] = {4};
    al_tensor *g = al_tensor_new(AL_DTYPE_FLOAT64, 1, shape, CUDA0, NULL);
    double v;
    int64_t i0[1] = {0};
    capture_warnings();
    CHECK_EQ_INT(al_tensor_get_double(g, i0, &v), AL_EUNSUPPORTED);
    CHECK(strstr(log_last, "al_tensor_get_double") && strstr(log_last, "cuda:0"));
    CHECK_EQ_INT(al_tensor_set_int64(g, i0, 1), AL_EUNSUPPORTED);
    CHECK_EQ_INT(al_tensor_fill_double(g, 1.0), AL_EUNSUPPORTED);
    CHECK(strstr(log_last, "al_tensor_fill_double") != NULL);
    CHECK_EQ_INT(al_tensor_get_double(g, (int64_t[]){4}, &v), AL_EINVAL); /* range first */
    al_error err;
    CHECK(al_tensor_to_dtype(g, AL_DTYPE_FLOAT32, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "cuda:0") != NULL);
    al_tensordict *td = al_tensordict_new(4, CUDA0, NULL);
    CHECK(td && al_tensordict_set(td, "x", g, 0, NULL) == AL_OK);
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, NULL), AL_EUNSUPPORTED);
    CHECK(strstr(log_last, "optimize") && strstr(log_last, "cuda:0"));
    capture_end();
    al_tensordict_free(td);
    al_tensor_free(g);
    teardown();
}

/* -------- DLPack. -------- */

static int deleted;

typedef struct dev_producer {
    DLManagedTensor m;
    int64_t shape[2];
    void *dev; /* al_cuda_malloc block, or NULL for foreign memory */
} dev_producer;

static void dev_producer_delete(DLManagedTensor *self)
{
    dev_producer *p = self->manager_ctx;
    deleted++;
    if (p->dev)
        CHECK_EQ_INT(al_cuda_free(p->dev), AL_OK);
}

/* A producer of a 3x2 int64 tensor on `device` in an al_cuda_malloc block holding 0..5. */
static void dev_producer_init(dev_producer *p, int device)
{
    memset(p, 0, sizeof *p);
    int64_t vals[6] = {0, 1, 2, 3, 4, 5};
    p->dev = al_cuda_malloc(sizeof vals, device);
    CHECK(p->dev != NULL);
    CHECK_EQ_INT(al_cuda_memcpy_htod(p->dev, vals, sizeof vals), AL_OK);
    p->shape[0] = 3, p->shape[1] = 2;
    p->m.dl_tensor = (DLTensor){p->dev, {kDLCUDA, device}, 2, {kDLInt, 64, 1}, p->shape, NULL, 0};
    p->m.manager_ctx = p;
    p->m.deleter = dev_producer_delete;
}

TEST(test_dlpack_export_of_a_device_tensor_is_kdlcuda_and_keeps_its_storage)
{
    setup();
    int64_t shape[2] = {5, 3};
    al_tensor *h = patterned(AL_DTYPE_INT16, 2, shape, 3);
    al_device dev = al_cuda_device_count() >= 2 ? CUDA1 : CUDA0;
    al_tensor *g = al_tensor_to(h, dev, NULL);
    al_tensor *rows = g ? al_tensor_slice_rows(g, 2, 5, NULL) : NULL;
    DLManagedTensor *m = rows ? al_tensor_to_dlpack(rows, NULL) : NULL;
    CHECK(m != NULL);
    if (m) {
        CHECK_EQ_INT(m->dl_tensor.device.device_type, kDLCUDA);
        CHECK_EQ_INT(m->dl_tensor.device.device_id, dev.index);
        CHECK(m->dl_tensor.data == al_tensor_data(g)); /* the device pointer, no copy */
        CHECK_EQ_INT(m->dl_tensor.byte_offset, 2 * 3 * 2);
        CHECK_EQ_INT(m->dl_tensor.shape[0], 3);
    }
    uint64_t used = allocated(dev.index);
    al_tensor_free(rows);
    al_tensor_free(g);
    CHECK_EQ_INT(allocated(dev.index), used); /* the export holds the storage */
    /* Importing our own export is zero copy and copyable. */
    al_tensor *back = m ? al_tensor_from_dlpack(m, NULL) : NULL;
    CHECK(back && on(back, dev));
    al_tensor *hb = back ? al_tensor_to(back, AL_CPU, NULL) : NULL;
    al_tensor *hr = al_tensor_slice_rows(h, 2, 5, NULL);
    CHECK(hb && hr && tensor_equal(hb, hr, AL_EQUAL_BITWISE) == 1);
    al_tensor_free(hb);
    al_tensor_free(hr);
    al_tensor_free(back); /* runs the export's deleter: the block goes back */
    CHECK_EQ_INT(allocated(dev.index), 0);
    al_tensor_free(h);
    al_error err;
    al_tensor *s = al_tensor_new_string(1, shape, 4, CUDA0, NULL);
    CHECK(al_tensor_to_dlpack(s, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ETYPE);
    al_tensor_free(s);
    teardown();
}

TEST(test_dlpack_import_of_kdlcuda_is_zero_copy_and_deletes_once)
{
    setup();
    int device = al_cuda_device_count() - 1;
    dev_producer p;
    dev_producer_init(&p, device);
    deleted = 0;
    al_error err = {0};
    al_tensor *t = al_tensor_from_dlpack(&p.m, &err);
    CHECK(t != NULL);
    CHECK(t && al_tensor_data(t) == p.dev && on(t, (al_device){AL_DEVICE_CUDA, device}));
    al_tensor *row = t ? al_tensor_select(t, 0, 2, NULL) : NULL;
    al_tensor_free(t);
    CHECK_EQ_INT(deleted, 0);
    al_tensor *h = row ? al_tensor_to(row, AL_CPU, NULL) : NULL;
    int64_t v = -1;
    CHECK(h && al_tensor_get_int64(h, (int64_t[]){1}, &v) == AL_OK && v == 5);
    al_tensor_free(h);
    al_tensor_free(row);
    CHECK_EQ_INT(deleted, 1);
    CHECK_EQ_INT(allocated(device), 0);

    /* Device memory the allocator does not own: wrapped and viewable, never copied. */
    static int64_t foreign[6];
    dev_producer f;
    memset(&f, 0, sizeof f);
    f.shape[0] = 6;
    f.m.dl_tensor = (DLTensor){foreign, {kDLCUDA, 0}, 1, {kDLInt, 64, 1}, f.shape, NULL, 0};
    f.m.manager_ctx = &f;
    f.m.deleter = dev_producer_delete;
    deleted = 0;
    t = al_tensor_from_dlpack(&f.m, &err);
    CHECK(t && al_tensor_data(t) == (void *)foreign);
    capture_warnings();
    CHECK(al_tensor_to(t, AL_CPU, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "not AstroLab's") != NULL);
    CHECK_EQ_INT(tensor_equal(t, t, AL_EQUAL_VALUE), AL_EUNSUPPORTED);
    capture_end();
    DLManagedTensor *again = t ? al_tensor_to_dlpack(t, NULL) : NULL; /* re-export works */
    CHECK(again && again->dl_tensor.data == (void *)foreign);
    al_tensor_free(t);
    CHECK_EQ_INT(deleted, 0);
    if (again)
        again->deleter(again);
    CHECK_EQ_INT(deleted, 1);

    /* Refusals: the caller keeps m and the deleter does not run. */
    static const struct {
        DLDevice d;
        int code;
        const char *words;
    } bad[] = {
        {{kDLCUDAHost, 0}, AL_EUNSUPPORTED, "kDLCUDAHost"},
        {{kDLCUDAManaged, 0}, AL_EUNSUPPORTED, "kDLCUDAManaged"},
        {{kDLROCM, 0}, AL_EUNSUPPORTED, "kDLROCM"},
        {{kDLCUDA, 16}, AL_EINVAL, "cuda:16"},
        {{kDLCUDA, -1}, AL_EINVAL, "cuda:-1"},
    };
    deleted = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.m.dl_tensor.device = bad[i].d;
        CHECK(al_tensor_from_dlpack(&f.m, &err) == NULL);
        CHECK_EQ_INT(err.code, bad[i].code);
        CHECK(strstr(err.message, bad[i].words) != NULL);
    }
    CHECK_EQ_INT(deleted, 0);
    teardown();
}

/* -------- Tensordicts. -------- */

/* A CPU catalog of 6 rows: numbers of several types, a 2-D column, nested entries, a temporary
 * entry, strings and a dictionary-encoded string entry. */
static al_tensordict *catalog(void)
{
    al_tensordict *td = al_tensordict_new(6, AL_CPU, NULL);
    int64_t s1[1] = {6}, s2[2] = {6, 2};
    al_tensor *ts[] = {patterned(AL_DTYPE_FLOAT64, 1, s1, 1), patterned(AL_DTYPE_BOOL, 1, s1, 2),
                       patterned(AL_DTYPE_FLOAT32, 1, s1, 3), patterned(AL_DTYPE_INT16, 2, s2, 4),
                       patterned(AL_DTYPE_UINT64, 1, s1, 5),  patterned(AL_DTYPE_STRING, 1, s1, 6)};
    const char *keys[] = {"ra", "flags", "phot.g", "phot.err.g", "scratch", "name"};
    for (int i = 0; i < 6; i++) {
        CHECK(al_tensordict_set(td, keys[i], ts[i], i == 4 ? AL_ENTRY_TEMPORARY : 0, NULL) ==
              AL_OK);
        al_tensor_free(ts[i]);
    }
    al_tensor *cls = al_tensor_new_string(1, s1, 8, AL_CPU, NULL);
    for (int64_t r = 0; r < 6; r++)
        CHECK_EQ_INT(al_tensor_set_string(cls, &r, r % 2 ? "STAR" : "QSO", r % 2 ? 4 : 3), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "cls", cls, 0, NULL), AL_OK);
    al_tensor_free(cls);
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.passes = AL_OPTIMIZE_STRINGS;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, &o, NULL), AL_OK);
    const al_tensor *codes, *dict;
    CHECK_EQ_INT(al_tensordict_get_encoded(td, "cls", &codes, &dict), AL_OK);
    return td;
}

typedef struct compare_ctx {
    const al_tensordict *other;
    al_device device; /* where every entry of the walked tensordict must be */
    int entries;
} compare_ctx;

static int compare_entry(const char *path, const al_tensordict_entry *e, void *user)
{
    compare_ctx *c = user;
    c->entries++;
    CHECK(on(e->tensor, c->device));
    al_tensor *a = al_tensordict_get(c->other, path, NULL);
    unsigned flags = 0;
    CHECK_EQ_INT(al_tensordict_get_flags(c->other, path, &flags), AL_OK);
    CHECK_EQ_INT(e->flags, flags);
    CHECK(a != NULL);
    if (a && e->dictionary) {
        const al_tensor *codes, *dict;
        CHECK_EQ_INT(al_tensordict_get_encoded(c->other, path, &codes, &dict), AL_OK);
        CHECK_EQ_INT(tensor_equal(codes, e->tensor, AL_EQUAL_BITWISE), 1);
        CHECK_EQ_INT(tensor_equal(dict, e->dictionary, AL_EQUAL_BITWISE), 1);
    } else if (a) {
        CHECK_EQ_INT(tensor_equal(a, e->tensor, AL_EQUAL_BITWISE), 1);
    }
    al_tensor_free(a);
    return 0;
}

/* Every entry of a equals the entry of b at the same path; a's entries live on a_device. */
static void check_same(const al_tensordict *a, al_device a_device, const al_tensordict *b)
{
    compare_ctx c = {b, a_device, 0};
    int stopped = -1;
    CHECK_EQ_INT(al_tensordict_foreach(a, compare_entry, &c, &stopped), AL_OK);
    CHECK_EQ_INT(stopped, 0);
    CHECK_EQ_INT(c.entries, 7);
    CHECK_EQ_INT(al_tensordict_batch_size(a), al_tensordict_batch_size(b));
}

TEST(test_tensordict_moves_to_a_device_and_back_with_nested_entries)
{
    setup();
    al_tensordict *td = catalog();
    al_tensordict_meminfo host;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &host), AL_OK);
    al_error err = {0};
    al_tensordict *g = al_tensordict_to(td, CUDA0, &err);
    CHECK(g != NULL);
    if (!g) {
        fprintf(stderr, "  %s\n", err.message);
        al_tensordict_memory_info_release(&host);
        al_tensordict_free(td);
        teardown();
        return;
    }
    CHECK_EQ_INT(al_tensordict_device(g).type, AL_DEVICE_CUDA);
    CHECK_EQ_INT(al_tensordict_device(al_tensordict_get_dict(g, "phot.err")).type, AL_DEVICE_CUDA);
    check_same(g, CUDA0, td);
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(g, &info), AL_OK);
    CHECK_EQ_INT(info.cuda_bytes, host.total_bytes);
    CHECK_EQ_INT(info.cuda_device_bytes[0], host.total_bytes);
    CHECK_EQ_INT(info.cpu_bytes, 0);
    CHECK_EQ_INT(info.n_tensors, host.n_tensors);
    CHECK(info.rows[0].device.type == AL_DEVICE_CUDA);
    al_tensordict_memory_info_release(&info);
    /* Row slices of a device tensordict are device views. */
    uint64_t used = allocated(0);
    al_tensordict *sg = al_tensordict_slice(g, 1, 4, NULL),
                  *sh = al_tensordict_slice(td, 1, 4, NULL);
    CHECK(sg && sh && al_tensordict_device(sg).type == AL_DEVICE_CUDA);
    CHECK_EQ_INT(allocated(0), used);
    if (sg && sh)
        check_same(sg, CUDA0, sh);
    al_tensordict_free(sg);
    al_tensordict_free(sh);
    /* An encoded entry decodes on the device. */
    al_tensor *cls_g = al_tensordict_get(g, "cls", NULL),
              *cls_h = al_tensordict_get(td, "cls", NULL);
    CHECK(cls_g && on(cls_g, CUDA0) && al_tensor_dtype(cls_g) == AL_DTYPE_STRING);
    CHECK_EQ_INT(tensor_equal(cls_g, cls_h, AL_EQUAL_BITWISE), 1);
    al_tensor_free(cls_g);
    al_tensor_free(cls_h);
    /* Back to the host, through the second device where there is one. */
    al_tensordict *mid = g;
    if (two_devices("tensordict")) {
        mid = al_tensordict_to(g, CUDA1, &err);
        CHECK(mid != NULL);
        if (mid)
            check_same(mid, CUDA1, td);
        char *json = mid ? al_tensordict_memory_info_json(mid) : NULL;
        CHECK(json && strstr(json, "\"cuda:1\":") && !strstr(json, "\"cuda:0\":"));
        free(json);
    }
    al_tensordict *back = mid ? al_tensordict_to(mid, AL_CPU, &err) : NULL;
    CHECK(back != NULL);
    if (back) {
        check_same(back, AL_CPU, td);
        check_same(td, AL_CPU, back);
    }
    /* A nested tensordict alone: the copy is a root with the batch size. */
    al_tensordict *phot = al_tensordict_to(al_tensordict_get_dict(g, "phot"), AL_CPU, NULL);
    CHECK(phot && al_tensordict_batch_size(phot) == 6 && al_tensordict_contains(phot, "err.g"));
    al_tensordict_free(phot);
    al_tensordict_free(back);
    if (mid != g)
        al_tensordict_free(mid);
    al_tensordict_free(g);
    al_tensordict_memory_info_release(&host);
    al_tensordict_free(td);
    teardown();
}

TEST(test_cpu_tensor_into_a_cuda_tensordict_is_refused_naming_key_and_devices)
{
    setup();
    al_tensordict *td = al_tensordict_new(AL_BATCH_UNSET, CUDA0, NULL);
    CHECK(td != NULL);
    int64_t shape[1] = {3};
    al_tensor *h = al_tensor_new(AL_DTYPE_INT32, 1, shape, AL_CPU, NULL);
    al_error err;
    CHECK_EQ_INT(al_tensordict_set(td, "obs.mag", h, 0, &err), AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "'obs.mag'") && strstr(err.message, "cpu") &&
          strstr(err.message, "cuda:0"));
    CHECK(!al_tensordict_contains(td, "obs")); /* nothing created on the way */
    al_tensor *g = al_tensor_to(h, CUDA0, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "obs.mag", g, 0, &err), AL_OK);
    CHECK_EQ_INT(al_tensordict_batch_size(td), 3);
    if (two_devices("refusal")) {
        al_tensor *g1 = al_tensor_to(h, CUDA1, NULL);
        CHECK_EQ_INT(al_tensordict_set(td, "x", g1, 0, &err), AL_EUNSUPPORTED);
        CHECK(strstr(err.message, "cuda:1") && strstr(err.message, "tensordict on cuda:0"));
        al_tensor_free(g1);
    }
    /* And the other way round: a device tensor into a CPU tensordict. */
    al_tensordict *cpu = al_tensordict_new(3, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(cpu, "m", g, 0, &err), AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "tensor on cuda:0, tensordict on cpu") != NULL);
    CHECK(al_tensordict_new(3, (al_device){AL_DEVICE_CUDA, 16}, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    al_tensordict_free(cpu);
    al_tensor_free(g);
    al_tensor_free(h);
    al_tensordict_free(td);
    teardown();
}

TEST(test_cleanup_and_clear_temp_release_device_storage)
{
    setup();
    al_tensordict *td = al_tensordict_new(1000, CUDA0, NULL);
    int64_t shape[1] = {1000};
    al_tensor *a = al_tensor_new(AL_DTYPE_FLOAT64, 1, shape, CUDA0, NULL); /* 8000 -> 8192 */
    al_tensor *b = al_tensor_new(AL_DTYPE_INT32, 1, shape, CUDA0, NULL);   /* 4000 -> 4096 */
    CHECK_EQ_INT(al_tensordict_set(td, "keep", a, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "n.tmp", b, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    al_tensor_free(a);
    al_tensor_free(b);
    CHECK_EQ_INT(allocated(0), 8192 + 4096);
    char *json = al_tensordict_memory_info_json(td);
    CHECK(json && strstr(json, "\"cuda\":12000") && strstr(json, "\"cuda:0\":12000") &&
          strstr(json, "\"device\":\"cuda:0\""));
    free(json);
    CHECK_EQ_INT(al_tensordict_clear_temp_tensors(td), 1);
    CHECK_EQ_INT(allocated(0), 8192);
    CHECK_EQ_INT(al_tensordict_set(td, "t2", al_tensordict_borrow(td, "keep"), AL_ENTRY_TEMPORARY,
                                   NULL),
                 AL_OK);
    al_cleanup_result r = al_force_comprehensive_cleanup(); /* drops temporaries, empties cache */
    CHECK(r.success);
    CHECK(!al_tensordict_contains(td, "t2") && al_tensordict_contains(td, "keep"));
    CHECK_EQ_INT(allocated(0), 8192); /* t2 shared keep's storage */
    CHECK_EQ_INT(al_tensordict_cleanup(td), 2);
    CHECK_EQ_INT(allocated(0), 0);
    al_tensordict_free(td);
    teardown();
}

/* -------- Failures. -------- */

TEST(test_device_out_of_memory_during_to_leaks_nothing_and_changes_nothing)
{
    setup();
    al_tensordict *td = al_tensordict_new(AL_BATCH_UNSET, AL_CPU, NULL);
    int64_t shape[1] = {MiB / 8}; /* 1 MiB each: small pool, two fit in one 2 MiB segment */
    const char *keys[] = {"a", "b.c", "b.d"};
    for (int i = 0; i < 3; i++) {
        al_tensor *t = patterned(AL_DTYPE_FLOAT64, 1, shape, (uint32_t)i);
        CHECK_EQ_INT(al_tensordict_set(td, keys[i], t, i == 2 ? AL_ENTRY_TEMPORARY : 0, NULL),
                     AL_OK);
        al_tensor_free(t);
    }
    al_cuda_stats s0;
    CHECK_EQ_INT(al_cuda_memory_stats(0, &s0), AL_OK);
    uint64_t live = test_live_blocks();
    CHECK_EQ_INT(al_cuda_set_memory_limit(0, 2 * MiB), AL_OK);
    capture_warnings();
    al_error err = {0};
    CHECK(al_tensordict_to(td, CUDA0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ECUDA_OOM);
    CHECK(strstr(err.message, "entry 'b.d'") && strstr(err.message, "cuda:0"));
    capture_end();
    al_cuda_stats s1;
    CHECK_EQ_INT(al_cuda_memory_stats(0, &s1), AL_OK);
    CHECK_EQ_INT(s1.allocated_bytes, 0);
    CHECK_EQ_INT(s1.active_blocks, 0);
    CHECK(s1.num_ooms > s0.num_ooms);
    CHECK_EQ_INT(test_live_blocks(), live);
    /* The release functions ran (OOM recovery); the busy source kept its temporary. */
    CHECK(al_tensordict_contains(td, "b.d"));
    /* A single tensor too large for the limit. */
    int64_t big[1] = {3 * MiB / 8};
    al_tensor *h = al_tensor_new(AL_DTYPE_FLOAT64, 1, big, AL_CPU, NULL);
    uint64_t live_h = test_live_blocks();
    capture_warnings();
    CHECK(al_tensor_to(h, CUDA0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ECUDA_OOM);
    CHECK(al_tensor_new(AL_DTYPE_FLOAT64, 1, big, CUDA0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ECUDA_OOM);
    capture_end();
    CHECK_EQ_INT(allocated(0), 0);
    /* This time td was idle: the OOM recovery's release functions dropped its temporary (its
     * handle, storage record, bytes and name), and nothing else changed. */
    CHECK(!al_tensordict_contains(td, "b.d") && al_tensordict_contains(td, "b.c"));
    CHECK_EQ_INT(test_live_blocks(), live_h - 4);
    /* Without the limit it all fits. */
    CHECK_EQ_INT(al_cuda_set_memory_limit(0, 0), AL_OK);
    al_tensordict *g = al_tensordict_to(td, CUDA0, &err);
    CHECK(g != NULL);
    al_tensordict_free(g);
    al_tensor_free(h);
    al_tensordict_free(td);
    teardown();
}

/* Runs op under host allocation failure at n = 1, 2, ... until it succeeds; after each failure
 * no tracked block and no device byte may remain. Returns the successful result. */
typedef void *(*op_fn)(void *arg);

static void *with_failures(op_fn op, void *arg, int *failures)
{
    uint64_t live = test_live_blocks(), dev = allocated(AL_CUDA_ALL_DEVICES);
    void *out = NULL;
    *failures = 0;
    for (uint64_t n = 1; n < 200 && !out; n++) {
        al_memory_fail_after(n, 0);
        out = op(arg);
        al_memory_fail_after(0, 0);
        if (!out) {
            (*failures)++;
            CHECK_EQ_INT(test_live_blocks(), live);
            CHECK_EQ_INT(allocated(AL_CUDA_ALL_DEVICES), dev);
        }
    }
    CHECK(out != NULL);
    return out;
}

static void *op_to_cuda(void *t) { return al_tensor_to(t, CUDA0, NULL); }
static void *op_to_cpu(void *t) { return al_tensor_to(t, AL_CPU, NULL); }
static void *op_copy(void *t) { return al_tensor_copy(t, NULL); }
static void *op_export(void *t) { return al_tensor_to_dlpack(t, NULL); }
static void *op_td_cuda(void *td) { return al_tensordict_to(td, CUDA0, NULL); }
static void *op_td_cpu(void *td) { return al_tensordict_to(td, AL_CPU, NULL); }
static void *op_get_cls(void *td) { return al_tensordict_get(td, "cls", NULL); }

/* Sets td's encoded pair "cls" (on the device) again as "again.cls": the codes' range check
 * reads them through a host copy, and "again" is created on the way. */
static void *op_set_encoded(void *td)
{
    const al_tensor *codes = NULL, *dict = NULL;
    CHECK_EQ_INT(al_tensordict_get_encoded(td, "cls", &codes, &dict), AL_OK);
    al_error err;
    al_error_clear(&err);
    int rc = al_tensordict_set_encoded(td, "again.cls", codes, dict, 0, &err);
    if (rc != AL_OK) {
        CHECK_EQ_INT(rc, AL_ENOMEM);
        CHECK(err.code == AL_ENOMEM && err.message[0]);
        CHECK(!al_tensordict_contains(td, "again"));
    }
    return rc == AL_OK ? td : NULL;
}

static void *op_equal(void *pair)
{
    al_tensor **p = pair;
    bool equal = false;
    int rc = al_tensor_equal(p[0], p[1], AL_EQUAL_BITWISE, &equal);
    CHECK(rc == AL_OK ? equal : rc == AL_ENOMEM);
    return rc == AL_OK ? pair : NULL;
}

TEST(test_host_allocation_failures_during_copies_leak_nothing)
{
    setup();
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF),
                 AL_OK); /* injected failures log ERRORs */
    int64_t shape[2] = {5, 4};
    al_tensor *h = patterned(AL_DTYPE_INT32, 2, shape, 11);
    al_tensor *hcol = al_tensor_select(h, 1, 1, NULL);
    int failures;
    al_tensor *g = with_failures(op_to_cuda, h, &failures);
    CHECK(failures >= 2); /* storage record, handle */
    al_tensor *gcol = al_tensor_select(g, 1, 1, NULL);
    al_tensor *a = with_failures(op_to_cuda, hcol, &failures); /* gathered on the host first */
    CHECK(failures >= 3);
    al_tensor *b = with_failures(op_to_cpu, gcol, &failures); /* span staged on the host */
    CHECK(failures >= 3);
    al_tensor *c = with_failures(op_copy, gcol, &failures); /* device to device via the host */
    CHECK(failures >= 3);
    al_tensor *pair[2] = {gcol, hcol};
    CHECK(with_failures(op_equal, pair, &failures) == pair);
    CHECK(failures >= 1);
    DLManagedTensor *m = with_failures(op_export, gcol, &failures);
    CHECK(failures >= 1);
    CHECK(a && b && c && m);
    CHECK_EQ_INT(tensor_equal(a, hcol, AL_EQUAL_BITWISE), 1);
    CHECK_EQ_INT(tensor_equal(b, hcol, AL_EQUAL_BITWISE), 1);
    CHECK_EQ_INT(tensor_equal(c, hcol, AL_EQUAL_BITWISE), 1);
    if (m)
        m->deleter(m);
    al_tensor *all[] = {a, b, c, gcol, g, hcol, h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        al_tensor_free(all[i]);

    al_tensordict *td = catalog();
    al_tensordict *tg = with_failures(op_td_cuda, td, &failures);
    CHECK(failures >= 10);
    al_tensordict *th = tg ? with_failures(op_td_cpu, tg, &failures) : NULL;
    CHECK(th != NULL);
    if (th)
        check_same(th, AL_CPU, td);
    al_tensor *cls = tg ? with_failures(op_get_cls, tg, &failures) : NULL; /* decode via host */
    CHECK(cls && on(cls, CUDA0) && failures >= 4);
    CHECK(tg && with_failures(op_set_encoded, tg, &failures) == tg);
    CHECK(failures >= 5); /* host copy of the codes, two views, "again", its entry */
    al_tensor *again = tg ? al_tensordict_get(tg, "again.cls", NULL) : NULL;
    CHECK(again && cls && tensor_equal(again, cls, AL_EQUAL_BITWISE) == 1);
    al_tensor_free(again);
    al_tensor_free(cls);
    al_tensordict_free(th);
    al_tensordict_free(tg);
    al_tensordict_free(td);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
    teardown();
}

TEST_MAIN()
