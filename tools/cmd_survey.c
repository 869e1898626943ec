/* `astrolab survey info|head|optimize FILE ...`: a FITS or CSV catalog loaded with
 * al_survey_load (src/survey/), shown as its columns and memory, as its first rows, or
 * optimized (and written back with -o). Loads show a progress bar on a terminal. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "cli.h"

#define MAX_COLUMNS 256

typedef struct survey_args {
    const char *sub; /* "info", "head", "optimize" */
    const char *file;
    const char *hdu;   /* --hdu value, or NULL */
    const char *out;   /* -o value, or NULL */
    long rows;         /* -n */
    char *columns_buf; /* --columns, split in place */
    const char *columns[MAX_COLUMNS + 1];
    bool json, help;
    bool raw; /* --raw, and always for optimize: FITS strings byte for byte */
} survey_args;

static int parse_args(int argc, char **argv, survey_args *a)
{
    const char *cmd = "survey";
    a->rows = 10;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(s, "--json") == 0)
            a->json = true;
        else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            a->help = true;
        else if (strcmp(s, "--raw") == 0)
            a->raw = true;
        else if (strcmp(s, "--hdu") == 0 && has_value)
            a->hdu = argv[++i];
        else if (strcmp(s, "-o") == 0 && has_value && strcmp(a->sub, "optimize") == 0)
            a->out = argv[++i];
        else if (strcmp(s, "-n") == 0 && has_value && strcmp(a->sub, "head") == 0) {
            char *end;
            errno = 0;
            a->rows = strtol(argv[++i], &end, 10);
            if (errno || *end || a->rows < 0)
                return cli_usage_error(cmd, "-n needs a number of rows, not '%s'", argv[i]);
        } else if (strcmp(s, "--columns") == 0 && has_value && strcmp(a->sub, "head") == 0) {
            a->columns_buf = argv[++i];
            size_t n = 0;
            for (char *tok = strtok(a->columns_buf, ","); tok; tok = strtok(NULL, ","))
                if (n < MAX_COLUMNS)
                    a->columns[n++] = tok;
            a->columns[n] = NULL;
            if (n == 0)
                return cli_usage_error(cmd, "--columns needs names: --columns ra,dec");
        } else if (s[0] == '-' && s[1])
            return cli_usage_error(cmd, "%s option '%s'%s",
                                   has_value || s[1] != '-' ? "unknown" : "incomplete", s,
                                   has_value ? "" : " (a value may be missing)");
        else if (!a->file)
            a->file = s;
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", s);
    }
    if (!a->help && !a->file)
        return cli_usage_error(cmd, "%s needs a FILE", a->sub);
    return CLI_EXIT_OK;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    cli_progress *p = user;
    if (p->total != total)
        p->total = total;
    cli_progress_update(p, done);
}

static al_tensordict *load(const survey_args *a, int64_t row_stop)
{
    al_survey_options o;
    al_survey_options_init(&o);
    if (a->hdu) {
        char *end;
        long n = strtol(a->hdu, &end, 10);
        if (*a->hdu && !*end && n >= 0)
            o.hdu = (int)n;
        else
            o.hdu_name = a->hdu;
    }
    o.row_stop = row_stop;
    o.raw_strings = a->raw;
    if (a->columns[0])
        o.columns = a->columns;
    cli_progress p;
    cli_progress_begin(&p, "loading", 0);
    o.progress = on_progress;
    o.progress_user = &p;
    al_error err = {0};
    al_tensordict *td = al_survey_load(a->file, &o, &err);
    cli_progress_end(&p);
    if (!td)
        cli_fail("survey", "%s", err.message);
    return td;
}

