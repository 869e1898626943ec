// ctest-labels: threads
/* Tests of the leak diagnosis (<astrolab/diagnosis.h>): top consumers, types, growth,
 * accounting, every recommendation code (present for a workload made for it, absent where it
 * should be), thresholds from the API and the environment, JSON parsed back, the text form,
 * allocation failure, a diagnosis racing allocating threads, and the leak report at exit of a
 * child program (tests/leaky_child.c). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log_capture.h"
#include "memory/diagnosis_int.h"
#include "test.h"

/* -------- Known sites: each records the line of its allocation. -------- */

struct diag_star {
    double ra, dec;
};

static int line_big, line_mid, line_star, line_grow, line_scoped;

static void *alloc_big(size_t n)
{
    line_big = __LINE__ + 1;
    return al_malloc_tagged(n, "diag big");
}

static void *alloc_mid(size_t n)
{
    line_mid = __LINE__ + 1;
    return al_malloc_tagged(n, "diag mid");
}

static struct diag_star *alloc_star(void)
{
    line_star = __LINE__ + 1;
    return AL_NEW(struct diag_star);
}

static void *alloc_grow(size_t n)
{
    line_grow = __LINE__ + 1;
    return al_malloc_tagged(n, "diag grow");
}

/* Three churn sites and four loading sites: one call per case, so one site per case. */
static void *alloc_churn(int which, size_t n)
{
    switch (which) {
    case 0:
        return al_malloc_tagged(n, "diag churn");
    case 1:
        return al_malloc_tagged(n, "diag churn");
    default:
        return al_malloc_tagged(n, "diag churn");
    }
}

static void *alloc_load(int which, size_t n)
{
    switch (which) {
    case 0:
        return al_malloc_tagged(n, "diag load");
    case 1:
        return al_malloc_tagged(n, "diag load");
    case 2:
        return al_malloc_tagged(n, "diag load");
    default:
        return al_malloc_tagged(n, "diag load");
    }
}

static void *alloc_scoped(size_t n)
{
    line_scoped = __LINE__ + 1;
    return al_malloc_tagged(n, "diag scoped");
}

/* -------- Helpers -------- */

static al_diagnosis_thresholds saved_thresholds;

static void thresholds_save(void)
{
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&saved_thresholds), AL_OK);
}
static void thresholds_restore(void)
{
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&saved_thresholds), AL_OK);
}

static int set_threshold_objects(uint64_t n)
{
    al_diagnosis_thresholds t;
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&t), AL_OK);
    t.object_count = n;
    return al_diagnosis_set_thresholds(&t);
}

static const al_diagnosis_site *top_at_line(const al_diagnosis *d, int line, size_t *index)
{
    for (size_t i = 0; i < d->n_top_consumers; i++)
        if (d->top_consumers[i].line == line && d->top_consumers[i].file &&
            strcmp(d->top_consumers[i].file, __FILE__) == 0) {
            if (index)
                *index = i;
            return &d->top_consumers[i];
        }
    return NULL;
}

static const al_diagnosis_type *type_named(const al_diagnosis *d, const char *tag)
{
    for (size_t i = 0; i < d->n_types; i++)
        if (strcmp(d->types[i].tag, tag) == 0)
            return &d->types[i];
    return NULL;
}

static const al_diagnosis_growth *growth_at_line(const al_diagnosis *d, int line, size_t *index)
{
    for (size_t i = 0; i < d->n_growth; i++)
        if (d->growth[i].site.line == line && d->growth[i].site.file &&
            strcmp(d->growth[i].site.file, __FILE__) == 0) {
            if (index)
                *index = i;
            return &d->growth[i];
        }
    return NULL;
}

/* The recommendation with `code` (and, when line > 0, about that line of this file). */
static const al_recommendation *rec(const al_diagnosis *d, const char *code, int line)
{
    for (size_t i = 0; i < d->n_recommendations; i++) {
        const al_recommendation *r = &d->recommendations[i];
        if (strcmp(r->code, code) != 0)
            continue;
        if (line <= 0 || (r->line == line && r->file && strcmp(r->file, __FILE__) == 0))
            return r;
    }
    return NULL;
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* "test_diagnosis.c:42 in fn()" */
static void where(char *buf, size_t len, int line, const char *fn)
{
    snprintf(buf, len, "test_diagnosis.c:%d in %s()", line, fn);
}

/* -------- Top consumers and types -------- */

TEST(test_top_consumers_are_sites_largest_first_with_file_line_function_tag_bytes_count)
{
    void *big = alloc_big(40000);
    void *mid[10];
    for (int i = 0; i < 10; i++)
        mid[i] = alloc_mid(1000);
    struct diag_star *stars[5];
    for (int i = 0; i < 5; i++)
        stars[i] = alloc_star();

    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d != NULL);
    if (d) {
        size_t ib = 99, im = 99, is = 99;
        const al_diagnosis_site *b = top_at_line(d, line_big, &ib);
        const al_diagnosis_site *m = top_at_line(d, line_mid, &im);
        const al_diagnosis_site *s = top_at_line(d, line_star, &is);
        CHECK(b && m && s);
        if (b && m && s) {
            CHECK_EQ_INT(ib, 0);
            CHECK(ib < im && im < is);
            CHECK_EQ_STR(b->function, "alloc_big");
            CHECK_EQ_STR(b->tag, "diag big");
            CHECK_EQ_INT(b->bytes, 40000);
            CHECK_EQ_INT(b->count, 1);
            CHECK_EQ_STR(m->function, "alloc_mid");
            CHECK_EQ_STR(m->tag, "diag mid");
            CHECK_EQ_INT(m->bytes, 10000);
            CHECK_EQ_INT(m->count, 10);
            CHECK_EQ_STR(s->function, "alloc_star");
            CHECK_EQ_STR(s->tag, "struct diag_star");
            CHECK_EQ_INT(s->bytes, 5 * sizeof(struct diag_star));
            CHECK_EQ_INT(s->count, 5);
            CHECK_EQ_INT(s->pc, 0);
        }
        const al_diagnosis_type *t = type_named(d, "struct diag_star");
        CHECK(t != NULL);
        if (t) {
            CHECK_EQ_INT(t->count, 5);
            CHECK_EQ_INT(t->bytes, 5 * sizeof(struct diag_star));
            CHECK_EQ_INT(t->flagged, 0);
            CHECK_EQ_INT(t->sites, 1);
        }
        for (size_t i = 1; i < d->n_types; i++)
            CHECK(d->types[i - 1].bytes >= d->types[i].bytes);
        CHECK(d->accounting.tracked_bytes >= 50000);
        CHECK(d->accounting.live_blocks >= 16);
        CHECK(d->accounting.rss_bytes > 0);
        CHECK_EQ_INT(d->accounting.unaccounted_bytes,
                     (int64_t)d->accounting.rss_bytes - (int64_t)d->accounting.tracked_bytes);
    }
    al_diagnosis_free(d);
    al_free(big);
    for (int i = 0; i < 10; i++)
        al_free(mid[i]);
    for (int i = 0; i < 5; i++)
        al_free(stars[i]);
}

