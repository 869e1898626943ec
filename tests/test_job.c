/* al_job_merge (<astrolab/job.h>): sites of many ranks merged into one view of the job. */
#include "test.h"

static const al_job_site common = {"main.c", 10, "main", "catalog", 1000, 2};
static const al_job_site only2 = {"select.c", 42, "pick", "buffer", 77, 1};

/* Four ranks: "common" on each, "only2" on rank 2 alone; rank 3 peaks far above the rest. */
static al_job_view *four_ranks(al_error *err)
{
    al_job_site s2[2] = {common, only2};
    al_job_rank r[4] = {
        {.rank = 3, .current_bytes = 1000, .peak_bytes = 90 << 20, .sites = &common, .n_sites = 1},
        {.rank = 0, .current_bytes = 1000, .peak_bytes = 10 << 20, .sites = &common, .n_sites = 1},
        {.rank = 2, .current_bytes = 1077, .peak_bytes = 10 << 20, .sites = s2, .n_sites = 2},
        {.rank = 1, .current_bytes = 1000, .peak_bytes = 10 << 20, .sites = &common, .n_sites = 1},
    };
    return al_job_merge(r, 4, err);
}

TEST(test_merge_tells_sites_on_every_rank_from_sites_on_some)
{
    al_error err;
    al_job_view *v = four_ranks(&err);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(v->n_ranks, 4);
    CHECK_EQ_INT(v->peak_rank, 3);
    CHECK_EQ_INT(v->current_bytes, 4077);
    CHECK_EQ_INT(v->n_sites, 2);
    CHECK_EQ_STR(v->sites[0].site.file, "main.c");
    CHECK_EQ_INT(v->sites[0].site.bytes, 4000);
    CHECK_EQ_INT(v->sites[0].n_ranks, 4);
    CHECK(v->sites[0].on_every_rank);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(v->sites[0].ranks[i], i);
    CHECK(!v->sites[1].on_every_rank);
    CHECK_EQ_INT(v->sites[1].n_ranks, 1);
    CHECK_EQ_INT(v->sites[1].ranks[0], 2);
    int imbalance = 0, some = 0, every = 0;
    for (size_t i = 0; i < v->n_recommendations; i++) {
        const al_job_recommendation *r = &v->recommendations[i];
        imbalance += strcmp(r->code, "memory_imbalance") == 0 && strstr(r->message, "rank 3 ");
        some += strcmp(r->code, "leak_on_some_ranks") == 0 && strstr(r->message, "rank 2 only");
        every += strcmp(r->code, "leak_on_every_rank") == 0 && strstr(r->message, "main.c:10");
    }
    CHECK(imbalance == 1 && some == 1 && every == 1);
    char *json = al_job_view_json(v), *text = al_job_view_text(v);
    CHECK(json && strstr(json, "\"on_every_rank\":true") && strstr(json, "\"ranks\":[2]") &&
          strstr(json, "\"peak_rank\":3"));
    CHECK(text && strstr(text, "every rank") && strstr(text, "select.c:42"));
    free(json);
    free(text);
    al_job_view_free(v);
}

TEST(test_a_site_without_line_information_is_named_by_its_function_alone)
{
    /* A stripped program's site ("sort+0x135db") has no file: it was shown as ":0 in ...". */
    static const al_job_site stripped = {NULL, 0, "sort+0x135db", "program", 128, 1};
    al_job_rank r[2] = {{.rank = 0, .sites = &stripped, .n_sites = 1},
                        {.rank = 1, .sites = &stripped, .n_sites = 1}};
    al_error err;
    al_job_view *v = al_job_merge(r, 2, &err);
    char *text = v ? al_job_view_text(v) : NULL;
    CHECK(text && strstr(text, "sort+0x135db (program)") && !strstr(text, ":0 in"));
    free(text);
    al_job_view_free(v);
}

