/* Tests of the tracked allocator and its statistics (src/memory/alloc.c, site.c, stats.c,
 * fault.c). */
// ctest-labels: threads
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log_capture.h"
#include "memory/memory_int.h"
#include "test.h"

/* -------- Log capture (log_capture.h): the ERROR messages of every logger. -------- */
static void capture_errors(void) { capture_only(NULL, AL_LOG_ERROR); }

static ali_site_totals site_totals_of(void *p)
{
    ali_site_totals t;
    ali_site_totals_get(test_site_id(p), &t);
    return t;
}

struct star {
    double ra, dec;
    char name[24];
};

TEST(test_stats_return_to_start_after_mixed_workload)
{
    al_memory_stats s0 = test_stats();
    void *blocks[100];
    uint64_t bytes = 0;
    for (int i = 0; i < 100; i++) {
        blocks[i] = al_malloc((size_t)i * 7 + 1);
        bytes += (uint64_t)i * 7 + 1;
    }
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes - s0.current_bytes, bytes);
    CHECK_EQ_INT(s1.live_blocks - s0.live_blocks, 100);
    CHECK_EQ_INT(s1.total_allocations - s0.total_allocations, 100);
    CHECK(s1.peak_bytes >= s1.current_bytes);
    for (int i = 0; i < 100; i += 2)
        al_free(blocks[i]);
    for (int i = 1; i < 100; i += 2)
        blocks[i] = al_realloc(blocks[i], 3);
    for (int i = 1; i < 100; i += 2)
        al_free(blocks[i]);
    al_memory_stats s2 = test_stats();
    CHECK_EQ_INT(s2.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s2.live_blocks, s0.live_blocks);
    CHECK_EQ_INT(s2.total_frees - s0.total_frees, 100);
    CHECK(fabs(s2.current_mb - (double)s2.current_bytes / 1048576.0) < 1e-9);
}

TEST(test_peak_is_exact_on_one_thread)
{
    al_reset_peak_memory_stats();
    al_memory_stats s0 = test_stats();
    CHECK_EQ_INT(s0.peak_bytes, s0.current_bytes);
    void *a = al_malloc(1000);
    void *b = al_malloc(3000);
    al_free(a);
    void *c = al_malloc(500);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.peak_bytes, s0.current_bytes + 4000);
    /* Beyond a publishing batch too. */
    void *big = al_malloc(3 * AL_STATS_BATCH_BYTES);
    al_free(big);
    al_memory_stats s2 = test_stats();
    CHECK_EQ_INT(s2.peak_bytes, s0.current_bytes + 3500 + 3 * AL_STATS_BATCH_BYTES);
    al_free(b);
    al_free(c);
    al_reset_peak_memory_stats();
    CHECK_EQ_INT(test_stats().peak_bytes, s0.current_bytes);
}

TEST(test_site_and_tag_counts_are_exact)
{
    void *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = al_malloc_tagged(64, "test catalog row");
    ali_site_totals t = site_totals_of(p[0]);
    CHECK_EQ_INT(t.live_count, 10);
    CHECK_EQ_INT(t.live_bytes, 640);
    CHECK_EQ_STR(ali_block_of(p[0])->site->tag, "test catalog row");
    for (int i = 0; i < 5; i++)
        al_free(p[i]);
    t = site_totals_of(p[9]);
    CHECK_EQ_INT(t.live_count, 5);
    CHECK_EQ_INT(t.live_bytes, 320);
    CHECK(t.allocs >= 10);
    for (int i = 5; i < 10; i++)
        al_free(p[i]);
}