TEST(test_top_consumers_are_cut_at_the_threshold_but_count_every_live_site)
{
    thresholds_save();
    al_diagnosis_thresholds t = saved_thresholds;
    t.top_consumers = 1;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    void *big = alloc_big(4000), *mid = alloc_mid(100);
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ_INT(d->n_top_consumers, 1);
        CHECK(d->n_sites_live >= 2);
        CHECK(top_at_line(d, line_big, NULL) != NULL);
    }
    al_diagnosis_free(d);
    al_free(big);
    al_free(mid);
    thresholds_restore();
}

/* -------- high_object_count -------- */

TEST(test_a_tag_above_the_default_object_threshold_is_flagged_and_named_with_its_site)
{
    thresholds_save();
    enum { N = 1001 };
    struct diag_star **stars = calloc(N, sizeof *stars);
    for (int i = 0; i < N; i++)
        stars[i] = alloc_star();
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ_INT(d->thresholds.object_count, 1000);
        const al_diagnosis_type *t = type_named(d, "struct diag_star");
        CHECK(t && t->flagged == 1 && t->count == N);
        const al_recommendation *r = rec(d, AL_REC_HIGH_OBJECT_COUNT, line_star);
        CHECK(r != NULL);
        if (r) {
            char w[128], expect[256], size[32];
            where(w, sizeof w, line_star, "alloc_star");
            ali_fmt_bytes(N * sizeof(struct diag_star), size, sizeof size);
            snprintf(expect, sizeof expect,
                     "struct diag_star: 1,001 live objects (%s) allocated at %s; above the "
                     "object threshold 1,000",
                     size, w);
            CHECK(contains(r->message, expect));
            CHECK_EQ_STR(r->tag, "struct diag_star");
            CHECK_EQ_INT(r->severity, AL_SEVERITY_WARNING);
        }
    }
    al_diagnosis_free(d);
    al_free(stars[0]); /* 1,000 left: at the threshold, not above it */
    d = al_diagnose_memory_leaks();
    CHECK(d != NULL);
    if (d) {
        const al_diagnosis_type *t = type_named(d, "struct diag_star");
        CHECK(t && t->flagged == 0 && t->count == 1000);
        CHECK(rec(d, AL_REC_HIGH_OBJECT_COUNT, line_star) == NULL);
    }
    al_diagnosis_free(d);
    for (int i = 1; i < N; i++)
        al_free(stars[i]);
    free(stars);
    thresholds_restore();
}

TEST(test_object_threshold_set_by_api_flags_smaller_counts)
{
    thresholds_save();
    CHECK_EQ_INT(set_threshold_objects(50), AL_OK);
    struct diag_star *stars[60];
    for (int i = 0; i < 60; i++)
        stars[i] = alloc_star();
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d && rec(d, AL_REC_HIGH_OBJECT_COUNT, line_star) != NULL);
    if (d) {
        const al_recommendation *r = rec(d, AL_REC_HIGH_OBJECT_COUNT, line_star);
        CHECK(r && contains(r->message, "60 live objects"));
        CHECK(r && contains(r->message, "above the object threshold 50"));
    }
    al_diagnosis_free(d);
    CHECK_EQ_INT(set_threshold_objects(60), AL_OK);
    d = al_diagnose_memory_leaks();
    CHECK(d && rec(d, AL_REC_HIGH_OBJECT_COUNT, 0) == NULL);
    al_diagnosis_free(d);
    for (int i = 0; i < 60; i++)
        al_free(stars[i]);
    thresholds_restore();
}

/* -------- high_memory_usage -------- */

TEST(test_high_memory_usage_names_the_largest_consumer_only_above_the_threshold)
{
    thresholds_save();
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d && d->accounting.tracked_bytes < 500u * 1024 * 1024);
    CHECK(d && rec(d, AL_REC_HIGH_MEMORY_USAGE, 0) == NULL);
    al_diagnosis_free(d);

    al_diagnosis_thresholds t = saved_thresholds;
    t.memory_bytes = 1024 * 1024;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    void *big = alloc_big(1536 * 1024);
    d = al_diagnose_memory_leaks();
    const al_recommendation *r = d ? rec(d, AL_REC_HIGH_MEMORY_USAGE, line_big) : NULL;
    CHECK(r != NULL);
    if (r) {
        char w[128];
        where(w, sizeof w, line_big, "alloc_big");
        CHECK(contains(r->message, "above the memory threshold 1.0 MiB"));
        CHECK(contains(r->message, w));
        CHECK(contains(r->message, "1.5 MiB of diag big in 1 block"));
        CHECK_EQ_INT(r->severity, AL_SEVERITY_WARNING);
    }
    al_diagnosis_free(d);
    void *more = alloc_big(1024 * 1024); /* 2.5 MiB: more than twice the threshold */
    d = al_diagnose_memory_leaks();
    r = d ? rec(d, AL_REC_HIGH_MEMORY_USAGE, 0) : NULL;
    CHECK(r && r->severity == AL_SEVERITY_CRITICAL);
    al_diagnosis_free(d);
    al_free(more);
    al_free(big);
    d = al_diagnose_memory_leaks();
    CHECK(d && rec(d, AL_REC_HIGH_MEMORY_USAGE, 0) == NULL);
    al_diagnosis_free(d);
    thresholds_restore();
}

/* -------- CUDA: figures injected through the CUDA module's hooks -------- */

static uint64_t fake_cuda_allocated, fake_cuda_reserved;
static void fake_cuda_stats(al_memory_stats *out)
{
    out->cuda_allocated_bytes = fake_cuda_allocated;
    out->cuda_reserved_bytes = fake_cuda_reserved;
    out->cuda_peak_allocated_bytes = fake_cuda_allocated;
}
static int fake_device_memory(uint64_t *used, uint64_t *total)
{
    *used = fake_cuda_reserved + 300u * 1024 * 1024;
    *total = 80ull << 30;
    return 0;
}

static al_diagnosis *diagnose_with_cuda(uint64_t allocated, uint64_t reserved)
{
    const ali_device_hooks *old = ali_memory_set_device_hooks(NULL);
    ali_device_hooks fake = *old; /* the real release and peak reset */
    fake.fill_stats = fake_cuda_stats;
    fake.device_memory = fake_device_memory;
    fake_cuda_allocated = allocated;
    fake_cuda_reserved = reserved;
    (void)ali_memory_set_device_hooks(&fake);
    al_diagnosis *d = al_diagnose_memory_leaks();
    (void)ali_memory_set_device_hooks(old);
    return d;
}

