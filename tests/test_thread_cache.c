/* Tests of the thread cache of small blocks behind al_malloc and al_free (src/memory/kept.c,
 * alloc.c): a cached block is freed in every count and counted allocated again at its new site,
 * any size of its 8-byte class, with its guard moved; the refusals of a fresh allocation still
 * apply, scopes and watched blocks go around the cache, a thread's cache is emptied when it
 * exits, and ASTROLAB_THREAD_CACHE=0 turns it off. */
// ctest-labels: threads
// ctest-separate: test_a_cached_block_is_poisoned_under_addresssanitizer
// ctest-separate: test_astrolab_thread_cache_0_gives_every_block_back
// ctest-separate: test_without_guard_checks_a_rewritten_size_never_gets_a_block_cached
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "log_capture.h"
#include "memory/alloc_int.h"
#include "memory/block_int.h"
#include "memory/memory_int.h"
#include "test.h"
#include "util/settings_int.h"

static al_site free_site = {"numpy_hook.c", "h_free", 1, "numpy.ndarray", 0};
static al_site line_a = {"pipeline.py", "step", 10, "numpy.ndarray", 0};
static al_site line_b = {"pipeline.py", "step", 20, "numpy.ndarray", 0};

/* A block of n bytes made at line_a and put in the cache; returns its address. */
static void *cached_block(size_t n)
{
    void *p = al_malloc_cached_at(n, &line_a);
    CHECK(p != NULL);
    memset(p, 0x5A, n);
    al_free_cached_at(p, &free_site);
    return p;
}

TEST(test_a_cached_block_is_freed_in_every_count_and_reused_at_its_new_site)
{
    al_cache_flush();
    al_memory_stats s0 = test_stats();
    void *p = cached_block(40);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.total_allocations == s0.total_allocations + 1 && s1.total_frees == s0.total_frees + 1);
    CHECK(!al_owns(p)); /* not a live block while cached */

    void *q = al_malloc_cached_at(40, &line_b);
    CHECK(q == p);
    al_memory_stats s2 = test_stats();
    CHECK(s2.current_bytes == s0.current_bytes + 40 && s2.live_blocks == s0.live_blocks + 1);
    CHECK(s2.total_allocations == s0.total_allocations + 2);
    al_block_info bi;
    CHECK_EQ_INT(al_block_get_info(q, &bi), AL_OK);
    CHECK(bi.size == 40 && bi.line == 20 && bi.scope == NULL);
    void *other = al_malloc_cached_at(48, &line_b); /* another size: a fresh block */
    CHECK(other != NULL && other != p);
    al_free_cached_at(q, &free_site);
    al_cache_flush();
    CHECK(test_stats().current_bytes == s0.current_bytes + 48);
    al_free(other);
    CHECK(test_stats().errors == s0.errors);
}

TEST(test_the_cache_keeps_four_blocks_of_a_size_class_and_frees_the_rest)
{
    al_cache_flush();
    cached_block(100);
    al_memory_stats s0 = test_stats();
    void *ps[6];
    for (int i = 0; i < 6; i++)
        ps[i] = al_malloc_cached_at(100, &line_a);
    for (int i = 0; i < 6; i++)
        al_free_cached_at(ps[i], &free_site);
    int reused = 0;
    void *qs[6];
    for (int i = 0; i < 6; i++) {
        qs[i] = al_malloc_cached_at(100, &line_b);
        for (int j = 0; j < 4; j++)
            reused += qs[i] == ps[j];
    }
    CHECK_EQ_INT(reused, 4); /* the first four freed were kept, the other two freed */
    CHECK(test_stats().current_bytes == s0.current_bytes + 600);
    for (int i = 0; i < 6; i++)
        al_free_cached_at(qs[i], &free_site);
    al_cache_flush();
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.errors == s0.errors);
}

TEST(test_a_second_free_of_a_cached_block_is_a_double_free)
{
    cached_block(24);
    void *p = cached_block(24);
    capture_only(NULL, AL_LOG_ERROR);
    al_free_cached_at(p, &free_site);
    al_free(p);
    capture_end();
    CHECK(log_count == 2 && strstr(log_first, "double free") != NULL &&
          strstr(log_first, "h_free") != NULL);
    void *q = al_malloc_cached_at(24, &line_a); /* the cache still holds it, once */
    CHECK(q == p);
    void *r = al_malloc_cached_at(24, &line_a);
    CHECK(r != p);
    al_free(q);
    al_free(r);
    al_cache_flush();
}