TEST(test_new_is_tagged_with_type_name_and_site)
{
    int line = __LINE__ + 1;
    struct star *s = AL_NEW(struct star);
    CHECK(s != NULL);
    CHECK(s->ra == 0.0 && s->name[0] == 0);
    al_block_info info;
    CHECK(al_block_get_info(s, &info) == AL_OK);
    CHECK_EQ_STR(info.tag, "struct star");
    CHECK_EQ_INT(info.line, line);
    CHECK_EQ_STR(info.function, "test_new_is_tagged_with_type_name_and_site");
    CHECK(strstr(info.file, "test_memory.c") != NULL);
    CHECK_EQ_INT(info.size, sizeof(struct star));
    CHECK(info.scope == NULL);
    CHECK_EQ_INT(info.thread, al_thread_id());
    struct star *arr = AL_NEW_ARRAY(struct star, 16);
    CHECK(arr && al_block_size(arr) == 16 * sizeof(struct star));
    al_free(arr);
    al_free(s);
    CHECK_EQ_INT(al_block_get_info(NULL, &info), AL_EBADPTR);
}

TEST(test_tag_in_a_reused_buffer_is_read_by_content)
{
    char tag[32];
    void *p[3];
    for (int i = 0; i < 3; i++) {
        snprintf(tag, sizeof tag, "layer%d", i);
        p[i] = al_malloc_tagged(16, tag);
    }
    for (int i = 0; i < 3; i++) {
        al_block_info info;
        char want[32];
        snprintf(want, sizeof want, "layer%d", i);
        CHECK(al_block_get_info(p[i], &info) == AL_OK);
        CHECK_EQ_STR(info.tag, want);
        al_free(p[i]);
    }
}

TEST(test_untagged_blocks_are_tagged_untagged)
{
    void *p = al_malloc(10);
    al_block_info info;
    CHECK(al_block_get_info(p, &info) == AL_OK);
    CHECK_EQ_STR(info.tag, "untagged");
    al_free(p);
}

TEST(test_calloc_overflow_returns_null_with_error)
{
    uint64_t errors = test_stats().errors;
    capture_errors();
    volatile size_t huge = SIZE_MAX / 2, many = SIZE_MAX / 8;
    void *p = al_calloc(huge, 4);
    struct star *a = AL_NEW_ARRAY(struct star, many);
    capture_end();
    CHECK(p == NULL);
    CHECK(a == NULL);
    CHECK_EQ_INT(test_stats().errors - errors, 2);
    CHECK(log_count == 2 && strstr(log_first, "overflow") != NULL);
    CHECK(log_count == 2 && strstr(log_first, "test_memory.c") != NULL);
    char *z = al_calloc(100, 3);
    int zero = 1;
    for (int i = 0; i < 300; i++)
        zero &= z[i] == 0;
    CHECK(zero);
    al_free(z);
}

TEST(test_realloc_edge_cases)
{
    char *p = al_realloc(NULL, 10); /* NULL: allocates */
    CHECK(p != NULL && al_block_size(p) == 10);
    memcpy(p, "abcdefghi", 10);
    p = al_realloc(p, 100000); /* grow: content kept */
    CHECK(p && strcmp(p, "abcdefghi") == 0 && al_block_size(p) == 100000);
    p = al_realloc(p, 4); /* shrink */
    CHECK(p && memcmp(p, "abcd", 4) == 0 && al_block_size(p) == 4);
    uint64_t live = test_stats().live_blocks;
    CHECK(al_realloc(p, 0) == NULL); /* size 0: frees */
    CHECK_EQ_INT(test_stats().live_blocks, live - 1);
    /* A failed realloc leaves the block valid. */
    char *q = al_malloc(8);
    memcpy(q, "keepme!", 8);
    capture_errors();
    al_memory_fail_after(1, 0);
    char *r = al_realloc(q, 64);
    capture_end();
    CHECK(r == NULL);
    CHECK(strcmp(q, "keepme!") == 0 && al_owns(q));
    al_free(q);
}

/* The edge values <astrolab/memory.h> states, one by one. */
TEST(test_malloc_of_zero_bytes_returns_a_distinct_live_block)
{
    al_memory_stats s0 = test_stats();
    void *a = al_malloc(0), *b = al_malloc(0), *c = al_calloc(0, 8), *d = al_realloc(NULL, 0);
    CHECK(a && b && c && d && a != b && c != d);
    CHECK(al_owns(a) && al_owns(d));
    CHECK_EQ_INT(al_block_size(a), 0);
    CHECK_EQ_INT(test_stats().live_blocks, s0.live_blocks + 4);
    CHECK_EQ_INT(test_stats().errors, s0.errors);
    al_free(a);
    al_free(b);
    al_free(c);
    al_free(d);
    CHECK_EQ_INT(test_stats().live_blocks, s0.live_blocks);
}

