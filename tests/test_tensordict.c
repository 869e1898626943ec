/* Tests of al_tensordict: entries, batch sizes, nested keys, rename/remove, iteration, row
 * slices, temporaries (clear_temp_tensors and forced cleanup), cleanup then reuse,
 * memory_info, and allocation failures that must leave the tensordict unchanged. */
#include <cjson/cJSON.h>

#include "astrolab/tensors.h"
#include "test.h"

static al_tensor *column(al_dtype dtype, int64_t rows, int64_t base)
{
    int64_t shape[1] = {rows};
    al_tensor *t = al_tensor_new(dtype, 1, shape, AL_CPU, NULL);
    for (int64_t i = 0; i < rows; i++)
        CHECK_EQ_INT(al_tensor_set_int64(t, (int64_t[]){i}, base + i), AL_OK);
    return t;
}

/* Adds column `key` of `rows` int32 values to td and drops the caller's handle. */
static int add(al_tensordict *td, const char *key, int64_t rows, unsigned flags, al_error *err)
{
    al_tensor *t = column(AL_DTYPE_INT32, rows, 0);
    int rc = al_tensordict_set(td, key, t, flags, err);
    al_tensor_free(t);
    return rc;
}

TEST(test_set_get_and_batch_size_violation_names_entry_expected_and_got)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(10, AL_CPU, &err);
    CHECK(td != NULL);
    CHECK_EQ_INT(add(td, "ra", 10, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "dec", 9, 0, &err), AL_ESHAPE);
    CHECK(strstr(err.message, "'dec'") && strstr(err.message, "expected 10") &&
          strstr(err.message, "got 9"));
    CHECK_EQ_INT(al_tensordict_len(td), 1);
    CHECK(!al_tensordict_contains(td, "dec"));
    al_tensor *scalar = al_tensor_new(AL_DTYPE_INT8, 0, NULL, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "s", scalar, 0, &err), AL_EINVAL);
    al_tensor_free(scalar);
    CHECK_EQ_INT(add(td, "", 10, 0, &err), AL_EINVAL);
    CHECK_EQ_INT(add(td, "a..b", 10, 0, &err), AL_EINVAL);
    CHECK_EQ_INT(add(td, "a.", 10, 0, &err), AL_EINVAL);
    al_tensor *ra = al_tensordict_get(td, "ra", &err);
    CHECK(ra && al_tensor_shape(ra)[0] == 10);
    CHECK(al_tensordict_borrow(td, "ra") != ra);
    CHECK(al_tensor_shares_storage(al_tensordict_borrow(td, "ra"), ra));
    al_tensor_free(ra);
    CHECK(al_tensordict_get(td, "nope", &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    /* Replacing keeps the position. */
    CHECK_EQ_INT(add(td, "dec", 10, 0, &err), AL_OK);
    al_tensor *f = al_tensor_new(AL_DTYPE_FLOAT64, 1, (int64_t[]){10}, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_set(td, "ra", f, 0, &err), AL_OK);
    al_tensor_free(f);
    al_tensordict_entry e;
    CHECK_EQ_INT(al_tensordict_entry_at(td, 0, &e), AL_OK);
    CHECK_EQ_STR(e.name, "ra");
    CHECK_EQ_INT(al_tensor_dtype(e.tensor), AL_DTYPE_FLOAT64);
    CHECK_EQ_INT(al_tensordict_entry_at(td, 2, &e), AL_EINVAL);
    al_tensordict_free(td);
}

TEST(test_unset_batch_size_is_taken_from_the_first_tensor)
{
    al_tensordict *td = al_tensordict_new(AL_BATCH_UNSET, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_batch_size(td), AL_BATCH_UNSET);
    CHECK_EQ_INT(add(td, "a.b", 7, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_batch_size(td), 7);
    CHECK_EQ_INT(al_tensordict_batch_size(al_tensordict_get_dict(td, "a")), 7);
    al_error err;
    CHECK_EQ_INT(add(td, "c", 8, 0, &err), AL_ESHAPE);
    al_tensordict_free(td);
}

TEST(test_nested_keys_create_parents_and_address_entries)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(4, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "phot.g.mag", 4, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "phot.g.flux", 4, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "phot.bp", 4, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "ra", 4, 0, &err), AL_OK);
    CHECK(al_tensordict_contains(td, "phot.g.flux"));
    al_tensordict *g = al_tensordict_get_dict(td, "phot.g");
    CHECK(g && al_tensordict_len(g) == 2);
    CHECK(al_tensordict_borrow(g, "mag") == al_tensordict_borrow(td, "phot.g.mag"));
    CHECK_EQ_INT(add(td, "ra.x", 4, 0, &err), AL_EINVAL); /* ra is a tensor */
    CHECK(strstr(err.message, "'ra'") != NULL);
    CHECK(al_tensordict_add_dict(td, "ra", 0, &err) == NULL);
    CHECK(al_tensordict_add_dict(td, "phot.g", 0, &err) == g);
    CHECK(al_tensordict_get(td, "phot", &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    al_tensordict_free(g); /* nested: refused, logged, nothing happens */
    CHECK(al_tensordict_contains(td, "phot.g.mag"));
    CHECK_EQ_INT(al_tensordict_remove(td, "phot.g", &err), AL_OK);
    CHECK(!al_tensordict_contains(td, "phot.g.mag"));
    CHECK_EQ_INT(al_tensordict_remove(td, "phot.g", &err), AL_ENOTFOUND);
    al_tensordict_free(td);
}

TEST(test_rename_keeps_position_and_refuses_moves_and_taken_names)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(3, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "a", 3, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "b", 3, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.x", 3, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_rename(td, "a", "alpha", &err), AL_OK);
    al_tensordict_entry e;
    CHECK_EQ_INT(al_tensordict_entry_at(td, 0, &e), AL_OK);
    CHECK_EQ_STR(e.name, "alpha");
    CHECK_EQ_INT(al_tensordict_rename(td, "alpha", "b", &err), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_rename(td, "n.x", "y", &err), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_rename(td, "n.x", "n.y", &err), AL_OK);
    CHECK(al_tensordict_contains(td, "n.y"));
    CHECK_EQ_INT(al_tensordict_rename(td, "zz", "q", &err), AL_ENOTFOUND);
    al_tensordict_free(td);
}

typedef struct seen {
    char paths[8][32];
    int n;
} seen;

static int record(const char *path, const al_tensordict_entry *e, void *user)
{
    seen *s = user;
    CHECK(e->tensor != NULL);
    if (s->n < 8)
        snprintf(s->paths[s->n++], 32, "%s", path);
    return strcmp(path, "stop") == 0 ? 42 : 0;
}

TEST(test_foreach_visits_tensors_depth_first_with_full_paths)
{
    al_tensordict *td = al_tensordict_new(2, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "a", 2, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "b.c.d", 2, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "b.e", 2, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "f", 2, 0, NULL), AL_OK);
    seen s = {0};
    int stopped = -1;
    CHECK_EQ_INT(al_tensordict_foreach(td, record, &s, &stopped), AL_OK);
    CHECK_EQ_INT(stopped, 0);
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_STR(s.paths[0], "a");
    CHECK_EQ_STR(s.paths[1], "b.c.d");
    CHECK_EQ_STR(s.paths[2], "b.e");
    CHECK_EQ_STR(s.paths[3], "f");
    CHECK_EQ_INT(add(td, "stop", 2, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "after", 2, 0, NULL), AL_OK);
    s.n = 0;
    CHECK_EQ_INT(al_tensordict_foreach(td, record, &s, &stopped), AL_OK); /* the code, apart */
    CHECK_EQ_INT(stopped, 42);
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(al_tensordict_foreach(td, record, &s, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_foreach(NULL, record, &s, &stopped), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_foreach(td, NULL, &s, &stopped), AL_EINVAL);
    al_tensordict_free(td);
}

TEST(test_row_slice_is_a_view_with_the_same_structure)
{
    al_tensordict *td = al_tensordict_new(10, AL_CPU, NULL);
    al_tensor *t = column(AL_DTYPE_INT64, 10, 100);
    CHECK_EQ_INT(al_tensordict_set(td, "x.id", t, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    al_error err;
    al_tensordict *s = al_tensordict_slice(td, 3, 7, &err);
    CHECK(s && al_tensordict_batch_size(s) == 4);
    const al_tensor *v = al_tensordict_borrow(s, "x.id");
    CHECK(v && al_tensor_shares_storage(v, t));
    int64_t x;
    CHECK_EQ_INT(al_tensor_get_int64(v, (int64_t[]){0}, &x), AL_OK);
    CHECK_EQ_INT(x, 103);
    unsigned flags = 0;
    CHECK_EQ_INT(al_tensordict_get_flags(s, "x.id", &flags), AL_OK);
    CHECK_EQ_INT(flags, AL_ENTRY_TEMPORARY);
    CHECK(al_tensordict_slice(td, 5, 11, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    al_tensordict_free(td);
    CHECK_EQ_INT(al_tensor_get_int64(v, (int64_t[]){3}, &x), AL_OK); /* storage still alive */
    CHECK_EQ_INT(x, 106);
    al_tensordict_free(s);
    al_tensor_free(t);
}

TEST(test_clear_temp_tensors_drops_flagged_entries_nested_too)
{
    al_tensordict *td = al_tensordict_new(5, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "keep", 5, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "tmp", 5, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.tmp", 5, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.keep", 5, 0, NULL), AL_OK);
    CHECK(al_tensordict_add_dict(td, "scratch", AL_ENTRY_TEMPORARY, NULL) != NULL);
    CHECK_EQ_INT(add(td, "scratch.big", 5, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set_flags(td, "keep", 0), AL_OK);
    CHECK_EQ_INT(al_tensordict_clear_temp_tensors(td), 3);
    CHECK(al_tensordict_contains(td, "keep") && al_tensordict_contains(td, "n.keep"));
    CHECK(!al_tensordict_contains(td, "tmp") && !al_tensordict_contains(td, "n.tmp"));
    CHECK(!al_tensordict_contains(td, "scratch"));
    CHECK_EQ_INT(al_tensordict_clear_temp_tensors(td), 0);
    al_tensordict_free(td);
}

TEST(test_forced_cleanup_releases_temporaries_and_free_unregisters)
{
    size_t regs = al_registry_count();
    al_tensordict *td = al_tensordict_new(1000, AL_CPU, NULL);
    CHECK_EQ_INT(al_registry_count(), regs + 1);
    CHECK_EQ_INT(add(td, "keep", 1000, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "tmp", 1000, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.tmp", 1000, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK(r.callbacks_run >= 1);
    CHECK(r.bytes_released >= 2 * 4000);
    CHECK(al_tensordict_contains(td, "keep"));
    CHECK(!al_tensordict_contains(td, "tmp") && !al_tensordict_contains(td, "n.tmp"));
    al_tensordict_free(td);
    CHECK_EQ_INT(al_registry_count(), regs);
    r = al_force_comprehensive_cleanup(); /* the freed tensordict is not called */
    CHECK(r.success);
}

TEST(test_cleanup_releases_storage_and_the_tensordict_is_reusable)
{
    al_tensordict *td = al_tensordict_new(AL_BATCH_UNSET, AL_CPU, NULL);
    uint64_t live = test_live_blocks();
    CHECK_EQ_INT(add(td, "a", 100, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "b.c", 100, 0, NULL), AL_OK);
    al_memory_stats before, after;
    CHECK_EQ_INT(al_get_memory_stats(&before), AL_OK);
    CHECK_EQ_INT(al_tensordict_cleanup(td), 2);
    CHECK_EQ_INT(al_get_memory_stats(&after), AL_OK);
    CHECK(before.current_bytes - after.current_bytes >= 800);
    CHECK_EQ_INT(al_tensordict_len(td), 0);
    CHECK_EQ_INT(al_tensordict_batch_size(td), AL_BATCH_UNSET);
    CHECK(test_live_blocks() <= live + 1);              /* at most the entry array stays */
    CHECK_EQ_INT(add(td, "again", 50, 0, NULL), AL_OK); /* a new batch size is fine now */
    CHECK_EQ_INT(al_tensordict_batch_size(td), 50);
    al_tensor *g = al_tensordict_get(td, "again", NULL);
    CHECK(g && al_tensor_shape(g)[0] == 50);
    al_tensor_free(g);
    CHECK_EQ_INT(al_tensordict_cleanup(td), 1);
    CHECK_EQ_INT(al_tensordict_cleanup(td), 0);
    al_tensordict_free(td);
}

TEST(test_memory_info_counts_shared_storage_once)
{
    al_tensordict *td = al_tensordict_new(100, AL_CPU, NULL);
    al_tensor *big = column(AL_DTYPE_FLOAT64, 100, 0);
    CHECK_EQ_INT(al_tensordict_set(td, "ra", big, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "alias.ra", big, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n_obs", 100, 0, NULL), AL_OK);
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &info), AL_OK);
    CHECK_EQ_INT(info.n_tensors, 3);
    CHECK_EQ_INT(info.total_bytes, 800 + 400);
    CHECK_EQ_INT(info.cpu_bytes, 1200);
    CHECK_EQ_INT(info.shared_bytes, 800);
    CHECK(info.total_mb > 0.0011 && info.total_mb < 0.0012);
    CHECK_EQ_STR(info.rows[1].name, "alias.ra");
    CHECK(info.rows[0].shared && info.rows[1].shared && !info.rows[2].shared);
    CHECK(!info.rows[0].temporary && info.rows[1].temporary);
    CHECK_EQ_INT(info.rows[2].bytes, 400);
    CHECK_EQ_INT(info.rows[2].dtype, AL_DTYPE_INT32);
    CHECK_EQ_INT(info.rows[2].shape[0], 100);
    al_tensordict_memory_info_release(&info);
    char *json = al_tensordict_memory_info_json(td);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "total_bytes")->valuedouble, 1200);
    CHECK_EQ_INT(cJSON_GetObjectItem(j, "n_tensors")->valuedouble, 3);
    CHECK(cJSON_GetObjectItem(j, "total_mb") != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "devices"), "cpu")->valuedouble, 1200);
    cJSON *rows = cJSON_GetObjectItem(j, "entries");
    CHECK_EQ_INT(cJSON_GetArraySize(rows), 3);
    cJSON *r1 = cJSON_GetArrayItem(rows, 1);
    CHECK_EQ_STR(cJSON_GetObjectItem(r1, "name")->valuestring, "alias.ra");
    CHECK_EQ_STR(cJSON_GetObjectItem(r1, "dtype")->valuestring, "float64");
    CHECK_EQ_STR(cJSON_GetObjectItem(r1, "device")->valuestring, "cpu");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r1, "shared")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r1, "temporary")));
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r1, "shape")), 1);
    cJSON_Delete(j);
    free(json);
    al_tensordict *empty = al_tensordict_new(0, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_memory_info(empty, &info), AL_OK);
    CHECK_EQ_INT(info.n_tensors, 0);
    CHECK_EQ_INT(info.total_bytes, 0);
    al_tensordict_memory_info_release(&info);
    al_tensordict_free(empty);
    al_tensor_free(big);
    al_tensordict_free(td);
}

