/* Tests of whole-program mode's stacks (src/preload/): deeper stacks, allocation wrappers, the
 * peak, folded stacks and pprof profiles, sampled stacks and their estimates. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "preload_common.h"

TEST(test_stack_depth_tells_callers_of_a_wrapper_apart)
{
    const char *report = test_tmp_path("stack.json"), *err = test_tmp_path("stack.err");
    int wrapper = marker_line("plain_wrapper.c", "/* WRAPPER */");
    int caller_a = marker_line("plain_wrapper.c", "/* CALLER-A */");
    int caller_b = marker_line("plain_wrapper.c", "/* CALLER-B */");
    /* Default depth: xmalloc is a wrapper (small, named *alloc*): one site per caller. */
    int status;
    cJSON *doc = run_report("plain_wrapper", report, err, 0, &status);
    if (doc) {
        check_leak(doc, "plain_wrapper.c", "/* CALLER-A */", 3, 300);
        check_leak(doc, "plain_wrapper.c", "/* CALLER-B */", 2, 80);
        CHECK(leak_at(doc, "plain_wrapper.c", wrapper) == NULL);
    }
    cJSON_Delete(doc);
    /* Depth 2: one entry per caller, each with its two frames. */
    status = run_program_env("plain_wrapper", report, err, "ASTROLAB_STACK_DEPTH", "2");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    doc = load_json(report);
    CHECK(doc != NULL);
    int found_a = 0, found_b = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(doc, "leaks"))
    {
        const cJSON *stack = cJSON_GetObjectItem(l, "stack");
        if (cJSON_GetArraySize(stack) != 2)
            continue;
        CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(stack, 0), "line")->valueint, wrapper);
        int outer = cJSON_GetObjectItem(cJSON_GetArrayItem(stack, 1), "line")->valueint;
        int count = cJSON_GetObjectItem(l, "count")->valueint;
        if (outer == caller_a && count == 3 && cJSON_GetObjectItem(l, "bytes")->valueint == 300)
            found_a = 1;
        if (outer == caller_b && count == 2 && cJSON_GetObjectItem(l, "bytes")->valueint == 80)
            found_b = 1;
    }
    CHECK(found_a && found_b);
    cJSON_Delete(doc);
    /* A bad value is reported and the default kept. */
    status = run_program_env("plain_wrapper", report, err, "ASTROLAB_STACK_DEPTH", "99");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(slurp(err), "ASTROLAB_STACK_DEPTH=\"99\"") != NULL);
}

/* The frames of leak entry l's stack, "function:line" joined by " < ", into out. */
static const char *stack_text(const cJSON *l, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(l, "stack"))
    {
        int w = snprintf(out + used, len - used, "%s%s:%d", used ? " < " : "",
                         cJSON_GetStringValue(cJSON_GetObjectItem(f, "function")),
                         cJSON_GetObjectItem(f, "line")->valueint);
        used += w > 0 && (size_t)w < len - used ? (size_t)w : 0;
    }
    return out;
}

/* Checks the leak at marker `site` of plain_wrappers.c and that its stack is, innermost first,
 * the functions and marker lines given ("xmalloc", "OUTER", ...; NULL-terminated pairs). */
static void check_wrapped(const cJSON *doc, const char *site, int count, int bytes,
                          const char *const *frames)
{
    check_leak(doc, "plain_wrappers.c", site, count, bytes);
    const cJSON *l = leak_at(doc, "plain_wrappers.c", marker_line("plain_wrappers.c", site));
    char want[512] = "", got[512];
    size_t used = 0;
    for (int i = 0; frames[i]; i += 2)
        used += (size_t)snprintf(want + used, sizeof want - used, "%s%s:%d", i ? " < " : "",
                                 frames[i], marker_line("plain_wrappers.c", frames[i + 1]));
    stack_text(l, got, sizeof got);
    /* A sampled stack of the site (stack_sampled) goes on from these frames to their callers. */
    bool sampled = l && cJSON_IsTrue(cJSON_GetObjectItem(l, "stack_sampled"));
    size_t n = strlen(want);
    bool same = sampled ? strncmp(want, got, n) == 0 && strncmp(got + n, " < ", 3) == 0
                        : strcmp(want, got) == 0;
    if (l && !same)
        fprintf(stderr, "  %s: stack %s, expected %s%s\n", site, got, want,
                sampled ? " < ..." : "");
    CHECK(l && same);
}

