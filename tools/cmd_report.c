/* `astrolab report merge FILES... [--json]`: the job's view of the reports that `astrolab run`
 * wrote under MPI, one per rank (r.<rank>.json): each report's leaks become that rank's sites
 * and its stats its figures, merged by al_job_merge (<astrolab/job.h>), the merge that
 * al_mpi_diagnose uses, so both print the same shape. A file's rank is the number before its
 * ".json" ("r.12.json": 12); files without one are numbered after the highest found, in the
 * order given. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "cli.h"

#define CMD "report merge"

/* The rank in "NAME.<rank>.json", or -1. */
static int rank_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n < 7 || strcmp(base + n - 5, ".json") != 0)
        return -1;
    const char *end = base + n - 5, *p = end;
    while (p > base && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || p == base || p[-1] != '.' || end - p > 9)
        return -1;
    return atoi(p);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? v->valuedouble : 0;
}

static const char *text(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One report's figures and leaks into *r (sites allocated; strings borrowed from doc). */
static int read_rank(const cJSON *doc, const char *path, al_job_rank *r)
{
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(doc, "stats");
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(doc, "leaks");
    if (!cJSON_IsObject(stats) || (leaks && !cJSON_IsArray(leaks)))
        return cli_fail(CMD, "%s: not a report of 'astrolab run' (no \"stats\" object)", path);
    r->current_bytes = (uint64_t)num(stats, "current_bytes");
    r->peak_bytes = (uint64_t)num(stats, "peak_bytes");
    r->peak_rss_bytes = (uint64_t)num(stats, "peak_rss_bytes");
    int n = cJSON_GetArraySize(leaks);
    al_job_site *sites = calloc(n ? (size_t)n : 1, sizeof *sites);
    if (!sites)
        return cli_fail(CMD, "out of memory");
    const cJSON *l;
    size_t i = 0;
    cJSON_ArrayForEach(l, leaks)
    {
        sites[i++] =
            (al_job_site){text(l, "file"),   (int)num(l, "line"),       text(l, "function"),
                          text(l, "origin"), (uint64_t)num(l, "bytes"), (uint64_t)num(l, "count")};
    }
    r->sites = sites, r->n_sites = i;
    return CLI_EXIT_OK;
}

static int merge(char **files, int n, bool json)
{
    cJSON **docs = calloc((size_t)n, sizeof *docs);
    al_job_rank *ranks = calloc((size_t)n, sizeof *ranks);
    int rc = docs && ranks ? CLI_EXIT_OK : cli_fail(CMD, "out of memory");
    int next = 0;
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++)
        if (rank_of(files[i]) >= next)
            next = rank_of(files[i]) + 1;
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        if (!(docs[i] = cli_read_json_file(files[i]))) {
            rc = cli_fail(CMD, "%s: cannot read it as JSON%s%s", files[i], errno ? ": " : "",
                          errno ? strerror(errno) : "");
            break;
        }
        ranks[i].rank = rank_of(files[i]) >= 0 ? rank_of(files[i]) : next++;
        rc = read_rank(docs[i], files[i], &ranks[i]);
    }
    al_error err;
    al_job_view *v = rc == CLI_EXIT_OK ? al_job_merge(ranks, (size_t)n, &err) : NULL;
    if (rc == CLI_EXIT_OK && !v)
        rc = cli_fail(CMD, "%s", err.message);
    char *out = v ? (json ? al_job_view_json(v) : al_job_view_text(v)) : NULL;
    if (v && !out)
        rc = cli_fail(CMD, "out of memory");
    if (out) {
        rc = cli_write_stdout(CMD, out, strlen(out));
        if (rc == CLI_EXIT_OK && json)
            rc = cli_write_stdout(CMD, "\n", 1);
    }
    free(out);
    al_job_view_free(v);
    for (int i = 0; i < n; i++) {
        if (ranks)
            free((void *)ranks[i].sites);
        if (docs)
            cJSON_Delete(docs[i]);
    }
    free(ranks);
    free(docs);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        cli_print_command_help(cli_find_command("report"));
        return CLI_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "merge") != 0)
        return cli_usage_error("report", "expected 'merge' (astrolab report merge FILES...)");
    bool json = false;
    char **files = calloc((size_t)argc, sizeof *files);
    int n = 0;
    if (!files)
        return cli_fail(CMD, "out of memory");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            free(files);
            cli_print_command_help(cli_find_command("report"));
            return CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(files);
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else
            files[n++] = argv[i];
    }
    int rc = n ? merge(files, n, json) : cli_usage_error(CMD, "no report files given");
    free(files);
    return rc;
}
