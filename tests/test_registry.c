// ctest-labels: threads
/* Tests of the cleanup registry, weak references and the comprehensive cleanup
 * (src/memory/registry.c, src/memory/cleanup.c). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "log_capture.h"
#include "memory/front_int.h"
#include "memory/memory_int.h"
#include "test.h"

/* -------- An object with a cache its release function frees -------- */

typedef struct cached {
    char *cache; /* tracked, freed by release */
    size_t cache_bytes;
    int releases; /* times release ran */
    int fail;     /* release returns this */
} cached;

static int release_cache(void *obj)
{
    cached *c = obj;
    c->releases++;
    AL_FREE(c->cache);
    return c->fail;
}

static cached *cached_new(size_t cache_bytes)
{
    cached *c = AL_NEW(cached);
    if (!c)
        return NULL;
    c->cache = al_malloc(cache_bytes);
    c->cache_bytes = cache_bytes;
    return c;
}

static void cached_free(cached *c)
{
    if (c)
        al_free(c->cache);
    al_free(c);
}

static int count_calls;
static int count_release(void *obj)
{
    (void)obj;
    count_calls++;
    return 0;
}

/* -------- Registrations -------- */

/* Reads the header flag; the asm hides the allocation size from UBSan's object-size check, which
 * would otherwise see the header as outside the block. */
static bool is_watched(void *p)
{
    __asm__("" : "+r"(p));
    return (ali_block_of(p)->flags & ALI_BLOCK_WATCHED) != 0;
}

TEST(test_handles_are_unique_and_unregister_removes_once)
{
    size_t base = al_registry_count();
    int *obj = al_malloc(sizeof *obj);
    al_handle a = al_register_for_cleanup(obj, count_release, "int");
    al_handle b = al_register_for_cleanup(obj, count_release, "int");
    CHECK(a != 0 && b != 0 && a != b);
    CHECK_EQ_INT(al_registry_count(), base + 2);
    CHECK_EQ_INT(al_unregister(a), AL_OK);
    CHECK_EQ_INT(al_unregister(a), AL_ENOTFOUND);
    CHECK_EQ_INT(al_registry_count(), base + 1);
    CHECK_EQ_INT(al_unregister(b), AL_OK);
    CHECK_EQ_INT(al_unregister(0), AL_ENOTFOUND);
    al_handle c = al_register_for_cleanup(obj, count_release, "int");
    CHECK(c > b); /* never reused */
    CHECK_EQ_INT(al_unregister(c), AL_OK);
    CHECK_EQ_INT(al_registry_count(), base);
    al_free(obj);
}

TEST(test_register_with_null_argument_returns_zero)
{
    int *obj = al_malloc(sizeof *obj);
    size_t base = al_registry_count();
    capture_begin();
    CHECK_EQ_INT(al_register_for_cleanup(NULL, count_release, "int"), 0);
    CHECK_EQ_INT(al_register_for_cleanup(obj, NULL, "int"), 0);
    CHECK_EQ_INT(al_register_for_cleanup(obj, count_release, NULL), 0);
    capture_end();
    CHECK_EQ_INT(log_errors, 3);
    CHECK(strstr(log_text, "the release function is NULL") != NULL);
    CHECK_EQ_INT(al_registry_count(), base);
    al_free(obj);
}

TEST(test_free_drops_every_registration_of_the_object)
{
    size_t base = al_registry_count();
    int *obj = al_malloc(sizeof *obj);
    al_handle a = al_register_for_cleanup(obj, count_release, "int");
    al_handle b = al_register_for_cleanup_priority(obj, count_release, "int", 5);
    CHECK(is_watched(obj));
    al_free(obj);
    CHECK_EQ_INT(al_registry_count(), base);
    CHECK_EQ_INT(al_unregister(a), AL_ENOTFOUND);
    CHECK_EQ_INT(al_unregister(b), AL_ENOTFOUND);
    count_calls = 0;
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(count_calls, 0);
    CHECK_EQ_INT(r.callbacks_run, 0);
}

TEST(test_untracked_object_stays_registered_until_unregister)
{
    /* Not the manager's. The padding keeps al_owns's look at the would-be header (the 48 bytes
     * before the pointer, with the system backing) inside the variable, for ASan. */
    static struct {
        char pad[64];
        int value;
    } plain;
    size_t base = al_registry_count();
    al_handle h = al_register_for_cleanup(&plain.value, count_release, "static int");
    CHECK(h != 0);
    count_calls = 0;
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(count_calls, 1);
    CHECK_EQ_INT(r.callbacks_run, 1);
    CHECK_EQ_INT(al_registry_count(), base + 1);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
    CHECK_EQ_INT(al_registry_count(), base);
}

