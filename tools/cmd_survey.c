/* `astrolab survey info|head|optimize FILE ...`: a FITS or CSV catalog loaded with
 * al_survey_load (src/survey/), shown as its columns and memory, as its first rows, or
 * optimized (and written back with -o). Loads show a progress bar on a terminal. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "astrolab/astrolab.h"
#include "cli.h"
#include "cmd_survey.h"

/* --hdu N|NAME: digits (an optional sign before them) are a number, which must fit; anything
 * else is an EXTNAME, so that "2MASS" stays a name. */
static int parse_hdu(const char *text, survey_args *a)
{
    const char *d = text + (*text == '-' || *text == '+');
    if (!*text)
        return cli_usage_error("survey", "--hdu needs a number or an EXTNAME, not ''");
    if (*d && strspn(d, "0123456789") == strlen(d)) {
        int64_t n;
        int rc = cli_parse_int("survey", "--hdu", text, 0, INT_MAX, &n);
        if (rc == CLI_EXIT_OK)
            a->hdu = (int)n;
        return rc;
    }
    a->hdu_name = text;
    return CLI_EXIT_OK;
}

/* --columns a,b,c: split in place into a->columns; every name non-empty. */
static int parse_columns(char *list, survey_args *a)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    free(a->columns);
    a->columns = calloc(n + 1, sizeof *a->columns);
    if (!a->columns)
        return cli_fail("survey", "out of memory");
    size_t k = 0;
    for (char *p = list;; p++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return cli_usage_error("survey", "--columns needs names, none empty: --columns ra,dec");
        a->columns[k++] = p;
        if (!comma)
            break;
        p = comma;
    }
    return CLI_EXIT_OK;
}

static int parse_args(int argc, char **argv, survey_args *a)
{
    const char *cmd = "survey";
    a->rows = 10;
    a->hdu = AL_SURVEY_HDU_FIRST;
    int rc = CLI_EXIT_OK;
    for (int i = 2; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *s = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(s, "--json") == 0)
            a->json = true;
        else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            a->help = true;
        else if (strcmp(s, "--raw") == 0)
            a->raw = true;
        else if (strcmp(s, "--hdu") == 0 && has_value)
            rc = parse_hdu(argv[++i], a);
        else if (strcmp(s, "-o") == 0 && has_value && strcmp(a->sub, "optimize") == 0)
            a->out = argv[++i];
        else if (strcmp(s, "-n") == 0 && has_value && strcmp(a->sub, "head") == 0)
            rc = cli_parse_int(cmd, "-n", argv[++i], 0, INT64_MAX, &a->rows);
        else if (strcmp(s, "--columns") == 0 && has_value && strcmp(a->sub, "head") == 0)
            rc = parse_columns(argv[++i], a);
        else if (s[0] == '-' && s[1])
            return cli_usage_error(cmd, "%s option '%s'%s",
                                   has_value || s[1] != '-' ? "unknown" : "incomplete", s,
                                   has_value ? "" : " (a value may be missing)");
        else if (!a->file)
            a->file = s;
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", s);
    }
    if (rc == CLI_EXIT_OK && !a->help && !a->file)
        return cli_usage_error(cmd, "%s needs a FILE", a->sub);
    return rc;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    cli_progress *p = user;
    if (p->total != total)
        p->total = total;
    cli_progress_update(p, done);
}

/* Whether path is FITS by <astrolab/survey.h>'s rule (it starts with "SIMPLE  ="); a file
 * that cannot be opened counts as FITS, for the load to report. */
static bool looks_like_fits(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return true;
    char head[9];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && memcmp(head, "SIMPLE  =", 9) == 0;
}

al_tensordict *survey_load(const survey_args *a, int64_t row_stop)
{
    if ((a->hdu != AL_SURVEY_HDU_FIRST || a->hdu_name) && !looks_like_fits(a->file)) {
        cli_fail("survey", "%s is CSV, which has no HDUs: --hdu is for FITS files", a->file);
        return NULL;
    }
    al_survey_options o;
    al_survey_options_init(&o);
    o.hdu = a->hdu;
    o.hdu_name = a->hdu_name;
    o.row_stop = row_stop;
    o.raw_strings = a->raw;
    o.columns = a->columns;
    cli_progress p;
    cli_progress_begin(&p, "loading", 0);
    o.progress = on_progress;
    o.progress_user = &p;
    al_error err = {0};
    al_tensordict *td = al_survey_load(a->file, &o, &err);
    cli_progress_end(&p);
    if (!td) {
        cli_fail("survey", "%s", err.message);
    } else if (o.hdu != AL_SURVEY_HDU_FIRST || o.hdu_name) {
        if (al_survey_info(td)->hdu < 0) { /* CSV after all: the library ignored --hdu */
            cli_fail("survey", "%s is CSV, which has no HDUs: --hdu is for FITS files", a->file);
            al_survey_free(td);
            td = NULL;
        }
    }
    return td;
}

