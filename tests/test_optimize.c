/* Tests of al_tensordict_optimize_memory: lossless narrowing of every dtype with edge values
 * read back and compared, float32 round-trip proofs (NaN, infinities, -0.0, subnormals),
 * dictionary encoding and string narrowing, shared columns, compaction, the lossy mode, dry
 * runs, the report and its JSON, and allocation failures that leave the tensordict unchanged. */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>

#include "astrolab/tensors.h"
#include "test.h"

static al_tensor *from(al_dtype dtype, int64_t n, const void *data)
{
    return al_tensor_from_buffer(dtype, 0, 1, (int64_t[]){n}, data, NULL);
}

static al_tensor *strings(size_t width, int64_t n, const char *const *vals)
{
    al_tensor *t = al_tensor_new_string(1, (int64_t[]){n}, width, AL_CPU, NULL);
    for (int64_t i = 0; i < n; i++)
        CHECK_EQ_INT(al_tensor_set_string(t, (int64_t[]){i}, vals[i], strlen(vals[i])), AL_OK);
    return t;
}

/* True when every element of a (original) reads back identically from b (any stored type):
 * integers exactly, floats bit for bit as doubles, strings byte for byte. */
static int same_values(const al_tensor *a, const al_tensor *b)
{
    if (al_tensor_ndim(a) != al_tensor_ndim(b) || al_tensor_numel(a) != al_tensor_numel(b))
        return 0;
    int nd = al_tensor_ndim(a);
    const int64_t *shape = al_tensor_shape(a);
    for (int64_t flat = 0; flat < al_tensor_numel(a); flat++) {
        int64_t idx[AL_TENSOR_MAX_DIMS], rest = flat;
        for (int d = nd - 1; d >= 0; d--) {
            idx[d] = rest % shape[d];
            rest /= shape[d];
        }
        if (al_tensor_dtype(a) == AL_DTYPE_STRING) {
            char x[64], y[64];
            size_t lx, ly;
            if (al_tensor_get_string(a, idx, x, sizeof x, &lx) ||
                al_tensor_get_string(b, idx, y, sizeof y, &ly) || lx != ly || memcmp(x, y, lx))
                return 0;
        } else if (al_tensor_dtype(a) == AL_DTYPE_FLOAT64 ||
                   al_tensor_dtype(a) == AL_DTYPE_FLOAT32) {
            double x, y;
            if (al_tensor_get_double(a, idx, &x) || al_tensor_get_double(b, idx, &y) ||
                memcmp(&x, &y, sizeof x) != 0)
                return 0;
        } else if (al_tensor_dtype(a) == AL_DTYPE_UINT64) {
            double x, y;
            int64_t ix, iy;
            int ra = al_tensor_get_int64(a, idx, &ix), rb = al_tensor_get_int64(b, idx, &iy);
            if (ra != rb || (ra == AL_OK && ix != iy))
                return 0;
            if (ra != AL_OK &&
                (al_tensor_get_double(a, idx, &x) || al_tensor_get_double(b, idx, &y) || x != y))
                return 0;
        } else {
            int64_t x, y;
            if (al_tensor_get_int64(a, idx, &x) || al_tensor_get_int64(b, idx, &y) || x != y)
                return 0;
        }
    }
    return 1;
}

/* Optimizes td (holding `key` = t, batch n) and returns the stored dtype; checks values. */
static al_dtype optimize_one(const al_tensor *t, const al_optimize_options *o, unsigned *action)
{
    al_tensordict *td = al_tensordict_new(al_tensor_shape(t)[0], AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "col", t, 0, NULL), AL_OK);
    al_optimize_report r;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, o, &r), AL_OK);
    CHECK_EQ_INT(r.n_entries, 1);
    *action = r.entries[0].action;
    al_tensor *back = al_tensordict_get(td, "col", NULL);
    if (!o || !o->lossy_float)
        CHECK(same_values(t, back));
    al_dtype stored = al_tensor_dtype(al_tensordict_borrow(td, "col"));
    CHECK_EQ_INT(r.entries[0].dtype_after, stored);
    CHECK(r.bytes_after <= r.bytes_before);
    al_tensor_free(back);
    al_optimize_report_release(&r);
    al_tensordict_free(td);
    return stored;
}

