// ctest-labels: gpu;threads
// ctest-separate: test_fragmented_simulated_device_fails_although_enough_bytes_are_free
// ctest-separate: test_driver_backend_stages_large_copies_through_pinned_memory
/* Tests of <astrolab/cuda.h>: the caching allocator's splits, merges, statistics, OOM recovery,
 * empty cache and refused frees; copies; and "not available" without a driver.
 *
 * They run against the simulated device (64 MiB, 2 devices) by default, and against the real
 * driver when ASTROLAB_CUDA_BACKEND=driver (make test-gpu). Where a test needs a small device
 * it caps the allocator with al_cuda_set_memory_limit, which works on both backends; the few
 * tests of the simulated device itself skip on the driver, each its own CTest entry (see
 * ctest-separate above), so that CTest reports them skipped. */
#include <dlfcn.h>
#include <pthread.h>

#include "astrolab/cuda.h"
#include "cuda/cuda_int.h"
#include "log_capture.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)
#define SIM_BYTES (64 * MiB)

static bool on_driver(void)
{
    const char *b = getenv("ASTROLAB_CUDA_BACKEND");
    return b && strcmp(b, "driver") == 0;
}

/* Selects the backend under test with empty pools and no limit. */
static void setup(void)
{
    if (on_driver())
        CHECK_EQ_INT(al_cuda_set_backend("driver"), AL_OK);
    else
        CHECK_EQ_INT(al_cuda_use_simulated(SIM_BYTES, 2), AL_OK);
    CHECK(al_cuda_available());
}

/* Checks that the test freed everything and the pools are sound, then empties the cache. */
static void teardown(void)
{
    char msg[256] = "";
    for (int i = 0; i < al_cuda_device_count(); i++) {
        al_cuda_stats s;
        CHECK_EQ_INT(al_cuda_memory_stats(i, &s), AL_OK);
        CHECK_EQ_INT(s.active_blocks, 0);
        int rc = ali_cuda_check_invariants(i, msg, sizeof msg);
        if (rc != AL_OK)
            fprintf(stderr, "  invariant: %s\n", msg);
        CHECK_EQ_INT(rc, AL_OK);
        (void)!al_cuda_set_memory_limit(i, 0);
    }
    al_cuda_empty_cache();
}

static al_cuda_stats stats0(void)
{
    al_cuda_stats s;
    memset(&s, 0, sizeof s);
    CHECK_EQ_INT(al_cuda_memory_stats(0, &s), AL_OK);
    return s;
}

/* -------- Log capture (log_capture.h): astrolab.cuda's warnings and errors. -------- */
static void capture_cuda(void) { capture_only("astrolab.cuda", AL_LOG_WARNING); }

/* -------- Sizes, pools, statistics. -------- */