TEST(test_nbytes_is_memory_info_total_and_writes_only_on_success)
{
    al_tensordict *td = al_tensordict_new(100, AL_CPU, NULL);
    al_tensor *big = column(AL_DTYPE_FLOAT64, 100, 0);
    CHECK_EQ_INT(al_tensordict_set(td, "ra", big, 0, NULL), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "alias.ra", big, 0, NULL), AL_OK); /* shared: once */
    CHECK_EQ_INT(add(td, "deep.er.n_obs", 100, 0, NULL), AL_OK);
    uint64_t bytes = 7;
    CHECK_EQ_INT(al_tensordict_nbytes(td, &bytes), AL_OK);
    CHECK_EQ_INT(bytes, 800 + 400);
    al_tensordict_meminfo info;
    CHECK_EQ_INT(al_tensordict_memory_info(td, &info), AL_OK);
    CHECK_EQ_INT(info.total_bytes, bytes);
    al_tensordict_memory_info_release(&info);
    CHECK_EQ_INT(al_tensordict_nbytes(NULL, &bytes), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_nbytes(td, NULL), AL_EINVAL);
    /* Out of memory at each of its allocations: AL_ENOMEM, *bytes untouched, nothing leaked. */
    int ok = 0;
    for (uint64_t n = 1; !ok && n < 10; n++) {
        uint64_t live = test_live_blocks();
        bytes = 7;
        al_memory_fail_after(n, 0);
        int rc = al_tensordict_nbytes(td, &bytes);
        al_memory_fail_after(0, 0);
        ok = rc == AL_OK;
        CHECK(ok ? bytes == 1200 : rc == AL_ENOMEM && bytes == 7);
        CHECK_EQ_INT(test_live_blocks(), live);
    }
    CHECK(ok);
    al_tensordict *empty = al_tensordict_new(0, AL_CPU, NULL);
    CHECK_EQ_INT(al_tensordict_nbytes(empty, &bytes), AL_OK);
    CHECK_EQ_INT(bytes, 0);
    al_tensordict_free(empty);
    al_tensor_free(big);
    al_tensordict_free(td);
}