TEST(test_integers_narrow_to_the_smallest_type_holding_every_value)
{
    unsigned a;
    int64_t small[4] = {-3, 0, 100, 127};
    al_tensor *t = from(AL_DTYPE_INT64, 4, small);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT8);
    CHECK_EQ_INT(a, AL_OPT_ACTION_NARROW_INT);
    al_tensor_free(t);
    int64_t u8[3] = {0, 200, 255};
    t = from(AL_DTYPE_INT64, 3, u8);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT8); /* other signedness, 1 byte */
    al_tensor_free(t);
    int64_t edge[3] = {INT64_MIN, 0, 5};
    t = from(AL_DTYPE_INT64, 3, edge);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT64);
    CHECK_EQ_INT(a, AL_OPT_ACTION_NONE);
    al_tensor_free(t);
    int64_t i32[2] = {INT32_MIN, INT32_MAX};
    t = from(AL_DTYPE_INT64, 2, i32);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT32);
    al_tensor_free(t);
    uint64_t umax[2] = {UINT64_MAX, 1};
    t = from(AL_DTYPE_UINT64, 2, umax);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT64);
    al_tensor_free(t);
    uint64_t u16[2] = {65535, 0};
    t = from(AL_DTYPE_UINT64, 2, u16);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT16);
    al_tensor_free(t);
    int16_t neg[3] = {-129, 5, 6};
    t = from(AL_DTYPE_INT16, 3, neg);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT16);
    al_tensor_free(t);
    int32_t tiny[2] = {-1, 1};
    t = from(AL_DTYPE_INT32, 2, tiny);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT8);
    al_tensor_free(t);
    uint32_t big[2] = {UINT32_MAX, 0};
    t = from(AL_DTYPE_UINT32, 2, big);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT32);
    al_tensor_free(t);
    uint8_t b8[2] = {1, 0};
    t = from(AL_DTYPE_UINT8, 2, b8);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT8);
    al_tensor_free(t);
    int8_t i8[2] = {INT8_MIN, INT8_MAX};
    t = from(AL_DTYPE_INT8, 2, i8);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_INT8);
    al_tensor_free(t);
    uint16_t u16b[2] = {255, 0};
    t = from(AL_DTYPE_UINT16, 2, u16b);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_UINT8);
    al_tensor_free(t);
    uint8_t bools[3] = {1, 0, 1};
    t = from(AL_DTYPE_BOOL, 3, bools);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_BOOL);
    CHECK_EQ_INT(a, AL_OPT_ACTION_NONE);
    al_tensor_free(t);
}

TEST(test_float64_narrows_only_when_every_value_round_trips_bitwise)
{
    unsigned a;
    double ok[8] = {
        1.5, -0.0, 0.0, NAN, INFINITY, -INFINITY, (double)FLT_MAX, (double)FLT_TRUE_MIN};
    al_tensor *t = from(AL_DTYPE_FLOAT64, 8, ok);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_FLOAT32);
    CHECK_EQ_INT(a, AL_OPT_ACTION_NARROW_FLOAT);
    al_tensor_free(t);
    double blockers[][2] = {{1.5, 0.1},
                            {1.5, 1e-310 /* double subnormal */},
                            {1.5, 1e39},
                            {1.5, (double)FLT_TRUE_MIN / 2}};
    for (size_t i = 0; i < sizeof blockers / sizeof blockers[0]; i++) {
        t = from(AL_DTYPE_FLOAT64, 2, blockers[i]);
        CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_FLOAT64);
        CHECK_EQ_INT(a, AL_OPT_ACTION_NONE);
        al_tensor_free(t);
    }
    float f[3] = {NAN, -0.0f, 1e-40f};
    t = from(AL_DTYPE_FLOAT32, 3, f);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_FLOAT32);
    al_tensor_free(t);
}