TEST(test_run_files_allocations_through_wrappers_at_their_callers)
{
    const char *report = test_tmp_path("wrappers.json"), *err = test_tmp_path("wrappers.err");
    int status;
    cJSON *doc = run_report("plain_wrappers", report, err, 0, &status);
    if (!doc)
        return;
    /* Two levels of wrappers, and the same from two threads. */
    check_wrapped(doc, "/* SITE-A */", 4, 400,
                  (const char *const[]){"my_alloc", "/* INNER */", "xmalloc", "/* OUTER */",
                                        "two_levels", "/* SITE-A */", NULL});
    check_wrapped(doc, "/* SITE-E */", 10, 2000,
                  (const char *const[]){"my_alloc", "/* INNER */", "xmalloc", "/* OUTER */",
                                        "worker", "/* SITE-E */", NULL});
    /* A wrapper that also does work (counts and zeroes) is still one; realloc wrappers too. */
    check_leak(doc, "plain_wrappers.c", "/* SITE-B */", 3, 192);
    check_leak(doc, "plain_wrappers.c", "/* SITE-C */", 1, 1000);
    /* A wide-string duplicator is a wrapper by its name. */
    check_leak(doc, "plain_wrappers.c", "/* SITE-W */", 1, 5 * (int)sizeof(wchar_t));
    CHECK(leak_at(doc, "plain_wrappers.c", marker_line("plain_wrappers.c", "/* WIDE */")) == NULL);
    /* A function not named as an allocator is a site of its own. */
    check_leak(doc, "plain_wrappers.c", "/* TABLE */", 2, 96);
    CHECK(leak_at(doc, "plain_wrappers.c", marker_line("plain_wrappers.c", "/* INNER */")) == NULL);
    cJSON_Delete(doc);
    /* ... until --wrapper names it; the text report shows the wrapper it went through. */
    status = start_run(true, NULL, NULL, err,
                       (const char *[]){"--wrapper", "make_table", "--report", report, "--",
                                        BUILD "/tests/plain_wrappers", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strstr(slurp(err), "via make_table (plain_wrappers.c:") != NULL);
    doc = load_json(report);
    CHECK(doc != NULL);
    if (doc)
        check_wrapped(doc, "/* SITE-D */", 2, 96,
                      (const char *const[]){"make_table", "/* TABLE */", "tables", "/* SITE-D */",
                                            NULL});
    cJSON_Delete(doc);
    /* Bad names are refused before the program runs. */
    const char *bad[][2] = {{"--wrapper", "a,b"}, {"--wrapper", ""}, {"--wrapper", NULL}};
    for (int i = 0; i < 3; i++) {
        status = start_run(true, NULL, NULL, err,
                           (const char *[]){bad[i][0], bad[i][1], bad[i][1] ? "true" : NULL, NULL});
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        CHECK(strstr(slurp(err), "--wrapper") != NULL);
    }
}

/* A site behind wrappers shows its callers too (issue 17: every site carries its call stack):
 * its sampled stack, which begins with the wrappers and the site, in the leaks and the peak.
 * With --stacks all every allocation is sampled, so the stack is sure to be there; the counts
 * stay the site's exact ones. */
TEST(test_run_shows_the_callers_of_a_site_behind_wrappers)
{
    const char *report = test_tmp_path("wrappers_all.json");
    const char *err = test_tmp_path("wrappers_all.err");
    cJSON *doc = run_report_with((const char *[]){"--stacks", "all", NULL}, "plain_wrappers",
                                 report, err, 0, NULL);
    if (!doc)
        return;
    check_wrapped(doc, "/* SITE-A */", 4, 400,
                  (const char *const[]){"my_alloc", "/* INNER */", "xmalloc", "/* OUTER */",
                                        "two_levels", "/* SITE-A */", "main", "    two_levels();",
                                        NULL});
    check_wrapped(doc, "/* SITE-B */", 3, 192,
                  (const char *const[]){"counted_alloc", "    void *p = calloc(1, n);", "with_work",
                                        "/* SITE-B */", "main", "    with_work();", NULL});
    const cJSON *l =
        leak_at(doc, "plain_wrappers.c", marker_line("plain_wrappers.c", "/* SITE-A */"));
    CHECK(l && cJSON_IsTrue(cJSON_GetObjectItem(l, "stack_sampled")));
    CHECK(strstr(slurp(err), "called from (sampled) main (plain_wrappers.c:") != NULL);
    /* The peak (at exit: nothing is freed) shows the same stack. */
    const cJSON *e, *pk = NULL;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "peak"), "sites"))
    {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        if (f && strstr(f, "plain_wrappers.c") &&
            cJSON_GetObjectItem(e, "line")->valueint ==
                marker_line("plain_wrappers.c", "/* SITE-A */"))
            pk = e;
    }
    char got[512] = "";
    if (pk)
        stack_text(pk, got, sizeof got);
    CHECK(pk && cJSON_IsTrue(cJSON_GetObjectItem(pk, "stack_sampled")));
    CHECK(strstr(got, "two_levels:") && strstr(got, " < main:"));
    cJSON_Delete(doc);
}

