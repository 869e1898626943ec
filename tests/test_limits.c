/* Tests of the soft and hard limits on tracked memory (src/memory/limits.c) and of scope
 * budgets, with release functions that free real memory. */
#include <stdio.h>

#include "log_capture.h"
#include "test.h"

static uint64_t current(void)
{
    al_memory_stats s;
    return al_get_memory_stats(&s) == AL_OK ? s.current_bytes : 0;
}

/* -------- Objects with caches, released by priority -------- */

#define CACHE_BYTES 65536
#define NCACHES 4

typedef struct cache_owner {
    char *cache;
    int releases;
    al_handle handle;
} cache_owner;

static int order[NCACHES], norder;

/* Objects the manager does not own, registered all the same. The padding in front keeps
 * al_owns's look at the would-be block header inside this variable (with the system backing it
 * reads the 48 bytes before the pointer; ASan would report a read outside a bare global). */
static struct {
    char pad[64];
    cache_owner o[NCACHES];
} foreign;
#define owners (foreign.o)
static struct {
    char pad[64];
    int value;
} foreign_int;

static int release_by_index(void *obj)
{
    cache_owner *c = obj;
    c->releases++;
    if (c->cache && norder < NCACHES)
        order[norder++] = (int)(c - owners);
    AL_FREE(c->cache);
    return 0;
}

/* Fills every cache and registers owner i with priority 40 - 10 * i: the last is cheapest. */
static void owners_setup(void)
{
    norder = 0;
    for (int i = 0; i < NCACHES; i++) {
        owners[i].cache = al_malloc(CACHE_BYTES);
        owners[i].releases = 0;
        owners[i].handle = al_register_for_cleanup_priority(&owners[i], release_by_index,
                                                            "cache_owner", 40 - 10 * i);
        CHECK(owners[i].cache != NULL && owners[i].handle != 0);
    }
}

static void owners_refill(void)
{
    norder = 0;
    for (int i = 0; i < NCACHES; i++) {
        if (!owners[i].cache)
            owners[i].cache = al_malloc(CACHE_BYTES);
        owners[i].releases = 0;
    }
}

static void owners_teardown(void)
{
    for (int i = 0; i < NCACHES; i++) {
        CHECK_EQ_INT(al_unregister(owners[i].handle), AL_OK);
        AL_FREE(owners[i].cache);
    }
}

/* -------- Settings -------- */

TEST(test_set_limit_rejects_soft_above_hard_and_reports_limits)
{
    uint64_t soft = 1, hard = 1;
    al_memory_get_limit(&soft, &hard);
    CHECK_EQ_INT(soft, 0);
    CHECK_EQ_INT(hard, 0);
    CHECK_EQ_INT(al_memory_set_limit(1u << 30, 2u << 30), AL_OK);
    capture_begin();
    CHECK_EQ_INT(al_memory_set_limit(3u << 30, 2u << 30), AL_EINVAL);
    capture_end();
    CHECK(strstr(log_text, "above the hard limit") != NULL);
    al_memory_get_limit(&soft, &hard);
    CHECK_EQ_INT(soft, 1u << 30);
    CHECK_EQ_INT(hard, 2u << 30);
    CHECK_EQ_INT(al_memory_set_limit(5u << 30, 0), AL_OK); /* no hard limit: any soft */
    al_memory_get_limit(NULL, &hard);
    CHECK_EQ_INT(hard, 0);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_memory_get_limit(&soft, NULL);
    CHECK_EQ_INT(soft, 0);
}

/* -------- Soft limit -------- */