TEST(test_free_of_null_does_nothing_and_reports_nothing)
{
    al_memory_stats s0 = test_stats();
    capture_errors();
    al_free(NULL);
    (al_free)(NULL);
    capture_end();
    CHECK_EQ_INT(log_count, 0);
    CHECK_EQ_INT(test_stats().errors, s0.errors);
    CHECK_EQ_INT(test_stats().live_blocks, s0.live_blocks);
}

TEST(test_calloc_overflow_and_huge_sizes_set_errno_enomem)
{
    volatile size_t huge = SIZE_MAX / 2;
    capture_errors();
    errno = 0;
    void *p = al_calloc(huge, 4);
    int e = errno;
    capture_end();
    CHECK(p == NULL);
    CHECK_EQ_INT(e, ENOMEM);
    volatile size_t too_big = (size_t)PTRDIFF_MAX + 1;
    capture_errors();
    errno = 0;
    p = al_malloc(too_big);
    e = errno;
    capture_end();
    CHECK(p == NULL);
    CHECK_EQ_INT(e, ENOMEM);
    CHECK_EQ_INT(log_count, 1);
}

TEST(test_alignment_is_a_power_of_two_up_to_16_mib)
{
    uint64_t errors = test_stats().errors;
    size_t good[] = {1, 2, 16, (size_t)1 << 24};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *p = al_malloc_aligned(64, good[i]);
        CHECK(p && ((uintptr_t)p % good[i]) == 0 && ((uintptr_t)p % 16) == 0);
        al_free(p);
    }
    size_t bad[] = {0, 3, 48, (size_t)1 << 25};
    capture_errors();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(al_malloc_aligned(64, bad[i]) == NULL);
        CHECK_EQ_INT(errno, EINVAL);
    }
    capture_end();
    CHECK_EQ_INT(log_count, 4);
    CHECK_EQ_INT(test_stats().errors - errors, 4);
}

TEST(test_realloc_moves_block_to_its_site)
{
    void *p = al_malloc_tagged(16, "moving");
    int line = __LINE__ + 1;
    p = al_realloc(p, 32);
    al_block_info info;
    CHECK(al_block_get_info(p, &info) == AL_OK);
    CHECK_EQ_INT(info.line, line);
    CHECK_EQ_STR(info.tag, "moving");
    al_free(p);
}

TEST(test_blocks_are_aligned)
{
    for (size_t n = 1; n < 300; n += 7) {
        void *p = al_malloc(n);
        CHECK(((uintptr_t)p % alignof(max_align_t)) == 0);
        al_free(p);
    }
    size_t aligns[] = {32, 64, 256, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        char *p = al_malloc_aligned(1000, aligns[i]);
        CHECK(p && ((uintptr_t)p % aligns[i]) == 0);
        memset(p, 1, 1000);
        CHECK_EQ_INT(al_block_size(p), 1000);
        p = al_realloc(p, 5000);
        CHECK(p && ((uintptr_t)p % aligns[i]) == 0 && p[999] == 1);
        al_free(p);
    }
    capture_errors();
    CHECK(al_malloc_aligned(10, 48) == NULL);
    capture_end();
    CHECK(log_count == 1 && strstr(log_first, "power of two") != NULL);
}

TEST(test_free_of_foreign_pointer_is_reported_not_fatal)
{
    static _Alignas(16) char buffer[256];
    uint64_t errors = test_stats().errors;
    capture_errors();
    al_free(buffer + 64);
    char *m = malloc(256);
    al_free(m + 128);
    capture_end();
    free(m);
    CHECK_EQ_INT(test_stats().errors - errors, 2);
    CHECK(log_count == 2);
    CHECK(strstr(log_first, "not allocated by the memory manager") != NULL);
    CHECK(strstr(log_first, "test_memory.c") != NULL);
    /* The manager still works. */
    void *p = al_malloc(10);
    CHECK(p != NULL);
    al_free(p);
}