/* The entry of `list` (an array of site entries) at plain_phases.c's `marker`, or NULL. */
static const cJSON *entry_at(const cJSON *list, const char *marker)
{
    return entry_at_line(list, "plain_phases.c", marker_line("plain_phases.c", marker));
}

TEST(test_run_finds_the_peak_of_a_program_with_two_phases)
{
    const char *report = test_tmp_path("phases.json"), *err = test_tmp_path("phases.err");
    cJSON *doc = run_report("plain_phases", report, err, 0, NULL);
    if (!doc)
        return;
    /* The peak is the first phase's, exactly, by site; the second phase (live at exit) and the
     * temporaries, freed before it, are not in it. */
    const cJSON *peak = cJSON_GetObjectItem(doc, "peak");
    const cJSON *sites = cJSON_GetObjectItem(peak, "sites");
    CHECK(number(peak, "bytes") == number(cJSON_GetObjectItem(doc, "stats"), "peak_bytes"));
    CHECK(number(peak, "bytes") >= 1051200 && number(peak, "bytes") < 1051200 + 65536);
    CHECK(number(peak, "sites_bytes") == number(peak, "bytes"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(peak, "exact")));
    const cJSON *p1 = entry_at(sites, "/* PHASE-1 */"), *p1b = entry_at(sites, "/* PHASE-1B */");
    CHECK(p1 && number(p1, "count") == 100 && number(p1, "bytes") == 1000000);
    CHECK(p1b && number(p1b, "count") == 50 && number(p1b, "bytes") == 51200);
    CHECK(p1 == cJSON_GetArrayItem(sites, 0)); /* largest first */
    CHECK(entry_at(sites, "/* PHASE-2 */") == NULL && entry_at(sites, "/* TEMPORARY */") == NULL);
    double sum = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sites) sum += number(e, "bytes");
    CHECK(sum == number(peak, "bytes")); /* every byte at the peak has its site */
    /* When: after the first phase's 30 ms pause began, before the second's. */
    const cJSON *timeline = cJSON_GetObjectItem(doc, "timeline");
    double peak_ns = number(peak, "time_ns");
    CHECK(peak_ns > 0);
    /* Temporaries and the hottest sites by allocations. */
    const cJSON *temp = entry_at(cJSON_GetObjectItem(doc, "temporaries"), "/* TEMPORARY */");
    CHECK(temp && number(temp, "count") == 1000 && number(temp, "allocations") == 1000);
    CHECK(temp == cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "temporaries"), 0));
    CHECK(entry_at(cJSON_GetObjectItem(doc, "temporaries"), "/* PHASE-2 */") == NULL);
    const cJSON *hot = cJSON_GetObjectItem(doc, "hot_sites");
    CHECK(entry_at(hot, "/* TEMPORARY */") == cJSON_GetArrayItem(hot, 0));
    CHECK(number(entry_at(hot, "/* PHASE-2 */"), "count") == 200);
    CHECK(number(entry_at(hot, "/* GROW */"), "count") == 10);
    /* The timeline: rows in time order, the peak among them, the two phases' levels seen. */
    int rows = cJSON_GetArraySize(timeline), at_peak = 0, second = 0;
    double last_t = -1;
    cJSON_ArrayForEach(e, timeline)
    {
        double t = cJSON_GetArrayItem(e, 0)->valuedouble, b = cJSON_GetArrayItem(e, 1)->valuedouble;
        CHECK(cJSON_GetArraySize(e) == 3 && t >= last_t &&
              cJSON_GetArrayItem(e, 2)->valuedouble > 0);
        last_t = t;
        at_peak += t == peak_ns && b == number(peak, "bytes");
        second += t > peak_ns + 30e6 && b >= 401000 && b < 401000 + 65536;
    }
    CHECK(rows >= 4 && at_peak == 1 && second >= 1);
    CHECK(strstr(slurp(err), "at the peak (1.0 MiB") != NULL);
    CHECK(strstr(slurp(err), "temporary blocks") != NULL);
    cJSON_Delete(doc);
}