TEST(test_cuda_cleanup_only_when_cuda_allocated_is_above_the_cuda_threshold)
{
    const uint64_t MiB = 1024 * 1024;
    al_diagnosis *d = diagnose_with_cuda(1536 * MiB, 1600 * MiB);
    CHECK(d != NULL);
    if (d) {
        const al_recommendation *r = rec(d, AL_REC_CUDA_CLEANUP, 0);
        CHECK(r && contains(r->message, "CUDA allocated memory is 1.5 GiB"));
        CHECK(r && contains(r->message, "above the CUDA threshold 1.0 GiB"));
        CHECK(rec(d, AL_REC_CUDA_CACHE, 0) == NULL); /* reserved is close to allocated */
        CHECK_EQ_INT(d->accounting.cuda_allocated_bytes, 1536 * MiB);
        CHECK_EQ_INT(d->accounting.cuda_reserved_bytes, 1600 * MiB);
        CHECK_EQ_INT(d->accounting.cuda_device_used_bytes, 1900 * MiB);
        CHECK_EQ_INT(d->accounting.cuda_device_total_bytes, 80ull << 30);
        CHECK_EQ_INT(d->accounting.cuda_unaccounted_bytes, 300 * MiB);
    }
    al_diagnosis_free(d);
    d = diagnose_with_cuda(1000 * MiB, 1100 * MiB);
    CHECK(d && rec(d, AL_REC_CUDA_CLEANUP, 0) == NULL);
    al_diagnosis_free(d);

    /* The CUDA threshold is settable. */
    thresholds_save();
    al_diagnosis_thresholds t = saved_thresholds;
    t.cuda_bytes = 512 * MiB;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    d = diagnose_with_cuda(1000 * MiB, 1100 * MiB);
    CHECK(d && rec(d, AL_REC_CUDA_CLEANUP, 0) != NULL);
    al_diagnosis_free(d);
    thresholds_restore();
}

TEST(test_cuda_cache_only_when_reserved_is_far_above_allocated)
{
    const uint64_t MiB = 1024 * 1024;
    al_diagnosis *d = diagnose_with_cuda(100 * MiB, 1124 * MiB);
    const al_recommendation *r = d ? rec(d, AL_REC_CUDA_CACHE, 0) : NULL;
    CHECK(r != NULL);
    CHECK(r && contains(r->message, "reserves 1.1 GiB for 100 MiB allocated: 1.0 GiB is cached"));
    CHECK(r && contains(r->message, "al_cuda_empty_cache()"));
    CHECK(d && rec(d, AL_REC_CUDA_CLEANUP, 0) == NULL);
    al_diagnosis_free(d);
    /* Far in ratio but small in bytes: not worth a word. */
    d = diagnose_with_cuda(10 * MiB, 100 * MiB);
    CHECK(d && rec(d, AL_REC_CUDA_CACHE, 0) == NULL);
    al_diagnosis_free(d);
    /* Nothing on the device. */
    d = diagnose_with_cuda(0, 0);
    CHECK(d && rec(d, AL_REC_CUDA_CACHE, 0) == NULL && rec(d, AL_REC_CUDA_CLEANUP, 0) == NULL);
    al_diagnosis_free(d);
}

/* -------- fragmentation -------- */

static uint64_t fake_rss;
static void fake_rss_stats(al_memory_stats *s) { s->rss_bytes = fake_rss; }

TEST(test_fragmentation_only_when_rss_is_far_above_tracked_bytes)
{
    const uint64_t MiB = 1024 * 1024;
    void *big = alloc_big(10 * MiB);
    ali_diagnosis_stats_override = fake_rss_stats;
    fake_rss = 12 * MiB; /* tracked bytes are most of RSS */
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d && rec(d, AL_REC_FRAGMENTATION, 0) == NULL);
    al_diagnosis_free(d);
    fake_rss = 300 * MiB;
    d = al_diagnose_memory_leaks();
    const al_recommendation *r = d ? rec(d, AL_REC_FRAGMENTATION, 0) : NULL;
    CHECK(r != NULL);
    CHECK(r && contains(r->message, "process RSS is 300 MiB but tracked blocks hold 10 MiB"));
    CHECK(d && d->accounting.unaccounted_bytes ==
                   (int64_t)(300 * MiB) - (int64_t)d->accounting.tracked_bytes);
    al_diagnosis_free(d);
    ali_diagnosis_stats_override = NULL;
    al_free(big);
}

TEST(test_fragmentation_is_found_after_freeing_most_of_many_blocks)
{
    /* A real workload: 64 MiB in 4 KiB blocks, then every block freed but one in 16. The
     * allocator keeps the partly used pages resident, so RSS stays far above tracked bytes. */
    thresholds_save();
    al_diagnosis_thresholds t = saved_thresholds;
    t.fragmentation_min_bytes = 32u * 1024 * 1024;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    enum { N = 16384 };
    char **blocks = calloc(N, sizeof *blocks);
    for (int i = 0; i < N; i++) {
        blocks[i] = alloc_mid(4096);
        if (blocks[i])
            memset(blocks[i], i, 4096);
    }
    for (int i = 0; i < N; i++)
        if (i % 16)
            AL_FREE(blocks[i]);
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d && rec(d, AL_REC_FRAGMENTATION, 0) != NULL);
    al_diagnosis_free(d);
    for (int i = 0; i < N; i += 16)
        al_free(blocks[i]);
    free(blocks);
    thresholds_restore();
}

/* -------- suspected_leak -------- */

typedef struct churn {
    void *slots[3][16];
} churn;

/* One round of a steady working set: each of three sites frees its 16 blocks and allocates
 * 16 new ones of the same sizes, so live bytes stay the same. */
static void churn_round(churn *c)
{
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 16; i++) {
            al_free(c->slots[s][i]);
            c->slots[s][i] = alloc_churn(s, 4096 + 64 * (size_t)i);
        }
}

static void churn_free(churn *c)
{
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 16; i++)
            AL_FREE(c->slots[s][i]);
}

TEST(test_a_steady_working_set_is_never_a_suspected_leak)
{
    ali_diagnosis_history_reset();
    churn c;
    memset(&c, 0, sizeof c);
    int flagged = 0;
    for (int round = 0; round < 8; round++) {
        churn_round(&c);
        al_diagnosis *d = al_diagnose_memory_leaks();
        CHECK(d != NULL);
        flagged += d && rec(d, AL_REC_SUSPECTED_LEAK, 0) != NULL;
        al_diagnosis_free(d);
    }
    CHECK_EQ_INT(flagged, 0);
    churn_free(&c);
}