/* -------- info -------- */

#define INFO_CELLS 7

/* One line of info's column table: name, dtype, shape, unit, role, nulls and format. */
typedef struct info_row {
    const char *cell[INFO_CELLS]; /* borrowed from the document, or the buffers below */
    char dtype[24];
    char shape[AL_TENSOR_MAX_DIMS * 24]; /* "x" and up to 20 digits per dimension */
    char nulls[24];
} info_row;

static const char *str_or_empty(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s ? s : "";
}

static void info_cells(const cJSON *c, info_row *r)
{
    size_t n = 0;
    r->shape[0] = '\0';
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(c, "shape"))
    {
        if (n < sizeof r->shape) /* snprintf returns what it would have written */
            n += (size_t)snprintf(r->shape + n, sizeof r->shape - n, "%s%.0f", n ? "x" : "",
                                  cJSON_GetNumberValue(d));
    }
    const char *dt = str_or_empty(c, "dtype");
    if (strcmp(dt, "string") == 0)
        snprintf(r->dtype, sizeof r->dtype, "S%.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(c, "width")));
    else
        snprintf(r->dtype, sizeof r->dtype, "%s", dt);
    snprintf(r->nulls, sizeof r->nulls, "%.0f",
             cJSON_GetNumberValue(cJSON_GetObjectItem(c, "nulls")));
    const char *cells[INFO_CELLS] = {str_or_empty(c, "name"),
                                     r->dtype,
                                     r->shape,
                                     str_or_empty(c, "unit"),
                                     str_or_empty(c, "role"),
                                     r->nulls,
                                     str_or_empty(c, "format")};
    memcpy(r->cell, cells, sizeof cells);
}

/* One line of the table, each cell but the last padded to its column's width. */
static void put_cells(const char *const *cells, const int *width)
{
    for (int k = 0; k + 1 < INFO_CELLS; k++)
        printf("%-*s  ", width[k], cells[k]);
    printf("%s\n", cells[INFO_CELLS - 1]);
}

/* The columns as a table whose columns are as wide as their widest cell (Gaia's names run
 * to 30 characters), so that long names do not push the rest of their line out of line. */
static void print_column_table(const cJSON *columns)
{
    static const char *const head[INFO_CELLS] = {"column", "dtype", "shape", "unit",
                                                 "role",   "nulls", "format"};
    int width[INFO_CELLS];
    for (int k = 0; k < INFO_CELLS; k++)
        width[k] = (int)strlen(head[k]);
    const cJSON *c;
    info_row r;
    cJSON_ArrayForEach(c, columns)
    {
        info_cells(c, &r);
        for (int k = 0; k < INFO_CELLS; k++)
            if ((int)strlen(r.cell[k]) > width[k])
                width[k] = (int)strlen(r.cell[k]);
    }
    putchar('\n');
    put_cells(head, width);
    cJSON_ArrayForEach(c, columns)
    {
        info_cells(c, &r);
        put_cells(r.cell, width);
    }
}

static int run_info(const survey_args *a)
{
    al_tensordict *td = survey_load(a, -1);
    if (!td)
        return CLI_EXIT_FAILURE;
    char *json = al_survey_info_json(td);
    if (a->json) {
        al_survey_free(td);
        return cli_print_json_report("survey", json);
    }
    int rc = CLI_EXIT_OK;
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!doc) {
        al_survey_free(td);
        return cli_fail("survey", "out of memory for the report");
    }
    const al_survey_meta *m = al_survey_info(td);
    char b1[32], b2[32];
    printf("%-10s %s\n", "file:", m->path);
    printf("%-10s %s\n", "format:", m->format);
    if (m->hdu >= 0)
        printf("%-10s %d%s%s%s\n", "hdu:", m->hdu, *m->extname ? " (" : "", m->extname,
               *m->extname ? ")" : "");
    printf("%-10s %s\n", "survey:", *m->survey ? m->survey : "(not recognised)");
    printf("%-10s %s\n",
           "rows:", cli_format_count((uint64_t)al_tensordict_batch_size(td), b1, sizeof b1));
    cJSON *mi = cJSON_GetObjectItem(doc, "memory_info");
    double total = cJSON_GetNumberValue(cJSON_GetObjectItem(mi, "total_bytes"));
    printf("%-10s %s in %d tensors\n", "memory:", cli_format_bytes((uint64_t)total, b2, sizeof b2),
           (int)cJSON_GetNumberValue(cJSON_GetObjectItem(mi, "n_tensors")));
    print_column_table(cJSON_GetObjectItem(doc, "columns"));
    cJSON_Delete(doc);
    al_survey_free(td);
    return rc;
}