/* Runs tests/pprof_decode.py (an independent decoder: Python's gzip and a protobuf reader of
 * its own) on `path` and returns its JSON, or NULL. */
static cJSON *decode_pprof(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 %s/pprof_decode.py %s", ASTROLAB_TESTS_DIR, path);
    FILE *p = popen(cmd, "r");
    static char text[1 << 20];
    size_t n = p ? fread(text, 1, sizeof text - 1, p) : 0;
    int status = p ? pclose(p) : -1;
    text[n] = '\0';
    return status == 0 ? cJSON_Parse(text) : NULL;
}

/* The sum of value `index` over the decoded samples whose stack, leaf first, starts with the
 * functions in `functions` (NULL-terminated; none: every sample). */
static double pprof_sum(const cJSON *doc, int index, const char *const *functions)
{
    double sum = 0;
    const cJSON *smp;
    cJSON_ArrayForEach(smp, cJSON_GetObjectItem(doc, "samples"))
    {
        const cJSON *stack = cJSON_GetObjectItem(smp, "stack");
        bool match = true;
        for (int i = 0; functions[i] && match; i++) {
            const char *f = cJSON_GetStringValue(cJSON_GetArrayItem(stack, i));
            match = f && strncmp(f, functions[i], strlen(functions[i])) == 0 &&
                    f[strlen(functions[i])] == ' ';
        }
        if (match)
            sum += cJSON_GetArrayItem(cJSON_GetObjectItem(smp, "values"), index)->valuedouble;
    }
    return sum;
}