TEST(test_sizes_round_to_512_and_pools_and_segments_follow_pytorch)
{
    setup();
    void *a = al_cuda_malloc(1, 0);
    CHECK(a != NULL);
    al_cuda_stats s = stats0();
    CHECK_EQ_INT(s.allocated_bytes, 512);
    CHECK_EQ_INT(s.requested_bytes, 1);
    CHECK_EQ_INT(s.reserved_bytes, 2 * MiB); /* small pool: 2 MiB segments */
    CHECK_EQ_INT(s.num_segments, 1);
    CHECK_EQ_INT(s.cached_blocks, 1); /* the segment's remainder */
    void *b = al_cuda_malloc(MiB, 0); /* still small: carved from the same segment */
    CHECK(b != NULL);
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 2 * MiB);
    CHECK_EQ_INT(s.allocated_bytes, 512 + MiB);
    void *c = al_cuda_malloc(12 * MiB, 0); /* >= 10 MiB: a segment of its own size */
    CHECK(c != NULL);
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 14 * MiB);
    CHECK_EQ_INT(s.num_segments, 2);
    CHECK_EQ_INT(s.cached_blocks, 1);
    void *d = al_cuda_malloc(MiB + 1, 0); /* large pool, under 10 MiB: a 20 MiB segment, split */
    CHECK(d != NULL);
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 34 * MiB);
    CHECK_EQ_INT(s.num_segments, 3);
    CHECK_EQ_INT(s.cached_blocks, 2);
    CHECK_EQ_INT(s.inactive_split_blocks, 2);
    void *e = al_cuda_malloc(18 * MiB, 0); /* best fit: the 19 MiB remainder, kept whole */
    CHECK(e != NULL);
    CHECK_EQ_INT(al_cuda_block_size(e), 18 * MiB);
    CHECK_EQ_INT(al_cuda_block_device(e), 0);
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 34 * MiB);
    CHECK_EQ_INT(s.num_segments, 3);
    CHECK_EQ_INT(s.cached_blocks, 1);
    CHECK_EQ_INT(s.allocated_bytes, 33 * MiB + 512);
    CHECK_EQ_INT(s.requested_bytes, 1 + MiB + 12 * MiB + MiB + 1 + 18 * MiB);
    CHECK_EQ_INT(s.active_blocks, 5);
    CHECK_EQ_INT(s.num_device_allocs, 3);
    CHECK_EQ_INT(s.peak_allocated_bytes, 33 * MiB + 512);
    CHECK_EQ_INT(s.peak_reserved_bytes, 34 * MiB);
    CHECK_EQ_INT(al_cuda_free(d), AL_OK);
    CHECK_EQ_INT(al_cuda_free(e), AL_OK); /* merges with d: the 20 MiB segment is whole again */
    s = stats0();
    CHECK_EQ_INT(s.cached_blocks, 2);
    CHECK_EQ_INT(s.inactive_split_blocks, 1);
    CHECK_EQ_INT(s.allocated_bytes, 512 + MiB + 12 * MiB);
    CHECK_EQ_INT(al_cuda_empty_cache(), 20 * MiB); /* only the fully free segment goes back */
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 14 * MiB);
    CHECK_EQ_INT(s.num_device_frees, 1);
    CHECK_EQ_INT(s.peak_reserved_bytes, 34 * MiB);
    al_cuda_reset_peak_memory_stats(0);
    s = stats0();
    CHECK_EQ_INT(s.peak_reserved_bytes, 14 * MiB);
    CHECK_EQ_INT(s.num_allocs, 5);
    CHECK_EQ_INT(s.num_frees, 2);
    CHECK_EQ_INT(al_cuda_free(a), AL_OK);
    CHECK_EQ_INT(al_cuda_free(b), AL_OK);
    CHECK_EQ_INT(al_cuda_free(c), AL_OK);
    s = stats0();
    CHECK_EQ_INT(s.allocated_bytes, 0);
    CHECK_EQ_INT(s.requested_bytes, 0);
    CHECK_EQ_INT(s.cached_bytes, 14 * MiB);
    CHECK_EQ_INT(s.cached_blocks, 2);
    teardown();
}

TEST(test_freed_block_is_reused_from_the_cache_without_a_device_allocation)
{
    setup();
    void *a = al_cuda_malloc(3 * MiB, 0);
    CHECK_EQ_INT(al_cuda_free(a), AL_OK);
    void *b = al_cuda_malloc(3 * MiB - 100, 0);
    CHECK(b == a); /* best fit is the same block */
    al_cuda_stats s = stats0();
    CHECK_EQ_INT(s.num_device_allocs, 1);
    CHECK_EQ_INT(al_cuda_free(b), AL_OK);
    teardown();
}

/* -------- Property test: random operation sequences keep every invariant. -------- */

typedef struct live {
    void *p;
    size_t size;
    int dev;
} live;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t random_size(uint64_t *r)
{
    switch (rng_next(r) % 4) {
    case 0:
        return 1 + rng_next(r) % 4096;
    case 1:
        return 1 + rng_next(r) % MiB;
    case 2:
        return MiB + 1 + rng_next(r) % (9 * MiB);
    default:
        return 10 * MiB + rng_next(r) % (6 * MiB);
    }
}

static int cmp_live(const void *a, const void *b)
{
    const live *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* No two live blocks overlap, and requested bytes match the model. */
static void check_model(live *l, int n)
{
    live sorted[256];
    memcpy(sorted, l, (size_t)n * sizeof *l);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_live);
    for (int i = 1; i < n; i++)
        CHECK((char *)sorted[i - 1].p + sorted[i - 1].size <= (char *)sorted[i].p);
    uint64_t want[AL_CUDA_MAX_DEVICES] = {0};
    for (int i = 0; i < n; i++)
        want[l[i].dev] += l[i].size;
    for (int d = 0; d < al_cuda_device_count() && d < 2; d++) {
        al_cuda_stats s;
        CHECK_EQ_INT(al_cuda_memory_stats(d, &s), AL_OK);
        CHECK_EQ_INT(s.requested_bytes, want[d]);
    }
}

