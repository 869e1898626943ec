/* `astrolab demo [--json] [--ui [HOST:]PORT]`: runs the catalog workload of demo_workload.c through
 * the memory manager, stage by stage in named scopes, and reports after each stage the statistics
 * and the scope's report: a catalog built and kept, a selection kept with al_scope_keep and a
 * deferred cleanup, a cross-match whose deliberate leak its scope reclaims, a registered cache
 * released by a forced cleanup, and the diagnosis of the run; then the survey stages
 * (demo_survey.c) and `astrolab run` on perl (demo_run.c). Text by default; --json gives one
 * document with every stage. Self-checks failing make the exit status 1. With --ui, the live
 * dashboard (<astrolab/ui.h>) is served from the start; its URL with the token goes to stderr,
 * and after the run the process keeps the dashboard up until SIGINT or SIGTERM. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "astrolab/ui.h"
#include "cli.h"
#include "demo.h"
#include "demo_out.h"
#include "demo_run.h"
#include "demo_survey.h"

#define CMD "demo"

/* The workload's size: about 20 MiB of catalog and a 8 MiB cache, well under a second. */
#define DEMO_ROWS 200000
#define DEMO_CHUNK_ROWS 10000
#define DEMO_NEARBY_MAS 10.0   /* parallax above 10 mas: within 100 pc */
#define DEMO_PAIR_ARCSEC 180.0 /* close pairs within 3 arcmin */
#define DEMO_SKY_WIDTH 2048    /* sky-density cells in RA */
#define DEMO_SKY_HEIGHT 1024   /* and in sin(dec): 2M cells, 8 MiB */

/* -------- Output: demo_out.h; the two reports only this file shows. -------- */

static const char *policy_name(int policy)
{
    return policy == AL_SCOPE_REPORT_ONLY ? "report-only" : "reclaim";
}