TEST(test_run_writes_folded_stacks_and_a_pprof_profile)
{
    const char *report = test_tmp_path("prof.json"), *err = test_tmp_path("prof.err");
    const char *folded = test_tmp_path("prof.folded"), *pprof = test_tmp_path("prof.pb.gz");
    int status = start_run(true, NULL, NULL, err,
                           (const char *[]){"--folded", folded, "--pprof", pprof, "--report",
                                            report, "--", BUILD "/tests/plain_wrappers", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cJSON *doc = load_json(report);
    CHECK(doc != NULL);
    if (!doc)
        return;
    const cJSON *stats = cJSON_GetObjectItem(doc, "stats");
    /* Folded: one line per stack, outermost first, with the bytes live at the peak; they add
     * up to the peak's sites. */
    char want[256];
    snprintf(want, sizeof want,
             "\ntwo_levels (plain_wrappers.c:%d);xmalloc (plain_wrappers.c:%d);my_alloc "
             "(plain_wrappers.c:%d) 400\n",
             marker_line("plain_wrappers.c", "/* SITE-A */"),
             marker_line("plain_wrappers.c", "/* OUTER */"),
             marker_line("plain_wrappers.c", "/* INNER */"));
    char *text = slurp(folded);
    /* The line may begin with two_levels's callers: the site's stack as sampled. */
    CHECK(strstr(text, want + 1) != NULL);
    CHECK(strstr(text, ";counted_alloc (plain_wrappers.c:") != NULL);
    double sum = 0;
    int lines = 0;
    for (char *line = text; *line; lines++) {
        char *end = strchr(line, '\n');
        CHECK(end != NULL);
        if (!end)
            break;
        char *space = end;
        while (space > line && *space != ' ')
            space--;
        sum += strtod(space + 1, NULL);
        line = end + 1;
    }
    CHECK(lines >= 5);
    CHECK(sum == number(cJSON_GetObjectItem(doc, "peak"), "sites_bytes"));
    /* pprof, decoded independently: the four sample types, the stack of each site leaf first,
     * and totals that match the report's statistics. */
    cJSON *prof = decode_pprof(pprof);
    CHECK(prof != NULL);
    if (prof) {
        const char *types[] = {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"};
        const cJSON *st = cJSON_GetObjectItem(prof, "sample_types");
        CHECK(cJSON_GetArraySize(st) == 4);
        for (int i = 0; i < 4; i++)
            CHECK(strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetArrayItem(st, i), 0)),
                         types[i]) == 0);
        const char *const none[] = {NULL};
        CHECK(pprof_sum(prof, 3, none) == number(stats, "current_bytes"));
        CHECK(pprof_sum(prof, 2, none) == number(stats, "live_blocks"));
        const char *const a[] = {"my_alloc", "xmalloc", "two_levels", NULL};
        const char *const e[] = {"my_alloc", "xmalloc", "worker", NULL};
        CHECK(pprof_sum(prof, 0, a) == 4 && pprof_sum(prof, 1, a) == 400);
        CHECK(pprof_sum(prof, 2, a) == 4 && pprof_sum(prof, 3, a) == 400);
        CHECK(pprof_sum(prof, 3, e) == 2000);
        const cJSON *smp;
        bool line_found = false;
        char line_text[64];
        snprintf(line_text, sizeof line_text, "plain_wrappers.c:%d",
                 marker_line("plain_wrappers.c", "/* SITE-A */"));
        cJSON_ArrayForEach(smp, cJSON_GetObjectItem(prof, "samples"))
        {
            const char *f =
                cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(smp, "stack"), 2));
            line_found |= f && strstr(f, line_text) != NULL;
        }
        CHECK(line_found);
        CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(prof, "default_sample_type")),
                     "inuse_space") == 0);
    }
    cJSON_Delete(prof);
    cJSON_Delete(doc);
    /* Bad destinations are refused before the program runs. */
    status = start_run(true, NULL, NULL, err,
                       (const char *[]){"--pprof", "/no/such/dir/p.pb.gz", "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CHECK(strstr(slurp(err), "--pprof /no/such/dir/p.pb.gz: directory /no/such/dir") != NULL);
    status =
        start_run(true, NULL, NULL, err, (const char *[]){"--folded", "/tmp/", "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "names a directory") != NULL);
    status = start_run(true, NULL, NULL, err, (const char *[]){"--folded", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "--folded needs a file name") != NULL);
}

/* -------- Sampled stacks (issue 17 item 1): tests/programs/plain_sampled.c -------- */

/* The sampled stacks of `doc` whose frames include function `caller`: the sum of `key`. */
static double sampled_sum(const cJSON *doc, const char *caller, const char *key, int *stacks)
{
    double sum = 0;
    *stacks = 0;
    const cJSON *e, *f;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "sampled_stacks"))
    {
        bool has = false;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "stack"))
        {
            const char *fn = cJSON_GetStringValue(cJSON_GetObjectItem(f, "function"));
            has |= fn && strcmp(fn, caller) == 0;
        }
        if (has) {
            sum += number(e, key);
            (*stacks)++;
        }
    }
    return sum;
}

static const char *const sampled_callers[3] = {"keep_small", "churn_medium", "churn_large"};
static const double sampled_count[3] = {40000, 20000, 1000};
static const double sampled_bytes[3] = {10240000, 20480000, 65536000};

/* The entry of list at plain_sampled.c's MAKE line, or NULL. */
static const cJSON *make_entry(const cJSON *list)
{
    return entry_at_line(list, "plain_sampled.c", marker_line("plain_sampled.c", "/* MAKE */"));
}