TEST(test_scope_reclaim_drops_registrations)
{
    size_t base = al_registry_count();
    al_handle h = 0;
    AL_MEMORY_MANAGEMENT("registered")
    {
        int *obj = al_malloc(sizeof *obj);
        h = al_register_for_cleanup(obj, count_release, "int");
        CHECK(h != 0);
    }
    CHECK_EQ_INT(al_registry_count(), base);
    CHECK_EQ_INT(al_unregister(h), AL_ENOTFOUND);
}

/* Resizes a registered, weakly referenced block of 4096 bytes to n and checks where it went and
 * that the registry followed: kept when the block stays in place, dropped when it moves; dropped
 * by the final free either way. Such a block resizes in place exactly when n fits its backing
 * block (ali_realloc_block), so each caller knows which outcome to expect. */
static void check_realloc(size_t n, bool expect_in_place)
{
    size_t base = al_registry_count();
    char *obj = al_malloc(4096);
    al_handle h = al_register_for_cleanup(obj, count_release, "buffer");
    al_weak *w = al_weak_ref(obj);
    uintptr_t old = (uintptr_t)obj; /* compared only: obj is invalid once the block moves */
    char *q = al_realloc(obj, n);
    CHECK(q != NULL);
    if (expect_in_place) {
        CHECK((uintptr_t)q == old);
        CHECK(al_weak_get(w) == q);
        CHECK_EQ_INT(al_registry_count(), base + 1);
    } else {
        CHECK((uintptr_t)q != old);
        CHECK(al_weak_get(w) == NULL);
        CHECK_EQ_INT(al_registry_count(), base);
        CHECK_EQ_INT(al_unregister(h), AL_ENOTFOUND);
    }
    al_free(q);
    CHECK(al_weak_get(w) == NULL);
    CHECK_EQ_INT(al_registry_count(), base);
    CHECK_EQ_INT(al_unregister(h), AL_ENOTFOUND);
    al_weak_release(w);
}

TEST(test_realloc_in_place_keeps_registration_until_free)
{
    check_realloc(4000, true); /* a shrink always fits the backing block */
}

TEST(test_realloc_that_moves_drops_registration)
{
    check_realloc(1u << 20, false); /* 1 MiB never fits a 4 KiB block's backing block */
}

/* -------- Weak references -------- */

TEST(test_weak_ref_reads_null_after_free)
{
    int *obj = al_malloc(sizeof *obj);
    al_weak *w1 = al_weak_ref(obj), *w2 = al_weak_ref(obj);
    CHECK(w1 && w2 && w1 != w2);
    CHECK(al_weak_get(w1) == obj);
    CHECK(al_weak_get(w2) == obj);
    al_weak_release(w2);
    CHECK(al_weak_get(w1) == obj);
    al_free(obj);
    CHECK(al_weak_get(w1) == NULL);
    al_weak_release(w1);
}

TEST(test_weak_ref_cleared_by_scope_reclaim)
{
    al_weak *w = NULL;
    AL_MEMORY_MANAGEMENT("stage")
    {
        double *obj = al_malloc(8 * sizeof *obj);
        w = al_weak_ref(obj);
        CHECK(al_weak_get(w) == obj);
    }
    CHECK(w != NULL);
    CHECK(al_weak_get(w) == NULL);
    al_weak_release(w);
}

TEST(test_weak_ref_of_untracked_pointer_is_null)
{
    /* A zeroed area: its "header" is not a live block's. */
    char *area = calloc(1, 256);
    CHECK(al_weak_ref(area + 128) == NULL);
    free(area);
    CHECK(al_weak_ref(NULL) == NULL);
    CHECK(al_weak_get(NULL) == NULL);
    al_weak_release(NULL);
    int *obj = al_malloc(64);
    CHECK(al_weak_ref(obj + 1) == NULL); /* interior pointer */
    al_free(obj);
}

TEST(test_weak_ref_release_after_object_freed_and_before)
{
    int *a = al_malloc(16), *b = al_malloc(16);
    al_weak *wa = al_weak_ref(a), *wb = al_weak_ref(b);
    al_handle hb = al_register_for_cleanup(b, count_release, "int");
    al_weak_release(wb); /* b still registered: its record stays */
    al_free(a);
    al_weak_release(wa);
    CHECK_EQ_INT(al_unregister(hb), AL_OK);
    al_free(b);
}

