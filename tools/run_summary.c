/* The text summary `astrolab run` prints on stderr from the program's JSON report
 * (docs/RUN-REPORT.md): statistics, the peak's holders, temporaries, the hottest sites, the
 * program's own leaks in full and the others summed up, misuses, recommendations, and the
 * processes the program started. tools/cmd_run.c runs the program and calls these. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

double run_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The frames of a site's stack other than the one the site is named by: the allocation
 * wrappers it went through ("via"), then its callers ("called from"; "(sampled)" when the
 * stack is the sampled one holding most of the site's bytes, not the site's own). */
static void print_stack(const cJSON *site)
{
    const cJSON *frame;
    bool outer = false;
    bool sampled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(site, "stack_sampled"));
    cJSON_ArrayForEach(frame, cJSON_GetObjectItemCaseSensitive(site, "stack"))
    {
        const char *ff = str(frame, "file");
        const char *fs = strrchr(ff, '/');
        if (!outer && run_num(frame, "line") == run_num(site, "line") &&
            strcmp(str(frame, "function"), str(site, "function")) == 0 &&
            strcmp(ff, str(site, "file")) == 0) {
            outer = true; /* the line above */
            continue;
        }
        char at[300];
        if (*ff)
            snprintf(at, sizeof at, "%s:%d", fs ? fs + 1 : ff, (int)run_num(frame, "line"));
        else
            snprintf(at, sizeof at, "%s", str(frame, "object"));
        fprintf(stderr, "  %32s %s %s (%s)\n", "",
                !outer    ? "via"
                : sampled ? "called from (sampled)"
                          : "called from",
                str(frame, "function"), at);
    }
}

/* -1 for a leak the summary lists: the program's own and not suppressed; else 0 (made inside
 * other libraries) or 1 (suppressed), summarized. Reports without `origin` list everything. */
static int own_leak(const cJSON *l)
{
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(l, "suppressed")))
        return 1;
    return strcmp(str(l, "origin"), "library") == 0 ? 0 : -1;
}

/* "function (file:line)" of a site entry, into buf. */
static const char *site_name(const cJSON *e, char *buf, size_t len)
{
    const char *file = str(e, "file");
    const char *slash = strrchr(file, '/');
    if (*file)
        snprintf(buf, len, "%s (%s:%d)", str(e, "function"), slash ? slash + 1 : file,
                 (int)run_num(e, "line"));
    else
        snprintf(buf, len, "%s (%s)", str(e, "function"), str(e, "object"));
    return buf;
}

/* The peak's largest holders, the most frequent temporaries and allocating sites: three each. */
static void print_top(const cJSON *doc)
{
    char a[32], b[32], where[400];
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(doc, "peak"), *e;
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(peak, "sites")) > 0) {
        fprintf(stderr, "at the peak (%s, %.0f ms after start%s), largest first:\n",
                cli_format_bytes((uint64_t)run_num(peak, "bytes"), a, sizeof a),
                run_num(peak, "time_ns") / 1e6,
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(peak, "exact"))
                    ? ""
                    : "; figures of a moment close to it");
        int shown = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(peak, "sites"))
        {
            if (shown++ == 3)
                break;
            fprintf(stderr, "  %10s in %8s blocks  %s\n",
                    cli_format_bytes((uint64_t)run_num(e, "bytes"), a, sizeof a),
                    cli_format_count((uint64_t)run_num(e, "count"), b, sizeof b),
                    site_name(e, where, sizeof where));
        }
    }
    static const char *const lists[][2] = {{"temporaries",
                                            "temporary blocks (freed before the next allocation)"},
                                           {"hot_sites", "most allocations"}};
    for (int k = 0; k < 2; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, lists[k][0]);
        if (cJSON_GetArraySize(arr) == 0)
            continue;
        fprintf(stderr, "%s:\n", lists[k][1]);
        int shown = 0;
        cJSON_ArrayForEach(e, arr)
        {
            if (shown++ == 3)
                break;
            fprintf(stderr, "  %10s  %s\n",
                    cli_format_count((uint64_t)run_num(e, "count"), a, sizeof a),
                    site_name(e, where, sizeof where));
        }
    }
}