TEST(test_large_scope_and_watched_blocks_go_around_the_cache)
{
    al_cache_flush();
    cached_block(16);
    al_memory_stats s0 = test_stats();
    void *big = al_malloc_cached_at(AL_CACHE_MAX + 1, &line_a);
    al_free_cached_at(big, &free_site);
    CHECK(test_stats().current_bytes == s0.current_bytes);

    void *p = cached_block(64);
    al_scope *s = al_scope_begin("cache");
    void *q = al_malloc_cached_at(64, &line_a); /* inside a scope: the scope's own block */
    CHECK(q != p);
    al_block_info bi;
    CHECK_EQ_INT(al_block_get_info(q, &bi), AL_OK);
    CHECK(bi.scope != NULL && strcmp(bi.scope, "cache") == 0);
    al_free_cached_at(q, &free_site); /* a scope's block is freed, not cached */
    al_scope_report r;
    CHECK_EQ_INT(al_scope_end(s, &r), AL_OK);
    CHECK(r.bytes_allocated == 64 && r.bytes_freed == 64 && r.reclaimed_blocks == 0);
    CHECK(al_malloc_cached_at(64, &line_a) == p); /* outside again: the cached block */

    void *w = al_malloc_cached_at(32, &line_a);
    al_weak *ref = al_weak_ref(w);
    CHECK(ref != NULL);
    al_free_cached_at(w, &free_site);
    CHECK(al_weak_get(ref) == NULL); /* the registry saw the free */
    al_weak_release(ref);

    capture_only(NULL, AL_LOG_ERROR);
    int local;
    al_free_cached_at(&local, &free_site); /* reported, as al_free reports it */
    al_free_cached_at(NULL, &free_site);   /* nothing */
    capture_end();
    CHECK_EQ_INT(log_count, 1);
    al_free(p);
    al_cache_flush();
}

TEST(test_a_cached_block_is_refused_where_a_fresh_block_would_be)
{
    void *p = cached_block(72);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF), AL_OK);
    al_memory_fail_after(1, 0);
    CHECK(al_malloc_cached_at(72, &line_a) == NULL);
    al_memory_fail_after(0, 0);
    al_memory_stats s = test_stats();
    CHECK_EQ_INT(al_memory_set_limit(0, s.current_bytes + 32), AL_OK);
    CHECK(al_malloc_cached_at(72, &line_a) == NULL);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_WARNING), AL_OK);
    CHECK(test_stats().current_bytes == s.current_bytes);
    void *q = al_malloc_cached_at(72, &line_a); /* still cached */
    CHECK(q == p);
    al_free(q);
    al_cache_flush();
}

TEST(test_counts_stay_exact_past_a_batch_of_pending_bytes)
{
    al_cache_flush();
    cached_block(1000);
    al_memory_stats s0 = test_stats();
    enum { N = 600 }; /* 600 KB: past AL_STATS_BATCH_BYTES each way */
    static void *ps[N];
    for (int i = 0; i < N; i++)
        ps[i] = al_malloc_cached_at(1000, &line_a);
    CHECK(test_stats().current_bytes == s0.current_bytes + N * 1000);
    for (int i = 0; i < N; i++)
        al_free_cached_at(ps[i], &free_site);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.peak_bytes >= s0.current_bytes + N * 1000);
    al_cache_flush();
}

static void *churn(void *arg)
{
    (void)arg;
    void *ps[64];
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 64; i++)
            ps[i] = al_malloc_cached_at((size_t)(i % 16) * 8 + 8, &line_a);
        for (int i = 0; i < 64; i++)
            al_free_cached_at(ps[i], &free_site);
    }
    return NULL; /* exits with blocks in its cache: the thread's exit gives them back */
}

TEST(test_threads_exiting_with_cached_blocks_leave_the_counts_alone)
{
    al_memory_stats s0 = test_stats();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, churn, NULL) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.errors == s0.errors);
}

TEST(test_a_cached_block_is_the_caches_not_a_kept_one)
{
    void *p = cached_block(56);
    capture_only(NULL, AL_LOG_ERROR);
    CHECK(al_reuse_kept(p, &line_a) == NULL); /* refused and reported: the cache holds it */
    al_release_kept(p);
    capture_end();
    CHECK_EQ_INT(log_count, 2);
    void *q = al_malloc_cached_at(56, &line_a); /* still cached, once */
    CHECK(q == p);
    void *r = al_malloc_cached_at(56, &line_a);
    CHECK(r != p);
    al_free(q);
    al_free(r);
    al_cache_flush();
}

/* A release function run by the soft limit from inside al_malloc_cached (whose general path
 * checks the limit), that uses the calling thread's cache: it empties it (cache_user 0) or
 * takes its 40-byte block (1). The registered object holds one buffer, which it frees. */