/* -------- Comprehensive cleanup -------- */

TEST(test_force_cleanup_runs_all_counts_failures_and_releases_bytes)
{
    size_t base = al_registry_count();
    cached *ok1 = cached_new(100000), *ok2 = cached_new(50000), *bad = cached_new(7000);
    bad->fail = 3;
    al_handle h[3] = {al_register_for_cleanup(ok1, release_cache, "cached"),
                      al_register_for_cleanup(bad, release_cache, "failing_cache"),
                      al_register_for_cleanup(ok2, release_cache, "cached")};
    CHECK(h[0] && h[1] && h[2]);
    capture_begin();
    al_cleanup_result r = al_force_comprehensive_cleanup();
    capture_end();
    CHECK_EQ_INT(r.success, 0);
    CHECK_EQ_INT(r.callbacks_run, 3);
    CHECK_EQ_INT(r.callbacks_failed, 1);
    CHECK_EQ_INT(r.bytes_released, 157000);
    CHECK(r.rss_before_bytes > 0);
    CHECK(r.rss_after_bytes > 0);
    CHECK(r.duration_ns > 0);
    CHECK_EQ_INT(ok1->releases, 1);
    CHECK_EQ_INT(ok2->releases, 1);
    CHECK_EQ_INT(bad->releases, 1);
    CHECK(ok1->cache == NULL && bad->cache == NULL);
    CHECK_EQ_INT(log_warnings, 1);
    CHECK(strstr(log_text, "WARNING astrolab.memory: release function of failing_cache") != NULL);
    /* Registrations outlive a cleanup: the objects stay valid. */
    CHECK_EQ_INT(al_registry_count(), base + 3);
    bad->fail = 0;
    r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(r.success, 1);
    CHECK_EQ_INT(r.callbacks_run, 3);
    CHECK_EQ_INT(r.bytes_released, 0);
    cached_free(ok1);
    cached_free(ok2);
    cached_free(bad);
    CHECK_EQ_INT(al_registry_count(), base);
}

TEST(test_force_cleanup_with_no_registrations_succeeds)
{
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(r.success, 1);
    CHECK_EQ_INT(r.callbacks_run, 0);
    CHECK_EQ_INT(r.callbacks_failed, 0);
    CHECK_EQ_INT(r.cuda_bytes_released, 0);
}

static uint64_t fake_cuda_release(void) { return 12345; }

TEST(test_force_cleanup_calls_the_cuda_hook)
{
    static const ali_device_hooks fake = {.release = fake_cuda_release};
    const ali_device_hooks *saved = ali_memory_set_device_hooks(&fake);
    al_cleanup_result r = al_force_comprehensive_cleanup();
    (void)ali_memory_set_device_hooks(saved);
    CHECK_EQ_INT(r.cuda_bytes_released, 12345);
}

TEST(test_cleanup_result_json_has_every_field)
{
    al_cleanup_result r = {.success = 1,
                           .callbacks_run = 4,
                           .callbacks_failed = 1,
                           .bytes_released = 1u << 20,
                           .cuda_bytes_released = 77,
                           .rss_before_bytes = 3000000,
                           .rss_after_bytes = 2000000,
                           .duration_ns = 123456789};
    char *text = al_cleanup_result_json(&r);
    CHECK(text != NULL);
    cJSON *o = cJSON_Parse(text);
    CHECK(o != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "success")));
    const struct {
        const char *key;
        uint64_t value;
    } want[] = {{"callbacks_run", 4},          {"callbacks_failed", 1},
                {"bytes_released", 1u << 20},  {"cuda_bytes_released", 77},
                {"rss_before_bytes", 3000000}, {"rss_after_bytes", 2000000},
                {"duration_ns", 123456789}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, want[i].key);
        CHECK(cJSON_IsNumber(v));
        if (cJSON_IsNumber(v))
            CHECK_EQ_INT((uint64_t)cJSON_GetNumberValue(v), want[i].value);
    }
    CHECK_EQ_INT(cJSON_GetArraySize(o), 8);
    cJSON_Delete(o);
    free(text);
    r.success = 0;
    text = al_cleanup_result_json(&r);
    o = cJSON_Parse(text);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "success")));
    cJSON_Delete(o);
    free(text);
    CHECK(al_cleanup_result_json(NULL) == NULL);
}

