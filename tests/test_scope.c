/* Tests of scopes: the AL_MEMORY_MANAGEMENT block, nesting, keep, defer, report-only,
 * reclaim accounting, threads and misuse (src/memory/scope.c). */
// ctest-labels: threads
#include <pthread.h>

#include "log_capture.h"
#include "memory/backing.h"
#include "memory/memory_int.h"
#include "test.h"

/* Captures every message (log_capture.h) with astrolab.memory at `level`. */
static void log_begin(al_log_level level)
{
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", level), AL_OK);
    capture_begin();
}
static void log_end(void)
{
    capture_end();
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
}

TEST(test_scope_end_frees_blocks_it_owns)
{
    uint64_t fast0 = ali_scope_fast_ends;
    al_memory_stats s0 = test_stats();
    al_scope *s = al_scope_begin("stage");
    CHECK(al_scope_current() == s);
    CHECK_EQ_STR(al_scope_name(s), "stage");
    void *kept_free = al_malloc(100);
    for (int i = 0; i < 1000; i++)
        DISCARD(al_malloc(10 + (size_t)i % 7));
    al_free(kept_free);
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK(al_scope_current() == NULL);
    uint64_t expect = 0;
    for (int i = 0; i < 1000; i++)
        expect += 10 + (uint64_t)i % 7;
    CHECK_EQ_STR(r.name, "stage");
    CHECK_EQ_INT(r.reclaimed_blocks, 1000);
    CHECK_EQ_INT(r.reclaimed_bytes, expect);
    CHECK_EQ_INT(r.bytes_allocated, expect + 100);
    CHECK_EQ_INT(r.bytes_freed, 100);
    CHECK_EQ_INT(r.blocks_allocated, 1001);
    CHECK_EQ_INT(r.peak_bytes, expect + 100 - (10 + 999 % 7) + (10 + 999 % 7));
    CHECK(r.duration_ns > 0);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
#if ALI_BACKING_HAS_HEAPS
    /* Nothing kept, watched or foreign: the end took the tally-and-destroy path. */
    CHECK_EQ_INT(ali_scope_fast_ends - fast0, 1);
#else
    (void)fast0;
#endif
}

static int block_exits_with(int how, uint64_t *reclaimed_live)
{
    uint64_t live0 = test_stats().live_blocks;
    for (int i = 0; i < 3; i++) {
        AL_MEMORY_MANAGEMENT("exit path")
        {
            DISCARD(al_malloc(32));
            CHECK(al_scope_current() != NULL);
            if (how == 1)
                break;
            if (how == 2)
                continue;
            if (how == 3)
                return 3;
            if (how == 4)
                goto out;
        }
        CHECK(al_scope_current() == NULL);
    }
out:
    *reclaimed_live = test_stats().live_blocks - live0;
    return how;
}

TEST(test_block_macro_ends_scope_on_every_exit)
{
    for (int how = 0; how <= 4; how++) {
        uint64_t left = 99;
        CHECK_EQ_INT(block_exits_with(how, &left), how);
        if (how != 3)
            CHECK_EQ_INT(left, 0);
        CHECK(al_scope_current() == NULL);
    }
}

TEST(test_nested_block_exits_leave_only_the_inner_scope)
{
    uint64_t live0 = test_stats().live_blocks;
    for (int how = 0; how <= 2; how++) {
        int after_inner = 0;
        AL_MEMORY_MANAGEMENT("outer block")
        {
            DISCARD(al_malloc(16));
            AL_MEMORY_MANAGEMENT("inner block")
            {
                DISCARD(al_malloc(32));
                CHECK_EQ_STR(al_scope_name(al_scope_current()), "inner block");
                if (how == 1)
                    break;
                if (how == 2)
                    continue;
            }
            CHECK_EQ_STR(al_scope_name(al_scope_current()), "outer block");
            after_inner = 1;
        }
        CHECK_EQ_INT(after_inner, 1);
        CHECK(al_scope_current() == NULL);
        CHECK_EQ_INT(test_stats().live_blocks, live0);
    }
}

TEST(test_return_from_block_macro_releases_blocks)
{
    uint64_t live0 = test_stats().live_blocks;
    uint64_t dummy;
    CHECK_EQ_INT(block_exits_with(3, &dummy), 3);
    CHECK_EQ_INT(test_stats().live_blocks, live0);
}

