/* Helpers shared by the astrolab subcommands: option errors, human-readable figures and JSON
 * output. The progress line is in progress.c; the command table in astrolab.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/format.h"
#include "cli.h"

static void vreport(const char *cmd, const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "astrolab%s%s: %s", cmd ? " " : "", cmd ? cmd : "", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, "", fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'astrolab%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, "error: ", fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAILURE;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *p = text;
    bool neg = min < 0 && *p == '-';
    p += neg;
    /* Accumulated as a negative number, whose range holds INT64_MIN. */
    int64_t v = 0;
    bool ok = *p != '\0';
    for (; ok && *p; p++) {
        int d = *p - '0';
        if (d < 0 || d > 9 || v < (INT64_MIN + d) / 10)
            ok = false;
        else
            v = v * 10 - d;
    }
    if (ok && !neg && v == INT64_MIN)
        ok = false;
    if (ok && !neg)
        v = -v;
    if ((!ok || v < min || v > max) && max == INT64_MAX)
        return cli_usage_error(cmd, "%s needs a whole number of at least %" PRId64 ", not '%s'",
                               opt, min, text);
    if (!ok || v < min || v > max)
        return cli_usage_error(cmd,
                               "%s needs a whole number from %" PRId64 " to %" PRId64 ", not '%s'",
                               opt, min, max, text);
    *out = v;
    return CLI_EXIT_OK;
}

int cli_parse_common(int argc, char **argv, cli_common_opts *out)
{
    cli_common_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            o.json = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            o.help = true;
        else if (a[0] == '-' && a[1] != '\0')
            return cli_usage_error(argv[0], "unknown option '%s'", a);
        else
            return cli_usage_error(argv[0], "unexpected argument '%s'", a);
    }
    *out = o;
    return CLI_EXIT_OK;
}

const char *cli_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    return al_format_bytes(bytes, buf, len);
}

const char *cli_format_count(uint64_t n, char *buf, size_t len)
{
    return al_format_count(n, buf, len);
}

const char *cli_format_duration(uint64_t ns, char *buf, size_t len)
{
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    return buf;
}

int cli_write_stdout(const char *cmd, const char *text, size_t n)
{
    if (fwrite(text, 1, n, stdout) != n || fflush(stdout) != 0)
        return cli_fail(cmd, "cannot write the output: %s", strerror(errno));
    return CLI_EXIT_OK;
}

int cli_print_json_text(const char *cmd, char *text)
{
    if (!text)
        return cli_fail(cmd, "out of memory while printing the JSON report");
    size_t n = strlen(text);
    text[n] = '\n'; /* in place of the NUL: no copy to add the newline */
    int rc = cli_write_stdout(cmd, text, n + 1);
    free(text);
    return rc;
}

int cli_print_json_report(const char *cmd, char *json)
{
    if (!json)
        return cli_print_json_text(cmd, NULL);
    al_error err;
    char *text = al_json_format(json, 1, &err);
    free(json);
    if (!text)
        return cli_fail(cmd, "cannot print the JSON report: %s", err.message);
    return cli_print_json_text(cmd, text);
}

int cli_print_json(const char *cmd, cJSON *doc)
{
    if (!doc)
        return cli_fail(cmd, "out of memory while building the JSON report");
    /* cJSON writes the raw items (the library's reports, exact numbers) as they are; the
     * library then writes the whole document as it writes its own. */
    char *compact = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return cli_print_json_report(cmd, compact);
}

cJSON *cli_read_json_file(const char *path)
{
    size_t len;
    char *text = al_read_file(path, &len, NULL);
    cJSON *doc = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    return doc;
}

bool cli_json_add_raw(cJSON *parent, const char *key, char *text)
{
    cJSON *v = text ? cJSON_CreateRaw(text) : NULL;
    free(text);
    if (!v || !cJSON_AddItemToObject(parent, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

bool cli_json_add_double(cJSON *parent, const char *key, double v)
{
    char num[AL_FORMAT_LEN];
    cJSON *item =
        isfinite(v) ? cJSON_CreateRaw(al_format_double(v, num, sizeof num)) : cJSON_CreateNull();
    if (!item || !cJSON_AddItemToObject(parent, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* Parses "PORT", "HOST:PORT" or "[V6]:PORT" into host (NULL: the default, loopback) and
 * port. Returns CLI_EXIT_OK or CLI_EXIT_USAGE (reported). */
int cli_parse_ui_address(const char *cmd, const char *arg, char *host, size_t hostlen,
                         const char **host_out, uint16_t *port)
{
    const char *colon = strrchr(arg, ':');
    const char *p = colon ? colon + 1 : arg;
    *host_out = NULL;
    if (colon) {
        size_t n = (size_t)(colon - arg);
        if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']')
            arg++, n -= 2;
        if (n == 0 || n >= hostlen)
            return cli_usage_error(cmd, "--ui: bad host in '%s' (want [HOST:]PORT)", arg);
        memcpy(host, arg, n);
        host[n] = '\0';
        *host_out = host;
    }
    int64_t v;
    int rc = cli_parse_int(cmd, "--ui's PORT", p, 0, 65535, &v);
    if (rc == CLI_EXIT_OK)
        *port = (uint16_t)v;
    return rc;
}

void cli_note(bool quiet, const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("  ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* The preload library: $ASTROLAB_PRELOAD_LIB, beside this executable (build tree), or the
 * installed path. */
int cli_find_preload(char *out, size_t len)
{
    const char *env = getenv("ASTROLAB_PRELOAD_LIB");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%.*s/libastrolab_preload.so", (int)(len - 32), exe);
            if (access(out, R_OK) == 0)
                return 0;
            snprintf(out, len, "%.*s/%s", (int)(len / 2), exe, ASTROLAB_PRELOAD_FROM_BIN);
            if (access(out, R_OK) == 0)
                return 0;
        }
    }
    snprintf(out, len, "%s", ASTROLAB_PRELOAD_INSTALLED);
    return access(out, R_OK) == 0 ? 0 : -1;
}