TEST(test_soft_limit_cleanup_inside_a_tensordict_call_leaves_its_entries_alone)
{
    al_tensordict *td = al_tensordict_new(100, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "keep", 100, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "tmp", 100, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.tmp", 100, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    al_tensor *t = column(AL_DTYPE_INT32, 100, 0);
    al_memory_stats st;
    CHECK_EQ_INT(al_get_memory_stats(&st), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF),
                 AL_OK); /* the soft-limit WARNING */
    al_memory_set_soft_interval(0);
    /* Every allocation from here crosses the soft limit: the view made inside set runs the
     * registered release function while the tensordict is mid-call. */
    CHECK_EQ_INT(al_memory_set_limit(st.current_bytes + 16, 0), AL_OK);
    CHECK_EQ_INT(al_tensordict_set(td, "new", t, 0, NULL), AL_OK);
    CHECK(al_tensordict_contains(td, "tmp") && al_tensordict_contains(td, "n.tmp"));
    al_tensor *g = al_tensordict_get(td, "n.tmp", NULL);
    CHECK(g != NULL);
    al_tensor_free(g);
    /* Outside any call, the next allocation's cleanup drops the temporaries. */
    void *p = al_malloc(64);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(p);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
    CHECK(!al_tensordict_contains(td, "tmp") && !al_tensordict_contains(td, "n.tmp"));
    CHECK(al_tensordict_contains(td, "keep") && al_tensordict_contains(td, "new"));
    al_memory_set_soft_interval(100000000);
    al_tensor_free(t);
    al_tensordict_free(td);
}