TEST(test_lossy_float_narrowing_needs_asking_and_respects_the_tolerance)
{
    double v[4] = {0.1, 123.456, -7.25e10, NAN};
    al_tensor *t = from(AL_DTYPE_FLOAT64, 4, v);
    unsigned a;
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_FLOAT64);
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.lossy_float = 1;
    o.tolerance = 1e-12;
    CHECK_EQ_INT(optimize_one(t, &o, &a), AL_DTYPE_FLOAT64);
    o.tolerance = 1e-6;
    al_tensordict *td = al_tensordict_new(4, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "x", t, 0, NULL), AL_OK);
    al_optimize_report r;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, &o, &r), AL_OK);
    CHECK_EQ_INT(r.entries[0].action, AL_OPT_ACTION_LOSSY_FLOAT);
    CHECK(r.entries[0].max_rel_error > 0 && r.entries[0].max_rel_error <= 1e-6);
    al_tensor *back = al_tensordict_get(td, "x", NULL);
    for (int64_t i = 0; i < 3; i++) {
        double y;
        CHECK_EQ_INT(al_tensor_get_double(back, (int64_t[]){i}, &y), AL_OK);
        CHECK(fabs(y - v[i]) <= 1e-6 * fabs(v[i]));
    }
    double y;
    CHECK_EQ_INT(al_tensor_get_double(back, (int64_t[]){3}, &y), AL_OK);
    CHECK(isnan(y));
    al_tensor_free(back);
    al_optimize_report_release(&r);
    al_tensordict_free(td);
    al_tensor_free(t);
}

TEST(test_low_cardinality_strings_are_dictionary_encoded_and_read_back)
{
    enum { N = 200 };
    const char *vals[N];
    static const char *flags[] = {"NOT_AVAILABLE", "GOLD", "", "SILVER"};
    for (int i = 0; i < N; i++)
        vals[i] = flags[(i * 7) % 4];
    al_tensor *t = strings(16, N, vals);
    al_tensordict *td = al_tensordict_new(N, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "flag", t, 0, NULL), AL_OK);
    al_optimize_report r;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &r), AL_OK);
    CHECK_EQ_INT(r.entries[0].action, AL_OPT_ACTION_DICT_ENCODE);
    CHECK_EQ_INT(r.entries[0].dtype_after, AL_DTYPE_UINT8);
    CHECK_EQ_INT(r.entries[0].bytes_after, N + 4 * 13);
    const al_tensor *codes, *dict;
    CHECK_EQ_INT(al_tensordict_get_encoded(td, "flag", &codes, &dict), AL_OK);
    CHECK_EQ_INT(al_tensor_shape(dict)[0], 4);
    CHECK_EQ_INT(al_tensor_itemsize(dict), 13);
    al_tensor *back = al_tensordict_get(td, "flag", NULL);
    CHECK(back && al_tensor_dtype(back) == AL_DTYPE_STRING);
    CHECK(same_values(t, back));
    al_tensor_free(back);
    /* memory_info reports the logical type and the encoding. */
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &info), AL_OK);
    CHECK(info.rows[0].encoded && info.rows[0].dtype == AL_DTYPE_STRING);
    CHECK_EQ_INT(info.total_bytes, N + 4 * 13);
    al_tensordict_memory_info_release(&info);
    /* A slice of an encoded entry decodes too; a second optimize leaves it alone. */
    al_tensordict *s = al_tensordict_slice(td, 10, 20, NULL);
    al_tensor *sb = al_tensordict_get(s, "flag", NULL), *st = al_tensor_slice_rows(t, 10, 20, NULL);
    CHECK(same_values(st, sb));
    al_tensor_free(sb);
    al_tensor_free(st);
    al_tensordict_free(s);
    al_optimize_report_release(&r);
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &r), AL_OK);
    CHECK_EQ_INT(r.entries[0].action, AL_OPT_ACTION_NONE);
    al_optimize_report_release(&r);
    al_tensordict_free(td);
    al_tensor_free(t);
}

TEST(test_distinct_strings_narrow_their_width_instead)
{
    const char *vals[3] = {"abc", "", "x\0y"};
    al_tensor *t = strings(12, 3, vals);
    unsigned a;
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_STRING);
    CHECK_EQ_INT(a, AL_OPT_ACTION_NARROW_STRING);
    al_tensor_free(t);
    const char *empty[2] = {"", ""};
    t = strings(4, 2, empty);
    CHECK_EQ_INT(optimize_one(t, NULL, &a), AL_DTYPE_STRING);
    al_tensor_free(t);
}