TEST(test_a_site_growing_at_every_sample_among_steady_sites_is_a_suspected_leak)
{
    ali_diagnosis_history_reset();
    churn c;
    memset(&c, 0, sizeof c);
    void *kept[8] = {0};
    int first_flagged = -1;
    for (int round = 0; round < 6; round++) {
        churn_round(&c);
        kept[round] = alloc_grow(100 * 1024);
        al_diagnosis *d = al_diagnose_memory_leaks();
        CHECK(d != NULL);
        const al_recommendation *r = d ? rec(d, AL_REC_SUSPECTED_LEAK, line_grow) : NULL;
        if (r && first_flagged < 0) {
            first_flagged = round;
            char w[128];
            where(w, sizeof w, line_grow, "alloc_grow");
            CHECK(contains(r->message, w));
            CHECK(contains(r->message, "grew at each of the last 3 samples, by 300 KiB in all"));
            CHECK(contains(r->message, "blocks"));
            CHECK_EQ_STR(r->tag, "diag grow");
        }
        /* The churn sites themselves are never suspected. */
        for (size_t i = 0; d && i < d->n_recommendations; i++)
            CHECK(strcmp(d->recommendations[i].code, AL_REC_SUSPECTED_LEAK) != 0 ||
                  strcmp(d->recommendations[i].tag, "diag churn") != 0);
        al_diagnosis_free(d);
    }
    /* Samples 1-3 still see the churn sites fill up from the start (not steady); from sample
     * 4 the window holds three rises of the growing site only. */
    CHECK_EQ_INT(first_flagged, 3);
    churn_free(&c);
    for (int i = 0; i < 8; i++)
        al_free(kept[i]);
}

TEST(test_a_lone_growing_site_is_suspected_at_the_third_sample)
{
    ali_diagnosis_history_reset();
    void *kept[4] = {0};
    for (int round = 0; round < 3; round++) {
        kept[round] = alloc_grow(64 * 1024);
        al_diagnosis *d = al_diagnose_memory_leaks();
        CHECK(d != NULL);
        int found = d && rec(d, AL_REC_SUSPECTED_LEAK, line_grow) != NULL;
        CHECK_EQ_INT(found, round == 2);
        al_diagnosis_free(d);
    }
    for (int i = 0; i < 4; i++)
        al_free(kept[i]);
}

TEST(test_sites_loading_together_are_not_suspected_leaks)
{
    ali_diagnosis_history_reset();
    enum { SITES = 4, ROUNDS = 5 };
    void *kept[SITES][ROUNDS];
    int flagged = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int s = 0; s < SITES; s++)
            kept[s][round] = alloc_load(s, 128 * 1024);
        al_diagnosis *d = al_diagnose_memory_leaks();
        CHECK(d != NULL);
        flagged += d && rec(d, AL_REC_SUSPECTED_LEAK, 0) != NULL;
        al_diagnosis_free(d);
    }
    CHECK_EQ_INT(flagged, 0);
    for (int s = 0; s < SITES; s++)
        for (int round = 0; round < ROUNDS; round++)
            al_free(kept[s][round]);
}

TEST(test_growth_below_the_minimum_is_not_a_suspected_leak_until_the_minimum_is_lowered)
{
    thresholds_save();
    ali_diagnosis_history_reset();
    void *kept[8] = {0};
    int flagged = 0;
    for (int round = 0; round < 4; round++) {
        kept[round] = alloc_grow(1024);
        al_diagnosis *d = al_diagnose_memory_leaks();
        flagged += d && rec(d, AL_REC_SUSPECTED_LEAK, line_grow) != NULL;
        al_diagnosis_free(d);
    }
    CHECK_EQ_INT(flagged, 0);
    al_diagnosis_thresholds t = saved_thresholds;
    t.leak_min_bytes = 2048;
    t.leak_samples = 4;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    kept[4] = alloc_grow(1024);
    al_diagnosis *d = al_diagnose_memory_leaks();
    const al_recommendation *r = d ? rec(d, AL_REC_SUSPECTED_LEAK, line_grow) : NULL;
    CHECK(r && contains(r->message, "grew at each of the last 4 samples, by 4.0 KiB in all"));
    al_diagnosis_free(d);
    for (int i = 0; i < 8; i++)
        al_free(kept[i]);
    thresholds_restore();
}

TEST(test_snapshots_are_samples_and_their_diff_judges_suspected_leaks)
{
    ali_diagnosis_history_reset();
    void *kept[3];
    al_snapshot *s[3];
    for (int i = 0; i < 3; i++) {
        kept[i] = alloc_grow(100 * 1024);
        s[i] = al_memory_snapshot();
        CHECK(s[i] != NULL);
    }
    al_diagnosis *d = al_snapshot_diff(s[1], s[2]);
    CHECK(d != NULL);
    if (d) {
        CHECK(rec(d, AL_REC_SUSPECTED_LEAK, line_grow) != NULL);
        const al_diagnosis_growth *g = growth_at_line(d, line_grow, NULL);
        CHECK(g && g->bytes_delta == 100 * 1024 && g->count_delta == 1);
        CHECK(g && g->site.bytes == 300 * 1024 && g->site.count == 3);
    }
    al_diagnosis_free(d);
    for (int i = 0; i < 3; i++) {
        al_snapshot_free(s[i]);
        al_free(kept[i]);
    }
}

/* -------- scope_reclaimed_leak -------- */

TEST(test_sites_whose_blocks_scopes_reclaimed_are_reported)
{
    AL_MEMORY_MANAGEMENT("diag reclaim")
    {
        for (int i = 0; i < 5; i++) {
            void *p = alloc_scoped(100);
            (void)p;
        }
    }
    int clean_line = 0;
    AL_MEMORY_MANAGEMENT("diag tidy")
    {
        void *p = alloc_mid(100);
        clean_line = line_mid;
        al_free(p);
    }
    al_diagnosis *d = al_diagnose_memory_leaks();
    const al_recommendation *r = d ? rec(d, AL_REC_SCOPE_RECLAIMED_LEAK, line_scoped) : NULL;
    CHECK(r != NULL);
    if (r) {
        char w[128];
        where(w, sizeof w, line_scoped, "alloc_scoped");
        CHECK(contains(r->message, "scopes had to reclaim 5 blocks (500 bytes) of diag scoped"));
        CHECK(contains(r->message, w));
        CHECK(contains(r->message, "al_scope_keep()"));
    }
    CHECK(d && rec(d, AL_REC_SCOPE_RECLAIMED_LEAK, clean_line) == NULL);
    al_diagnosis_free(d);
}

/* -------- Growth -------- */