TEST(test_split_and_merge_invariants_hold_after_random_operations)
{
    setup();
    capture_cuda(); /* OOMs under the limit are expected and logged */
    int ndev = al_cuda_device_count() < 2 ? al_cuda_device_count() : 2;
    for (int d = 0; d < ndev; d++)
        CHECK_EQ_INT(al_cuda_set_memory_limit(d, 60 * MiB), AL_OK);
    const uint64_t seeds[] = {1, 42, 20260101};
    int failures = 0;
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        uint64_t r = seeds[k];
        live l[256];
        int n = 0;
        char msg[256];
        for (int op = 0; op < 1500; op++) {
            uint64_t choice = rng_next(&r) % 100;
            if (choice < 55 && n < 256) {
                live x = {NULL, random_size(&r), (int)(rng_next(&r) % (uint64_t)ndev)};
                x.p = al_cuda_malloc(x.size, x.dev);
                if (x.p)
                    l[n++] = x;
                else
                    failures++;
            } else if (choice < 98 && n > 0) {
                int i = (int)(rng_next(&r) % (uint64_t)n);
                CHECK_EQ_INT(al_cuda_free(l[i].p), AL_OK);
                l[i] = l[--n];
            } else {
                al_cuda_empty_cache();
            }
            for (int d = 0; d < ndev; d++) {
                int rc = ali_cuda_check_invariants(d, msg, sizeof msg);
                if (rc != AL_OK) {
                    fprintf(stderr, "  seed %llu op %d: %s\n", (unsigned long long)seeds[k], op,
                            msg);
                    CHECK_EQ_INT(rc, AL_OK);
                    op = 1 << 30;
                    break;
                }
            }
            if (op % 50 == 0)
                check_model(l, n);
        }
        check_model(l, n);
        while (n > 0)
            CHECK_EQ_INT(al_cuda_free(l[--n].p), AL_OK);
        al_cuda_stats s;
        CHECK_EQ_INT(al_cuda_memory_stats(AL_CUDA_ALL_DEVICES, &s), AL_OK);
        CHECK_EQ_INT(s.num_ooms, failures); /* every failure was an OOM, counted once */
        CHECK_EQ_INT(log_errors, failures);
        CHECK_EQ_INT(s.allocated_bytes, 0);
        CHECK(s.reserved_bytes <= (uint64_t)ndev * 60 * MiB);
        al_cuda_empty_cache();
        CHECK_EQ_INT(stats0().reserved_bytes, 0);
    }
    capture_end();
    teardown();
}

/* -------- Out of memory: cache first, then release functions, then failure. -------- */

typedef struct holder {
    void *block;        /* device memory the holder can give back */
    int calls;          /* release function calls */
    uint64_t cached_at; /* cached bytes on device 0 when it was called */
} holder;

static int holder_release(void *obj)
{
    holder *h = obj;
    h->calls++;
    h->cached_at = stats0().cached_bytes;
    if (h->block && al_cuda_free(h->block) != AL_OK)
        return 1;
    h->block = NULL;
    return 0;
}

TEST(test_oom_empties_the_cache_first_then_runs_release_functions_then_fails)
{
    setup();
    capture_cuda();
    CHECK_EQ_INT(al_cuda_set_memory_limit(0, 48 * MiB), AL_OK);
    holder *h = AL_NEW(holder);
    al_handle reg = al_register_for_cleanup(h, holder_release, "holder");
    CHECK(reg != 0);

    /* The cache alone is enough: one retry, no release function. */
    void *x = al_cuda_malloc(30 * MiB, 0);
    CHECK(x != NULL);
    CHECK_EQ_INT(al_cuda_free(x), AL_OK);
    void *z = al_cuda_malloc(32 * MiB, 0); /* 30 cached + 32 > 48: release the cache, retry */
    CHECK(z != NULL);
    al_cuda_stats s = stats0();
    CHECK_EQ_INT(s.num_alloc_retries, 1);
    CHECK_EQ_INT(s.num_ooms, 0);
    CHECK_EQ_INT(s.reserved_bytes, 32 * MiB);
    CHECK_EQ_INT(h->calls, 0);

    /* The cache is not enough: the release function runs, after the cache was emptied. */
    h->block = al_cuda_malloc(12 * MiB, 0);
    void *c = al_cuda_malloc(1000, 0);
    CHECK(h->block && c);
    CHECK_EQ_INT(al_cuda_free(c), AL_OK); /* 46 MiB reserved, 2 MiB of it cached */
    void *y = al_cuda_malloc(10 * MiB, 0);
    CHECK(y != NULL);
    s = stats0();
    CHECK_EQ_INT(h->calls, 1);
    CHECK_EQ_INT(h->cached_at, 0); /* the cache was emptied before release functions ran */
    CHECK(h->block == NULL);
    CHECK_EQ_INT(s.num_alloc_retries, 3);
    CHECK_EQ_INT(s.num_ooms, 0);
    CHECK_EQ_INT(s.reserved_bytes, 42 * MiB);
    CHECK_EQ_INT(log_errors, 0);

    /* Nothing helps: the allocation fails with the figures. */
    al_error err;
    void *big = al_cuda_malloc_ex(20 * MiB, 0, &err);
    CHECK(big == NULL);
    CHECK_EQ_INT(err.code, AL_ECUDA_OOM);
    s = stats0();
    CHECK_EQ_INT(s.num_ooms, 1);
    CHECK_EQ_INT(s.num_alloc_retries, 5);
    CHECK_EQ_INT(h->calls, 2);
    CHECK_EQ_INT(log_errors, 1);
    char want[160];
    snprintf(want, sizeof want,
             "CUDA out of memory on device 0 (%s): tried to allocate 20 MiB; 42 MiB "
             "allocated, 42 MiB reserved, ",
             al_cuda_backend_name());
    CHECK(strstr(log_last, want) == log_last);
    CHECK(strstr(log_last, " free of ") && strstr(log_last, " total"));
    CHECK(strstr(log_last, "allocator limit 48 MiB"));
    CHECK_EQ_STR(err.message, log_last);
    if (!on_driver())
        CHECK(strstr(log_last, "22 MiB free of 64 MiB total") != NULL);

    CHECK_EQ_INT(al_cuda_free(y), AL_OK);
    CHECK_EQ_INT(al_cuda_free(z), AL_OK);
    CHECK_EQ_INT(al_unregister(reg), AL_OK);
    al_free(h);
    capture_end();
    teardown();
}