/* The summary, on stderr so the program's own output stays clean. */
void run_print_summary(const cJSON *doc, const char *program)
{
    char a[32], b[32], c[32], d[32], e[32];
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "stats");
    fprintf(stderr, "\n== astrolab run: %s ==\n", program);
    fprintf(stderr, "allocations %s, frees %s, peak %s, live at exit %s in %s blocks\n",
            cli_format_count((uint64_t)run_num(st, "total_allocations"), a, sizeof a),
            cli_format_count((uint64_t)run_num(st, "total_frees"), b, sizeof b),
            cli_format_bytes((uint64_t)run_num(st, "peak_bytes"), c, sizeof c),
            cli_format_bytes((uint64_t)run_num(st, "current_bytes"), d, sizeof d),
            cli_format_count((uint64_t)run_num(st, "live_blocks"), e, sizeof e));
    fprintf(stderr, "peak RSS %s\n",
            cli_format_bytes((uint64_t)run_num(st, "peak_rss_bytes"), a, sizeof a));
    print_top(doc);
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(doc, "leaks");
    int n = 0, apart[2] = {0, 0};
    uint64_t apart_bytes[2] = {0, 0}, apart_blocks[2] = {0, 0};
    const cJSON *l, *largest_library = NULL;
    cJSON_ArrayForEach(l, leaks)
    {
        int k = own_leak(l);
        if (k < 0) {
            n++;
            continue;
        }
        apart[k]++;
        apart_bytes[k] += (uint64_t)run_num(l, "bytes");
        apart_blocks[k] += (uint64_t)run_num(l, "count");
        if (k == 0 && (!largest_library || run_num(l, "bytes") > run_num(largest_library, "bytes")))
            largest_library = l;
    }
    if (n == 0)
        fprintf(stderr, "no leaks of the program's own%s\n",
                apart[0] + apart[1] ? "" : ": every block was freed");
    else
        fprintf(stderr, "leaks (blocks live at exit; lost: no pointer reaches them), largest "
                        "first:\n");
    int shown = 0;
    cJSON_ArrayForEach(l, leaks)
    {
        if (own_leak(l) >= 0)
            continue;
        if (shown++ == 25) {
            fprintf(stderr, "  ... and %d more sites (see --report)\n", n - 25);
            break;
        }
        const char *file = str(l, "file");
        const char *slash = strrchr(file, '/');
        char where[300];
        if (*file)
            snprintf(where, sizeof where, "%s:%d", slash ? slash + 1 : file,
                     (int)run_num(l, "line"));
        else
            snprintf(where, sizeof where, "%s", str(l, "object"));
        char lost[64] = "";
        if (cJSON_GetObjectItemCaseSensitive(l, "lost_count"))
            snprintf(lost, sizeof lost, ", %s lost",
                     cli_format_count((uint64_t)run_num(l, "lost_count"), c, sizeof c));
        fprintf(stderr, "  %10s in %8s blocks%-14s  %s (%s)\n",
                cli_format_bytes((uint64_t)run_num(l, "bytes"), a, sizeof a),
                cli_format_count((uint64_t)run_num(l, "count"), b, sizeof b), lost,
                str(l, "function"), where);
        print_stack(l);
    }
    static const char *const what[2] = {"made entirely inside other libraries",
                                        "suppressed (--suppressions, the default list)"};
    for (int k = 0; k < 2; k++)
        if (apart[k])
            fprintf(stderr, "(not listed: %s in %s blocks at %d site%s %s; see --report)\n",
                    cli_format_bytes(apart_bytes[k], a, sizeof a),
                    cli_format_count(apart_blocks[k], b, sizeof b), apart[k],
                    apart[k] == 1 ? "" : "s", what[k]);
    /* A program that keeps its code in a library of its own (astrometry.net's
     * libastrometry.so.0) has its leaks there: say how to list them. */
    if (largest_library && *str(largest_library, "object"))
        fprintf(stderr,
                "(the most of those in %s: if it is part of the program, --own %s lists "
                "its leaks as the program's)\n",
                str(largest_library, "object"), str(largest_library, "object"));
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(doc, "runtime");
    if (run_num(rt, "live_blocks") > 0)
        fprintf(stderr,
                "(not counted as leaks: %s in %s blocks kept by the C runtime or made by library "
                "constructors before main)\n",
                cli_format_bytes((uint64_t)run_num(rt, "live_bytes"), a, sizeof a),
                cli_format_count((uint64_t)run_num(rt, "live_blocks"), b, sizeof b));
    if (n > 0 && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(rt, "reach_scanned")))
        fprintf(stderr, "(lost blocks are not told from reachable ones: the exit scan could not "
                        "read the program's memory, e.g. process_vm_readv is not allowed here)\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "recommendations"))
        fprintf(stderr, "%s [%s] %s\n", str(r, "severity"), str(r, "code"), str(r, "message"));
}