TEST(test_growth_between_snapshots_lists_grown_sites_first_and_shrunk_last)
{
    void *old = alloc_mid(1000);
    al_snapshot *a = al_memory_snapshot();
    void *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = alloc_big(2000);
    al_free(old);
    al_snapshot *b = al_memory_snapshot();
    CHECK(a && b);
    uint64_t ba = 0, bb = 0, ca = 0, cb = 0;
    CHECK_EQ_INT(al_snapshot_totals(a, &ba, &ca), AL_OK);
    CHECK_EQ_INT(al_snapshot_totals(b, &bb, &cb), AL_OK);
    CHECK_EQ_INT((int64_t)bb - (int64_t)ba, 5000);
    CHECK_EQ_INT((int64_t)cb - (int64_t)ca, 2);
    CHECK_EQ_INT(al_snapshot_totals(NULL, &bb, &cb), AL_EINVAL);

    al_diagnosis *d = al_snapshot_diff(a, b);
    CHECK(d != NULL);
    if (d) {
        size_t ig = 99, io = 99;
        const al_diagnosis_growth *grown = growth_at_line(d, line_big, &ig);
        const al_diagnosis_growth *shrunk = growth_at_line(d, line_mid, &io);
        CHECK(grown && grown->bytes_delta == 6000 && grown->count_delta == 3);
        CHECK(grown && grown->site.bytes == 6000 && grown->site.count == 3);
        CHECK(grown && grown->site.function && strcmp(grown->site.function, "alloc_big") == 0);
        CHECK(shrunk && shrunk->bytes_delta == -1000 && shrunk->count_delta == -1);
        CHECK_EQ_INT(ig, 0);
        CHECK_EQ_INT(io, d->n_growth - 1);
        CHECK(d->growth_interval_ns > 0);
    }
    al_diagnosis_free(d);
    /* Against a baseline snapshot, taking a new sample. */
    void *h = alloc_mid(50);
    d = al_diagnose_memory_leaks_since(b);
    const al_diagnosis_growth *gh = d ? growth_at_line(d, line_mid, NULL) : NULL;
    CHECK(gh && gh->bytes_delta == 50 && gh->count_delta == 1);
    al_diagnosis_free(d);
    al_free(h);
    CHECK(al_snapshot_diff(a, NULL) == NULL);
    al_snapshot_free(a);
    al_snapshot_free(b);
    al_snapshot_free(NULL);
    for (int i = 0; i < 3; i++)
        al_free(g[i]);
}

TEST(test_growth_is_measured_since_the_previous_diagnosis)
{
    al_diagnosis *d0 = al_diagnose_memory_leaks();
    void *p = alloc_big(7000);
    al_diagnosis *d1 = al_diagnose_memory_leaks();
    al_free(p);
    al_diagnosis *d2 = al_diagnose_memory_leaks();
    al_diagnosis *d3 = al_diagnose_memory_leaks();
    CHECK(d0 && d1 && d2 && d3);
    if (d0 && d1 && d2 && d3) {
        CHECK_EQ_INT(d1->sample, d0->sample + 1);
        const al_diagnosis_growth *g1 = growth_at_line(d1, line_big, NULL);
        const al_diagnosis_growth *g2 = growth_at_line(d2, line_big, NULL);
        CHECK(g1 && g1->bytes_delta == 7000 && g1->count_delta == 1);
        CHECK(g2 && g2->bytes_delta == -7000 && g2->count_delta == -1 && g2->site.count == 0);
        CHECK(growth_at_line(d3, line_big, NULL) == NULL);
    }
    al_diagnosis_free(d0);
    al_diagnosis_free(d1);
    al_diagnosis_free(d2);
    al_diagnosis_free(d3);
}

/* -------- JSON and text -------- */

static int json_num_is(const cJSON *o, const char *key, double v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(n) && n->valuedouble == v;
}

static int json_str_is(const cJSON *o, const char *key, const char *v)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(s) && strcmp(s->valuestring, v) == 0;
}