TEST(test_soft_limit_runs_release_functions_by_priority_until_under)
{
    owners_setup();
    uint64_t base = current() - NCACHES * CACHE_BYTES;
    /* Room for two caches plus the new block: the two cheapest must go. */
    CHECK_EQ_INT(al_memory_set_limit(base + 3 * CACHE_BYTES, 0), AL_OK);
    capture_begin();
    char *big = al_malloc(CACHE_BYTES);
    capture_end();
    CHECK(big != NULL);
    CHECK_EQ_INT(norder, 2);
    CHECK_EQ_INT(order[0], 3); /* priority 10 */
    CHECK_EQ_INT(order[1], 2); /* priority 20 */
    CHECK(owners[0].cache != NULL && owners[1].cache != NULL);
    CHECK_EQ_INT(owners[0].releases, 0);
    CHECK(current() <= base + 3 * CACHE_BYTES);
    CHECK_EQ_INT(log_warnings, 1);
    CHECK(strstr(log_text, "WARNING astrolab.memory: soft limit of") != NULL);
    CHECK(strstr(log_text, "ran 2 release function(s)") != NULL);
    CHECK(strstr(log_text, "test_limits.c") != NULL);
    CHECK_EQ_INT(log_errors, 0);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(big);
    owners_teardown();
}

TEST(test_soft_limit_cleanup_runs_at_most_once_per_interval)
{
    owners_setup();
    uint64_t base = current() - NCACHES * CACHE_BYTES;
    CHECK_EQ_INT(al_memory_set_limit(base + 3 * CACHE_BYTES, 0), AL_OK);
    al_memory_set_soft_interval(60ull * 1000000000ull);
    capture_begin();
    char *a = al_malloc(CACHE_BYTES); /* crosses: cleanup */
    CHECK_EQ_INT(norder, 2);
    owners_refill();
    char *b = al_malloc(16); /* crosses again within the interval: nothing runs */
    CHECK_EQ_INT(norder, 0);
    CHECK_EQ_INT(log_warnings, 1);
    al_memory_set_soft_interval(0);
    char *c = al_malloc(16); /* interval over: runs again */
    capture_end();
    CHECK(norder > 0);
    CHECK_EQ_INT(log_warnings, 2);
    al_memory_set_soft_interval(100000000ull);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(a);
    al_free(b);
    al_free(c);
    owners_teardown();
}

TEST(test_soft_limit_warns_when_release_functions_cannot_get_under)
{
    uint64_t base = current();
    CHECK_EQ_INT(al_memory_set_limit(base + 1000, 0), AL_OK);
    capture_begin();
    char *p = al_malloc(5000); /* allowed: the soft limit never refuses */
    capture_end();
    CHECK(p != NULL);
    CHECK_EQ_INT(log_warnings, 1);
    CHECK(strstr(log_text, "still above the limit") != NULL);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(p);
}

/* A release function that allocates must not start another cleanup on its thread. */
static int allocating_releases;
static int release_that_allocates(void *obj)
{
    (void)obj;
    allocating_releases++;
    char *tmp = al_malloc(CACHE_BYTES); /* above the soft limit again */
    al_free(tmp);
    return 0;
}

TEST(test_release_function_that_allocates_does_not_recurse)
{
    al_handle h = al_register_for_cleanup(&foreign_int.value, release_that_allocates, "allocator");
    uint64_t base = current();
    CHECK_EQ_INT(al_memory_set_limit(base + 100, 0), AL_OK);
    al_memory_set_soft_interval(0);
    allocating_releases = 0;
    capture_begin();
    char *p = al_malloc(1000);
    capture_end();
    CHECK(p != NULL);
    CHECK_EQ_INT(allocating_releases, 1);
    CHECK_EQ_INT(log_warnings, 1);
    al_memory_set_soft_interval(100000000ull);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(p);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
}

/* -------- Hard limit -------- */

TEST(test_hard_limit_runs_cleanup_then_admits_when_enough_was_freed)
{
    owners_setup();
    uint64_t base = current() - NCACHES * CACHE_BYTES;
    CHECK_EQ_INT(al_memory_set_limit(0, base + NCACHES * CACHE_BYTES + 1000), AL_OK);
    capture_begin();
    char *p = al_malloc(2 * CACHE_BYTES);
    capture_end();
    CHECK(p != NULL);
    for (int i = 0; i < NCACHES; i++) /* a comprehensive cleanup runs them all */
        CHECK_EQ_INT(owners[i].releases, 1);
    CHECK_EQ_INT(log_errors, 0);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(p);
    owners_teardown();
}