TEST(test_fragmented_simulated_device_fails_although_enough_bytes_are_free)
{
    if (on_driver())
        TEST_SKIP("tests the simulated device's own behaviour");
    setup();
    capture_cuda();
    void *b[5];
    for (int i = 0; i < 5; i++)
        CHECK((b[i] = al_cuda_malloc(12 * MiB, 0)) != NULL); /* 60 of 64 MiB */
    for (int i = 0; i < 5; i += 2)
        CHECK_EQ_INT(al_cuda_free(b[i]), AL_OK);
    CHECK_EQ_INT(al_cuda_empty_cache(), 36 * MiB); /* gaps of 12, 12 and 16 MiB */
    CHECK(al_cuda_malloc(20 * MiB, 0) == NULL);    /* 40 MiB free, no gap of 20 */
    CHECK_EQ_INT(stats0().num_ooms, 1);
    CHECK(strstr(log_last, "40 MiB free of 64 MiB total") != NULL);
    void *fit = al_cuda_malloc(16 * MiB, 0); /* the last gap holds it */
    CHECK(fit != NULL);
    CHECK_EQ_INT(al_cuda_free(fit), AL_OK);
    CHECK_EQ_INT(al_cuda_free(b[1]), AL_OK);
    CHECK_EQ_INT(al_cuda_free(b[3]), AL_OK);
    capture_end();
    teardown();
}

TEST(test_empty_cache_releases_only_fully_free_segments)
{
    setup();
    void *a = al_cuda_malloc(100, 0);
    void *b = al_cuda_malloc(5 * MiB, 0);
    CHECK(a && b);
    CHECK_EQ_INT(al_cuda_free(b), AL_OK);
    CHECK_EQ_INT(al_cuda_empty_cache(), 20 * MiB);
    al_cuda_stats s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 2 * MiB);
    CHECK_EQ_INT(s.num_segments, 1);
    CHECK_EQ_INT(al_cuda_empty_cache(), 0); /* the small segment is still in use */
    CHECK_EQ_INT(al_cuda_free(a), AL_OK);
    CHECK_EQ_INT(al_cuda_empty_cache(), 2 * MiB);
    s = stats0();
    CHECK_EQ_INT(s.reserved_bytes, 0);
    CHECK_EQ_INT(s.cached_blocks, 0);
    CHECK_EQ_INT(s.num_device_allocs, 2);
    CHECK_EQ_INT(s.num_device_frees, 2);
    teardown();
}

/* -------- Refused frees. -------- */