TEST(test_json_has_the_spec_keys_and_the_record_values_field_by_field)
{
    thresholds_save();
    CHECK_EQ_INT(set_threshold_objects(3), AL_OK);
    void *big = alloc_big(30000);
    struct diag_star *stars[4];
    for (int i = 0; i < 4; i++)
        stars[i] = alloc_star();
    al_diagnosis *d = al_diagnose_memory_leaks();
    char *json = d ? al_diagnosis_json(d) : NULL;
    CHECK(json != NULL);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root != NULL);
    if (root && d) {
        const char *keys[] = {"top_consumers", "types", "growth", "accounting", "recommendations"};
        int n = 0;
        for (const cJSON *c = root->child; c; c = c->next, n++) {
            int known = 0;
            for (size_t k = 0; k < 5; k++)
                known |= strcmp(c->string, keys[k]) == 0;
            CHECK(known);
        }
        CHECK_EQ_INT(n, 5);
        const cJSON *top = cJSON_GetObjectItemCaseSensitive(root, "top_consumers");
        CHECK(cJSON_IsArray(top) && cJSON_GetArraySize(top) == (int)d->n_top_consumers);
        for (size_t i = 0; i < d->n_top_consumers && cJSON_IsArray(top); i++) {
            const cJSON *e = cJSON_GetArrayItem(top, (int)i);
            const al_diagnosis_site *s = &d->top_consumers[i];
            CHECK(json_str_is(e, "file", s->file));
            CHECK(json_num_is(e, "line", s->line));
            CHECK(json_str_is(e, "function", s->function));
            CHECK(json_str_is(e, "tag", s->tag));
            CHECK(json_num_is(e, "bytes", (double)s->bytes));
            CHECK(json_num_is(e, "count", (double)s->count));
        }
        const cJSON *first = cJSON_GetArrayItem(top, 0);
        CHECK(json_str_is(first, "file", __FILE__) && json_num_is(first, "line", line_big) &&
              json_str_is(first, "function", "alloc_big") &&
              json_str_is(first, "tag", "diag big") && json_num_is(first, "bytes", 30000) &&
              json_num_is(first, "count", 1));
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "types");
        CHECK(cJSON_IsArray(types) && cJSON_GetArraySize(types) == (int)d->n_types);
        int saw_star = 0;
        for (size_t i = 0; i < d->n_types && cJSON_IsArray(types); i++) {
            const cJSON *e = cJSON_GetArrayItem(types, (int)i);
            const al_diagnosis_type *t = &d->types[i];
            const cJSON *flagged = cJSON_GetObjectItemCaseSensitive(e, "flagged");
            CHECK(json_str_is(e, "tag", t->tag) && json_num_is(e, "count", (double)t->count) &&
                  json_num_is(e, "bytes", (double)t->bytes));
            CHECK(cJSON_IsBool(flagged) && cJSON_IsTrue(flagged) == (t->flagged != 0));
            if (strcmp(t->tag, "struct diag_star") == 0) {
                saw_star = 1;
                CHECK(cJSON_IsTrue(flagged) && json_num_is(e, "count", 4));
            }
        }
        CHECK(saw_star);
        const cJSON *growth = cJSON_GetObjectItemCaseSensitive(root, "growth");
        CHECK(cJSON_IsArray(growth) && cJSON_GetArraySize(growth) == (int)d->n_growth);
        for (size_t i = 0; i < d->n_growth && cJSON_IsArray(growth); i++) {
            const cJSON *e = cJSON_GetArrayItem(growth, (int)i);
            const al_diagnosis_growth *g = &d->growth[i];
            CHECK(json_num_is(e, "bytes_delta", (double)g->bytes_delta) &&
                  json_num_is(e, "count_delta", (double)g->count_delta) &&
                  json_str_is(e, "tag", g->site.tag) && json_num_is(e, "line", g->site.line) &&
                  json_num_is(e, "bytes", (double)g->site.bytes) &&
                  json_num_is(e, "count", (double)g->site.count));
        }
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accounting");
        const al_diagnosis_accounting *a = &d->accounting;
        CHECK(json_num_is(acc, "tracked_bytes", (double)a->tracked_bytes) &&
              json_num_is(acc, "rss_bytes", (double)a->rss_bytes) &&
              json_num_is(acc, "unaccounted_bytes", (double)a->unaccounted_bytes) &&
              json_num_is(acc, "cuda_allocated_bytes", (double)a->cuda_allocated_bytes) &&
              json_num_is(acc, "cuda_reserved_bytes", (double)a->cuda_reserved_bytes) &&
              json_num_is(acc, "cuda_device_used_bytes", (double)a->cuda_device_used_bytes) &&
              json_num_is(acc, "cuda_unaccounted_bytes", (double)a->cuda_unaccounted_bytes));
        const cJSON *recs = cJSON_GetObjectItemCaseSensitive(root, "recommendations");
        CHECK(cJSON_IsArray(recs) && cJSON_GetArraySize(recs) == (int)d->n_recommendations);
        int saw_objects = 0;
        for (size_t i = 0; i < d->n_recommendations && cJSON_IsArray(recs); i++) {
            const cJSON *e = cJSON_GetArrayItem(recs, (int)i);
            const al_recommendation *r = &d->recommendations[i];
            CHECK(json_str_is(e, "severity", al_severity_name(r->severity)) &&
                  json_str_is(e, "code", r->code) && json_str_is(e, "message", r->message));
            saw_objects |= strcmp(r->code, AL_REC_HIGH_OBJECT_COUNT) == 0 &&
                           json_str_is(e, "tag", "struct diag_star") &&
                           json_str_is(e, "severity", "warning");
        }
        CHECK(saw_objects);
    }
    cJSON_Delete(root);
    free(json);
    al_diagnosis_free(d);
    CHECK(al_diagnosis_json(NULL) == NULL);
    CHECK(al_diagnosis_text(NULL) == NULL);
    al_diagnosis_free(NULL);
    al_free(big);
    for (int i = 0; i < 4; i++)
        al_free(stars[i]);
    thresholds_restore();
}

TEST(test_text_shows_a_table_of_top_consumers_then_the_recommendations)
{
    thresholds_save();
    CHECK_EQ_INT(set_threshold_objects(3), AL_OK);
    struct diag_star *stars[4];
    for (int i = 0; i < 4; i++)
        stars[i] = alloc_star();
    al_diagnosis *d = al_diagnose_memory_leaks();
    char *text = d ? al_diagnosis_text(d) : NULL;
    CHECK(text != NULL);
    if (text && d) {
        char w[128];
        where(w, sizeof w, line_star, "alloc_star");
        const char *top = strstr(text, "Top consumers");
        const char *row = strstr(text, w);
        const char *recs = strstr(text, "Recommendations");
        CHECK(top && row && recs && top < row && row < recs);
        CHECK(contains(text, "struct diag_star"));
        const al_recommendation *r = rec(d, AL_REC_HIGH_OBJECT_COUNT, line_star);
        CHECK(r && recs && contains(recs, r->message));
        CHECK(contains(text, "warning  high_object_count: struct diag_star: 4 live objects"));
    }
    free(text);
    al_diagnosis_free(d);
    for (int i = 0; i < 4; i++)
        al_free(stars[i]);
    thresholds_restore();
}

TEST(test_byte_and_count_formats_read_like_a_person_writes_them)
{
    char b[32];
    ali_fmt_count(1500, b, sizeof b);
    CHECK_EQ_STR(b, "1,500");
    ali_fmt_count(1234567, b, sizeof b);
    CHECK_EQ_STR(b, "1,234,567");
    ali_fmt_count(999, b, sizeof b);
    CHECK_EQ_STR(b, "999");
    ali_fmt_bytes(72000, b, sizeof b);
    CHECK_EQ_STR(b, "70 KiB");
    ali_fmt_bytes(1, b, sizeof b);
    CHECK_EQ_STR(b, "1 byte");
    ali_fmt_bytes(1023, b, sizeof b);
    CHECK_EQ_STR(b, "1023 bytes");
    ali_fmt_bytes(1536 * 1024, b, sizeof b);
    CHECK_EQ_STR(b, "1.5 MiB");
    ali_fmt_bytes_signed(-2048, b, sizeof b);
    CHECK_EQ_STR(b, "-2.0 KiB");
}

/* -------- Thresholds -------- */

TEST(test_thresholds_default_to_the_seed_values_and_refuse_bad_values)
{
    al_diagnosis_thresholds def, t;
    CHECK_EQ_INT(al_diagnosis_thresholds_default(&def), AL_OK);
    CHECK_EQ_INT(def.object_count, 1000);
    CHECK_EQ_INT(def.memory_bytes, 500ull * 1024 * 1024);
    CHECK_EQ_INT(def.cuda_bytes, 1024ull * 1024 * 1024);
    CHECK_EQ_INT(def.leak_samples, 3);
    CHECK_EQ_INT(al_diagnosis_thresholds_default(NULL), AL_EINVAL);
    CHECK_EQ_INT(al_diagnosis_get_thresholds(NULL), AL_EINVAL);
    thresholds_save();
    al_log_level old = al_log_get_level("astrolab.memory");
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", AL_LOG_OFF),
                 AL_OK); /* the refusals below are logged */
    t = saved_thresholds;
    t.object_count = 0;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_EINVAL);
    t = saved_thresholds;
    t.leak_samples = 1;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_EINVAL);
    t.leak_samples = AL_DIAGNOSIS_WINDOW_MAX + 1;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_EINVAL);
    t = saved_thresholds;
    t.fragmentation_ratio = 0.5;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_EINVAL);
    CHECK_EQ_INT(al_diagnosis_set_thresholds(NULL), AL_EINVAL);
    CHECK_EQ_INT(al_log_set_level("astrolab.memory", old), AL_OK);
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&t), AL_OK);
    CHECK(memcmp(&t, &saved_thresholds, sizeof t) == 0);
    t.object_count = 7;
    t.memory_bytes = 12345;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    al_diagnosis_thresholds back;
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&back), AL_OK);
    CHECK_EQ_INT(back.object_count, 7);
    CHECK_EQ_INT(back.memory_bytes, 12345);
    thresholds_restore();
}

