/* The library's own memory running out, at every point a workload reaches: the n-th
 * bookkeeping allocation (ali_fault_internal_after) fails, for n = 1, 2, ... until the workload
 * runs through without meeting the failure, as SQLite's and curl's out-of-memory loops do. At
 * every n: no crash, each refusal an error (NULL or a code) the workload can see, and once the
 * workload has freed what it got, the counts back where they were. Under AddressSanitizer the
 * same run shows that nothing it allocated before the failure leaks. The workload covers scopes
 * (their slot tables and per-site tallies), site records, the registry, weak references,
 * deferred calls, snapshots, diagnosis and the JSON reports. */
#include <stdlib.h>

#include "log_capture.h"
#include "memory/memory_int.h"
#include "test.h"

static int released;
static int release_one(void *obj)
{
    (void)obj;
    released++;
    return 0;
}

static void deferred_call(void *arg) { (*(int *)arg)++; }

static const char *const tags[] = {"catalog.ra", "catalog.dec", "image", "index", "scratch"};

/* The blocks an allocation returned, freed by the workload itself (those outside the scope). */
#define OUTSIDE 64

/* One pass over every part of the library that allocates bookkeeping memory. Returns how many
 * calls refused (NULL or an error code). */
static int workload(int round)
{
    int refused = 0, defers = 0;
    al_scope *s = al_scope_begin("torture");
    refused += s == NULL;
    if (s && al_scope_defer(deferred_call, &defers) != AL_OK)
        refused++;
    /* Enough blocks to grow the scope's slot table and tally past their first chunk. */
    void *kept = NULL;
    for (int i = 0; i < 3000; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "%s.%d", tags[i % 5], (i / 700) + round % 2);
        void *p = al_malloc_tagged((size_t)(16 + i % 200), tag);
        refused += p == NULL;
        if (i % 3 == 0)
            al_free(p);
        else if (i == 1000)
            kept = al_scope_keep(p); /* outlives the scope */
    }
    void *outside[OUTSIDE] = {0};
    al_handle handles[OUTSIDE] = {0};
    al_weak *weak[OUTSIDE] = {0};
    al_scope_report report;
    if (s && al_scope_end(s, &report) != AL_OK)
        refused++;
    for (int i = 0; i < OUTSIDE; i++) {
        outside[i] = al_strdup(tags[i % 5]);
        refused += outside[i] == NULL;
        if (outside[i] && !(handles[i] = al_register_for_cleanup(outside[i], release_one, "t")))
            refused++;
        if (outside[i] && !(weak[i] = al_weak_ref(outside[i])))
            refused++;
    }
    al_snapshot *a = al_memory_snapshot();
    refused += a == NULL;
    char *texts[4] = {al_memory_stats_json(), al_registry_json(10), NULL, NULL};
    al_diagnosis *d = al_diagnose_memory_leaks();
    refused += d == NULL;
    if (d) {
        texts[2] = al_diagnosis_text(d);
        texts[3] = al_diagnosis_json(d);
        al_diagnosis_free(d);
    }
    for (int i = 0; i < 4; i++) {
        refused += texts[i] == NULL;
        free(texts[i]);
    }
    al_cleanup_result r = al_force_comprehensive_cleanup();
    char *cleanup = al_cleanup_result_json(&r);
    refused += cleanup == NULL;
    free(cleanup);
    al_snapshot *b = al_memory_snapshot();
    refused += b == NULL;
    al_diagnosis *diff = a && b ? al_snapshot_diff(a, b) : NULL;
    refused += a && b && !diff;
    al_diagnosis_free(diff);
    al_snapshot_free(a);
    al_snapshot_free(b);
    for (int i = 0; i < OUTSIDE; i++) {
        CHECK(!weak[i] || al_weak_get(weak[i]) == outside[i]);
        al_weak_release(weak[i]);
        if (handles[i])
            CHECK_EQ_INT(al_unregister(handles[i]), AL_OK);
        al_free(outside[i]);
    }
    al_free(kept);
    return refused;
}

TEST(test_every_failure_of_the_librarys_own_memory_is_survived_and_reported)
{
    capture_begin();   /* the failures are reported: kept off the test output */
    (void)workload(0); /* site records and first-use tables made once, outside the loop */
    released = 0;
    al_memory_stats s0 = test_stats();
    int n = 1, failing_runs = 0, refusals = 0;
    for (; n < 5000; n++) {
        ali_fault_internal_after((uint64_t)n);
        int refused = workload(n);
        bool met = !(ali_gates_now() & ALI_GATE_INTERNAL_FAULT); /* the failure happened */
        ali_fault_internal_after(0);
        al_memory_stats s = test_stats();
        if (s.live_blocks != s0.live_blocks || s.current_bytes != s0.current_bytes) {
            fprintf(stderr,
                    "  failing bookkeeping allocation %d: %llu blocks, %llu bytes live "
                    "after the workload, against %llu and %llu\n",
                    n, (unsigned long long)s.live_blocks, (unsigned long long)s.current_bytes,
                    (unsigned long long)s0.live_blocks, (unsigned long long)s0.current_bytes);
            CHECK(false);
            break;
        }
        if (!met)
            break; /* the workload made fewer than n bookkeeping allocations */
        failing_runs++;
        refusals += refused > 0; /* others are absorbed (a tally rebuilt by a walk at the end) */
    }
    CHECK(n < 5000);          /* the loop ended by running through */
    CHECK(failing_runs > 10); /* and the workload did meet failures on its way */
    CHECK(refusals > 0);      /* some reached the workload as NULL or a code */
    CHECK(released > 0);      /* the registrations' release functions ran */
    capture_end();
    printf("  %d bookkeeping allocations failed in turn; %d refused a call, %d errors logged\n",
           failing_runs, refusals, log_errors);
}

TEST_MAIN()