TEST(test_run_samples_stacks_with_unbiased_estimates)
{
    /* One sample per 8 KiB on average, seed fixed: about 1240 samples of keep_small's blocks,
     * 2500 of churn_medium's, 1000 of churn_large's, so each estimate's standard error is under
     * 3% and the 10% tolerance is more than 3.5 of them. */
    const char *report = test_tmp_path("sampled.json"), *err = test_tmp_path("sampled.err");
    const char *folded = test_tmp_path("sampled.folded"), *pprof = test_tmp_path("sampled.pb.gz");
    int status =
        start_run(true, NULL, "ASTROLAB_SAMPLE_SEED=42", err,
                  (const char *[]){"--sample-bytes", "8192", "--folded", folded, "--pprof", pprof,
                                   "--report", report, "--", BUILD "/tests/plain_sampled", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cJSON *doc = load_json(report);
    CHECK(doc != NULL);
    if (!doc)
        return;
    const cJSON *sampling = cJSON_GetObjectItem(doc, "sampling");
    CHECK(number(sampling, "interval_bytes") == 8192 && number(sampling, "seed") == 42);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(sampling, "exact")));
    CHECK(number(sampling, "samples") > 4000);
    for (int i = 0; i < 3; i++) {
        int stacks;
        double bytes = sampled_sum(doc, sampled_callers[i], "bytes", &stacks);
        double count = sampled_sum(doc, sampled_callers[i], "allocations", &stacks);
        fprintf(stderr, "  %s: %.0f bytes (exact %.0f), %.0f allocations (exact %.0f)\n",
                sampled_callers[i], bytes, sampled_bytes[i], count, sampled_count[i]);
        CHECK(stacks == 1); /* one stack per caller: main -> caller -> make_buffer */
        CHECK(fabs(bytes - sampled_bytes[i]) < 0.10 * sampled_bytes[i]);
        CHECK(fabs(count - sampled_count[i]) < 0.10 * sampled_count[i]);
    }
    /* Calibrated to the site's exact counts: the three stacks of MAKE add up to its bytes and
     * allocations (but for rounding), and keep_small, the one stack with blocks live at exit,
     * has exactly the site's live bytes (freed samples left the estimate). */
    double total_bytes = 0, total_count = 0, want_bytes = 0, want_count = 0;
    for (int i = 0; i < 3; i++) {
        int stacks;
        total_bytes += sampled_sum(doc, sampled_callers[i], "bytes", &stacks);
        total_count += sampled_sum(doc, sampled_callers[i], "allocations", &stacks);
        want_bytes += sampled_bytes[i];
        want_count += sampled_count[i];
    }
    CHECK(fabs(total_bytes - want_bytes) <= 3 && fabs(total_count - want_count) <= 3);
    int stacks;
    double live = sampled_sum(doc, "keep_small", "live_bytes", &stacks);
    CHECK(fabs(live - 10240000) <= 1);
    CHECK(sampled_sum(doc, "churn_medium", "live_bytes", &stacks) == 0);
    CHECK(sampled_sum(doc, "churn_large", "live_bytes", &stacks) == 0);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "sampled_stacks"), 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(e, "exact")));
    /* The leak at MAKE, a site of one frame, shows the sampled stack that holds it; its counts
     * stay exact. So does the peak's entry. */
    const cJSON *leak = make_entry(cJSON_GetObjectItem(doc, "leaks"));
    CHECK(leak && number(leak, "count") == 40000 && number(leak, "bytes") == 10240000);
    CHECK(leak && cJSON_IsTrue(cJSON_GetObjectItem(leak, "exact")));
    CHECK(leak && cJSON_IsTrue(cJSON_GetObjectItem(leak, "stack_sampled")));
    CHECK(leak && stack_has(leak, "keep_small") && stack_has(leak, "main"));
    CHECK(strstr(slurp(err), "called from (sampled) keep_small (plain_sampled.c:") != NULL);
    const cJSON *pk = make_entry(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "peak"), "sites"));
    CHECK(pk && stack_has(pk, "keep_small"));
    /* Folded: the peak's bytes at MAKE under keep_small's stack; lines add up to the peak. */
    char want[160];
    snprintf(want, sizeof want, "main (plain_sampled.c:%d);keep_small (plain_sampled.c:%d);",
             marker_line("plain_sampled.c", "    keep_small();"),
             marker_line("plain_sampled.c", "kept[i] = make_buffer(256);"));
    char *text = slurp(folded);
    CHECK(strstr(text, want) != NULL);
    double sum = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n'), *space = end;
        if (!end)
            break;
        while (space > line && *space != ' ')
            space--;
        sum += strtod(space + 1, NULL);
        line = end + 1;
    }
    CHECK(sum == number(cJSON_GetObjectItem(doc, "peak"), "sites_bytes"));
    /* pprof: each caller's stack with its estimated share; the shares add up to the exact. */
    cJSON *prof = decode_pprof(pprof);
    CHECK(prof != NULL);
    if (prof) {
        double total = 0;
        for (int i = 0; i < 3; i++) {
            const char *const st[] = {"make_buffer", sampled_callers[i], "main", NULL};
            double b = pprof_sum(prof, 1, st);
            CHECK(fabs(b - sampled_bytes[i]) < 0.10 * sampled_bytes[i]);
            total += b;
        }
        const char *const site[] = {"make_buffer", NULL};
        CHECK(pprof_sum(prof, 1, site) == 10240000 + 20480000 + 65536000);
        CHECK(total == pprof_sum(prof, 1, site));
        const char *const none[] = {NULL};
        CHECK(pprof_sum(prof, 3, none) ==
              number(cJSON_GetObjectItem(doc, "stats"), "current_bytes"));
    }
    cJSON_Delete(prof);
    cJSON_Delete(doc);
}