/* Release functions that free objects: their own, or another registered one. */
typedef struct pair {
    struct pair *other; /* freed by this one's release */
    al_handle handle;
    int releases;
} pair;

static int free_self(void *obj)
{
    al_free(obj);
    return 0;
}

static int free_other(void *obj)
{
    pair *p = obj;
    p->releases++;
    AL_FREE(p->other);
    return 0;
}

static int other_releases;
static int count_other(void *obj)
{
    (void)obj;
    other_releases++;
    return 0;
}

TEST(test_release_function_may_free_its_object_or_another)
{
    size_t base = al_registry_count();
    int *self = al_malloc(32);
    CHECK(al_register_for_cleanup_priority(self, free_self, "self", 1) != 0);
    pair *first = AL_NEW(pair), *second = AL_NEW(pair);
    first->other = second;
    CHECK(al_register_for_cleanup_priority(first, free_other, "pair", 2) != 0);
    CHECK(al_register_for_cleanup_priority(second, count_other, "pair", 3) != 0);
    other_releases = 0;
    al_cleanup_result r = al_force_comprehensive_cleanup();
    /* self freed itself; first freed second before second's turn: second never ran. */
    CHECK_EQ_INT(r.callbacks_run, 2);
    CHECK_EQ_INT(other_releases, 0);
    CHECK_EQ_INT(first->releases, 1);
    CHECK_EQ_INT(al_registry_count(), base + 1);
    al_free(first);
    CHECK_EQ_INT(al_registry_count(), base);
}

static int unregister_self(void *obj)
{
    pair *p = obj;
    p->releases++;
    return al_unregister(p->handle) == AL_OK ? 0 : 1;
}

static al_cleanup_result nested_result;
static int nested_cleanup(void *obj)
{
    (void)obj;
    nested_result = al_force_comprehensive_cleanup();
    return 0;
}

TEST(test_release_function_may_unregister_itself_and_cannot_nest_a_cleanup)
{
    size_t base = al_registry_count();
    pair *p = AL_NEW(pair);
    p->handle = al_register_for_cleanup(p, unregister_self, "pair");
    int *n = al_malloc(4);
    CHECK(al_register_for_cleanup(n, nested_cleanup, "nested") != 0);
    nested_result.success = 7;
    capture_begin();
    al_cleanup_result r = al_force_comprehensive_cleanup();
    capture_end();
    CHECK_EQ_INT(r.callbacks_run, 2);
    CHECK_EQ_INT(r.callbacks_failed, 0);
    CHECK_EQ_INT(p->releases, 1);
    CHECK_EQ_INT(nested_result.success, 0);
    CHECK_EQ_INT(nested_result.callbacks_run, 0);
    CHECK(strstr(log_text, "called from inside a release function") != NULL);
    CHECK_EQ_INT(al_registry_count(), base + 1);
    al_free(p);
    al_free(n);
    CHECK_EQ_INT(al_registry_count(), base);
}

/* -------- Fault injection -------- */

TEST(test_registration_fails_cleanly_under_fault_injection)
{
    size_t base = al_registry_count();
    uint64_t live = test_live_blocks();
    int *obj = al_malloc(16);
    al_handle h = 0;
    int failures = 0;
    capture_begin();
    for (uint64_t n = 1; n < 20 && !h; n++) {
        al_memory_fail_after(n, 0);
        h = al_register_for_cleanup(obj, count_release, "int");
        al_memory_fail_after(0, 0);
        if (!h) {
            failures++;
            CHECK_EQ_INT(al_registry_count(), base);
        }
    }
    capture_end();
    CHECK(h != 0);
    CHECK_EQ_INT(failures, 3); /* the entry, its type name, the object's record */
    CHECK(strstr(log_text, "out of memory for the registry") != NULL);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
    al_free(obj);
    CHECK_EQ_INT(test_live_blocks(), live);
    CHECK_EQ_INT(al_registry_count(), base);
}

TEST(test_weak_ref_fails_cleanly_under_fault_injection)
{
    uint64_t live = test_live_blocks();
    int *obj = al_malloc(16);
    al_weak *w = NULL;
    int failures = 0;
    capture_begin();
    for (uint64_t n = 1; n < 20 && !w; n++) {
        al_memory_fail_after(n, 0);
        w = al_weak_ref(obj);
        al_memory_fail_after(0, 0);
        if (!w) {
            failures++;
            CHECK_EQ_INT(test_live_blocks(), live + 1);
        }
    }
    capture_end();
    CHECK(w != NULL);
    CHECK_EQ_INT(failures, 2); /* the al_weak block, the object's record */
    CHECK(al_weak_get(w) == obj);
    al_free(obj);
    CHECK(al_weak_get(w) == NULL);
    al_weak_release(w);
    CHECK_EQ_INT(test_live_blocks(), live);
}