TEST(test_double_free_interior_and_foreign_pointers_are_refused_with_clear_errors)
{
    setup();
    capture_cuda();
    al_memory_stats before;
    CHECK_EQ_INT(al_get_memory_stats(&before), AL_OK);
    char *p = al_cuda_malloc(1000, 0);
    char *q = al_cuda_malloc(1000, 0);
    CHECK(p && q);
    CHECK_EQ_INT(al_cuda_free(p), AL_OK);
    char name[64];
    snprintf(name, sizeof name, "al_cuda_free(%p): double free", (void *)p);
    CHECK_EQ_INT(al_cuda_free(p), AL_EDOUBLEFREE);
    CHECK(strstr(log_last, name) == log_last);

    snprintf(name, sizeof name, "al_cuda_free(%p): interior pointer", (void *)(q + 16));
    CHECK_EQ_INT(al_cuda_free(q + 16), AL_EBADPTR);
    CHECK(strstr(log_last, name) == log_last);

    int on_stack;
    snprintf(name, sizeof name, "al_cuda_free(%p): pointer not allocated", (void *)&on_stack);
    CHECK_EQ_INT(al_cuda_free(&on_stack), AL_EBADPTR);
    CHECK(strstr(log_last, name) == log_last);
    CHECK_EQ_INT(log_errors, 3);

    al_memory_stats after;
    CHECK_EQ_INT(al_get_memory_stats(&after), AL_OK);
    CHECK_EQ_INT(after.errors - before.errors, 3);
    al_cuda_stats s = stats0(); /* the refused frees changed nothing */
    CHECK_EQ_INT(s.active_blocks, 1);
    CHECK_EQ_INT(s.num_frees, 1);
    CHECK_EQ_INT(al_cuda_free(q), AL_OK);
    CHECK_EQ_INT(al_cuda_free(NULL), AL_OK);
    capture_end();
    teardown();
}

/* -------- Copies. -------- */

TEST(test_memcpy_round_trips_data_exactly)
{
    setup();
    const size_t sizes[] = {1, 511, 4096, 3 * MiB + 7};
    uint64_t r = 7;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        unsigned char *src = malloc(n), *back = malloc(n);
        for (size_t i = 0; i < n; i++)
            src[i] = (unsigned char)rng_next(&r);
        int other = al_cuda_device_count() > 1 ? 1 : 0;
        void *d1 = al_cuda_malloc(n, 0), *d2 = al_cuda_malloc(n, other);
        CHECK(d1 && d2);
        CHECK_EQ_INT(al_cuda_memcpy_htod(d1, src, n), AL_OK);
        CHECK_EQ_INT(al_cuda_memcpy_dtod(d2, d1, n), AL_OK);
        memset(back, 0, n);
        CHECK_EQ_INT(al_cuda_memcpy_dtoh(back, d2, n), AL_OK);
        CHECK(memcmp(src, back, n) == 0);
        free(src);
        free(back);
        CHECK_EQ_INT(al_cuda_free(d1), AL_OK);
        CHECK_EQ_INT(al_cuda_free(d2), AL_OK);
    }
    teardown();
}

TEST(test_memcpy_refuses_ranges_outside_the_allocator)
{
    setup();
    capture_cuda();
    char host[64] = {0};
    void *d = al_cuda_malloc(64, 0);
    CHECK_EQ_INT(al_cuda_memcpy_htod(host, host, 8), AL_EINVAL); /* not device memory */
    CHECK(strstr(log_last, "not inside memory of the CUDA allocator") != NULL);
    CHECK_EQ_INT(al_cuda_memcpy_dtoh(host, (char *)d + 2 * MiB - 8, 64), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_memcpy_htod(NULL, host, 8), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_memcpy_dtoh(host, NULL, 8), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_memcpy_htod(d, host, 0), AL_OK);
    CHECK_EQ_INT(al_cuda_free(d), AL_OK);
    capture_end();
    teardown();
}

/* -------- Devices, backends, not available. -------- */

TEST(test_device_info_reports_name_total_and_free_memory)
{
    setup();
    al_cuda_device_props p;
    CHECK_EQ_INT(al_cuda_device_info(0, &p), AL_OK);
    CHECK(p.name[0] != '\0');
    CHECK_EQ_STR(p.backend, al_cuda_backend_name());
    CHECK(p.total_bytes > 0 && p.free_bytes <= p.total_bytes);
    if (!on_driver()) {
        CHECK_EQ_INT(p.total_bytes, SIM_BYTES);
        CHECK_EQ_INT(p.free_bytes, SIM_BYTES);
        void *a = al_cuda_malloc(1, 0);
        CHECK_EQ_INT(al_cuda_device_info(0, &p), AL_OK);
        CHECK_EQ_INT(p.free_bytes, SIM_BYTES - 2 * MiB); /* the segment, not the block */
        CHECK_EQ_INT(al_cuda_free(a), AL_OK);
        CHECK_EQ_INT(al_cuda_device_count(), 2);
    }
    CHECK_EQ_INT(al_cuda_device_info(al_cuda_device_count(), &p), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_device_info(-1, &p), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_device_info(0, NULL), AL_EINVAL);
    teardown();
}