TEST(test_run_stacks_all_gives_exact_stacks)
{
    const char *report = test_tmp_path("all.json"), *err = test_tmp_path("all.err");
    cJSON *doc = run_report_with((const char *[]){"--stacks", "all", NULL}, "plain_sampled", report,
                                 err, 0, NULL);
    if (!doc)
        return;
    const cJSON *sampling = cJSON_GetObjectItem(doc, "sampling");
    CHECK(number(sampling, "interval_bytes") == 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(sampling, "exact")));
    for (int i = 0; i < 3; i++) {
        int stacks;
        CHECK(sampled_sum(doc, sampled_callers[i], "bytes", &stacks) == sampled_bytes[i]);
        CHECK(stacks == 1);
        CHECK(sampled_sum(doc, sampled_callers[i], "allocations", &stacks) == sampled_count[i]);
        CHECK(sampled_sum(doc, sampled_callers[i], "live_count", &stacks) == (i ? 0 : 40000));
    }
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "sampled_stacks"), 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(e, "exact")));
    cJSON_Delete(doc);
}

TEST(test_run_samples_stacks_in_every_thread)
{
    /* Each thread counts down on its own: exact with --stacks all, and an estimate from
     * about 60,000 samples (S = 4 KiB) within 5% otherwise. */
    const char *report = test_tmp_path("threads.json"), *err = test_tmp_path("threads.err");
    const char *modes[2][2] = {{"--stacks", "all"}, {"--sample-bytes", "4096"}};
    for (int m = 0; m < 2; m++) {
        int status = start_run(true, NULL, "ASTROLAB_SAMPLE_SEED=7", err,
                               (const char *[]){modes[m][0], modes[m][1], "--report", report, "--",
                                                BUILD "/tests/plain_sampled_threads", NULL});
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        cJSON *doc = load_json(report);
        CHECK(doc != NULL);
        if (!doc)
            return;
        int stacks;
        double allocs = sampled_sum(doc, "work", "allocations", &stacks);
        double live = sampled_sum(doc, "work", "live_count", &stacks);
        fprintf(stderr, "  %s %s: %.0f allocations (exact 1200000), %.0f live (exact 133336)\n",
                modes[m][0], modes[m][1], allocs, live);
        if (m == 0)
            CHECK(allocs == 1200000 && live == 133336);
        else
            CHECK(fabs(allocs - 1200000) < 0.05 * 1200000 && fabs(live - 133336) < 0.05 * 133336);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "errors")) == 0);
        cJSON_Delete(doc);
    }
}

TEST(test_run_refuses_bad_sample_bytes)
{
    const char *err = test_tmp_path("badsample.err");
    const char *bad[] = {"0", "-4096", "abc", "12k", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int status = run_args(err, (const char *[]){"--sample-bytes", bad[i], "--", "true", NULL});
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        char want[128];
        snprintf(want, sizeof want,
                 "--sample-bytes needs a whole number from 1 to "
                 "1099511627776, not '%s'",
                 bad[i]);
        CHECK(strstr(slurp(err), want) != NULL);
    }
    int status = run_args(err, (const char *[]){"--sample-bytes", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "--sample-bytes needs a number of bytes") != NULL);
    status = run_args(err, (const char *[]){"--stacks", "some", "--", "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "--stacks needs 'all' or 'sampled', not 'some'") != NULL);
    status = run_args(err, (const char *[]){"--stacks", "all", "--sample-bytes", "4096", "--",
                                            "true", NULL});
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    CHECK(strstr(slurp(err), "exclude each other") != NULL);
}

PRELOAD_TEST_MAIN()