/* The observable state: memory_info's JSON, computed with fault injection disarmed. */
static char *state_of(const al_tensordict *td) { return al_tensordict_memory_info_json(td); }

TEST(test_names_with_dots_are_kept_and_addressed_by_escaped_keys)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(3, AL_CPU, &err);
    /* "ANTENNA NO." (astropy's zerowidth.fits), a backslash, and a nested entry "x" under "a.b". */
    CHECK_EQ_INT(add(td, "ANTENNA NO\\.", 3, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "back\\\\slash", 3, 0, &err), AL_OK);
    CHECK_EQ_INT(add(td, "a\\.b.x", 3, 0, &err), AL_OK);
    al_tensordict_entry e;
    CHECK(al_tensordict_entry_at(td, 0, &e) == AL_OK && strcmp(e.name, "ANTENNA NO.") == 0);
    CHECK(al_tensordict_entry_at(td, 1, &e) == AL_OK && strcmp(e.name, "back\\slash") == 0);
    CHECK(al_tensordict_entry_at(td, 2, &e) == AL_OK && strcmp(e.name, "a.b") == 0 && e.dict);
    CHECK_EQ_INT(al_tensordict_len(td), 3);
    /* By key, and a direct entry by its plain name too. */
    CHECK(al_tensordict_contains(td, "ANTENNA NO\\."));
    CHECK(al_tensordict_contains(td, "ANTENNA NO."));
    CHECK(al_tensordict_borrow(td, "back\\slash") != NULL);
    CHECK(al_tensordict_borrow(td, "a\\.b.x") != NULL);
    CHECK(!al_tensordict_contains(td, "a.b.x")); /* a path: no entry "a" */
    /* foreach gives keys that get accepts; key_name gives the text to show. */
    seen s = {0};
    CHECK_EQ_INT(al_tensordict_foreach(td, record, &s, NULL), AL_OK);
    CHECK_EQ_INT(s.n, 3);
    CHECK_EQ_STR(s.paths[0], "ANTENNA NO\\.");
    CHECK_EQ_STR(s.paths[1], "back\\\\slash");
    CHECK_EQ_STR(s.paths[2], "a\\.b.x");
    for (int i = 0; i < s.n; i++)
        CHECK(al_tensordict_borrow(td, s.paths[i]) != NULL);
    char buf[64];
    CHECK_EQ_INT((int)al_tensordict_key_name("a\\.b.x", buf, sizeof buf), 5);
    CHECK_EQ_STR(buf, "a.b.x");
    CHECK_EQ_INT((int)al_tensordict_key_escape("ANTENNA NO.", buf, sizeof buf), 12);
    CHECK_EQ_STR(buf, "ANTENNA NO\\.");
    CHECK_EQ_INT((int)al_tensordict_key_escape("a.b\\", buf, 4), 6); /* truncated, NUL-ended */
    CHECK_EQ_STR(buf, "a\\.");
    /* Rename and remove by either spelling; set reads keys as paths. */
    CHECK_EQ_INT(al_tensordict_rename(td, "ANTENNA NO.", "ANT\\.1", &err), AL_OK);
    CHECK(al_tensordict_entry_at(td, 0, &e) == AL_OK && strcmp(e.name, "ANT.1") == 0);
    CHECK_EQ_INT(al_tensordict_remove(td, "back\\slash", &err), AL_OK);
    CHECK_EQ_INT(add(td, "bad.", 3, 0, &err), AL_EINVAL);
    CHECK_EQ_INT(al_tensordict_len(td), 2);
    al_tensordict_free(td);
}