static void put_scope_report(demo_out *o, const al_scope_report *r)
{
    if (o->json) {
        cJSON *j = cJSON_AddObjectToObject(o->step, "scope");
        demo_track(o, j);
        demo_track(o, cJSON_AddStringToObject(j, "name", r->name));
        const struct {
            const char *key;
            uint64_t v;
        } f[] = {
            {"bytes_allocated", r->bytes_allocated}, {"bytes_freed", r->bytes_freed},
            {"peak_bytes", r->peak_bytes},           {"reclaimed_blocks", r->reclaimed_blocks},
            {"reclaimed_bytes", r->reclaimed_bytes}, {"cleanups_run", r->cleanups_run},
            {"duration_ns", r->duration_ns},         {"blocks_allocated", r->blocks_allocated},
            {"kept_blocks", r->kept_blocks},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            demo_track(o, cJSON_AddNumberToObject(j, f[i].key, (double)f[i].v));
        demo_track(o, cJSON_AddStringToObject(j, "policy", policy_name(r->policy)));
        return;
    }
    char a[32];
    printf("  scope report \"%s\":\n", r->name);
    demo_line("    ", "bytes allocated", cli_format_bytes(r->bytes_allocated, a, sizeof a));
    demo_line("    ", "bytes freed", cli_format_bytes(r->bytes_freed, a, sizeof a));
    demo_line("    ", "peak bytes", cli_format_bytes(r->peak_bytes, a, sizeof a));
    demo_line("    ", "blocks allocated", cli_format_count(r->blocks_allocated, a, sizeof a));
    demo_line("    ", "kept blocks", cli_format_count(r->kept_blocks, a, sizeof a));
    demo_line("    ", "reclaimed blocks", cli_format_count(r->reclaimed_blocks, a, sizeof a));
    demo_line("    ", "reclaimed bytes", cli_format_bytes(r->reclaimed_bytes, a, sizeof a));
    demo_line("    ", "cleanups run", cli_format_count(r->cleanups_run, a, sizeof a));
    demo_line("    ", "duration", cli_format_duration(r->duration_ns, a, sizeof a));
    demo_line("    ", "policy", policy_name(r->policy));
}

static void put_cleanup_result(demo_out *o, const al_cleanup_result *r)
{
    if (o->json) {
        demo_put_raw(o, "cleanup", al_cleanup_result_json(r));
        return;
    }
    char a[32], b[32], line[96];
    printf("  al_force_comprehensive_cleanup():\n");
    demo_line("    ", "success", r->success ? "yes" : "no");
    snprintf(line, sizeof line, "%s (%s failed)", cli_format_count(r->callbacks_run, a, sizeof a),
             cli_format_count(r->callbacks_failed, b, sizeof b));
    demo_line("    ", "callbacks run", line);
    demo_line("    ", "bytes released", cli_format_bytes(r->bytes_released, a, sizeof a));
    demo_line("    ", "cuda bytes released", cli_format_bytes(r->cuda_bytes_released, a, sizeof a));
    snprintf(line, sizeof line, "%s -> %s", cli_format_bytes(r->rss_before_bytes, a, sizeof a),
             cli_format_bytes(r->rss_after_bytes, b, sizeof b));
    demo_line("    ", "process rss", line);
    demo_line("    ", "duration", cli_format_duration(r->duration_ns, a, sizeof a));
}

/* Begins a stage's scope, or reports why it could not. */
static al_scope *stage_scope(const char *name)
{
    al_scope *s = al_scope_begin(name);
    if (!s)
        cli_fail(CMD, "out of memory beginning scope \"%s\"", name);
    return s;
}

/* -------- Stages. Each returns 0, or -1 after reporting a failure on stderr. -------- */

static void load_progress(void *user, size_t done, size_t total)
{
    (void)total;
    cli_progress_update(user, done);
}

static int stage_load(demo_out *o, demo_rng *rng, struct catalog **cat_out)
{
    demo_step(o, NULL, "load_catalog", "decode a catalog chunk by chunk in scope \"load_catalog\"");
    al_scope *s = stage_scope("load_catalog");
    if (!s)
        return -1;
    cli_progress progress;
    cli_progress_begin(&progress, "astrolab demo: loading catalog",
                       (DEMO_ROWS + DEMO_CHUNK_ROWS - 1) / DEMO_CHUNK_ROWS);
    struct catalog *cat =
        demo_catalog_build(rng, DEMO_ROWS, DEMO_CHUNK_ROWS, load_progress, &progress);
    cli_progress_end(&progress);
    uint64_t kept = cat ? demo_catalog_keep(cat) : 0;
    al_scope_report r = {0}; /* zeros if the end is refused (logged) */
    (void)!al_scope_end(s, &r);
    if (!cat) {
        cli_fail(CMD, "out of memory while building the catalog");
        return -1;
    }
    uint64_t aliases = 0;
    for (size_t c = 0; c < cat->n_chunks; c++)
        aliases += cat->chunks[c].n_aliases;
    cli_note(o->json, "%s: each chunk's big-endian row buffer lives in a nested", cat->name);
    cli_note(o->json,
             "AL_MEMORY_MANAGEMENT(\"decode_chunk\") scope; the catalog's blocks are kept");
    cli_note(o->json, "with al_scope_keep and now belong to the process.");
    demo_put_count(o, "rows", "rows", cat->n_rows);
    demo_put_count(o, "chunks", "chunks", cat->n_chunks);
    demo_put_count(o, "aliases", "aliases (al_strdup)", aliases);
    demo_put_bytes(o, "star_bytes", "struct star rows",
                   (uint64_t)cat->n_rows * sizeof(struct star));
    demo_put_count(o, "kept_blocks", "blocks kept", kept);
    demo_put_check(o, "kept_all_blocks", "scope kept them all",
                   r.kept_blocks == kept && r.reclaimed_blocks == 0);
    put_scope_report(o, &r);
    demo_put_stats(o, NULL);
    *cat_out = cat;
    return 0;
}

static int stage_select(demo_out *o, const struct catalog *cat, struct selection **sel_out)
{
    demo_step(o, NULL, "select_nearby", "stars within 100 pc, kept out of scope \"select_nearby\"");
    al_scope *s = stage_scope("select_nearby");
    if (!s)
        return -1;
    struct selection *sel = demo_select_nearby(cat, DEMO_NEARBY_MAS);
    if (sel) {
        al_scope_keep(sel->stars);
        al_scope_keep(sel);
    }
    al_scope_report r = {0}; /* zeros if the end is refused (logged) */
    (void)!al_scope_end(s, &r);
    if (!sel) {
        cli_fail(CMD, "out of memory while selecting nearby stars");
        return -1;
    }
    cli_note(o->json, "temporaries are freed explicitly; the magnitude histogram's scratch by a");
    cli_note(o->json,
             "function deferred with al_scope_defer; the result is kept with al_scope_keep.");
    demo_put_count(o, "selected", "stars selected", sel->n);
    demo_put_number(o, "min_parallax_mas", "parallax above", sel->min_parallax, "mas");
    demo_put_number(o, "median_distance_pc", "median distance", sel->median_distance_pc, "pc");
    demo_put_number(o, "mean_total_pm_mas_yr", "mean proper motion", sel->mean_total_pm, "mas/yr");
    demo_put_check(o, "result_kept", "kept, none reclaimed",
                   r.kept_blocks == (sel->stars ? 2u : 1u) && r.reclaimed_blocks == 0 &&
                       al_owns(sel));
    put_scope_report(o, &r);
    demo_put_stats(o, NULL);
    *sel_out = sel;
    return 0;
}

static int stage_crossmatch(demo_out *o, const struct catalog *cat)
{
    demo_step(o, NULL, "crossmatch", "close pairs, with a deliberate leak reclaimed by the scope");
    al_scope *s = stage_scope("crossmatch");
    if (!s)
        return -1;
    demo_crossmatch cm;
    int rc = demo_crossmatch_run(cat, DEMO_PAIR_ARCSEC, &cm);
    al_scope_report r = {0}; /* zeros if the end is refused (logged) */
    (void)!al_scope_end(s, &r);
    if (rc != 0) {
        cli_fail(CMD, "out of memory during the cross-match");
        return -1;
    }
    cli_note(o->json,
             "demo_crossmatch_run() \"forgets\" to free each chunk's match list; the scope");
    cli_note(o->json, "releases them at its end: see reclaimed blocks and bytes below.");
    demo_put_number(o, "radius_arcsec", "match radius", cm.radius_arcsec, "arcsec");
    demo_put_count(o, "pairs", "pairs found", cm.pairs);
    demo_put_count(o, "leaked_blocks", "blocks leaked", cm.leaked_blocks);
    demo_put_bytes(o, "leaked_bytes", "bytes leaked", cm.leaked_bytes);
    demo_put_check(o, "leak_reclaimed", "leak fully reclaimed",
                   r.reclaimed_blocks == cm.leaked_blocks && r.reclaimed_bytes == cm.leaked_bytes &&
                       cm.leaked_blocks > 0);
    put_scope_report(o, &r);
    demo_put_stats(o, NULL);
    return 0;
}

static int stage_cache(demo_out *o, const struct catalog *cat)
{
    demo_step(o, NULL, "cache_cleanup", "a registered cache released by a forced cleanup");
    al_scope *s = stage_scope("sky_cache");
    if (!s)
        return -1;
    size_t registered_before = al_registry_count();
    struct sky_cache *cache = demo_sky_cache_new(cat, DEMO_SKY_WIDTH, DEMO_SKY_HEIGHT);
    al_handle h =
        cache ? al_register_for_cleanup(cache, demo_sky_cache_release, "struct sky_cache") : 0;
    al_weak *weak = h ? al_weak_ref(cache) : NULL;
    if (!cache || !h || !weak) {
        al_weak_release(weak);
        al_free(cache); /* drops the registration too */
        (void)!al_scope_end(s, NULL);
        cli_fail(CMD, "out of memory while building the sky-density cache");
        return -1;
    }
    uint64_t cache_bytes = demo_sky_cache_bytes(cache);
    cli_note(o->json,
             "a %dx%d sky-density map, registered with al_register_for_cleanup; its release",
             cache->width, cache->height);
    cli_note(o->json, "function frees the cells and leaves the object valid to rebuild later.");
    demo_put_bytes(o, "cache_bytes", "cache cells", cache_bytes);
    demo_put_count(o, "registrations", "registrations", al_registry_count());
    demo_put_stats(o, NULL);

    al_cleanup_result cr = al_force_comprehensive_cleanup();
    put_cleanup_result(o, &cr);
    demo_put_check(o, "cache_released", "cache released",
                   cache->counts == NULL && cache->releases == 1 && cr.callbacks_run >= 1 &&
                       cr.bytes_released >= cache_bytes);
    demo_put_check(o, "weak_ref_live", "weak ref still valid", al_weak_get(weak) == cache);

    al_free(cache);
    demo_put_check(o, "registration_dropped", "al_free unregistered",
                   al_weak_get(weak) == NULL && al_registry_count() == registered_before &&
                       al_unregister(h) == AL_ENOTFOUND);
    al_weak_release(weak);
    al_scope_report r = {0}; /* zeros if the end is refused (logged) */
    (void)!al_scope_end(s, &r);
    put_scope_report(o, &r);
    demo_put_stats(o, NULL);
    return 0;
}

static int stage_diagnosis(demo_out *o)
{
    demo_step(o, NULL, "diagnosis", "what holds memory now, and what to do about it");
    al_diagnosis *d = al_diagnose_memory_leaks();
    if (!d) {
        cli_fail(CMD, "out of memory while diagnosing");
        return -1;
    }
    if (o->json) {
        demo_put_raw(o, "report", al_diagnosis_json(d));
    } else {
        char *text = al_diagnosis_text(d);
        if (!text) {
            al_diagnosis_free(d);
            cli_fail(CMD, "out of memory while rendering the diagnosis");
            return -1;
        }
        fputs(text, stdout);
        if (*text && text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
        free(text);
    }
    al_diagnosis_free(d);
    return 0;
}

static int stage_teardown(demo_out *o, struct catalog *cat, struct selection *sel,
                          const al_memory_stats *base)
{
    demo_selection_free(sel);
    demo_catalog_free(cat);
    al_memory_stats s;
    if (al_get_memory_stats(&s) != AL_OK)
        return -1;
    bool back = s.current_bytes == base->current_bytes && s.live_blocks == base->live_blocks;
    if (o->json) {
        demo_step(o, NULL, "teardown", "");
        demo_put_check(o, "back_to_baseline", "", back);
        demo_put_stats(o, NULL);
        return 0;
    }
    char a[32], b[32];
    printf("\nteardown: catalog and selection freed; tracked memory %s in %s blocks (%s)\n",
           cli_format_bytes(s.current_bytes, a, sizeof a),
           cli_format_count(s.live_blocks, b, sizeof b),
           back ? "back to the baseline" : "NOT back to the baseline: self-check failed");
    if (!back)
        o->failed = true;
    return 0;
}

/* -------- The command. -------- */

static int run_stages(demo_out *o)
{
    demo_rng rng = {DEMO_SEED};
    struct catalog *cat = NULL;
    struct selection *sel = NULL;
    al_memory_stats base;

    demo_step(o, NULL, "baseline", "the manager before the workload");
    demo_put_stats(o, &base);
    if (stage_load(o, &rng, &cat) != 0)
        return -1;
    if (stage_select(o, cat, &sel) != 0 || stage_crossmatch(o, cat) != 0 ||
        stage_cache(o, cat) != 0 || stage_diagnosis(o) != 0 || demo_survey_stages(o) != 0) {
        demo_selection_free(sel);
        demo_catalog_free(cat);
        return -1;
    }
    int rc = stage_teardown(o, cat, sel, &base);
    demo_run_stage(o);
    return rc;
}

static int cmd_demo_run(int argc, char **argv);

/* -------- --ui [HOST:]PORT: the live dashboard. -------- */

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Removes "--ui ADDR" / "--ui=ADDR" from argv (compacting it) and starts the dashboard. Sets
 * *serving. Returns CLI_EXIT_OK, CLI_EXIT_USAGE or CLI_EXIT_FAILURE (reported). */
static int start_ui(int *argc, char **argv, bool *serving)
{
    *serving = false;
    const char *addr = NULL;
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--ui") == 0) {
            if (i + 1 >= *argc)
                return cli_usage_error(CMD, "--ui needs [HOST:]PORT");
            addr = argv[++i];
        } else if (strncmp(argv[i], "--ui=", 5) == 0) {
            addr = argv[i] + 5;
        } else {
            argv[j++] = argv[i];
        }
    }
    *argc = j;
    if (!addr)
        return CLI_EXIT_OK;
    char host[64];
    al_ui_options o;
    al_ui_options_init(&o);
    int rc = cli_parse_ui_address(CMD, addr, host, sizeof host, &o.host, &o.port);
    if (rc != CLI_EXIT_OK)
        return rc;
    al_error err;
    if (al_ui_serve(&o, &err) != AL_OK)
        return cli_fail(CMD, "cannot serve the dashboard: %s", err.message);
    char *url = al_ui_url();
    fprintf(stderr, "astrolab demo: dashboard at %s\n", url ? url : "(out of memory)");
    free(url);
    *serving = true;
    return CLI_EXIT_OK;
}