TEST(test_double_free_names_both_sites)
{
    void *p = al_malloc(24);
    int free_line = __LINE__ + 1;
    al_free(p);
    capture_errors();
    al_free(p);
    capture_end();
    CHECK(log_count == 1);
    char first[64];
    snprintf(first, sizeof first, "test_memory.c:%d", free_line);
    CHECK(log_count == 1 && strstr(log_first, "double free") != NULL);
    CHECK(log_count == 1 && strstr(log_first, first) != NULL);
    CHECK(log_count == 1 && strstr(log_first, "test_double_free_names_both_sites") != NULL);
}

/* A realloc that moves the block frees the old one: a later free of the old pointer is the
 * double free it is, naming the realloc as the first free. */
TEST(test_free_of_the_pointer_realloc_moved_is_a_double_free)
{
    char *p = al_malloc(16);
    char *volatile old = p;
    int realloc_line = __LINE__ + 1;
    char *q = al_realloc(p, 1 << 20);
    CHECK(q != NULL);
    if (q == old) { /* did not move: nothing to check */
        al_free(q);
        return;
    }
    capture_errors();
    al_free(old);
    capture_end();
    char first[64];
    snprintf(first, sizeof first, "already freed at test_memory.c:%d", realloc_line);
    CHECK(log_count == 1 && strstr(log_first, "double free") != NULL);
    CHECK(log_count == 1 && strstr(log_first, first) != NULL);
    al_free(q);
}

TEST(test_overwritten_guard_is_detected)
{
    char *p = al_malloc(10);
    uint64_t live = test_stats().live_blocks;
    char *volatile q = p;
    q[10] = 'X'; /* one past the end: the guard */
    capture_errors();
    al_free(p);
    capture_end();
    CHECK(log_count == 1 && strstr(log_first, "overwritten") != NULL);
    CHECK(log_count == 1 && strstr(log_first, "10-byte block") != NULL);
    /* The block was not released; repair and free it. */
    CHECK_EQ_INT(test_stats().live_blocks, live);
    q[10] = (char)ALI_GUARD_BYTE;
    al_free(p);
    CHECK_EQ_INT(test_stats().live_blocks, live - 1);
}

/* Re-executed as a child with ASTROLAB_ABORT_ON_ERROR=1 (read once, on first error). */
__attribute__((constructor)) static void abort_child(void)
{
    if (!getenv("TEST_MEMORY_ABORT_CHILD"))
        return;
    (void)!al_log_set_level("astrolab", AL_LOG_OFF);
    static _Alignas(16) char buf[64];
    al_free(buf + 32);
    _exit(0);
}

TEST(test_abort_on_error_env_aborts)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv("ASTROLAB_ABORT_ON_ERROR", "1", 1);
        setenv("TEST_MEMORY_ABORT_CHILD", "1", 1);
        execl("/proc/self/exe", "test_memory", (char *)NULL);
        _exit(99);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

TEST(test_fault_injection_counts_and_repeats)
{
    uint64_t failed = al_memory_fail_count();
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);
    al_memory_fail_after(3, 0);
    void *a = al_malloc(1), *b = al_malloc(1), *c = al_malloc(1), *d = al_malloc(1);
    CHECK(a && b && !c && d);
    al_free(a);
    al_free(b);
    al_free(d);
    al_memory_fail_after(2, 1);
    a = al_malloc(1);
    b = al_malloc(1);
    c = al_malloc(1);
    CHECK(a && !b && !c);
    al_memory_fail_after(0, 0);
    b = al_malloc(1);
    CHECK(b != NULL);
    al_free(a);
    al_free(b);
    CHECK_EQ_INT(al_memory_fail_count() - failed, 3);
    /* Only one tag counts. */
    al_fail_spec spec = {.after = 1, .tag = "victim"};
    CHECK(al_memory_fail_set(&spec) == AL_OK);
    a = al_malloc_tagged(8, "bystander");
    b = al_malloc_tagged(8, "victim");
    c = al_malloc_tagged(8, "victim");
    CHECK(a && !b && c);
    al_free(a);
    al_free(c);
    /* Only one scope counts. */
    al_scope *s = al_scope_begin("target");
    spec = (al_fail_spec){.after = 1, .scope = s};
    CHECK(al_memory_fail_set(&spec) == AL_OK);
    al_scope *inner = al_scope_begin("other");
    a = al_malloc(8);
    CHECK(a != NULL);
    al_free(a);
    CHECK(al_scope_end(inner, NULL) == AL_OK);
    a = al_malloc(8);
    CHECK(a == NULL);
    CHECK(al_scope_end(s, NULL) == AL_OK);
    al_memory_fail_after(0, 0);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
    CHECK(al_memory_fail_set(NULL) == AL_EINVAL);
}