/* 200,000 entries: with a scan per lookup this took minutes (a CSV of 200,000 columns). */
TEST(test_two_hundred_thousand_entries_set_and_found_by_name)
{
    enum { N = 200000 };
    al_error err;
    al_tensordict *td = al_tensordict_new(1, AL_CPU, &err);
    al_tensor *t = column(AL_DTYPE_INT8, 1, 0);
    char key[32];
    int bad = 0;
    for (int i = 0; i < N && !bad; i++) {
        snprintf(key, sizeof key, "col.%d", i);
        char esc[40];
        al_tensordict_key_escape(key, esc, sizeof esc);
        bad += al_tensordict_set(td, esc, t, 0, &err) != AL_OK;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT((int)al_tensordict_len(td), N);
    /* Every one found; replacing one keeps the count; removing one keeps the others found. */
    for (int i = 0; i < N && !bad; i += 7) {
        snprintf(key, sizeof key, "col.%d", i);
        bad += al_tensordict_borrow(td, key) == NULL;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(al_tensordict_set(td, "col\\.5", t, 0, &err), AL_OK);
    CHECK_EQ_INT((int)al_tensordict_len(td), N);
    CHECK_EQ_INT(al_tensordict_remove(td, "col.0", &err), AL_OK);
    CHECK(al_tensordict_contains(td, "col.199999") && !al_tensordict_contains(td, "col.0"));
    CHECK_EQ_INT(al_tensordict_clear_temp_tensors(td), 0);
    CHECK(al_tensordict_contains(td, "col.1"));
    al_tensor_free(t);
    al_tensordict_free(td);
}

TEST(test_allocation_failures_in_tensordict_calls_leave_it_unchanged)
{
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);
    al_tensordict *td = al_tensordict_new(6, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "a", 6, 0, NULL), AL_OK);
    CHECK_EQ_INT(add(td, "n.b", 6, AL_ENTRY_TEMPORARY, NULL), AL_OK);
    al_tensor *t = column(AL_DTYPE_UINT16, 6, 1);
    enum { SET_NEW, SET_NESTED, SET_REPLACE, ADD_DICT, RENAME, SLICE, INFO, GET, NEW, N_OPS };
    for (int op = 0; op < N_OPS; op++) {
        char *before = state_of(td);
        uint64_t live = test_live_blocks();
        int ok = 0;
        uint64_t n;
        for (n = 1; !ok && n < 100; n++) {
            al_tensordict *s = NULL, *nd = NULL;
            al_tensor *g = NULL;
            al_tensordict_meminfo info;
            al_memory_fail_after(n, 0);
            switch (op) {
            case SET_NEW:
                ok = al_tensordict_set(td, "c", t, 0, NULL) == AL_OK;
                break;
            case SET_NESTED:
                ok = al_tensordict_set(td, "x.y.z", t, 0, NULL) == AL_OK;
                break;
            case SET_REPLACE:
                ok = al_tensordict_set(td, "a", t, 0, NULL) == AL_OK;
                break;
            case ADD_DICT:
                ok = al_tensordict_add_dict(td, "p.q", 0, NULL) != NULL;
                break;
            case RENAME:
                ok = al_tensordict_rename(td, "n.b", "n.bb", NULL) == AL_OK;
                break;
            case SLICE:
                ok = (s = al_tensordict_slice(td, 1, 4, NULL)) != NULL;
                break;
            case INFO:
                ok = al_tensordict_memory_info(td, &info) == AL_OK;
                break;
            case GET:
                ok = (g = al_tensordict_get(td, "a", NULL)) != NULL;
                break;
            case NEW:
                ok = (nd = al_tensordict_new(3, AL_CPU, NULL)) != NULL;
                break;
            }
            al_memory_fail_after(0, 0);
            if (ok) {
                if (op == INFO)
                    al_tensordict_memory_info_release(&info);
                al_tensordict_free(s);
                al_tensordict_free(nd);
                al_tensor_free(g);
                break;
            }
            char *now = state_of(td);
            CHECK_EQ_STR(now, before);
            free(now);
            CHECK_EQ_INT(test_live_blocks(), live);
        }
        CHECK(ok);
        CHECK(n > 1); /* at least one failure was injected and survived */
        free(before);
    }
    CHECK(al_tensordict_contains(td, "x.y.z") && al_tensordict_contains(td, "p.q"));
    CHECK(al_tensordict_contains(td, "n.bb") && al_tensordict_contains(td, "c"));
    al_tensor_free(t);
    al_tensordict_free(td);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
}