/* After the run: keep the dashboard up until SIGINT or SIGTERM, then stop it. */
static void serve_until_interrupted(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "astrolab demo: the dashboard stays up; press Ctrl-C to stop\n");
    while (!interrupted)
        pause();
    (void)al_ui_stop();
}

int cmd_demo(int argc, char **argv)
{
    bool serving;
    int rc = start_ui(&argc, argv, &serving);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cmd_demo_run(argc, argv);
    if (serving)
        serve_until_interrupted();
    return rc;
}

static int cmd_demo_run(int argc, char **argv)
{
    cli_common_opts opts;
    int rc = cli_parse_common(argc, argv, &opts);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (opts.help) {
        cli_print_command_help(cli_find_command(CMD));
        return CLI_EXIT_OK;
    }
    demo_out o = {.json = opts.json};
    char a[32], b[32];
    if (o.json) {
        o.doc = cJSON_CreateObject();
        cJSON *w = cJSON_AddObjectToObject(o.doc, "workload");
        demo_track(&o, w);
        demo_track(&o, cJSON_AddStringToObject(w, "catalog", "synthetic Gaia DR3-like"));
        demo_track(&o, cJSON_AddNumberToObject(w, "rows", DEMO_ROWS));
        demo_track(&o, cJSON_AddNumberToObject(w, "chunk_rows", DEMO_CHUNK_ROWS));
        snprintf(a, sizeof a, "0x%016" PRIX64, (uint64_t)DEMO_SEED);
        demo_track(&o, cJSON_AddStringToObject(w, "seed", a));
        o.stages = cJSON_AddObjectToObject(o.doc, "stages");
        demo_track(&o, o.stages);
    } else {
        printf("AstroLab demo: %s synthetic Gaia DR3-like stars through the memory manager\n"
               "(%s-row chunks, seed 0x%016" PRIX64 ", astrolab %s)\n",
               cli_format_count(DEMO_ROWS, a, sizeof a),
               cli_format_count(DEMO_CHUNK_ROWS, b, sizeof b), (uint64_t)DEMO_SEED, al_version());
    }
    if (run_stages(&o) != 0) {
        cJSON_Delete(o.doc);
        return CLI_EXIT_FAILURE;
    }
    if (o.json) {
        demo_track(&o, cJSON_AddBoolToObject(o.doc, "ok", !o.failed));
        if (o.oom) {
            cJSON_Delete(o.doc);
            return cli_fail(CMD, "out of memory while building the JSON report");
        }
        rc = cli_print_json(CMD, o.doc);
    } else {
        printf("\n%s\n", o.failed ? "demo: a self-check FAILED (see above)"
                                  : "demo: every self-check passed");
        rc = CLI_EXIT_OK;
    }
    if (o.failed)
        return cli_fail(CMD, "a self-check failed: the manager did not do what the demo shows");
    return rc;
}