TEST(test_strdup_and_strndup)
{
    char *a = al_strdup("hello");
    CHECK_EQ_STR(a, "hello");
    CHECK_EQ_INT(al_block_size(a), 6);
    char *b = al_strndup_at("abcdef", 3, AL_HERE);
    CHECK_EQ_STR(b, "abc");
    CHECK(al_strdup(NULL) == NULL);
    al_free(a);
    al_free(b);
}

TEST(test_plain_functions_work_as_pointers)
{
    void *(*m)(size_t) = al_malloc;
    void (*f)(void *) = al_free;
    uint64_t live = test_live_blocks();
    void *p = m(12);
    CHECK(al_owns(p));
    CHECK_EQ_INT(test_live_blocks(), live + 1);
    al_block_info info;
    CHECK(al_block_get_info(p, &info) == AL_OK && strcmp(info.file, "(function pointer)") == 0);
    f(p);
    /* Nothing was allocated since, so p's memory is not reused: al_owns must see it freed. */
    CHECK_EQ_INT(test_live_blocks(), live);
    CHECK(!al_owns(p));
}

TEST(test_stats_json_has_every_field)
{
    char *json = al_memory_stats_json();
    CHECK(json != NULL);
    cJSON *o = cJSON_Parse(json);
    CHECK(o != NULL);
    const char *keys[] = {"current_bytes",
                          "peak_bytes",
                          "live_blocks",
                          "total_allocations",
                          "total_frees",
                          "rss_bytes",
                          "peak_rss_bytes",
                          "cuda_allocated_bytes",
                          "cuda_reserved_bytes",
                          "cuda_peak_allocated_bytes",
                          "errors",
                          "current_mb",
                          "peak_mb",
                          "cuda_memory_allocated"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (!cJSON_IsNumber(v))
            fprintf(stderr, "  missing key %s\n", keys[i]);
        CHECK(cJSON_IsNumber(v));
    }
    CHECK(cJSON_GetObjectItem(o, "rss_bytes")->valuedouble > 0);
    cJSON_Delete(o);
    free(json);
    CHECK(al_get_memory_stats(NULL) == AL_EINVAL);
}

/* -------- Threads -------- */
#define THREAD_OPS 1000000
static void *churn(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    void *slots[256] = {0};
    for (int i = 0; i < THREAD_OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % 256);
        if (slots[k]) {
            al_free(slots[k]);
            slots[k] = NULL;
        } else {
            slots[k] = al_malloc_tagged(16 + x % 240, "churn");
        }
    }
    for (int k = 0; k < 256; k++)
        al_free(slots[k]);
    return NULL;
}

TEST(test_two_threads_millions_of_ops_exact_totals)
{
    al_memory_stats s0 = test_stats();
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
    CHECK_EQ_INT(s1.total_allocations - s0.total_allocations, s1.total_frees - s0.total_frees);
    CHECK(s1.total_allocations - s0.total_allocations > THREAD_OPS / 2);
}

static void *free_on_other_thread(void *p)
{
    al_free(p);
    return NULL;
}

TEST(test_block_freed_on_another_thread_is_accounted)
{
    al_memory_stats s0 = test_stats();
    void *p = al_malloc(777);
    pthread_t t;
    pthread_create(&t, NULL, free_on_other_thread, p);
    pthread_join(t, NULL);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
}

TEST_MAIN()