TEST(test_bad_arguments_are_refused)
{
    setup();
    capture_cuda();
    al_error err;
    CHECK(al_cuda_malloc_ex(0, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(al_cuda_malloc_ex(16, -1, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "no device -1") != NULL);
    CHECK(al_cuda_malloc(16, AL_CUDA_MAX_DEVICES) == NULL);
    CHECK_EQ_INT(al_cuda_use_simulated(0, 1), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_use_simulated(SIM_BYTES, 0), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_set_backend("bogus"), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_set_backend(NULL), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_memory_stats(0, NULL), AL_EINVAL);
    CHECK_EQ_INT(al_cuda_set_memory_limit(-1, 0), AL_EINVAL);
    CHECK(al_cuda_available()); /* the refused selections changed nothing */
    capture_end();
    teardown();
}

TEST(test_backend_switch_is_refused_while_blocks_are_live)
{
    setup();
    capture_cuda();
    void *p = al_cuda_malloc(100, 0);
    CHECK_EQ_INT(al_cuda_use_simulated(SIM_BYTES, 1), AL_ESTATE);
    CHECK_EQ_INT(al_cuda_set_backend("none"), AL_ESTATE);
    CHECK_EQ_INT(al_cuda_block_size(p), 100); /* still valid */
    CHECK_EQ_INT(al_cuda_free(p), AL_OK);
    capture_end();
    teardown();
}

TEST(test_without_a_driver_every_call_reports_not_available)
{
    capture_cuda();
    ali_cuda_driver_set_library("libcuda-astrolab-missing.so.1");
    CHECK_EQ_INT(al_cuda_set_backend("driver"), AL_ECUDA_UNAVAILABLE);
    ali_cuda_driver_set_library(NULL);
    CHECK_EQ_INT(al_cuda_available(), 0);
    CHECK_EQ_INT(al_cuda_device_count(), 0);
    CHECK_EQ_STR(al_cuda_backend_name(), "none");
    CHECK(strstr(al_cuda_unavailable_reason(), "libcuda-astrolab-missing.so.1") != NULL);
    al_error err;
    CHECK(al_cuda_malloc_ex(16, 0, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ECUDA_UNAVAILABLE);
    CHECK(strstr(err.message, "CUDA not available") != NULL);
    al_cuda_device_props p;
    CHECK_EQ_INT(al_cuda_device_info(0, &p), AL_ECUDA_UNAVAILABLE);
    al_cuda_stats s;
    CHECK_EQ_INT(al_cuda_memory_stats(0, &s), AL_ECUDA_UNAVAILABLE);
    CHECK_EQ_INT(al_cuda_memory_stats(AL_CUDA_ALL_DEVICES, &s), AL_OK);
    CHECK_EQ_INT(s.reserved_bytes, 0);
    CHECK(al_cuda_memory_summary() == NULL);
    CHECK(al_cuda_memory_stats_json(0) == NULL);
    CHECK_EQ_INT(al_cuda_empty_cache(), 0);
    char host[8];
    CHECK_EQ_INT(al_cuda_memcpy_htod(host, host, 8), AL_ECUDA_UNAVAILABLE);
    CHECK_EQ_INT(al_cuda_set_memory_limit(0, MiB), AL_ECUDA_UNAVAILABLE);
    CHECK_EQ_INT(log_errors + log_warnings, 0); /* nothing logged above INFO */
    CHECK_EQ_INT(al_cuda_free(host), AL_EBADPTR);
    al_memory_stats ms;
    CHECK_EQ_INT(al_get_memory_stats(&ms), AL_OK);
    CHECK_EQ_INT(ms.cuda_reserved_bytes, 0);
    /* The real driver: available exactly when it loads and has a device. */
    int rc = al_cuda_set_backend("driver");
    CHECK(rc == AL_OK || rc == AL_ECUDA_UNAVAILABLE);
    CHECK_EQ_INT(rc == AL_OK, al_cuda_available());
    if (on_driver())
        CHECK_EQ_INT(rc, AL_OK);
    capture_end();
}

/* -------- Summary, JSON and the memory module's figures. -------- */

/* The driver backend (driver.c) against a stand-in for libcuda.so.1 (tests/programs/
 * stub_libcuda.c: device memory in host memory): copies from ASTROLAB_CUDA_PINNED_MIN_BYTES
 * (1 MiB) up go through the pinned staging buffer 4 MiB at a time, both ways, and arrive
 * intact; smaller ones go direct; a failed step stops the copy, is logged, and leaves the
 * staging lock free. Its own process (ctest-separate): the driver stays loaded once opened. */
TEST(test_driver_backend_stages_large_copies_through_pinned_memory)
{
    if (on_driver())
        TEST_SKIP("the real driver is loaded: the stand-in cannot replace it");
    const char *stub_path = ASTROLAB_BUILD_DIR "/tests/libstub_libcuda.so";
    void *stub = dlopen(stub_path, RTLD_NOW | RTLD_LOCAL);
    CHECK(stub != NULL);
    unsigned *htod = dlsym(stub, "stub_cuda_htod_calls"),
             *dtoh = dlsym(stub, "stub_cuda_dtoh_calls");
    unsigned *pinned = dlsym(stub, "stub_cuda_pinned_calls"),
             *fail_at = dlsym(stub, "stub_cuda_fail_at");
    CHECK(htod && dtoh && pinned && fail_at);
    ali_cuda_driver_set_library(stub_path);
    ali_cuda_backend *b = NULL;
    char reason[256] = "";
    CHECK_EQ_INT(ali_cuda_driver_open(&b, reason, sizeof reason), AL_OK);
    CHECK(b != NULL && strcmp(b->name, "driver") == 0 && b->ndevices == 1);

    size_t n = 9 * MiB + 123; /* three steps: 4 MiB, 4 MiB, the rest */
    unsigned char *src = malloc(n), *back = calloc(1, n);
    CHECK(src && back);
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)(i * 131 + i / 4099);
    uint64_t d = 0;
    CHECK_EQ_INT(b->malloc(b, 0, n, &d), AL_OK);
    CHECK_EQ_INT(b->memcpy_htod(b, 0, d, src, n), AL_OK);
    CHECK_EQ_INT(*htod, 3);
    CHECK_EQ_INT(*pinned, 3);
    CHECK_EQ_INT(b->memcpy_dtoh(b, 0, back, d, n), AL_OK);
    CHECK_EQ_INT(*dtoh, 3);
    CHECK_EQ_INT(*pinned, 6);
    CHECK(memcmp(src, back, n) == 0);

    /* Below the threshold: one direct call each way, from and into the caller's memory. */
    memset(back, 0, n);
    CHECK_EQ_INT(b->memcpy_htod(b, 0, d + 7, src, 1000), AL_OK);
    CHECK_EQ_INT(b->memcpy_dtoh(b, 0, back, d + 7, 1000), AL_OK);
    CHECK(*htod == 4 && *dtoh == 4 && *pinned == 6);
    CHECK(memcmp(src, back, 1000) == 0);

    /* The second step of a staged copy fails: no third step, one ERROR naming the call. */
    capture_cuda();
    *fail_at = *htod + *dtoh + 2;
    CHECK_EQ_INT(b->memcpy_dtoh(b, 0, back, d, n), AL_ECUDA);
    capture_end();
    CHECK_EQ_INT(*dtoh, 6);
    CHECK_EQ_INT(log_errors, 1);
    CHECK(strstr(log_last, "cuMemcpyDtoH on device 0 failed: an illegal memory access") != NULL);
    *fail_at = 0;
    CHECK_EQ_INT(b->memcpy_htod(b, 0, d, src, n), AL_OK); /* the lock was released */
    CHECK_EQ_INT(b->free(b, 0, d), AL_OK);
    free(src);
    free(back);
    ali_cuda_driver_set_library(NULL);
    dlclose(stub);
}

TEST(test_summary_and_json_show_every_device_and_pool)
{
    setup();
    void *a = al_cuda_malloc(4096, 0), *b = al_cuda_malloc(12 * MiB, 0);
    char *t = al_cuda_memory_summary();
    CHECK(t != NULL);
    if (t) {
        CHECK(strstr(t, "device 0:") != NULL);
        CHECK(strstr(t, "small pool") && strstr(t, "large pool"));
        CHECK(strstr(t, "| allocated") && strstr(t, "12 MiB"));
        CHECK(strstr(t, "| OOMs") && strstr(t, "| alloc retries"));
        if (al_cuda_device_count() > 1)
            CHECK(strstr(t, "device 1:") != NULL);
    }
    free(t);
    char *j = al_cuda_memory_stats_json(0);
    CHECK(j && strstr(j, "\"reserved_bytes\":14680064") && strstr(j, "\"num_ooms\":0"));
    free(j);
    CHECK_EQ_INT(al_cuda_free(a), AL_OK);
    CHECK_EQ_INT(al_cuda_free(b), AL_OK);
    teardown();
}

TEST(test_memory_stats_and_comprehensive_cleanup_include_the_cuda_cache)
{
    setup();
    void *a = al_cuda_malloc(3 * MiB, 0);
    void *b = al_cuda_malloc(18 * MiB, 0); /* larger than the 17 MiB remainder: own segment */
    al_memory_stats ms;
    CHECK_EQ_INT(al_get_memory_stats(&ms), AL_OK);
    CHECK_EQ_INT(ms.cuda_allocated_bytes, 21 * MiB);
    CHECK_EQ_INT(ms.cuda_reserved_bytes, 38 * MiB);
    CHECK(ms.cuda_peak_allocated_bytes >= 21 * MiB);
    CHECK_EQ_INT(al_cuda_free(b), AL_OK);
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(r.cuda_bytes_released, 18 * MiB);
    CHECK_EQ_INT(al_get_memory_stats(&ms), AL_OK);
    CHECK_EQ_INT(ms.cuda_reserved_bytes, 20 * MiB);
    /* al_reset_peak_memory_stats resets the CUDA peak too. */
    al_reset_peak_memory_stats();
    CHECK_EQ_INT(al_get_memory_stats(&ms), AL_OK);
    CHECK_EQ_INT(ms.cuda_peak_allocated_bytes, ms.cuda_allocated_bytes);
    CHECK_EQ_INT(al_cuda_free(a), AL_OK);
    teardown();
}

/* -------- Error paths of the allocator's own records. -------- */

TEST(test_failed_record_allocation_leaves_no_leak_and_no_half_state)
{
    setup();
    uint64_t live_before = ali_cuda_rec_live();
    void *p = NULL;
    for (uint64_t n = 1; n < 20 && !p; n++) {
        ali_cuda_rec_fail_after(n);
        void *warm = al_cuda_malloc(700, 0); /* splits a small segment: needs records */
        p = warm ? al_cuda_malloc(5 * MiB, 0) : NULL;
        ali_cuda_rec_fail_after(0);
        char msg[256];
        CHECK_EQ_INT(ali_cuda_check_invariants(0, msg, sizeof msg), AL_OK);
        if (!p) {
            if (warm)
                CHECK_EQ_INT(al_cuda_free(warm), AL_OK);
            al_cuda_stats s = stats0();
            CHECK_EQ_INT(s.active_blocks, 0);
            CHECK_EQ_INT(s.num_ooms, 0); /* a host-side failure is not a device OOM */
        } else {
            CHECK_EQ_INT(al_cuda_free(warm), AL_OK);
        }
    }
    CHECK(p != NULL);
    CHECK_EQ_INT(al_cuda_free(p), AL_OK);
    al_cuda_empty_cache();
    /* What remains is the active map's table and one spare record, as before. */
    CHECK(ali_cuda_rec_live() <= live_before + 2);
    teardown();
}

/* -------- Threads. -------- */

static void *thread_body(void *arg)
{
    uint64_t r = (uint64_t)(uintptr_t)arg;
    void *held[12] = {0};
    int ndev = al_cuda_device_count();
    for (int op = 0; op < 3000; op++) {
        int i = (int)(rng_next(&r) % 12);
        if (held[i]) {
            if (al_cuda_free(held[i]) != AL_OK)
                return (void *)1;
            held[i] = NULL;
        } else {
            size_t n = 1 + rng_next(&r) % (3 * MiB / 2);
            held[i] = al_cuda_malloc(n, (int)(rng_next(&r) % 2) % ndev);
        }
        if (op % 500 == 0)
            al_cuda_empty_cache();
    }
    for (int i = 0; i < 12; i++)
        if (held[i] && al_cuda_free(held[i]) != AL_OK)
            return (void *)1;
    return NULL;
}

TEST(test_threads_allocating_and_freeing_at_once_keep_the_pools_sound)
{
    setup();
    capture_cuda(); /* an OOM under contention is allowed; it must not break the pools */
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, thread_body, (void *)(i * 7919 + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *ret = (void *)2;
        pthread_join(t[i], &ret);
        CHECK(ret == NULL);
    }
    al_cuda_stats s;
    CHECK_EQ_INT(al_cuda_memory_stats(AL_CUDA_ALL_DEVICES, &s), AL_OK);
    CHECK_EQ_INT(s.allocated_bytes, 0);
    CHECK_EQ_INT(s.num_allocs, s.num_frees);
    CHECK(s.num_allocs > 1000);
    capture_end();
    teardown();
}

TEST_MAIN()