static int cache_user;
static void *taken_by_cleanup;
static int release_and_use_the_cache(void *obj)
{
    void **buf = obj;
    al_free(*buf);
    *buf = NULL;
    if (cache_user == 0)
        al_cache_flush();
    else
        taken_by_cleanup = al_malloc_cached_at(40, &line_a);
    return 0;
}

/* Runs al_malloc_cached(40) at line_b with a cleanup pending that uses the cache; checks that
 * it gives a block of 40 bytes there, and that the counts end as they began. */
static void allocate_with_cleanup_using_the_cache(int how)
{
    al_cache_flush();
    void *b36 = al_malloc_cached_at(36, &line_a), *b40 = al_malloc_cached_at(40, &line_a);
    al_free_cached_at(b36, &free_site); /* one bin (33..40 bytes): 36 under 40 */
    al_free_cached_at(b40, &free_site);
    al_memory_stats s0 = test_stats();
    void **holder = al_malloc(sizeof *holder);
    CHECK(holder != NULL);
    if (!holder)
        return;
    *holder = al_malloc(4000);
    al_handle h = al_register_for_cleanup(holder, release_and_use_the_cache, "cache user");
    CHECK(h != 0);
    cache_user = how;
    taken_by_cleanup = NULL;
    al_memory_set_soft_interval(0);
    CHECK_EQ_INT(al_memory_set_limit(test_stats().current_bytes, 0), AL_OK);
    capture_begin(); /* the soft limit's warning */
    void *q = al_malloc_cached_at(40, &line_b);
    capture_end();
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_memory_set_soft_interval(100000000);
    CHECK(*holder == NULL); /* the cleanup ran */
    al_block_info bi;
    CHECK(q != NULL && al_block_get_info(q, &bi) == AL_OK && bi.size == 40 && bi.line == 20);
    if (q)
        memset(q, 0x33, 40);
    al_free(q);
    al_free(taken_by_cleanup);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
    al_free(holder);
    al_cache_flush();
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.errors == s0.errors);
}

TEST(test_cleanup_run_by_a_cached_allocation_may_empty_the_cache)
{
    allocate_with_cleanup_using_the_cache(0);
}

TEST(test_cleanup_run_by_a_cached_allocation_may_take_from_the_cache)
{
    allocate_with_cleanup_using_the_cache(1);
}

TEST(test_a_cached_block_is_poisoned_under_addresssanitizer)
{
#ifdef UNDER_ASAN
    char *p = cached_block(64);
    CHECK(__asan_address_is_poisoned(p) && __asan_address_is_poisoned(p + 63));
    char *q = al_malloc_cached_at(64, &line_a);
    CHECK(q == p && !__asan_address_is_poisoned(q) && !__asan_address_is_poisoned(q + 63));
    al_free(q);
    al_cache_flush();
#else
    TEST_SKIP("not an AddressSanitizer build");
#endif
}

/* A thread-local destructor that runs after the library's (its key is made later) frees a
 * block through the cache: the thread's shard was retired, so the free attaches one again but
 * makes no cache; the block is freed, and the counts stay exact. */
static pthread_key_t late_key;
static void late_free(void *p) { al_free_cached_at(p, &free_site); }

static void *exit_with_a_late_free(void *arg)
{
    (void)arg;
    void *p = al_malloc_cached_at(24, &line_a);
    al_free_cached_at(al_malloc_cached_at(32, &line_a), &free_site); /* the thread's cache */
    pthread_setspecific(late_key, p);
    return NULL;
}

TEST(test_a_free_after_the_threads_exit_began_counts_and_caches_nothing)
{
    al_memory_stats s0 = test_stats();
    CHECK(pthread_key_create(&late_key, late_free) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, exit_with_a_late_free, NULL) == 0);
        pthread_join(t, NULL);
    }
    pthread_key_delete(late_key);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.live_blocks == s0.live_blocks);
    CHECK(s1.errors == s0.errors);
}

TEST(test_al_malloc_takes_any_size_of_a_cached_blocks_class_and_moves_its_guard)
{
    al_cache_flush();
    al_memory_stats s0 = test_stats();
    char *p = al_malloc(40);
    CHECK(p != NULL);
    memset(p, 1, 40);
    al_free(p);
    char *q = al_malloc(33); /* the class of 33..40 bytes */
    CHECK(q == p);
    CHECK(al_block_size(q) == 33);
    CHECK(test_stats().current_bytes == s0.current_bytes + 33);
    memset(q, 2, 33);
    al_free(q);
    CHECK(test_stats().errors == s0.errors);

    /* The guard follows the new size: one byte past 34 is an overflow. */
    char *r = al_malloc(34);
    CHECK(r == p);
    char *volatile w = r;
    w[34] = 'X';
    capture_only(NULL, AL_LOG_ERROR);
    al_free(r);
    capture_end();
    CHECK(log_count == 1 && strstr(log_first, "guard bytes after the 34-byte block") != NULL);
    CHECK(test_stats().errors == s0.errors + 1);
    CHECK(test_stats().current_bytes == s0.current_bytes + 34); /* reported, not released */
    w[34] = (char)ALI_GUARD_BYTE;                               /* repaired, it frees */
    al_free(r);
    CHECK(test_stats().current_bytes == s0.current_bytes);
}