TEST(test_identical_columns_share_one_storage_and_views_are_compacted)
{
    int64_t vals[64];
    for (int i = 0; i < 64; i++)
        vals[i] = 1000 + i * 10;
    al_tensor *a = from(AL_DTYPE_INT64, 64, vals), *b = from(AL_DTYPE_INT64, 64, vals);
    al_tensor *big = al_tensor_new(AL_DTYPE_FLOAT32, 2, (int64_t[]){640, 3}, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensor_fill_double(big, 2.5), AL_OK);
    al_tensor *pinned = al_tensor_slice_rows(big, 100, 164, NULL);
    al_tensordict *td = al_tensordict_new(64, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "a", a, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "n.b", b, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "pinned", pinned, 0, NULL), AL_OK);
    al_optimize_report r;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &r), AL_OK);
    CHECK_EQ_INT(r.entries[0].action, AL_OPT_ACTION_NARROW_INT);
    CHECK_EQ_INT(r.entries[1].action, AL_OPT_ACTION_NARROW_INT | AL_OPT_ACTION_SHARE);
    CHECK_EQ_STR(r.entries[1].shared_with, "a");
    CHECK_EQ_INT(r.entries[1].bytes_after, 0);
    CHECK_EQ_INT(r.entries[2].action, AL_OPT_ACTION_COMPACT);
    CHECK_EQ_INT(r.entries[2].bytes_before, 640 * 3 * 4);
    CHECK_EQ_INT(r.entries[2].bytes_after, 64 * 3 * 4);
    CHECK_EQ_INT(r.bytes_before, 512 + 512 + 640 * 12);
    CHECK_EQ_INT(r.bytes_after, 128 + 64 * 12);
    CHECK(al_tensor_shares_storage(al_tensordict_borrow(td, "a"), al_tensordict_borrow(td, "n.b")));
    CHECK(!al_tensor_shares_storage(al_tensordict_borrow(td, "pinned"), big));
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &info), AL_OK);
    CHECK_EQ_INT(info.total_bytes, r.bytes_after);
    al_tensordict_memory_info_release(&info);
    al_tensor *back = al_tensordict_get(td, "n.b", NULL);
    CHECK(same_values(b, back));
    al_tensor_free(back);
    back = al_tensordict_get(td, "pinned", NULL);
    CHECK(same_values(pinned, back));
    al_tensor_free(back);
    char *json = al_optimize_report_json(&r);
    cJSON *j = cJSON_Parse(json);
    CHECK(j && cJSON_GetObjectItem(j, "bytes_saved")->valuedouble ==
                   (double)(r.bytes_before - r.bytes_after));
    cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "entries"), 1);
    CHECK_EQ_STR(cJSON_GetObjectItem(e1, "action")->valuestring, "share+narrow_int");
    CHECK_EQ_STR(cJSON_GetObjectItem(e1, "dtype_before")->valuestring, "int64");
    CHECK_EQ_STR(cJSON_GetObjectItem(e1, "dtype_after")->valuestring, "int16");
    CHECK_EQ_STR(cJSON_GetObjectItem(e1, "shared_with")->valuestring, "a");
    cJSON_Delete(j);
    free(json);
    al_optimize_report_release(&r);
    al_tensordict_free(td);
    al_tensor_free(a);
    al_tensor_free(b);
    al_tensor_free(pinned);
    al_tensor_free(big);
}