/* n strings of width w from words[], as a 1-D tensor. */
static al_tensor *words_of(size_t w, int64_t n, const char *const *words)
{
    al_tensor *t = al_tensor_new_string(1, (int64_t[]){n}, w, AL_CPU, NULL);
    for (int64_t i = 0; t && i < n; i++)
        CHECK_EQ_INT(al_tensor_set_string(t, (int64_t[]){i}, words[i], strlen(words[i])), AL_OK);
    return t;
}

/* A 1-D tensor of codes of type dtype: values[0..n). */
static al_tensor *codes_of(al_dtype dtype, int64_t n, const int64_t *values)
{
    al_tensor *t = al_tensor_new(dtype, 1, (int64_t[]){n}, AL_CPU, NULL);
    for (int64_t i = 0; t && i < n; i++)
        CHECK_EQ_INT(al_tensor_set_int64(t, (int64_t[]){i}, values[i]), AL_OK);
    return t;
}

/* Entry key decodes to want[0..n) (NUL-padded to the dictionary's width). */
static int decodes_to(const al_tensordict *td, const char *key, int64_t n, const char *const *want)
{
    al_tensor *back = al_tensordict_get(td, key, NULL);
    int ok = back && al_tensor_dtype(back) == AL_DTYPE_STRING && al_tensor_shape(back)[0] == n;
    size_t w = back ? al_tensor_itemsize(back) : 0;
    for (int64_t i = 0; ok && i < n; i++)
        ok = strnlen(want[i], w + 1) <= w &&
             strncmp((const char *)al_tensor_data(back) + (size_t)i * w, want[i], w) == 0;
    al_tensor_free(back);
    return ok;
}

/* Every malformed call of al_tensordict_set_encoded is refused with the code the header gives
 * and a message naming the entry and the fault, with err or without, and changes nothing. */