TEST(test_hard_limit_refuses_with_error_naming_the_site)
{
    owners_setup();
    uint64_t base = current() - NCACHES * CACHE_BYTES;
    uint64_t errors_before;
    al_memory_stats s;
    CHECK_EQ_INT(al_get_memory_stats(&s), AL_OK);
    errors_before = s.errors;
    CHECK_EQ_INT(al_memory_set_limit(0, base + CACHE_BYTES), AL_OK);
    capture_begin();
    int line = __LINE__ + 1;
    char *p = al_malloc(2 * CACHE_BYTES);
    capture_end();
    CHECK(p == NULL);
    for (int i = 0; i < NCACHES; i++) /* tried the cleanup first */
        CHECK_EQ_INT(owners[i].releases, 1);
    char want[128];
    snprintf(want, sizeof want,
             "allocation of %d bytes at test_limits.c:%d in %s() refused: hard "
             "limit of",
             2 * CACHE_BYTES, line, __func__);
    CHECK(strstr(log_text, want) != NULL);
    CHECK(strstr(log_text, "ERROR astrolab.memory:") != NULL);
    CHECK_EQ_INT(al_get_memory_stats(&s), AL_OK);
    CHECK_EQ_INT(s.errors, errors_before + 1);
    /* Below the limit, allocation goes on. */
    char *q = al_malloc(CACHE_BYTES / 2);
    CHECK(q != NULL);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(q);
    owners_teardown();
}

TEST(test_hard_limit_applies_to_realloc_growth)
{
    uint64_t base = current();
    char *p = al_malloc(100);
    CHECK_EQ_INT(al_memory_set_limit(0, base + 1000), AL_OK);
    capture_begin();
    char *q = al_realloc(p, 5000);
    capture_end();
    CHECK(q == NULL);
    CHECK(strstr(log_text, "refused: hard limit") != NULL);
    q = al_realloc(p, 50); /* shrinking is always allowed */
    CHECK(q != NULL);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    al_free(q);
}

static char *inner_block;
static int release_allocating_over_hard(void *obj)
{
    (void)obj;
    inner_block = al_malloc(1u << 20); /* over the hard limit: refused, no nested cleanup */
    return 0;
}

TEST(test_allocation_inside_release_function_is_refused_at_hard_limit_without_recursion)
{
    al_handle h =
        al_register_for_cleanup(&foreign_int.value, release_allocating_over_hard, "greedy");
    uint64_t base = current();
    CHECK_EQ_INT(al_memory_set_limit(0, base + 1000), AL_OK);
    capture_begin();
    inner_block = (char *)1;
    char *p = al_malloc(1u << 20);
    capture_end();
    CHECK(p == NULL);
    CHECK(inner_block == NULL);
    CHECK(strstr(log_text, "no cleanup from inside a release function") != NULL);
    CHECK_EQ_INT(log_errors, 2);
    CHECK_EQ_INT(al_memory_set_limit(0, 0), AL_OK);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
}

/* -------- Scope budgets -------- */

TEST(test_scope_budget_refuses_allocation_naming_scope_and_site)
{
    al_scope_options opts = {.budget_bytes = 1024};
    int line = 0;
    char *a = NULL, *b = (char *)1, *c = NULL;
    capture_begin();
    AL_MEMORY_MANAGEMENT_EX("budgeted", &opts)
    {
        a = al_malloc(600);
        line = __LINE__ + 1;
        b = al_malloc(600);
        al_free(a);
        c = al_malloc(600); /* fits once a is gone */
    }
    capture_end();
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    char want[96];
    snprintf(want, sizeof want, "test_limits.c:%d", line);
    CHECK(strstr(log_text, want) != NULL);
    CHECK(strstr(log_text, "scope budgeted") != NULL);
    CHECK(strstr(log_text, "budget of 1024") != NULL);
}

TEST_MAIN()