/* A tensordict with every dtype, 2-D and strided entries, nested. */
static al_tensordict *catalog(al_tensor **orig, const char **keys, int *n)
{
    enum { R = 50 };
    al_tensordict *td = al_tensordict_new(R, AL_CPU, NULL);
    int k = 0;
    static const al_dtype all[] = {AL_DTYPE_BOOL,    AL_DTYPE_INT8,   AL_DTYPE_INT16,
                                   AL_DTYPE_INT32,   AL_DTYPE_INT64,  AL_DTYPE_UINT8,
                                   AL_DTYPE_UINT16,  AL_DTYPE_UINT32, AL_DTYPE_UINT64,
                                   AL_DTYPE_FLOAT32, AL_DTYPE_FLOAT64};
    static const char *names[] = {"b",   "i8",    "g.i16", "g.i32", "g.i64", "u8",
                                  "u16", "h.u32", "u64",   "f32",   "f64"};
    for (size_t d = 0; d < sizeof all / sizeof all[0]; d++) {
        al_tensor *t = al_tensor_new(all[d], 2, (int64_t[]){R, 2}, AL_CPU, NULL);
        for (int64_t i = 0; i < R; i++)
            for (int64_t c = 0; c < 2; c++)
                CHECK_EQ_INT(al_tensor_set_int64(t, (int64_t[]){i, c},
                                                 all[d] == AL_DTYPE_BOOL ? (i + c) % 2 : i + c),
                             AL_OK);
        orig[k] = al_tensor_select(t, 1, 1, NULL); /* strided view */
        keys[k] = names[d];
        CHECK_EQ_INT(al_tensordict_set(td, names[d], orig[k], 0, NULL), AL_OK);
        al_tensor_free(t);
        k++;
    }
    const char *vals[R];
    for (int i = 0; i < R; i++)
        vals[i] = i % 3 ? "GOLD" : "";
    orig[k] = strings(8, R, vals);
    keys[k] = "s.flag";
    CHECK_EQ_INT(al_tensordict_set(td, keys[k], orig[k], AL_ENTRY_TEMPORARY, NULL), AL_OK);
    k++;
    *n = k;
    return td;
}

TEST(test_optimize_on_every_dtype_reads_every_value_back)
{
    al_tensor *orig[16];
    const char *keys[16];
    int n;
    al_tensordict *td = catalog(orig, keys, &n);
    al_optimize_report r;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &r), AL_OK);
    CHECK_EQ_INT(r.n_entries, (size_t)n);
    CHECK(r.bytes_after < r.bytes_before);
    for (int i = 0; i < n; i++) {
        al_tensor *back = al_tensordict_get(td, keys[i], NULL);
        CHECK(back && same_values(orig[i], back));
        al_tensor_free(back);
        al_tensor_free(orig[i]);
    }
    al_optimize_report_release(&r);
    al_tensordict_free(td);
}

TEST(test_dry_run_reports_and_changes_nothing)
{
    al_tensor *orig[16];
    const char *keys[16];
    int n;
    al_tensordict *td = catalog(orig, keys, &n);
    char *before = al_tensordict_memory_info_json(td);
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.dry_run = 1;
    al_optimize_report dry, real;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, &o, &dry), AL_OK);
    char *after = al_tensordict_memory_info_json(td);
    CHECK_EQ_STR(after, before);
    CHECK(dry.dry_run && dry.bytes_after < dry.bytes_before);
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &real), AL_OK);
    CHECK_EQ_INT(real.bytes_after, dry.bytes_after);
    for (size_t i = 0; i < real.n_entries; i++) {
        CHECK_EQ_INT(real.entries[i].action, dry.entries[i].action);
        CHECK_EQ_INT(real.entries[i].bytes_after, dry.entries[i].bytes_after);
    }
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &info), AL_OK);
    CHECK_EQ_INT(info.total_bytes, real.bytes_after);
    al_tensordict_memory_info_release(&info);
    free(before);
    free(after);
    al_optimize_report_release(&dry);
    al_optimize_report_release(&real);
    for (int i = 0; i < n; i++)
        al_tensor_free(orig[i]);
    al_tensordict_free(td);
}

TEST(test_allocation_failures_in_optimize_leave_the_tensordict_unchanged)
{
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);
    al_tensor *orig[16];
    const char *keys[16];
    int n;
    al_tensordict *td = catalog(orig, keys, &n);
    al_tensor *dup = al_tensordict_get(td, "g.i64", NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "copy_of_i64", dup, 0, NULL), AL_OK);
    al_tensor_free(dup);
    char *before = al_tensordict_memory_info_json(td);
    uint64_t live = test_live_blocks();
    int rc = AL_ENOMEM;
    uint64_t k;
    for (k = 1; rc == AL_ENOMEM && k < 500; k++) {
        al_optimize_report r;
        al_memory_fail_after(k, 0);
        rc = al_tensordict_optimize_memory(td, NULL, &r);
        al_memory_fail_after(0, 0);
        if (rc == AL_OK) {
            al_optimize_report_release(&r);
            break;
        }
        CHECK_EQ_INT(rc, AL_ENOMEM);
        char *now = al_tensordict_memory_info_json(td);
        CHECK_EQ_STR(now, before);
        free(now);
        CHECK_EQ_INT(test_live_blocks(), live);
    }
    CHECK_EQ_INT(rc, AL_OK);
    CHECK(k > 10); /* many allocations were each made to fail once */
    for (int i = 0; i < n; i++) {
        al_tensor *back = al_tensordict_get(td, keys[i], NULL);
        CHECK(back && same_values(orig[i], back));
        al_tensor_free(back);
        al_tensor_free(orig[i]);
    }
    free(before);
    al_tensordict_free(td);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
}