TEST(test_thresholds_come_from_the_environment_and_bad_values_warn_and_keep_defaults)
{
    thresholds_save();
    setenv("ASTROLAB_OBJECT_THRESHOLD", "250", 1);
    setenv("ASTROLAB_MEMORY_WARN_MB", "100", 1);
    setenv("ASTROLAB_CUDA_WARN_MB", "2048", 1);
    ali_diagnosis_settings_reload();
    al_diagnosis_thresholds t;
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&t), AL_OK);
    CHECK_EQ_INT(t.object_count, 250);
    CHECK_EQ_INT(t.memory_bytes, 100ull * 1024 * 1024);
    CHECK_EQ_INT(t.cuda_bytes, 2048ull * 1024 * 1024);

    capture_only("astrolab.memory", AL_LOG_WARNING);
    setenv("ASTROLAB_OBJECT_THRESHOLD", "lots", 1);
    setenv("ASTROLAB_MEMORY_WARN_MB", "-5", 1);
    setenv("ASTROLAB_CUDA_WARN_MB", "0", 1);
    ali_diagnosis_settings_reload();
    capture_end();
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&t), AL_OK);
    CHECK_EQ_INT(t.object_count, 1000);
    CHECK_EQ_INT(t.memory_bytes, 500ull * 1024 * 1024);
    CHECK_EQ_INT(t.cuda_bytes, 1024ull * 1024 * 1024);
    CHECK(contains(log_text, "ASTROLAB_OBJECT_THRESHOLD=\"lots\""));
    CHECK(contains(log_text, "ASTROLAB_MEMORY_WARN_MB=\"-5\""));
    CHECK(contains(log_text, "ASTROLAB_CUDA_WARN_MB=\"0\""));
    CHECK(contains(log_text, "keeping the default 1000"));

    unsetenv("ASTROLAB_OBJECT_THRESHOLD");
    unsetenv("ASTROLAB_MEMORY_WARN_MB");
    unsetenv("ASTROLAB_CUDA_WARN_MB");
    ali_diagnosis_settings_reload();
    thresholds_restore();
}

/* -------- Allocation failure -------- */

TEST(test_diagnosis_snapshot_and_diff_fail_cleanly_at_every_allocation)
{
    void *big = alloc_big(1000);
    uint64_t live = test_live_blocks();
    int n;
    al_diagnosis *d = NULL;
    for (n = 1; n < 100; n++) {
        al_memory_fail_after((uint64_t)n, 0);
        d = al_diagnose_memory_leaks();
        al_memory_fail_after(0, 0);
        CHECK_EQ_INT(test_live_blocks(), live);
        if (d)
            break;
    }
    CHECK(d != NULL && n > 1);
    al_diagnosis_free(d);
    al_snapshot *s = NULL;
    for (n = 1; n < 100 && !s; n++) {
        al_memory_fail_after((uint64_t)n, 0);
        s = al_memory_snapshot();
        al_memory_fail_after(0, 0);
    }
    CHECK(s != NULL && n > 2);
    d = NULL;
    for (n = 1; n < 100 && !d; n++) {
        al_memory_fail_after((uint64_t)n, 0);
        d = al_snapshot_diff(NULL, s);
        al_memory_fail_after(0, 0);
    }
    CHECK(d != NULL && n > 2);
    al_diagnosis_free(d);
    al_snapshot_free(s);
    al_free(big);
}

/* -------- Diagnosis while other threads allocate -------- */

static atomic_int stop_threads;

/* The threads' own site: it records no line, so that they share no test global. */
static void *alloc_in_thread(size_t n) { return al_malloc_tagged(n, "diag thread"); }

static void *churn_thread(void *arg)
{
    (void)arg;
    void *held[32] = {0};
    for (unsigned i = 0; !atomic_load(&stop_threads); i++) {
        al_free(held[i % 32]);
        held[i % 32] = alloc_in_thread(64 + i % 256);
    }
    for (int i = 0; i < 32; i++)
        al_free(held[i]);
    return NULL;
}

TEST(test_diagnosis_runs_while_threads_allocate_and_is_exact_once_they_stop)
{
    pthread_t t[3];
    atomic_store(&stop_threads, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, churn_thread, NULL), 0);
    for (int i = 0; i < 20; i++) {
        al_diagnosis *d = al_diagnose_memory_leaks();
        CHECK(d != NULL);
        char *json = d ? al_diagnosis_json(d) : NULL;
        CHECK(json != NULL);
        free(json);
        al_diagnosis_free(d);
    }
    atomic_store(&stop_threads, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    al_diagnosis *d = al_diagnose_memory_leaks();
    CHECK(d && type_named(d, "diag thread") == NULL);
    const al_diagnosis_growth *g = NULL;
    for (size_t i = 0; d && i < d->n_growth; i++)
        if (strcmp(d->growth[i].site.tag, "diag thread") == 0)
            g = &d->growth[i];
    CHECK(g == NULL || (g->site.bytes == 0 && g->site.count == 0));
    al_diagnosis_free(d);
}

/* -------- The leak report at exit, from a child program -------- */

#define CHILD ASTROLAB_BUILD_DIR "/tests/leaky_child"

typedef struct site_line {
    unsigned long long count, bytes;
    int line;
    char function[64], file[512], tag[64];
} site_line;

static char tmpdir[64];

/* Runs the child with `mode` and ASTROLAB_LEAK_REPORT=`report` (NULL: unset), plus one extra
 * variable; returns its exit status, -1 when it did not exit normally. */