/* The processes the program started: a merged line for those the report holds, and the
 * commands of those it does not. */
void run_print_children(const cJSON *doc, const char *program)
{
    const cJSON *p, *tracked = cJSON_GetObjectItemCaseSensitive(doc, "processes");
    const cJSON *untracked = cJSON_GetObjectItemCaseSensitive(doc, "untracked_processes");
    int n = cJSON_GetArraySize(tracked), m = cJSON_GetArraySize(untracked);
    double allocations = 0, leaked = 0, blocks = 0, peak = 0;
    cJSON_ArrayForEach(p, tracked)
    {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "report");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(r, "stats"), *l;
        allocations += run_num(st, "total_allocations");
        peak = run_num(st, "peak_bytes") > peak ? run_num(st, "peak_bytes") : peak;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(r, "leaks"))
        {
            if (own_leak(l) < 0) {
                leaked += run_num(l, "bytes");
                blocks += run_num(l, "count");
            }
        }
    }
    char a[32], b[32], c[32], d[32];
    if (n > 0)
        fprintf(stderr,
                "processes %s started: %d tracked (each in the report's \"processes\"): %s "
                "allocations, largest peak %s, their own leaks %s in %s blocks\n",
                program, n, cli_format_count((uint64_t)allocations, a, sizeof a),
                cli_format_bytes((uint64_t)peak, b, sizeof b),
                cli_format_bytes((uint64_t)leaked, c, sizeof c),
                cli_format_count((uint64_t)blocks, d, sizeof d));
    if (m > 0)
        fprintf(stderr,
                "astrolab run: %d process%s that %s started %s not tracked (still running at its "
                "exit, or killed by a signal):\n",
                m, m == 1 ? "" : "es", program, m == 1 ? "is" : "are");
    int shown = 0;
    cJSON_ArrayForEach(p, untracked)
    {
        if (shown++ == 10)
            break;
        fprintf(stderr, "  pid %d:", (int)run_num(p, "pid"));
        const cJSON *arg;
        cJSON_ArrayForEach(arg, cJSON_GetObjectItemCaseSensitive(p, "argv"))
            fprintf(stderr, " %s", cJSON_IsString(arg) ? arg->valuestring : "");
        fputc('\n', stderr);
    }
}

/* Whether `name` is in the string array `key` of report r (a process's report lacking the key
 * counts as having used every name: an older library's). */
static bool unused_in(const cJSON *r, const char *key, const char *name)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, key), *e;
    if (!cJSON_IsArray(arr))
        return false;
    cJSON_ArrayForEach(e, arr)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0)
            return true;
    }
    return false;
}

void run_print_unused(const cJSON *doc)
{
    static const char *const keys[2][3] = {
        {"unused_wrappers", "--wrapper", "no allocation was made in a function of that name"},
        {"unused_own", "--own", "no leak had a frame in an object that pattern matches"}};
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(doc, "processes"), *e, *p;
    for (int k = 0; k < 2; k++) {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, keys[k][0]))
        {
            if (!cJSON_IsString(e))
                continue;
            bool anywhere = false; /* used by a process the program started */
            cJSON_ArrayForEach(p, procs)
            {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "report");
                anywhere |= !unused_in(r, keys[k][0], e->valuestring);
            }
            if (!anywhere)
                fprintf(stderr, "astrolab run: %s %s: %s (misspelt?)\n", keys[k][1], e->valuestring,
                        keys[k][2]);
        }
    }
}