TEST(test_set_encoded_refuses_bad_arguments_by_name_and_changes_nothing)
{
    static const char *const bands[] = {"G", "BP", "RP"};
    al_tensordict *td = al_tensordict_new(5, AL_CPU, NULL);
    CHECK_EQ_INT(add(td, "a", 5, 0, NULL), AL_OK);
    al_tensor *dict = words_of(4, 3, bands);
    al_tensor *codes = codes_of(AL_DTYPE_UINT8, 5, (int64_t[]){0, 1, 2, 1, 0});
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "enc", codes, dict, 0, NULL), AL_OK);

    al_tensor *past = codes_of(AL_DTYPE_UINT8, 5, (int64_t[]){0, 1, 2, 3, 0}); /* 3 of 3 */
    al_tensor *neg = codes_of(AL_DTYPE_INT32, 5, (int64_t[]){0, 1, -1, 1, 0});
    al_tensor *huge = codes_of(AL_DTYPE_UINT64, 5, (int64_t[]){0, 0, 0, 0, 0});
    ((uint64_t *)al_tensor_data(huge))[4] = UINT64_C(1) << 63; /* negative if read as int64 */
    al_tensor *floats = al_tensor_new(AL_DTYPE_FLOAT32, 1, (int64_t[]){5}, AL_CPU, NULL);
    al_tensor *bools = al_tensor_new(AL_DTYPE_BOOL, 1, (int64_t[]){5}, AL_CPU, NULL);
    memset(al_tensor_data(floats), 0, 20);
    memset(al_tensor_data(bools), 0, 5);
    al_tensor *short_codes = codes_of(AL_DTYPE_UINT8, 4, (int64_t[]){0, 1, 2, 1});
    al_tensor *scalar = al_tensor_new(AL_DTYPE_UINT8, 0, NULL, AL_CPU, NULL);
    memset(al_tensor_data(scalar), 0, 1); /* a valid code: the 0-d shape is the fault */
    al_tensor *grid = al_tensor_new_string(2, (int64_t[]){3, 1}, 4, AL_CPU, NULL);
    memset(al_tensor_data(grid), 0, 12);
    al_tensor *empty = al_tensor_new_string(1, (int64_t[]){0}, 4, AL_CPU, NULL);
    al_tensor *int_dict = codes_of(AL_DTYPE_INT64, 3, (int64_t[]){7, 8, 9});
    struct {
        const char *what;
        al_tensordict *td;
        const char *key;
        const al_tensor *codes, *dict;
        int code;
        const char *says[2]; /* the message holds both (NULL: nothing asked) */
    } cases[] = {
        {"no tensordict", NULL, "bad", codes, dict, AL_EINVAL, {"tensordict is NULL", NULL}},
        {"no key", td, NULL, codes, dict, AL_EINVAL, {"key is NULL", NULL}},
        {"no codes", td, "bad", NULL, dict, AL_EINVAL, {"codes is NULL", NULL}},
        {"no dictionary", td, "bad", codes, NULL, AL_EINVAL, {"dictionary is NULL", NULL}},
        {"empty key", td, "", codes, dict, AL_EINVAL, {"key", "empty"}},
        {"empty path component", td, "x..y", codes, dict, AL_EINVAL, {"x..y", "empty path"}},
        {"a tensor in the path", td, "a.bad", codes, dict, AL_EINVAL, {"'a'", "not a tensordict"}},
        {"float codes", td, "bad", floats, dict, AL_EINVAL, {"'bad'", "not integers"}},
        {"bool codes", td, "bad", bools, dict, AL_EINVAL, {"'bad'", "not integers"}},
        {"a dictionary of ints", td, "bad", codes, int_dict, AL_EINVAL, {"'bad'", "not 1-d"}},
        {"a 2-d dictionary", td, "bad", codes, grid, AL_EINVAL, {"'bad'", "2-d"}},
        {"a code past the end", td, "bad", past, dict, AL_EINVAL, {"'bad'", "element 3"}},
        {"a negative code", td, "bad", neg, dict, AL_EINVAL, {"'bad'", "element 2"}},
        {"a code of 2^63", td, "bad", huge, dict, AL_EINVAL, {"'bad'", "element 4"}},
        {"an empty dictionary", td, "bad", codes, empty, AL_EINVAL, {"'bad'", "element 0"}},
        {"codes of 4 rows", td, "bad", short_codes, dict, AL_ESHAPE, {"expected 5", "got 4"}},
        {"0-d codes", td, "bad", scalar, dict, AL_EINVAL, {"'bad'", "0-d"}},
        {"replacing with a bad pair", td, "enc", past, dict, AL_EINVAL, {"'enc'", "element 3"}},
    };
    char *before = state_of(td);
    uint64_t live = test_live_blocks();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        al_error err;
        al_error_clear(&err);
        int rc = al_tensordict_set_encoded(cases[i].td, cases[i].key, cases[i].codes, cases[i].dict,
                                           0, &err);
        int rc_quiet = al_tensordict_set_encoded(cases[i].td, cases[i].key, cases[i].codes,
                                                 cases[i].dict, 0, NULL);
        int said = err.code == rc;
        for (int k = 0; k < 2; k++)
            said = said && (!cases[i].says[k] || strstr(err.message, cases[i].says[k]));
        if (rc != cases[i].code || rc_quiet != cases[i].code || !said)
            fprintf(stderr, "  %s: code %d (without err %d), want %d: %s\n", cases[i].what, rc,
                    rc_quiet, cases[i].code, err.message);
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK_EQ_INT(rc_quiet, cases[i].code);
        CHECK(said);
        char *now = state_of(td);
        CHECK_EQ_STR(now, before);
        free(now);
        CHECK_EQ_INT(test_live_blocks(), live);
    }
    CHECK(!al_tensordict_contains(td, "bad"));
    CHECK(decodes_to(td, "enc", 5, (const char *const[]){"G", "BP", "RP", "BP", "G"}));
    /* The header asks for n strings, not n distinct ones: a dictionary that repeats a value is
     * a valid mapping (Arrow allows one too) and decodes as given. */
    static const char *const twice[] = {"G", "BP", "G"};
    al_tensor *dup = words_of(4, 3, twice);
    CHECK_EQ_INT(al_tensordict_set_encoded(td, "dup", codes, dup, 0, NULL), AL_OK);
    CHECK(decodes_to(td, "dup", 5, (const char *const[]){"G", "BP", "G", "BP", "G"}));
    free(before);
    al_tensor_free(dup);
    al_tensor_free(int_dict);
    al_tensor_free(empty);
    al_tensor_free(grid);
    al_tensor_free(scalar);
    al_tensor_free(short_codes);
    al_tensor_free(bools);
    al_tensor_free(floats);
    al_tensor_free(huge);
    al_tensor_free(neg);
    al_tensor_free(past);
    al_tensor_free(codes);
    al_tensor_free(dict);
    al_tensordict_free(td);
}

