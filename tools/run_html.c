/* The page of `astrolab run --html FILE` (docs/RUN-REPORT.md): ui/run/report.html with its
 * markers filled in: the styles and scripts inlined (d3, d3-flame-graph, uPlot and
 * ui/run/report.js, so it opens offline), the program's command line and the run's JSON report
 * as data. Drawn after the run from the report file, by the CLI, so the preload library (which
 * runs inside the program) does none of it. The neighbours: cmd_run.c runs the program and calls
 * run_html_write; run_summary.c prints the same report as text. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/format.h"
#include "cli.h"
#include "run_html.h"

/* -------- The page, built whole in memory before anything is written -------- */
typedef struct page {
    char *p;
    size_t n, cap;
    bool oom; /* an append failed: the page is incomplete and must not be written */
} page;

static void put(page *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void put_str(page *b, const char *s) { put(b, s, strlen(s)); }

static const run_html_assets_entry *asset(const char *path)
{
    for (size_t i = 0; i < run_html_assets_count; i++)
        if (strcmp(run_html_assets[i].path, path) == 0)
            return &run_html_assets[i];
    return NULL;
}

/* Whether `text` holds `end` ("</script", "</style"), in any case: the HTML parser would end the
 * element there, whatever the script or style around it means. */
static bool holds_end_tag(const unsigned char *text, size_t len, const char *end)
{
    size_t k = strlen(end);
    for (size_t i = 0; i + k <= len; i++)
        if (text[i] == '<' && strncasecmp((const char *)text + i, end, k) == 0)
            return true;
    return false;
}

/* Inlines the asset at `path` inside <tag>...</tag>. False when it is missing or would end its
 * element early, or holds "<!--", which changes how the parser finds a script's end (a vendored
 * file updated without a look: the page would break). */
static bool put_asset(page *b, const char *path, const char *tag)
{
    const run_html_assets_entry *a = asset(path);
    char end[16];
    snprintf(end, sizeof end, "</%s", tag);
    if (!a || holds_end_tag(a->data, a->len, end) || holds_end_tag(a->data, a->len, "<!--"))
        return false;
    put_str(b, "<");
    put_str(b, tag);
    put_str(b, ">\n");
    put(b, a->data, a->len);
    put_str(b, "\n</");
    put_str(b, tag);
    put_str(b, ">\n");
    return true;
}

/* JSON text as the content of <script type="application/json">: the element ends at the first
 * "</script" whatever JSON means there, and "<!--" changes how the parser looks for that end. In
 * JSON, '<', '>' and '&' can only stand inside strings, where \u003c, \u003e and \u0026 mean the
 * same characters: so every one is written escaped and the text stays the same JSON. U+2028 and
 * U+2029 are escaped too, for readers that take JSON for JavaScript. */
static void put_json_data(page *b, const char *id, const char *json, size_t len)
{
    put_str(b, "<script type=\"application/json\" id=\"");
    put_str(b, id);
    put_str(b, "\">");
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)json[i];
        const char *esc = c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : c == '&' ? "\\u0026" : NULL;
        size_t skip = 1;
        if (!esc && c == 0xE2 && i + 2 < len && (unsigned char)json[i + 1] == 0x80 &&
            ((unsigned char)json[i + 2] == 0xA8 || (unsigned char)json[i + 2] == 0xA9)) {
            esc = (unsigned char)json[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!esc)
            continue;
        put(b, json + from, i - from);
        put_str(b, esc);
        from = i + skip;
        i += skip - 1;
    }
    put(b, json + from, len - from);
    put_str(b, "</script>\n");
}

/* The program's command line as a JSON array of strings. */
static char *command_json(char *const *argv)
{
    cJSON *a = cJSON_CreateArray();
    bool ok = a != NULL;
    for (int i = 0; ok && argv[i]; i++) {
        cJSON *s = cJSON_CreateString(argv[i]);
        ok = s && cJSON_AddItemToArray(a, s);
        if (!ok)
            cJSON_Delete(s);
    }
    char *text = ok ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return text;
}

/* Fills the template's markers: <!--astrolab:styles-->, <!--astrolab:data-->,
 * <!--astrolab:scripts-->. False when an asset is missing or unfit (see put_asset). */
static bool fill(page *b, const char *report, size_t report_len, const char *command)
{
    static const char *const scripts[] = {"/run/vendor/d3.min.js",
                                          "/run/vendor/d3-flamegraph.min.js",
                                          "/web/vendor/uPlot.iife.min.js", "/run/report.js"};
    const run_html_assets_entry *t = asset("/run/report.html");
    if (!t)
        return false;
    const char *s = (const char *)t->data, *mark;
    bool ok = true;
    while (ok && (mark = strstr(s, "<!--astrolab:")) != NULL) {
        put(b, s, (size_t)(mark - s));
        const char *name = mark + strlen("<!--astrolab:"), *end = strstr(name, "-->");
        if (!end)
            return false;
        size_t n = (size_t)(end - name);
        if (n == 6 && strncmp(name, "styles", n) == 0) {
            ok = put_asset(b, "/web/vendor/uPlot.min.css", "style") &&
                 put_asset(b, "/run/report.css", "style");
        } else if (n == 4 && strncmp(name, "data", n) == 0) {
            put_json_data(b, "astrolab-command", command, strlen(command));
            put_json_data(b, "astrolab-report", report, report_len);
        } else if (n == 7 && strncmp(name, "scripts", n) == 0) {
            for (size_t i = 0; ok && i < sizeof scripts / sizeof *scripts; i++)
                ok = put_asset(b, scripts[i], "script");
        } else {
            return false;
        }
        s = end + 3;
    }
    put_str(b, s);
    return ok;
}

int run_html_write(const char *cmd, const char *report, char *const *argv, const char *path)
{
    size_t len = 0;
    al_error read_err;
    char *text = al_read_file(report, &len, &read_err);
    if (!text)
        return cli_fail(cmd, "--html %s: cannot read the report: %s", path, read_err.message);
    cJSON *doc = cJSON_ParseWithLength(text, len);
    bool is_report = cJSON_IsObject(doc);
    cJSON_Delete(doc);
    if (!is_report) {
        free(text);
        return cli_fail(cmd, "--html %s: the report %s is not a JSON object", path, report);
    }
    char *command = command_json(argv);
    page b = {0};
    bool filled = command && fill(&b, text, len, command);
    free(text);
    free(command);
    int rc;
    al_error err;
    if (!command || b.oom)
        rc = cli_fail(cmd, "--html %s: out of memory", path);
    else if (!filled)
        rc = cli_fail(cmd, "--html %s: the page's embedded files are incomplete (a build error)",
                      path);
    else if (al_write_file(path, b.p, b.n, &err) != AL_OK)
        rc = cli_fail(cmd, "--html %s: cannot write the page: %s", path, err.message);
    else
        rc = CLI_EXIT_OK;
    free(b.p);
    return rc;
}
