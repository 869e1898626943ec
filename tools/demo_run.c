/* The whole-program stage of `astrolab demo`: this executable's `run` command on perl (in
 * perl-base, which every Debian system has) building a 100,000-entry hash, a real program that
 * knows nothing of AstroLab. Shows what the report found: allocations, peak, the blocks perl
 * keeps at exit by call site, the recommendations, and the time beside a plain run. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo_out.h"
#include "demo_run.h"

#define PERL "/usr/bin/perl"
#define SCRIPT "my %h; $h{$_} = [$_] for 1..100000;"
#define MIN_ALLOCATIONS 100000 /* perl makes about two per entry */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs argv with stdout and stderr to /dev/null; returns its wait status (-1: no fork) and its
 * wall time in *secs. */
static int run_quiet(char *const argv[], double *secs)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        unsetenv("ASTROLAB_FAIL_AFTER"); /* the demo's own fault injection stays the demo's */
        execv(argv[0], argv);
        _exit(127);
    }
    int status = -1;
    while (waitpid(pid, &status, 0) < 0)
        ;
    *secs = now_s() - t0;
    return status;
}

static double number(const cJSON *obj, const char *key)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static const char *string(const cJSON *obj, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    return s ? s : "";
}

/* What the report says: the figures, the three largest sites and the recommendations. */
static void show_report(demo_out *o, const cJSON *doc)
{
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(doc, "stats");
    double allocations = number(stats, "total_allocations");
    demo_put_count(o, "allocations", NULL, (uint64_t)allocations);
    demo_put_bytes(o, "peak_bytes", NULL, (uint64_t)number(stats, "peak_bytes"));
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(doc, "leaks"), *l;
    int shown = 0;
    cJSON_ArrayForEach(l, leaks)
    {
        if (shown++ == 3)
            break;
        char key[32], text[512], b[32], c[32], d[32];
        snprintf(key, sizeof key, "live_at_exit_%d", shown);
        snprintf(text, sizeof text, "%s in %s blocks (%s lost) from %s() in %s",
                 cli_format_bytes((uint64_t)number(l, "bytes"), b, sizeof b),
                 cli_format_count((uint64_t)number(l, "count"), c, sizeof c),
                 cli_format_count((uint64_t)number(l, "lost_count"), d, sizeof d),
                 string(l, "function"), string(l, "object"));
        demo_put_text(o, key, NULL, text);
    }
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(doc, "recommendations");
    demo_put_count(o, "recommendations", NULL, (uint64_t)cJSON_GetArraySize(recs));
    const cJSON *first = cJSON_GetArrayItem(recs, 0);
    if (first)
        demo_put_text(o, "first_recommendation", NULL, string(first, "message"));
    const cJSON *top = cJSON_GetArrayItem(leaks, 0);
    demo_put_check(o, "every_allocation_tracked", NULL, allocations >= MIN_ALLOCATIONS);
    demo_put_check(o, "largest_site_named", NULL,
                   top && strncmp(string(top, "function"), "Perl_", 5) == 0);
}

void demo_run_stage(demo_out *o)
{
    demo_step(o, "whole program", "run_perl",
              "astrolab run -- perl, a real program that knows nothing of AstroLab");
    char self[PATH_MAX], preload[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || cli_find_preload(preload, sizeof preload) != 0 || access(PERL, X_OK) != 0) {
        demo_put_text(o, "skipped", NULL,
                      n <= 0 || access(PERL, X_OK) == 0
                          ? "the preload library is not built here (sanitizer builds)"
                          : "no " PERL " on this machine");
        return;
    }
    self[n] = '\0';
    char report[] = "/tmp/astrolab-demo-run-XXXXXX";
    int fd = mkstemp(report);
    if (fd < 0) {
        demo_put_text(o, "skipped", NULL, "cannot make a temporary file");
        return;
    }
    close(fd);
    char *plain[] = {PERL, "-e", SCRIPT, NULL};
    char *tracked[] = {self, "run", "--report", report, "--", PERL, "-e", SCRIPT, NULL};
    double plain_s = 0, tracked_s = 0;
    int plain_status = run_quiet(plain, &plain_s);
    int status = run_quiet(tracked, &tracked_s);
    demo_put_text(o, "command", NULL, "perl -e '" SCRIPT "'");
    demo_put_check(o, "exit_status_passed_through", NULL,
                   WIFEXITED(status) && WIFEXITED(plain_status) &&
                       WEXITSTATUS(status) == WEXITSTATUS(plain_status));
    demo_put_number(o, "plain_seconds", NULL, plain_s, "s");
    demo_put_number(o, "astrolab_run_seconds", NULL, tracked_s, "s");
    cJSON *doc = cli_read_json_file(report);
    demo_put_check(o, "report_written", NULL, doc != NULL);
    if (doc)
        show_report(o, doc);
    else
        cli_fail("demo", "the report of astrolab run (%s) could not be read", report);
    cJSON_Delete(doc);
    unlink(report);
}