TEST(test_optimize_refuses_bad_options)
{
    al_tensordict *td = al_tensordict_new(1, AL_CPU, NULL);
    al_optimize_options o;
    al_optimize_options_init(&o);
    o.compact_ratio = 0.5;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, &o, NULL), AL_EINVAL);
    al_optimize_options_init(&o);
    o.lossy_float = 1;
    o.tolerance = NAN;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, &o, NULL), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_optimize_memory(NULL, NULL, NULL), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, NULL), AL_OK); /* empty is fine */
    al_tensordict_free(td);
}

/* A caller-made dictionary encoding (the MPI optimizer's one dictionary for the job): it reads
 * back decoded and as the pair, and every malformed pair is refused with the entry's name. */
TEST(test_set_encoded_takes_a_checked_pair_and_decodes)
{
    static const char *words[] = {"GOLD", "SILVER", "NOT_AVAILABLE"};
    al_tensor *dict = strings(13, 3, words);
    al_tensor *codes = al_tensor_new(AL_DTYPE_UINT8, 1, (int64_t[]){5}, AL_CPU, NULL);
    uint8_t *c = al_tensor_data(codes);
    const uint8_t want[5] = {2, 0, 0, 1, 2};
    memcpy(c, want, sizeof want);
    al_tensordict *td = al_tensordict_new(5, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "flag", codes, dict, 0, NULL), AL_OK);
    const al_tensor *gc, *gd;
    CHECK_EQ_INT(al_tensordict_get_encoded(td, "flag", &gc, &gd), AL_OK);
    CHECK_EQ_INT(al_tensor_shape(gd)[0], 3);
    al_tensor *back = al_tensordict_get(td, "flag", NULL);
    static const char *expect[] = {"NOT_AVAILABLE", "GOLD", "GOLD", "SILVER", "NOT_AVAILABLE"};
    al_tensor *t = strings(13, 5, expect);
    CHECK(back && same_values(t, back));
    al_tensor_free(back);

    al_error err;
    c[3] = 3; /* outside the 3-string dictionary */
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", codes, dict, 0, &err), AL_EINVAL);
    CHECK(strstr(err.message, "'bad'") && strstr(err.message, "element 3"));
    al_tensor *neg = al_tensor_new(AL_DTYPE_INT16, 1, (int64_t[]){5}, AL_CPU, NULL);
    memset(al_tensor_data(neg), 0, 10);
    ((int16_t *)al_tensor_data(neg))[4] = -1;
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", neg, dict, 0, &err), AL_EINVAL);
    CHECK(strstr(err.message, "element 4") != NULL);
    al_tensor *f = al_tensor_new(AL_DTYPE_FLOAT32, 1, (int64_t[]){5}, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", f, dict, 0, &err), AL_EINVAL);
    CHECK(strstr(err.message, "not integers") != NULL);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", codes, f, 0, &err), AL_EINVAL);
    CHECK(strstr(err.message, "not 1-d strings") != NULL);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", NULL, dict, 0, &err), AL_EINVAL);
    CHECK(!al_tensordict_contains(td, "bad"));
    /* The batch rule holds as for al_tensordict_set. */
    al_tensor *short_codes = al_tensor_new(AL_DTYPE_UINT8, 1, (int64_t[]){4}, AL_CPU, NULL);
    memset(al_tensor_data(short_codes), 0, 4);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "bad", short_codes, dict, 0, &err), AL_ESHAPE);
    al_tensor_free(short_codes);
    al_tensor_free(f);
    al_tensor_free(neg);
    al_tensor_free(t);
    al_tensor_free(codes);
    al_tensor_free(dict);
    al_tensordict_free(td);
}

TEST_MAIN()