/* -------- optimize -------- */

/* "none" or the AL_OPT_ACTION_* names joined by '+', as the report's JSON writes them. */
static void action_name(unsigned bits, char *buf, size_t len)
{
    static const char *const names[] = {"compact",      "share",       "narrow_int",
                                        "narrow_float", "lossy_float", "dict_encode",
                                        "narrow_string"};
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (bits & (1u << i))
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "+" : "", names[i]);
    if (!n)
        snprintf(buf, len, "none");
}
/* -o x.csv would get FITS under a CSV name (and over the user's CSV when it is the input). */
static bool writes_csv_name(const char *out)
{
    size_t n = strlen(out);
    return n >= 4 && strcasecmp(out + n - 4, ".csv") == 0;
}

static int run_optimize(const survey_args *in)
{
    /* Raw strings: a file written back must keep every byte (binary data in A columns). */
    survey_args raw = *in;
    raw.raw = true;
    const survey_args *a = &raw;
    if (a->out && writes_csv_name(a->out))
        return cli_fail("survey", "%s: optimize writes FITS, not CSV: give -o a .fits name",
                        a->out);
    al_tensordict *td = survey_load(a, -1);
    if (!td)
        return CLI_EXIT_FAILURE;
    al_optimize_report rep;
    int rc = al_tensordict_optimize_memory(td, NULL, &rep);
    if (rc != AL_OK) {
        al_survey_free(td);
        return cli_fail("survey", "optimize failed: %s", al_strerror(rc));
    }
    int exit_rc = CLI_EXIT_OK;
    al_error err = {0};
    if (a->out) {
        /* The rest of a FITS file (other HDUs, header keywords) is kept: the optimized file is
         * the same file with narrower columns. */
        const al_survey_meta *m = al_survey_info(td);
        al_survey_save_options so = {.overwrite = 1};
        so.keep_source = m && m->format && strcmp(m->format, "fits") == 0;
        cli_progress p;
        cli_progress_begin(&p, "writing", 0);
        rc = al_survey_save_fits(td, a->out, &so, &err);
        cli_progress_end(&p);
        if (rc != AL_OK)
            exit_rc = cli_fail("survey", "%s", err.message);
    }
    if (a->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "input", a->file);
        if (a->out && exit_rc == CLI_EXIT_OK)
            cJSON_AddStringToObject(doc, "output", a->out);
        else
            cJSON_AddNullToObject(doc, "output");
        cli_json_add_raw(doc, "report", al_optimize_report_json(&rep));
        int prc = cli_print_json("survey", doc);
        exit_rc = exit_rc ? exit_rc : prc;
    } else {
        char b1[32], b2[32];
        printf("%-24s %-18s %-10s %-10s %s\n", "column", "action", "before", "after", "dtype");
        for (size_t i = 0; i < rep.n_entries; i++) {
            const al_optimize_entry *e = &rep.entries[i];
            char action[96];
            action_name(e->action, action, sizeof action);
            printf("%-24s %-18s %-10s %-10s %s -> %s\n", e->name, action,
                   cli_format_bytes(e->bytes_before, b1, sizeof b1),
                   cli_format_bytes(e->bytes_after, b2, sizeof b2), al_dtype_name(e->dtype_before),
                   al_dtype_name(e->dtype_after));
        }
        printf("\ntotal: %s -> %s (saved %s)\n", cli_format_bytes(rep.bytes_before, b1, sizeof b1),
               cli_format_bytes(rep.bytes_after, b2, sizeof b2),
               cli_format_bytes(rep.bytes_before - rep.bytes_after, (char[32]){0}, 32));
        if (a->out && exit_rc == CLI_EXIT_OK)
            printf("written: %s\n", a->out);
    }
    al_optimize_report_release(&rep);
    al_survey_free(td);
    return exit_rc;
}

int cmd_survey(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("survey", "needs a subcommand: info, head or optimize");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        cli_print_command_help(cli_find_command("survey"));
        return CLI_EXIT_OK;
    }
    survey_args a = {0};
    a.sub = argv[1];
    if (strcmp(a.sub, "info") != 0 && strcmp(a.sub, "head") != 0 && strcmp(a.sub, "optimize") != 0)
        return cli_usage_error("survey", "unknown subcommand '%s' (info, head, optimize)", a.sub);
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_EXIT_OK)
        ;
    else if (a.help)
        cli_print_command_help(cli_find_command("survey"));
    else if (strcmp(a.sub, "info") == 0)
        rc = run_info(&a);
    else if (strcmp(a.sub, "head") == 0)
        rc = survey_run_head(&a);
    else
        rc = run_optimize(&a);
    free(a.columns);
    return rc;
}
