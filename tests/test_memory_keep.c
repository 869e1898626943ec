/* Tests of blocks freed and kept for reuse by a caller's own cache (al_free_keep,
 * al_reuse_kept, al_release_kept in src/memory/kept.c): the counts stay exact, and every
 * refusal a fresh allocation would meet still applies. */
#include "log_capture.h"
#include "test.h"

static void capture_errors(void) { capture_only(NULL, AL_LOG_ERROR); }

static al_site cache_site = {"cache.c", "cache_put", 1, "cached", 0};
static al_site line_a = {"pipeline.py", "step", 10, "numpy.ndarray", 0};
static al_site line_b = {"pipeline.py", "step", 20, "numpy.ndarray", 0};

TEST(test_kept_block_counts_as_freed_and_reused_as_allocated_at_its_new_site)
{
    al_memory_stats s0 = test_stats();
    void *p = al_malloc_at(40, &line_a);
    CHECK(p != NULL);
    memset(p, 7, 40);
    size_t size = 0;
    CHECK_EQ_INT(al_free_keep(p, &cache_site, &size), AL_OK);
    CHECK(size == 40);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(!al_owns(p)); /* not a live block while kept */

    void *q = al_reuse_kept(p, &line_b);
    CHECK(q == p);
    al_memory_stats s2 = test_stats();
    CHECK(s2.current_bytes == s0.current_bytes + 40 && s2.live_blocks == s0.live_blocks + 1);
    al_block_info bi;
    CHECK_EQ_INT(al_block_get_info(q, &bi), AL_OK);
    CHECK(bi.size == 40 && bi.line == 20 && bi.scope == NULL);
    al_free(q);
    CHECK(test_stats().current_bytes == s0.current_bytes);
}

TEST(test_a_second_free_of_a_kept_block_is_a_double_free)
{
    void *p = al_malloc_at(16, &line_a);
    CHECK_EQ_INT(al_free_keep(p, &cache_site, NULL), AL_OK);
    capture_errors();
    al_free(p);
    CHECK_EQ_INT(al_free_keep(p, &cache_site, NULL), AL_EBADPTR);
    capture_end();
    CHECK(log_count == 2 && strstr(log_first, "double free") != NULL &&
          strstr(log_first, "cache_put") != NULL);
    al_release_kept(p);
}

TEST(test_only_kept_blocks_are_reused_or_released)
{
    void *live = al_malloc(8);
    int local;
    capture_errors();
    CHECK(al_reuse_kept(live, &line_a) == NULL);
    al_release_kept(live);
    CHECK(al_reuse_kept(&local, &line_a) == NULL);
    al_release_kept(&local);
    capture_end();
    CHECK_EQ_INT(log_count, 4);
    CHECK(al_owns(live)); /* untouched */
    al_free(live);
}

TEST(test_blocks_of_scopes_and_watched_blocks_are_not_kept)
{
    al_scope *s = al_scope_begin("keep");
    void *p = al_malloc(8);
    CHECK_EQ_INT(al_free_keep(p, &cache_site, NULL), AL_ESCOPE);
    CHECK(al_owns(p));
    CHECK_EQ_INT(al_scope_end(s, NULL), AL_OK);

    void *w = al_malloc(8);
    al_weak *ref = al_weak_ref(w);
    CHECK(ref != NULL);
    CHECK_EQ_INT(al_free_keep(w, &cache_site, NULL), AL_ESTATE);
    CHECK(al_owns(w) && al_weak_get(ref) == w);
    al_free(w);
    CHECK(al_weak_get(ref) == NULL);
    al_weak_release(ref);

    int local;
    capture_errors();
    CHECK_EQ_INT(al_free_keep(&local, &cache_site, NULL), AL_EBADPTR);
    CHECK_EQ_INT(al_free_keep(NULL, &cache_site, NULL), AL_EINVAL); /* not reported */
    al_release_kept(NULL);                                          /* nothing, as free(NULL) */
    capture_end();
    CHECK_EQ_INT(log_count, 1);
}

TEST(test_reuse_is_refused_where_a_fresh_block_would_be)
{
    void *p = al_malloc(64);
    CHECK_EQ_INT(al_free_keep(p, &cache_site, NULL), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);

    al_memory_fail_after(1, 0); /* an injected failure */
    CHECK(al_reuse_kept(p, &line_a) == NULL);
    al_memory_fail_after(0, 0);

    al_memory_stats s = test_stats(); /* a hard limit the block would cross */
    CHECK_EQ_INT(al_memory_set_limit(0, s.current_bytes + 32), AL_OK);
    CHECK(al_reuse_kept(p, &line_a) == NULL);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);

    CHECK(test_stats().current_bytes == s.current_bytes); /* still kept, not counted */
    void *q = al_reuse_kept(p, &line_a);
    CHECK(q == p);
    al_free(q);
}

TEST(test_released_kept_blocks_leave_the_counts_alone)
{
    al_memory_stats s0 = test_stats();
    void *ps[100];
    for (int i = 0; i < 100; i++) {
        ps[i] = al_malloc_at((size_t)i + 1, &line_a);
        CHECK_EQ_INT(al_free_keep(ps[i], &cache_site, NULL), AL_OK);
    }
    for (int i = 0; i < 100; i++)
        al_release_kept(ps[i]);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.errors == s0.errors);
}

TEST(test_a_released_block_is_neither_released_nor_reused_again)
{
    void *p = al_malloc_at(200, &line_a); /* 200 bytes: the header's magic outlives the free */
    CHECK_EQ_INT(al_free_keep(p, &cache_site, NULL), AL_OK);
    al_release_kept(p);
    capture_errors();
    al_release_kept(p);
    void *q = al_reuse_kept(p, &line_b);
    capture_end();
    CHECK(q == NULL);
    CHECK_EQ_INT(log_count, 2);
}

TEST_MAIN()