TEST(test_nested_scopes_own_their_own_blocks)
{
    al_scope *outer = al_scope_begin("outer");
    void *a = al_malloc(10);
    al_scope *inner = al_scope_begin("inner");
    CHECK(al_scope_current() == inner);
    void *b = al_malloc(20);
    al_block_info info;
    CHECK(al_block_get_info(b, &info) == AL_OK);
    CHECK_EQ_STR(info.scope, "inner");
    CHECK(al_block_get_info(a, &info) == AL_OK);
    CHECK_EQ_STR(info.scope, "outer");
    al_scope_report r;
    CHECK(al_scope_end(inner, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK(al_owns(a));
    CHECK(al_scope_current() == outer);
    CHECK(al_scope_end(outer, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(r.reclaimed_bytes, 10);
}

TEST(test_blocks_of_a_gibibyte_and_more_are_kept_freed_and_reallocated)
{
    /* mimalloc 2.0.9 does not know its own blocks of 1 GiB or more (mi_is_in_heap_region):
     * keeping one out of a scope was refused as "not allocated by the memory manager", and its
     * free then crashed. The memory is never touched: only address space is taken. */
    uint64_t live = test_live_blocks();
    size_t big = (size_t)1200 << 20;
    al_scope *s = al_scope_begin("huge");
    char *p = al_malloc(big);
    char *q = al_malloc(big); /* reclaimed by the scope's end */
    CHECK(p && q);
    CHECK(al_owns(p) && al_owns(q));
    CHECK(al_scope_keep(p) == p);
    CHECK_EQ_INT(al_scope_end(s, NULL), AL_OK);
    CHECK(al_owns(p));
    al_memory_stats st;
    CHECK_EQ_INT(al_get_memory_stats(&st), AL_OK);
    CHECK_EQ_INT(st.errors, 0);
    char *r = al_realloc(p, big + 4096);
    CHECK(r != NULL && al_owns(r));
    al_free(r ? r : p);
    CHECK_EQ_INT(al_get_memory_stats(&st), AL_OK);
    CHECK_EQ_INT(st.errors, 0);
    CHECK_EQ_INT(test_live_blocks(), live);
}

TEST(test_keep_moves_block_to_enclosing_scope_and_process)
{
    char *result = NULL;
    al_scope *outer = al_scope_begin("outer");
    AL_MEMORY_MANAGEMENT("inner")
    {
        char *tmp = al_malloc(100);
        result = al_scope_keep(al_strdup("survivor"));
        (void)tmp;
        CHECK(al_scope_keep(NULL) == NULL);
    }
    CHECK_EQ_STR(result, "survivor");
    al_block_info info;
    CHECK(al_block_get_info(result, &info) == AL_OK);
    CHECK_EQ_STR(info.scope, "outer");
    CHECK(al_scope_keep(result) == result); /* now to the process */
    al_scope_report r;
    CHECK(al_scope_end(outer, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 0);
    CHECK_EQ_INT(r.kept_blocks, 1);
    CHECK_EQ_STR(result, "survivor");
    CHECK(al_block_get_info(result, &info) == AL_OK && info.scope == NULL);
    al_free(result);
}

static int order[8], norder;
static void record(void *arg) { order[norder++] = (int)(intptr_t)arg; }

TEST(test_defer_runs_newest_first_before_reclaim)
{
    norder = 0;
    al_scope *s = al_scope_begin("defer");
    CHECK(al_scope_defer(record, (void *)1) == AL_OK);
    CHECK(al_scope_defer(record, (void *)2) == AL_OK);
    CHECK(al_scope_defer(record, (void *)3) == AL_OK);
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(norder, 3);
    CHECK(order[0] == 3 && order[1] == 2 && order[2] == 1);
    CHECK_EQ_INT(r.cleanups_run, 3);
    CHECK_EQ_INT(al_scope_defer(record, NULL), AL_ESCOPE);
    CHECK_EQ_INT(al_scope_defer(NULL, NULL), AL_EINVAL);
}

static void free_it(void *p) { al_free(p); }

TEST(test_deferred_function_may_free_scope_blocks)
{
    al_scope *s = al_scope_begin("defer-free");
    void *p = al_malloc(64);
    CHECK(al_scope_defer(free_it, p) == AL_OK);
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 0);
    CHECK_EQ_INT(r.bytes_freed, 64);
}

TEST(test_report_only_scope_frees_nothing)
{
    al_scope_options opts = {.policy = AL_SCOPE_REPORT_ONLY};
    void *p = NULL;
    al_scope *outer = al_scope_begin("legacy outer");
    al_scope *s = al_scope_begin_ex("legacy", &opts);
    p = al_malloc(50);
    DISCARD(al_malloc(70));
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.policy, AL_SCOPE_REPORT_ONLY);
    CHECK_EQ_INT(r.reclaimed_blocks, 2);
    CHECK_EQ_INT(r.reclaimed_bytes, 120);
    CHECK(al_owns(p));
    al_block_info info;
    CHECK(al_block_get_info(p, &info) == AL_OK);
    CHECK_EQ_STR(info.scope, "legacy outer");
    al_free(p);
    CHECK(al_scope_end(outer, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(r.reclaimed_bytes, 70);
}

TEST(test_realloc_in_scope_keeps_owner)
{
    al_scope *outer = al_scope_begin("owner");
    char *p = al_malloc(16);
    strcpy(p, "grow me");
    al_scope *inner = al_scope_begin("inner");
    p = al_realloc(p, 100000);
    CHECK(al_scope_end(inner, NULL) == AL_OK);
    CHECK(al_owns(p) && strcmp(p, "grow me") == 0);
    al_block_info info;
    CHECK(al_block_get_info(p, &info) == AL_OK);
    CHECK_EQ_STR(info.scope, "owner");
    al_scope_report r;
    CHECK(al_scope_end(outer, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(r.reclaimed_bytes, 100000);
}

TEST(test_churn_in_scope_reuses_slots)
{
    al_scope *s = al_scope_begin("churn");
    void *live[64] = {0};
    for (int i = 0; i < 200000; i++) {
        int k = i % 64;
        al_free(live[k]);
        live[k] = al_malloc(8 + (size_t)(i % 100));
    }
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 64);
    CHECK_EQ_INT(r.blocks_allocated, 200000);
}

static void *free_list_on_thread(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 5000; i++)
        al_free(blocks[i]);
    return NULL;
}

TEST(test_block_freed_on_other_thread_is_accounted_in_scope)
{
    static void *blocks[5000];
    al_memory_stats s0 = test_stats();
    al_scope *s = al_scope_begin("cross-thread");
    for (int i = 0; i < 5000; i++)
        blocks[i] = al_malloc(40);
    pthread_t t;
    pthread_create(&t, NULL, free_list_on_thread, blocks);
    pthread_join(t, NULL);
    /* The holes are reused after a sweep; allocate enough to need one. */
    for (int i = 0; i < 10000; i++)
        DISCARD(al_malloc(8));
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.bytes_freed, 5000 * 40);
    CHECK_EQ_INT(r.reclaimed_blocks, 10000);
    CHECK_EQ_INT(r.reclaimed_bytes, 80000);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
}

static void *end_elsewhere(void *s) { return (void *)(intptr_t)al_scope_end(s, NULL); }

TEST(test_scope_end_from_other_thread_is_refused)
{
    al_scope *s = al_scope_begin("mine");
    log_begin(AL_LOG_WARNING);
    pthread_t t;
    void *rc;
    pthread_create(&t, NULL, end_elsewhere, s);
    pthread_join(t, &rc);
    log_end();
    CHECK_EQ_INT((int)(intptr_t)rc, AL_ESCOPE);
    CHECK(strstr(log_text, "belongs to thread") != NULL);
    CHECK(al_scope_current() == s);
    CHECK(al_scope_end(s, NULL) == AL_OK);
}

static void *keep_elsewhere(void *p) { return al_scope_keep(p); }

TEST(test_every_scope_misuse_is_reported_and_counted)
{
    /* One reporter (ali_memory_error): logged, counted in stats.errors, and fatal with
     * ASTROLAB_ABORT_ON_ERROR=1. al_scope_keep from the wrong thread only logged. */
    uint64_t e0 = test_stats().errors;
    al_scope *s = al_scope_begin("misused");
    void *p = al_malloc(16);
    log_begin(AL_LOG_WARNING);
    pthread_t t;
    void *kept;
    pthread_create(&t, NULL, keep_elsewhere, p);
    pthread_join(t, &kept);
    log_end();
    CHECK(kept == p);
    CHECK(strstr(log_text, "of another thread") != NULL);
    CHECK_EQ_INT(test_stats().errors, e0 + 1);
    CHECK(al_scope_end(s, NULL) == AL_OK); /* p was not kept: reclaimed */
    log_begin(AL_LOG_WARNING);
    CHECK(al_scope_end(s, NULL) == AL_ESCOPE); /* ended twice */
    log_end();
    CHECK_EQ_INT(test_stats().errors, e0 + 2);
}

TEST(test_out_of_order_end_is_reported_and_ends_inner_first)
{
    uint64_t live0 = test_stats().live_blocks;
    al_scope *outer = al_scope_begin("outer");
    DISCARD(al_malloc(1));
    al_scope *inner = al_scope_begin("inner");
    DISCARD(al_malloc(2));
    (void)inner;
    log_begin(AL_LOG_WARNING);
    al_scope_report r;
    CHECK_EQ_INT(al_scope_end(outer, &r), AL_ESCOPE);
    log_end();
    CHECK(strstr(log_text, "scope inner inside it is still open") != NULL);
    CHECK(al_scope_current() == NULL);
    CHECK_EQ_STR(r.name, "outer");
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(test_stats().live_blocks, live0);
    CHECK_EQ_INT(al_scope_end(NULL, NULL), AL_EINVAL);
}

TEST(test_debug_log_shows_begin_end_and_reclaimed_sites)
{
    log_begin(AL_LOG_DEBUG);
    AL_MEMORY_MANAGEMENT("logged") { DISCARD(al_malloc_tagged(123, "leaky thing")); }
    log_end();
    CHECK(strstr(log_text, "scope logged: begin") != NULL);
    CHECK(strstr(log_text, "scope logged: end") != NULL);
    CHECK(strstr(log_text,
                 "reclaimed 1 block(s), 123 bytes (tag leaky thing) from test_scope.c:") != NULL);
}

TEST(test_reclaimed_sites_are_counted_for_diagnosis)
{
    void *probe = NULL;
    uint32_t id = 0;
    al_scope *s = al_scope_begin("diag");
    for (int i = 0; i < 3; i++) {
        probe = al_malloc_tagged(11, "reclaim probe");
        id = test_site_id(probe);
    }
    ali_site_totals before;
    ali_site_totals_get(id, &before);
    CHECK(al_scope_end(s, NULL) == AL_OK);
    ali_site_totals after;
    ali_site_totals_get(id, &after);
    CHECK_EQ_INT(after.reclaimed - before.reclaimed, 3);
    CHECK_EQ_INT(after.reclaimed_bytes - before.reclaimed_bytes, 33);
    CHECK_EQ_INT(after.live_count, 0);
}

/* A realistic stage with an early error return: nothing leaks. */
static int load_stage(int fail_at)
{
    AL_MEMORY_MANAGEMENT("load")
    {
        double *rows = AL_NEW_ARRAY(double, 1000);
        char **names = AL_NEW_ARRAY(char *, 100);
        if (!rows || !names)
            return AL_ENOMEM;
        for (int i = 0; i < 100; i++) {
            if (i == fail_at)
                return AL_EFORMAT; /* parse error half-way */
            names[i] = al_strdup("HIP 12345");
        }
    }
    return AL_OK;
}

TEST(test_early_error_return_inside_block_leaks_nothing)
{
    al_memory_stats s0 = test_stats();
    CHECK_EQ_INT(load_stage(50), AL_EFORMAT);
    CHECK_EQ_INT(load_stage(-1), AL_OK);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
}

static void *thread_exits_in_scope(void *arg)
{
    (void)arg;
    al_scope *s = al_scope_begin("abandoned");
    (void)s;
    DISCARD(al_malloc(99));
    return NULL;
}

TEST(test_scope_left_open_at_thread_exit_is_ended)
{
    al_memory_stats s0 = test_stats();
    log_begin(AL_LOG_WARNING);
    pthread_t t;
    pthread_create(&t, NULL, thread_exits_in_scope, NULL);
    pthread_join(t, NULL);
    log_end();
    CHECK(strstr(log_text, "scope abandoned still open when its thread exited") != NULL);
    CHECK_EQ_INT(test_stats().live_blocks, s0.live_blocks);
}

TEST(test_scope_budget_refuses_allocation_naming_scope_and_site)
{
    al_scope_options opts = {.budget_bytes = 1000};
    al_scope *s = al_scope_begin_ex("budgeted", &opts);
    void *a = al_malloc(600);
    log_begin(AL_LOG_ERROR);
    void *b = al_malloc(600);
    log_end();
    CHECK(a != NULL && b == NULL);
    CHECK(strstr(log_text, "scope budgeted") != NULL && strstr(log_text, "test_scope.c:") != NULL);
    al_free(a);
    b = al_malloc(600);
    CHECK(b != NULL);
    CHECK(al_scope_end(s, NULL) == AL_OK);
}

TEST(test_free_after_its_scope_ended_is_reported_not_fatal)
{
    void *v = NULL;
    AL_MEMORY_MANAGEMENT("short-lived") { v = al_malloc(64); }
    uint64_t errors = test_stats().errors;
    CHECK(!al_owns(v));
    log_begin(AL_LOG_ERROR);
    al_free(v);
    log_end();
    CHECK_EQ_INT(test_stats().errors - errors, 1);
    CHECK(strstr(log_text, "already released it when the scope ended") != NULL ||
          strstr(log_text, "double free") != NULL);
    void *p = al_malloc(8); /* the manager goes on */
    CHECK(p != NULL);
    al_free(p);
}

TEST(test_ending_a_scope_twice_is_reported)
{
    al_scope *s = al_scope_begin("twice");
    CHECK(al_scope_end(s, NULL) == AL_OK);
    log_begin(AL_LOG_ERROR);
    CHECK_EQ_INT(al_scope_end(s, NULL), AL_ESCOPE);
    log_end();
    CHECK(strstr(log_text, "already ended") != NULL);
}

TEST(test_outer_scope_ended_inside_inner_block_is_handled)
{
    uint64_t live0 = test_stats().live_blocks;
    al_scope *outer = al_scope_begin("outer by hand");
    log_begin(AL_LOG_ERROR);
    AL_MEMORY_MANAGEMENT("inner block")
    {
        DISCARD(al_malloc(10));
        CHECK_EQ_INT(al_scope_end(outer, NULL), AL_ESCOPE); /* ends the inner one first */
    } /* the block's own end then finds its scope already ended */
    log_end();
    CHECK(strstr(log_text, "still open; ending it first") != NULL);
    CHECK(strstr(log_text, "already ended") != NULL);
    CHECK(al_scope_current() == NULL);
    CHECK_EQ_INT(test_stats().live_blocks, live0);
}

static void *free_remotely(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 20000; i++)
        al_free(blocks[i]);
    return NULL;
}

TEST(test_frees_from_another_thread_keep_the_tally_exact)
{
    static void *blocks[20000];
    al_scope *s = al_scope_begin("producer");
    for (int i = 0; i < 20000; i++)
        blocks[i] = al_malloc(24);
    pthread_t t;
    pthread_create(&t, NULL, free_remotely, blocks);
    pthread_join(t, NULL);
    for (int i = 0; i < 3000; i++) /* allocations drain the queued remote frees */
        DISCARD(al_malloc(16));
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.reclaimed_blocks, 3000);
    CHECK_EQ_INT(r.reclaimed_bytes, 3000 * 16);
}

TEST(test_overflowing_request_leaves_no_charge_on_the_scope)
{
    al_scope_options opts = {.budget_bytes = 1000};
    al_scope *s = al_scope_begin_ex("budget", &opts);
    log_begin(AL_LOG_ERROR);
    volatile size_t huge = SIZE_MAX;
    void *p = al_malloc(huge);
    log_end();
    CHECK(p == NULL);
    void *q = al_malloc(1000); /* the whole budget is still there */
    CHECK(q != NULL);
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.bytes_allocated, 1000);
    CHECK_EQ_INT(r.peak_bytes, 1000);
}

/* al_free's inlined path serves blocks of any scope of the calling thread, not only the
 * innermost: the outer scope's books must come out exact. */
TEST(test_free_of_an_outer_scopes_block_inside_an_inner_one_goes_to_the_outer)
{
    al_scope *outer = al_scope_begin("outer");
    void *a = al_malloc(100), *b = al_malloc(50);
    al_scope *inner = al_scope_begin("inner");
    void *c = al_malloc(7);
    al_free(a);
    al_scope_report r;
    CHECK(al_scope_end(inner, &r) == AL_OK);
    CHECK_EQ_INT(r.bytes_freed, 0);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(r.reclaimed_bytes, 7);
    (void)c;
    CHECK(al_scope_end(outer, &r) == AL_OK);
    CHECK_EQ_INT(r.bytes_freed, 100);
    CHECK_EQ_INT(r.reclaimed_blocks, 1);
    CHECK_EQ_INT(r.reclaimed_bytes, 50);
    (void)b;
}

/* A block freed twice inside its scope: the second free takes the checked path and is reported;
 * the scope's end does not count the block again. */
TEST(test_double_free_inside_a_scope_is_reported_and_counted_once)
{
    al_scope *s = al_scope_begin("twice-freed");
    void *p = al_malloc(24);
    al_free(p);
    uint64_t errors = test_stats().errors;
    log_begin(AL_LOG_ERROR);
    al_free(p);
    log_end();
    CHECK_EQ_INT(test_stats().errors - errors, 1);
    CHECK(strstr(log_text, "double free") != NULL);
    al_scope_report r;
    CHECK(al_scope_end(s, &r) == AL_OK);
    CHECK_EQ_INT(r.bytes_freed, 24);
    CHECK_EQ_INT(r.reclaimed_blocks, 0);
}

TEST_MAIN()