TEST(test_a_block_grown_in_place_and_cached_serves_the_largest_size_of_its_class)
{
    al_cache_flush();
    al_memory_stats s0 = test_stats();
    char *p = al_malloc(17);
    CHECK(p != NULL);
    p = al_realloc(p, 33);
    CHECK(p != NULL);
    al_free(p);
    char *q = al_malloc(40);
    CHECK(q == p);
    memset(q, 0x5A, 40); /* within the block: AddressSanitizer's builds check it */
    al_free(q);
    al_cache_flush();
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.errors == s0.errors);
}

TEST(test_a_thread_makes_its_cache_on_its_first_free)
{
    void *p = al_malloc(64);
    al_free(p);
    CHECK(ali_tls_shard != NULL && ali_tls_shard->cache != NULL);
}

/* A thread whose cache cannot be made (its bookkeeping allocation fails) frees its blocks at
 * once, with every count exact, and makes the cache on a later free. */
static void *free_without_a_cache(void *arg)
{
    int *ok = arg;
    void *p = al_malloc_at(48, &line_a), *q = al_malloc_at(48, &line_a);
    ali_shard *sh = ali_tls_shard;
    ali_fault_internal_after(1); /* the next bookkeeping allocation: the cache's */
    al_free_at(p, &free_site);
    ok[0] = sh && sh->cache == NULL && !(ali_gates_now() & ALI_GATE_INTERNAL_FAULT);
    al_free_at(q, &free_site);
    ok[1] = sh && sh->cache != NULL;
    return NULL;
}

TEST(test_a_thread_whose_cache_cannot_be_made_frees_its_blocks_at_once)
{
    al_memory_stats s0 = test_stats();
    int ok[2] = {0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_without_a_cache, ok) == 0);
    pthread_join(t, NULL);
    ali_fault_internal_after(0);
    CHECK(ok[0]); /* the failed calloc was the cache's, and the free went on without it */
    CHECK(ok[1]);
    al_memory_stats s1 = test_stats();
    CHECK_EQ_INT(s1.current_bytes, s0.current_bytes);
    CHECK_EQ_INT(s1.live_blocks, s0.live_blocks);
    CHECK_EQ_INT(s1.errors, s0.errors);
}

/* With ASTROLAB_CHECK_GUARDS=0 nothing vouches for a header's size: an overflow from the block
 * before may have rewritten it. The cache then asks the backing store what the block holds, and
 * a block claiming more than that is freed, not cached for a class it cannot serve. Its own
 * process: the rewritten size skews the byte counts. */
TEST(test_without_guard_checks_a_rewritten_size_never_gets_a_block_cached)
{
    ali_check_guards = 0;
    al_cache_flush();
    char *b = al_malloc(40);
    CHECK(b != NULL);
    /* What an overflow from the block before would do: a size of the cache's, far more than
     * the block holds (40 bytes, 96 with its header and guard). */
    uint64_t claimed = 1000;
    char *volatile header = (char *)ali_block_of(b); /* the compiler sees b as 40 bytes only */
    memcpy(header + offsetof(ali_block, size), &claimed, sizeof claimed);
    uintptr_t freed = (uintptr_t)b;
    al_free(b);
    char *c = al_malloc(1000);
    CHECK(c != NULL && (uintptr_t)c != freed);
    memset(c, 1, 1000);
    al_free(c);
    al_cache_flush();
    ali_check_guards = 1;
}

/* Run as a process of its own: the setting is read once, at the first free of the process. */
TEST(test_astrolab_thread_cache_0_gives_every_block_back)
{
    setenv("ASTROLAB_THREAD_CACHE", "0", 1);
    ali_settings_reload();
    al_memory_stats s0 = test_stats();
    char *p = al_malloc(64);
    al_free(p);
    CHECK(ali_tls_shard == NULL || ali_tls_shard->cache == NULL);
    char *q = al_malloc(64);
    al_free(q);
    CHECK(ali_tls_shard == NULL || ali_tls_shard->cache == NULL);
    al_memory_stats s1 = test_stats();
    CHECK(s1.current_bytes == s0.current_bytes && s1.total_frees == s0.total_frees + 2);
    unsetenv("ASTROLAB_THREAD_CACHE");
    ali_settings_reload();
}

TEST_MAIN()