/* Out of memory at each allocation al_tensordict_set_encoded makes (the views of codes and
 * dictionary, the entries' array, the name, nested tensordicts on the way): AL_ENOMEM with a
 * message, the tensordict as it was, nothing leaked; with no injection the same call succeeds
 * and reads back. A new entry, a nested one, and a replacement of a plain and of an encoded
 * entry, with err and without. */
TEST(test_set_encoded_out_of_memory_at_each_allocation_changes_nothing)
{
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);
    static const char *const bands[] = {"G", "BP", "RP", "G_RVS"};
    static const char *const want[] = {"G_RVS", "G", "RP", "BP", "G", "G"};
    al_tensor *dict = words_of(6, 4, bands);
    al_tensor *codes = codes_of(AL_DTYPE_UINT16, 6, (int64_t[]){3, 0, 2, 1, 0, 0});
    static const char *const keys[] = {"c", "x.y.z", "a", "enc"};
    for (int with_err = 1; with_err >= 0; with_err--)
        for (size_t op = 0; op < sizeof keys / sizeof keys[0]; op++) {
            al_tensordict *td = al_tensordict_new(6, AL_CPU, NULL);
            CHECK_EQ_INT(add(td, "a", 6, 0, NULL), AL_OK);
            CHECK_EQ_INT(add(td, "n.b", 6, AL_ENTRY_TEMPORARY, NULL), AL_OK);
            al_tensor *old = words_of(6, 4, (const char *const[]){"w", "x", "y", "z"});
            CHECK_EQ_INT(al_tensordict_set_encoded(td, "enc", codes, old, 0, NULL), AL_OK);
            al_tensor_free(old);
            char *before = state_of(td);
            uint64_t live = test_live_blocks();
            int ok = 0, failures = 0;
            for (uint64_t n = 1; !ok && n < 100; n++) {
                al_error err;
                al_error_clear(&err);
                uint64_t injected = al_memory_fail_count();
                al_memory_fail_after(n, 0);
                int rc = al_tensordict_set_encoded(td, keys[op], codes, dict, AL_ENTRY_TEMPORARY,
                                                   with_err ? &err : NULL);
                al_memory_fail_after(0, 0);
                if (rc == AL_OK) {
                    ok = 1;
                    CHECK_EQ_INT(al_memory_fail_count(), injected); /* none was left to fail */
                    break;
                }
                failures++;
                CHECK_EQ_INT(al_memory_fail_count(), injected + 1);
                CHECK_EQ_INT(rc, AL_ENOMEM);
                if (with_err) {
                    CHECK_EQ_INT(err.code, AL_ENOMEM);
                    CHECK(err.message[0] != '\0');
                }
                char *now = state_of(td);
                CHECK_EQ_STR(now, before);
                free(now);
                CHECK_EQ_INT(test_live_blocks(), live);
            }
            if (!ok || failures < 2)
                fprintf(stderr, "  set_encoded '%s': ok %d after %d failures\n", keys[op], ok,
                        failures);
            CHECK(ok);
            CHECK(failures >= 2); /* at least the codes' and the dictionary's views */
            const al_tensor *gc = NULL, *gd = NULL;
            CHECK_EQ_INT(al_tensordict_get_encoded(td, keys[op], &gc, &gd), AL_OK);
            CHECK(gc && al_tensor_shares_storage(gc, codes));
            CHECK(gd && al_tensor_shares_storage(gd, dict));
            CHECK(decodes_to(td, keys[op], 6, want));
            unsigned flags = 0;
            CHECK_EQ_INT(al_tensordict_get_flags(td, keys[op], &flags), AL_OK);
            CHECK_EQ_INT(flags, AL_ENTRY_TEMPORARY);
            free(before);
            al_tensordict_free(td);
        }
    al_tensor_free(codes);
    al_tensor_free(dict);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
}

TEST_MAIN()