/* -------- info -------- */
static int run_info(const survey_args *a)
{
    al_tensordict *td = load(a, -1);
    if (!td)
        return CLI_EXIT_FAILURE;
    char *json = al_survey_info_json(td);
    int rc = CLI_EXIT_OK;
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    free(json);
    if (!doc) {
        al_survey_free(td);
        return cli_fail("survey", "out of memory for the report");
    }
    if (a->json) {
        al_survey_free(td);
        return cli_print_json("survey", doc);
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
    printf("\n%-24s %-8s %-14s %-10s %-10s %-8s %s\n", "column", "dtype", "shape", "unit", "role",
           "nulls", "format");
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "columns"))
    {
        char shape[48] = "";
        size_t n = 0;
        cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(c, "shape")) n +=
            (size_t)snprintf(shape + n, sizeof shape - n, "%s%.0f", n ? "x" : "",
                             cJSON_GetNumberValue(d));
        const char *dt = cJSON_GetStringValue(cJSON_GetObjectItem(c, "dtype"));
        char dtype[24];
        if (strcmp(dt, "string") == 0)
            snprintf(dtype, sizeof dtype, "S%.0f",
                     cJSON_GetNumberValue(cJSON_GetObjectItem(c, "width")));
        else
            snprintf(dtype, sizeof dtype, "%s", dt);
        printf("%-24s %-8s %-14s %-10s %-10s %-8.0f %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), dtype, shape,
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "unit")),
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "role")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(c, "nulls")),
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "format")));
    }
    cJSON_Delete(doc);
    al_survey_free(td);
    return rc;
}

/* -------- head -------- */

/* Elements in one row of t: 1 for a column of scalars, the cell's for vectors and TDIM cells. */
static int64_t cell_count(const al_tensor *t)
{
    int64_t n = 1;
    for (int d = 1; d < al_tensor_ndim(t); d++)
        n *= al_tensor_shape(t)[d];
    return n;
}

/* Element k (C order) of row `row`'s cell of t as text into buf; JSON-ready when json (null for
 * NaN and missing). The mask has t's shape. */
static void format_value(const al_tensor *t, const al_tensor *mask, int64_t row, int64_t k,
                         bool json, char *buf, size_t len)
{
    int64_t idx[AL_TENSOR_MAX_DIMS] = {row};
    int64_t mi = row * cell_count(t) + k;
    for (int d = al_tensor_ndim(t) - 1; d >= 1; d--) {
        idx[d] = k % al_tensor_shape(t)[d];
        k /= al_tensor_shape(t)[d];
    }
    if (mask && ((const uint8_t *)al_tensor_data(mask))[mi]) {
        snprintf(buf, len, json ? "null" : "null");
        return;
    }
    al_dtype d = al_tensor_dtype(t);
    if (d == AL_DTYPE_STRING) {
        char s[1024];
        size_t n = 0;
        if (al_tensor_get_string(t, idx, s, sizeof s, &n) != AL_OK)
            n = 0;
        size_t o = 0;
        for (size_t i = 0; i < n && o + 8 < len; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (json)
                buf[o++] = (char)ch;
            else if (isprint(ch))
                buf[o++] = (char)ch;
            else
                o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
        }
        buf[o] = '\0';
        return;
    }
    if (d == AL_DTYPE_BOOL) {
        double v = 0;
        if (al_tensor_get_double(t, idx, &v) != AL_OK)
            v = 0;
        snprintf(buf, len, "%s", v ? "true" : "false");
    } else if (d == AL_DTYPE_UINT64) {
        const int64_t *st = al_tensor_strides(t);
        int64_t off = 0;
        for (int d = 0; d < al_tensor_ndim(t); d++)
            off += idx[d] * st[d];
        snprintf(buf, len, "%" PRIu64, ((const uint64_t *)al_tensor_data(t))[off]);
    } else if (d == AL_DTYPE_FLOAT32 || d == AL_DTYPE_FLOAT64) {
        double v = 0;
        if (al_tensor_get_double(t, idx, &v) != AL_OK)
            v = NAN;
        if (isnan(v) || isinf(v))
            snprintf(buf, len, "%s", json ? "null" : isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
        else
            snprintf(buf, len, d == AL_DTYPE_FLOAT32 ? "%.9g" : "%.17g", v);
    } else {
        int64_t v = 0;
        if (al_tensor_get_int64(t, idx, &v) != AL_OK)
            v = 0;
        snprintf(buf, len, "%" PRId64, v);
    }
}

/* The cJSON value of element (row, k): strings as strings, numbers raw (int64 exactly). */
static cJSON *json_value(const al_tensor *t, const al_tensor *mask, int64_t row, int64_t k)
{
    char buf[1100];
    format_value(t, mask, row, k, true, buf, sizeof buf);
    if (strcmp(buf, "null") == 0 && (mask || al_tensor_dtype(t) != AL_DTYPE_STRING))
        return cJSON_CreateNull();
    if (al_tensor_dtype(t) == AL_DTYPE_STRING)
        return cJSON_CreateString(buf);
    return cJSON_CreateRaw(buf);
}

typedef struct head_col {
    const char *name;
    al_tensor *t;          /* decoded handle */
    const al_tensor *mask; /* borrowed "_null.<name>", or NULL */
} head_col;

/* Row `row`'s cell of c from dimension dim on: the value itself at the innermost level, else a
 * list (nested for TDIM cells). *k counts the elements taken so far. */
static cJSON *json_cell(const head_col *c, int64_t row, int dim, int64_t *k)
{
    if (dim == al_tensor_ndim(c->t))
        return json_value(c->t, c->mask, row, (*k)++);
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < al_tensor_shape(c->t)[dim]; i++)
        cJSON_AddItemToArray(a, json_cell(c, row, dim + 1, k));
    return a;
}