/* -------- Two threads -------- */

#define RACE_OBJECTS 400

typedef struct racer {
    char *cache;         /* freed by the release function */
    _Atomic int touched; /* written by the "plain" release function */
    al_handle handle;
} racer;

static int race_release_cache(void *obj)
{
    racer *r = obj;
    AL_FREE(r->cache);
    return 0;
}

static int race_release_touch(void *obj)
{
    racer *r = obj;
    atomic_fetch_add(&r->touched, 1);
    return 0;
}

static _Atomic(al_weak *) race_weak[RACE_OBJECTS];
static racer *race_kept[RACE_OBJECTS];
static _Atomic int race_made;
static _Atomic bool race_done;
static pthread_barrier_t race_start;

/* Makes objects, registers them, takes weak references and frees half of them, in the three
 * ways an object goes: unregister then free, a plain free while registered, a scope's end. */
static void *race_mutator(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&race_start);
    for (int i = 0; i < RACE_OBJECTS; i++) {
        if (i % 8 == 0)
            sched_yield(); /* let the cleaner in, on a machine with one free core */
        racer *r = AL_NEW(racer);
        CHECK(r != NULL);
        if (!r)
            break;
        bool with_cache = i % 2 == 0;
        if (with_cache)
            r->cache = al_malloc(256);
        r->handle = al_register_for_cleanup(r, with_cache ? race_release_cache : race_release_touch,
                                            with_cache ? "racer cache" : "racer");
        CHECK(r->handle != 0);
        atomic_store(&race_weak[i], al_weak_ref(r));
        atomic_store(&race_made, i + 1);
        switch (i % 4) {
        case 0: /* owner's teardown: unregister (waits for a running release), then free */
            CHECK_EQ_INT(al_unregister(r->handle), AL_OK);
            al_free(r->cache);
            al_free(r);
            break;
        case 1: /* plain free: the registry drops it, waiting for a running release */
            al_free(r);
            break;
        default:
            race_kept[i] = r;
            break;
        }
        if (i % 50 == 49) {
            AL_MEMORY_MANAGEMENT("race scope")
            {
                racer *t = AL_NEW(racer);
                if (t) {
                    CHECK(al_register_for_cleanup(t, race_release_touch, "scoped racer") != 0);
                    al_weak *w = al_weak_ref(t);
                    CHECK(al_weak_get(w) == t);
                    al_weak_release(w);
                }
            }
        }
    }
    atomic_store(&race_done, true);
    return NULL;
}

/* Runs cleanups and weak look-ups while the mutator works. */
static void *race_cleaner(void *arg)
{
    (void)arg;
    uint64_t cleanups = 0, seen = 0;
    pthread_barrier_wait(&race_start);
    while (!atomic_load(&race_done) || cleanups < 3) {
        al_cleanup_result r = al_force_comprehensive_cleanup();
        CHECK_EQ_INT(r.callbacks_failed, 0);
        cleanups++;
        int made = atomic_load(&race_made);
        for (int i = 0; i < made; i++)
            seen += al_weak_get(atomic_load(&race_weak[i])) != NULL;
        /* The cleaner's own objects: registration and release racing the mutator's. */
        int *mine = al_malloc(8);
        al_handle h = al_register_for_cleanup(mine, race_release_touch, "cleaner");
        CHECK(h != 0);
        al_free(mine);
        CHECK_EQ_INT(al_unregister(h), AL_ENOTFOUND);
    }
    return (void *)(uintptr_t)seen;
}