static int run_child(const char *mode, const char *report, const char *var, const char *value)
{
    char out[128], err[128];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    snprintf(err, sizeof err, "%s/err", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        if (report)
            setenv("ASTROLAB_LEAK_REPORT", report, 1);
        else
            unsetenv("ASTROLAB_LEAK_REPORT");
        if (var)
            setenv(var, value, 1);
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1); /* the child leaks on purpose */
        execl(CHILD, CHILD, mode, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int child_sites(site_line *sites, int max)
{
    char path[128];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    char *text = test_slurp(path);
    int n = 0;
    for (char *l = text; l && *l && n < max;) {
        char *end = strchr(l, '\n');
        if (end)
            *end = '\0';
        site_line *s = &sites[n];
        if (sscanf(l, "SITE %llu %llu %d %63s %511s %63[^\n]", &s->count, &s->bytes, &s->line,
                   s->function, s->file, s->tag) == 6)
            n++;
        l = end ? end + 1 : l + strlen(l);
    }
    free(text);
    return n;
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/astrolab_diag_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
}

static void remove_tmpdir(void)
{
    const char *names[] = {"out", "err", "leaks.json"};
    char path[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* Checks that the text report on stderr has a row per site, largest first. */
static void check_text_report(const site_line *sites, int n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/err", tmpdir);
    char *err = test_slurp(path);
    CHECK(contains(err, "astrolab: leak report:"));
    const char *prev = err;
    unsigned long long prev_bytes = ~0ull;
    /* The sites sorted by bytes, largest first. */
    site_line sorted[16];
    memcpy(sorted, sites, (size_t)n * sizeof *sites);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j].bytes > sorted[j - 1].bytes; j--) {
            site_line x = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = x;
        }
    for (int i = 0; i < n; i++) {
        char w[160], bytes[32], count[32];
        snprintf(w, sizeof w, "leaky_child.c:%d in %s()", sorted[i].line, sorted[i].function);
        ali_fmt_count(sorted[i].bytes, bytes, sizeof bytes);
        ali_fmt_count(sorted[i].count, count, sizeof count);
        const char *at = err ? strstr(err, w) : NULL;
        CHECK(at != NULL);
        if (!at)
            continue;
        const char *bol = at;
        while (bol > err && bol[-1] != '\n')
            bol--;
        char row[400];
        snprintf(row, sizeof row, "%.*s", (int)(at - bol), bol);
        CHECK(contains(row, bytes));
        CHECK(contains(row, count));
        CHECK(contains(row, sorted[i].tag));
        CHECK(at > prev && sorted[i].bytes <= prev_bytes);
        prev = at;
        prev_bytes = sorted[i].bytes;
    }
    free(err);
}

TEST(test_leak_report_at_exit_prints_every_live_block_grouped_by_site_largest_first)
{
    make_tmpdir();
    CHECK_EQ_INT(run_child("main", "1", NULL, NULL), 0);
    site_line sites[16];
    int n = child_sites(sites, 16);
    CHECK_EQ_INT(n, 4);
    check_text_report(sites, n);
    char path[128];
    snprintf(path, sizeof path, "%s/err", tmpdir);
    char *err = test_slurp(path);
    CHECK(contains(err, "9 blocks, 5,120 bytes"));
    free(err);

    /* Without the variable: no report. */
    CHECK_EQ_INT(run_child("main", NULL, NULL, NULL), 0);
    err = test_slurp(path);
    CHECK(err && !contains(err, "leak report"));
    free(err);
    /* Nothing leaked. */
    CHECK_EQ_INT(run_child("none", "1", NULL, NULL), 0);
    err = test_slurp(path);
    CHECK(contains(err, "no tracked blocks live at exit"));
    free(err);
    remove_tmpdir();
}

TEST(test_leak_report_at_exit_writes_json_to_a_file)
{
    make_tmpdir();
    char json_path[128];
    snprintf(json_path, sizeof json_path, "%s/leaks.json", tmpdir);
    CHECK_EQ_INT(run_child("main", json_path, NULL, NULL), 0);
    site_line sites[16];
    int n = child_sites(sites, 16);
    CHECK_EQ_INT(n, 4);
    char *text = test_slurp(json_path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(root, "leaks");
    CHECK(cJSON_IsArray(leaks) && cJSON_GetArraySize(leaks) == n);
    double prev = 1e300, total = 0;
    for (int i = 0; i < n && cJSON_IsArray(leaks); i++) {
        const cJSON *e = cJSON_GetArrayItem(leaks, i);
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(e, "line");
        const site_line *s = NULL;
        for (int k = 0; k < n; k++)
            if (cJSON_IsNumber(line) && line->valueint == sites[k].line)
                s = &sites[k];
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK(json_str_is(e, "function", s->function));
        CHECK(json_str_is(e, "file", s->file));
        CHECK(json_str_is(e, "tag", s->tag));
        CHECK(json_num_is(e, "count", (double)s->count));
        CHECK(json_num_is(e, "bytes", (double)s->bytes));
        CHECK(s->bytes <= prev);
        prev = (double)s->bytes;
        total += (double)s->bytes;
    }
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(root, "stats");
    CHECK(json_num_is(stats, "current_bytes", total));
    CHECK(json_num_is(stats, "live_blocks", 9));
    CHECK(json_num_is(stats, "sites", n));
    const cJSON *rss = cJSON_GetObjectItemCaseSensitive(stats, "rss_bytes");
    CHECK(cJSON_IsNumber(rss) && rss->valuedouble > 0);
    cJSON_Delete(root);
    free(text);
    remove_tmpdir();
}

TEST(test_leak_report_runs_on_exit_from_another_thread_and_inside_a_scope)
{
    make_tmpdir();
    site_line sites[16];
    CHECK_EQ_INT(run_child("thread", "1", NULL, NULL), 0);
    int n = child_sites(sites, 16);
    CHECK_EQ_INT(n, 5);
    CHECK(n == 5 && strcmp(sites[4].tag, "thread block") == 0);
    check_text_report(sites, n);

    /* exit() does not end open scopes: their blocks are still live, and reported. */
    CHECK_EQ_INT(run_child("scope", "1", NULL, NULL), 0);
    n = child_sites(sites, 16);
    CHECK_EQ_INT(n, 5);
    CHECK(n == 5 && strcmp(sites[4].tag, "scoped") == 0);
    check_text_report(sites, n);
    remove_tmpdir();
}

TEST(test_a_fresh_process_reads_thresholds_from_its_environment)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    CHECK_EQ_INT(run_child("thresholds", NULL, "ASTROLAB_OBJECT_THRESHOLD", "7"), 0);
    char *out = test_slurp(path);
    CHECK(contains(out, "THRESHOLDS 7 524288000 1073741824"));
    free(out);
    CHECK_EQ_INT(run_child("thresholds", NULL, "ASTROLAB_MEMORY_WARN_MB", "seven"), 0);
    out = test_slurp(path);
    CHECK(contains(out, "THRESHOLDS 1000 524288000 1073741824"));
    free(out);
    snprintf(path, sizeof path, "%s/err", tmpdir);
    char *err = test_slurp(path);
    CHECK(contains(err, "WARNING astrolab.memory: ASTROLAB_MEMORY_WARN_MB=\"seven\""));
    free(err);
    remove_tmpdir();
}

TEST_MAIN()