/* As json_cell, printed: "[[1, 2], [3, 4]]". */
static void print_cell(const head_col *c, int64_t row, int dim, int64_t *k)
{
    if (dim == al_tensor_ndim(c->t)) {
        char buf[1100];
        format_value(c->t, c->mask, row, (*k)++, false, buf, sizeof buf);
        printf("%s", buf);
        return;
    }
    printf("[");
    for (int64_t i = 0; i < al_tensor_shape(c->t)[dim]; i++) {
        printf("%s", i ? ", " : "");
        print_cell(c, row, dim + 1, k);
    }
    printf("]");
}

static int run_head(const survey_args *a)
{
    al_tensordict *td = load(a, a->rows);
    if (!td)
        return CLI_EXIT_FAILURE;
    size_t n = 0, cap = al_tensordict_len(td);
    head_col *cols = calloc(cap ? cap : 1, sizeof *cols);
    for (size_t i = 0; cols && i < cap; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) != AL_OK || !e.tensor)
            continue; /* the "_null" masks */
        char key[320];
        snprintf(key, sizeof key, "_null.%s", e.name);
        cols[n].name = e.name;
        cols[n].mask = al_tensordict_borrow(td, key);
        cols[n].t = al_tensordict_get(td, e.name, NULL);
        if (cols[n].t)
            n++;
    }
    int64_t rows = al_tensordict_batch_size(td);
    int rc = CLI_EXIT_OK;
    if (!cols) {
        rc = cli_fail("survey", "out of memory");
    } else if (a->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *names = cJSON_AddArrayToObject(doc, "columns");
        cJSON *jrows = cJSON_AddArrayToObject(doc, "rows");
        for (size_t j = 0; j < n; j++)
            cJSON_AddItemToArray(names, cJSON_CreateString(cols[j].name));
        for (int64_t r = 0; r < rows; r++) {
            cJSON *row = cJSON_CreateArray();
            cJSON_AddItemToArray(jrows, row);
            for (size_t j = 0; j < n; j++) {
                int64_t k = 0;
                cJSON_AddItemToArray(row, json_cell(&cols[j], r, 1, &k));
            }
        }
        rc = cli_print_json("survey", doc);
    } else {
        for (size_t j = 0; j < n; j++)
            printf("%s%s", j ? "\t" : "", cols[j].name);
        printf("\n");
        for (int64_t r = 0; r < rows; r++) {
            for (size_t j = 0; j < n; j++) {
                int64_t k = 0;
                printf("%s", j ? "\t" : "");
                print_cell(&cols[j], r, 1, &k);
            }
            printf("\n");
        }
    }
    for (size_t j = 0; j < n; j++)
        al_tensor_free(cols[j].t);
    free(cols);
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
static int run_optimize(const survey_args *in)
{
    /* Raw strings: a file written back must keep every byte (binary data in A columns). */
    survey_args raw = *in;
    raw.raw = true;
    const survey_args *a = &raw;
    al_tensordict *td = load(a, -1);
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
        cli_progress p;
        cli_progress_begin(&p, "writing", 0);
        rc = al_survey_save_fits(td, a->out, NULL, &err);
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
        return rc;
    if (a.help) {
        cli_print_command_help(cli_find_command("survey"));
        return CLI_EXIT_OK;
    }
    if (strcmp(a.sub, "info") == 0)
        return run_info(&a);
    if (strcmp(a.sub, "head") == 0)
        return run_head(&a);
    return run_optimize(&a);
}