TEST(test_merge_refuses_a_repeated_rank)
{
    al_job_rank r[2] = {{.rank = 1}, {.rank = 1}};
    al_error err;
    CHECK(al_job_merge(r, 2, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(al_job_merge(NULL, 1, &err) == NULL);
    al_job_view *v = al_job_merge(NULL, 0, &err);
    CHECK(v && v->n_ranks == 0 && v->n_sites == 0);
    al_job_view_free(v);
}

TEST(test_merge_fails_cleanly_at_every_allocation)
{
    for (uint64_t n = 1; n < 1000; n++) {
        al_memory_fail_after(n, 0);
        al_error err;
        al_job_view *v = four_ranks(&err);
        al_memory_fail_after(0, 0);
        if (v) {
            al_job_view_free(v);
            CHECK(n > 5);
            break;
        }
        CHECK_EQ_INT(err.code, AL_ENOMEM);
    }
}

/* Seven ranks with sites that overlap in every way, and ties for the rank holding most. */
static void seven_ranks(al_job_rank *r, al_job_site (*sites)[3])
{
    for (int k = 0; k < 7; k++) {
        sites[k][0] = common;
        sites[k][0].bytes = k == 4 || k == 5 ? 5000 : 1000; /* a tie between ranks 4 and 5 */
        sites[k][1] = only2;
        sites[k][1].line = 40 + k % 3; /* three sites, each on some ranks */
        sites[k][2] = (al_job_site){"odd.c", k, "f", "", (uint64_t)k, 1}; /* one site per rank */
        r[k] = (al_job_rank){.rank = (k * 3) % 7,                         /* ranks out of order */
                             .current_bytes = 100u * (unsigned)k,
                             .peak_bytes = (uint64_t)(k % 4) << 20,
                             .peak_rss_bytes = 1u << 20,
                             .sites = sites[k],
                             .n_sites = 3};
    }
}

/* A tree reduction's rounds give what one merge of every rank gives, JSON for JSON. */
TEST(test_merging_partial_views_equals_merging_every_rank_at_once)
{
    al_job_rank r[7];
    al_job_site sites[7][3];
    seven_ranks(r, sites);
    al_error err;
    al_job_view *whole = al_job_merge(r, 7, &err);
    /* Rounds as al_mpi_diagnose runs them: {0,1} {2,3} {4,5} {6}, then pairs, then the root. */
    al_job_view *leaf[7], *pair[4], *quad[2];
    for (int k = 0; k < 7; k++)
        leaf[k] = al_job_merge(&r[k], 1, &err);
    for (int k = 0; k < 4; k++)
        pair[k] = al_job_merge_views((const al_job_view *const *)&leaf[2 * k], k < 3 ? 2 : 1, &err);
    for (int k = 0; k < 2; k++)
        quad[k] = al_job_merge_views((const al_job_view *const *)&pair[2 * k], 2, &err);
    al_job_view *tree = al_job_merge_views((const al_job_view *const *)quad, 2, &err);
    CHECK(whole && tree);
    char *a = al_job_view_json(whole), *b = al_job_view_json(tree);
    CHECK(a && b && strcmp(a, b) == 0);
    CHECK(a && strstr(a, "\"max_rank\":") != NULL);
    free(a);
    free(b);
    /* A rank in two views is refused; so are NULL views. */
    const al_job_view *twice[2] = {pair[0], quad[0]};
    CHECK(al_job_merge_views(twice, 2, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    CHECK(strstr(err.message, "in two views") != NULL);
    const al_job_view *none[1] = {NULL};
    CHECK(al_job_merge_views(none, 1, &err) == NULL && err.code == AL_EINVAL);
    CHECK(al_job_merge_views(NULL, 2, &err) == NULL && err.code == AL_EINVAL);
    al_job_view *empty = al_job_merge_views(NULL, 0, &err);
    CHECK(empty && empty->n_ranks == 0);
    al_job_view_free(empty);
    /* Out of memory at any allocation: a clean failure, nothing leaked (test.h checks). */
    for (uint64_t n = 1; n < 1000; n++) {
        al_memory_fail_after(n, 0);
        al_job_view *v = al_job_merge_views((const al_job_view *const *)quad, 2, &err);
        al_memory_fail_after(0, 0);
        if (v) {
            al_job_view_free(v);
            break;
        }
        CHECK_EQ_INT(err.code, AL_ENOMEM);
    }
    for (int k = 0; k < 7; k++)
        al_job_view_free(leaf[k]);
    for (int k = 0; k < 4; k++)
        al_job_view_free(pair[k]);
    for (int k = 0; k < 2; k++)
        al_job_view_free(quad[k]);
    al_job_view_free(tree);
    al_job_view_free(whole);
}

TEST(test_rank_and_job_come_from_the_launchers_environment)
{
    unsetenv("OMPI_COMM_WORLD_RANK"), unsetenv("PMI_RANK"), unsetenv("PMIX_RANK");
    unsetenv("SLURM_PROCID"), unsetenv("SLURM_JOB_ID"), unsetenv("OMPI_MCA_ess_base_jobid");
    unsetenv("PMIX_NAMESPACE");
    CHECK_EQ_INT(al_job_rank_from_env(), -1);
    CHECK_EQ_STR(al_job_id_from_env(), "");
    setenv("SLURM_PROCID", "x7", 1); /* not a number: ignored */
    CHECK_EQ_INT(al_job_rank_from_env(), -1);
    setenv("PMI_RANK", "5", 1);
    CHECK_EQ_INT(al_job_rank_from_env(), 5);
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    CHECK_EQ_INT(al_job_rank_from_env(), 2);
    setenv("SLURM_JOB_ID", "4242", 1);
    CHECK_EQ_STR(al_job_id_from_env(), "4242");
    unsetenv("OMPI_COMM_WORLD_RANK"), unsetenv("PMI_RANK"), unsetenv("SLURM_PROCID");
    unsetenv("SLURM_JOB_ID");
}

TEST(test_metrics_carry_rank_job_and_host_labels_under_mpi)
{
    char *plain = al_ui_metrics_text();
    CHECK(plain && strstr(plain, "\nastrolab_memory_current_bytes ") && !strstr(plain, "rank=\""));
    CHECK(plain && strstr(plain, "astrolab_build_info{version=\""));
    free(plain);
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    setenv("SLURM_JOB_ID", "job\"7", 1);
    char *text = al_ui_metrics_text();
    CHECK(text &&
          strstr(text, "\nastrolab_memory_current_bytes{rank=\"3\",job=\"job\\\"7\",host=\""));
    CHECK(text && strstr(text, "astrolab_build_info{rank=\"3\","));
    CHECK(text && strstr(text, "\",version=\""));
    /* No series line without the rank label. */
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n && line[0] != '#' && !memmem(line, n, "rank=\"3\"", 8)) {
            fprintf(stderr, "  unlabelled: %.*s\n", (int)n, line);
            CHECK(0);
        }
        line = end ? end + 1 : NULL;
    }
    free(text);
    unsetenv("OMPI_COMM_WORLD_RANK"), unsetenv("SLURM_JOB_ID");
}

TEST_MAIN()