TEST(test_registry_and_weak_refs_race_safely_on_two_threads)
{
    size_t base = al_registry_count();
    atomic_store(&race_made, 0);
    atomic_store(&race_done, false);
    pthread_barrier_init(&race_start, NULL, 2);
    pthread_t a, b;
    CHECK_EQ_INT(pthread_create(&a, NULL, race_mutator, NULL), 0);
    CHECK_EQ_INT(pthread_create(&b, NULL, race_cleaner, NULL), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&race_start);
    CHECK_EQ_INT(atomic_load(&race_made), RACE_OBJECTS);
    for (int i = 0; i < RACE_OBJECTS; i++) {
        al_weak *w = atomic_load(&race_weak[i]);
        CHECK(w != NULL);
        if (i % 4 < 2)
            CHECK(al_weak_get(w) == NULL);
        else
            CHECK(al_weak_get(w) == race_kept[i]);
    }
    CHECK_EQ_INT(al_registry_count(), base + RACE_OBJECTS / 2);
    for (int i = 0; i < RACE_OBJECTS; i++) {
        racer *r = race_kept[i];
        if (!r)
            continue;
        al_free(r->cache);
        al_free(r);
        race_kept[i] = NULL;
        CHECK(al_weak_get(atomic_load(&race_weak[i])) == NULL);
    }
    for (int i = 0; i < RACE_OBJECTS; i++)
        al_weak_release(atomic_exchange(&race_weak[i], NULL));
    CHECK_EQ_INT(al_registry_count(), base);
}

/* A release function that is slow: a free or unregister of its object on another thread must
 * wait for it to return. */
typedef struct slow {
    int value;
} slow;

static _Atomic int slow_entered, slow_finished;

static int slow_release(void *obj)
{
    slow *s = obj;
    atomic_store(&slow_entered, 1);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    s->value++; /* the object must still be there */
    atomic_store(&slow_finished, 1);
    return 0;
}

static void *slow_cleaner(void *arg)
{
    (void)arg;
    al_cleanup_result r = al_force_comprehensive_cleanup();
    CHECK_EQ_INT(r.callbacks_run, 1);
    return NULL;
}

/* Starts a cleanup on another thread and returns once slow_release is running. */
static pthread_t slow_start(void)
{
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_finished, 0);
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, slow_cleaner, NULL), 0);
    while (!atomic_load(&slow_entered))
        sched_yield();
    return t;
}

TEST(test_free_waits_for_a_running_release_function)
{
    slow *s = AL_NEW(slow);
    al_weak *w = al_weak_ref(s);
    CHECK(al_register_for_cleanup(s, slow_release, "slow") != 0);
    pthread_t t = slow_start();
    CHECK(al_weak_get(w) == s); /* not freed yet */
    CHECK_EQ_INT(atomic_load(&slow_finished), 0);
    al_free(s); /* returns only once slow_release has returned */
    CHECK_EQ_INT(atomic_load(&slow_finished), 1);
    CHECK(al_weak_get(w) == NULL);
    pthread_join(t, NULL);
    al_weak_release(w);
}

TEST(test_unregister_waits_for_a_running_release_function)
{
    static struct {
        char pad[64]; /* see test_untracked_object_stays_registered_until_unregister */
        slow s;
    } foreign;
    al_handle h = al_register_for_cleanup(&foreign.s, slow_release, "slow");
    pthread_t t = slow_start();
    CHECK_EQ_INT(atomic_load(&slow_finished), 0);
    CHECK_EQ_INT(al_unregister(h), AL_OK);
    CHECK_EQ_INT(atomic_load(&slow_finished), 1);
    pthread_join(t, NULL);
    CHECK_EQ_INT(foreign.s.value, 1);
}

TEST(test_registry_json_lists_each_registration)
{
    size_t before = al_registry_count();
    double *obj = al_malloc(48);
    al_handle h = al_register_for_cleanup_priority(obj, count_release, "sky cache", 7);
    CHECK(h != 0);
    char *text = al_registry_json(1000);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc != NULL);
    CHECK_EQ_INT(cJSON_GetObjectItem(doc, "registrations")->valueint, before + 1);
    int found = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "objects"))
    {
        if ((al_handle)cJSON_GetObjectItem(e, "handle")->valuedouble != h)
            continue;
        found = 1;
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "sky cache");
        CHECK_EQ_INT(cJSON_GetObjectItem(e, "priority")->valueint, 7);
        CHECK_EQ_INT(cJSON_GetObjectItem(e, "bytes")->valueint, 48);
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(e, "running")));
    }
    CHECK(found);
    cJSON_Delete(doc);
    free(text);
    /* At most `max` objects are listed; the count stays whole. */
    text = al_registry_json(0);
    doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc && cJSON_GetArraySize(cJSON_GetObjectItem(doc, "objects")) == 0);
    CHECK(doc && cJSON_GetObjectItem(doc, "registrations")->valueint == (int)before + 1);
    cJSON_Delete(doc);
    free(text);
    al_free(obj); /* drops the registration */
    CHECK_EQ_INT(al_registry_count(), before);
}

TEST_MAIN()
