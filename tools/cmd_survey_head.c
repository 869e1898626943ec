/* `astrolab survey head FILE [-n ROWS] [--columns a,b] [--json]`: the first rows of a catalog,
 * as a table or as JSON {"columns": [...], "rows": [[...], ...]} with NaN as null. Every value
 * is printed whole (no fixed buffer), numbers in their shortest exact form of the column's
 * own type, strings as valid UTF-8 in JSON; the output is built in full before any of it is
 * written, so a failure prints nothing but the error. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "cli.h"
#include "cmd_survey.h"

/* Elements in one row of t: 1 for a column of scalars, the cell's for vectors and TDIM cells. */
static int64_t cell_count(const al_tensor *t)
{
    int64_t n = 1;
    for (int d = 1; d < al_tensor_ndim(t); d++)
        n *= al_tensor_shape(t)[d];
    return n;
}

typedef struct head_col {
    const char *name;      /* borrowed from the tensordict */
    al_tensor *t;          /* decoded handle */
    const al_tensor *mask; /* borrowed "_null.<name>", or NULL */
    char *str;             /* string columns: an element, the column's width + 1 bytes */
} head_col;

typedef enum head_kind { HEAD_NULL, HEAD_STRING, HEAD_NUMBER } head_kind;

/* Reads element k (C order) of row `row`'s cell of c: a string into c->str (*len bytes, which
 * may include NULs under --raw), else a number, bool or non-finite value as text into num
 * (JSON-ready when json: NaN and infinities are then null). The mask has t's shape. Returns
 * the kind, or -1 when the element cannot be read. */
static int read_value(const head_col *c, int64_t row, int64_t k, bool json, char num[64],
                      size_t *len)
{
    const al_tensor *t = c->t;
    int64_t idx[AL_TENSOR_MAX_DIMS] = {row};
    int64_t mi = row * cell_count(t) + k;
    for (int d = al_tensor_ndim(t) - 1; d >= 1; d--) {
        idx[d] = k % al_tensor_shape(t)[d];
        k /= al_tensor_shape(t)[d];
    }
    if (c->mask && ((const uint8_t *)al_tensor_data(c->mask))[mi])
        return HEAD_NULL;
    al_dtype d = al_tensor_dtype(t);
    if (d == AL_DTYPE_STRING)
        return al_tensor_get_string(t, idx, c->str, al_tensor_itemsize(t) + 1, len) == AL_OK
                   ? HEAD_STRING
                   : -1;
    if (d == AL_DTYPE_UINT64) {
        const int64_t *st = al_tensor_strides(t);
        int64_t off = 0;
        for (int i = 0; i < al_tensor_ndim(t); i++)
            off += idx[i] * st[i];
        snprintf(num, 64, "%" PRIu64, ((const uint64_t *)al_tensor_data(t))[off]);
        return HEAD_NUMBER;
    }
    if (d == AL_DTYPE_BOOL || d == AL_DTYPE_FLOAT32 || d == AL_DTYPE_FLOAT64) {
        double v;
        if (al_tensor_get_double(t, idx, &v) != AL_OK)
            return -1;
        if (d == AL_DTYPE_BOOL)
            snprintf(num, 64, "%s", v ? "true" : "false");
        else if (isnan(v) || isinf(v))
            snprintf(num, 64, "%s", json ? "null" : isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
        else if (d == AL_DTYPE_FLOAT32)
            al_format_float((float)v, num, 64);
        else
            al_format_double(v, num, 64);
        return json && !isfinite(v) && d != AL_DTYPE_BOOL ? HEAD_NULL : HEAD_NUMBER;
    }
    int64_t v;
    if (al_tensor_get_int64(t, idx, &v) != AL_OK)
        return -1;
    snprintf(num, 64, "%" PRId64, v);
    return HEAD_NUMBER;
}

/* The cJSON value of element (row, k): strings as JSON strings (every byte kept, the invalid
 * UTF-8 ones as \u00XX), numbers raw in their shortest exact text. NULL when out of memory or
 * the element cannot be read. */
static cJSON *json_value(const head_col *c, int64_t row, int64_t k)
{
    char num[64];
    size_t len = 0;
    int kind = read_value(c, row, k, true, num, &len);
    if (kind == HEAD_NULL)
        return cJSON_CreateNull();
    if (kind == HEAD_NUMBER)
        return cJSON_CreateRaw(num);
    char *quoted = kind == HEAD_STRING ? al_json_quote(c->str, len) : NULL;
    cJSON *v = quoted ? cJSON_CreateRaw(quoted) : NULL;
    free(quoted);
    return v;
}

/* Row `row`'s cell of c from dimension dim on: the value itself at the innermost level, else a
 * list (nested for TDIM cells). *k counts the elements taken so far. NULL on failure. */
static cJSON *json_cell(const head_col *c, int64_t row, int dim, int64_t *k)
{
    if (dim == al_tensor_ndim(c->t))
        return json_value(c, row, (*k)++);
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < al_tensor_shape(c->t)[dim]; i++) {
        cJSON *v = json_cell(c, row, dim + 1, k);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    return a;
}

/* {"columns": [...], "rows": [[...], ...]}, every value raw in its final text, or NULL on
 * failure. */
static cJSON *head_json(const head_col *cols, size_t n, int64_t rows)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(doc, "columns");
    cJSON *jrows = cJSON_AddArrayToObject(doc, "rows");
    bool ok = names && jrows;
    for (size_t j = 0; ok && j < n; j++) {
        char *quoted = al_json_quote(cols[j].name, strlen(cols[j].name));
        cJSON *s = quoted ? cJSON_CreateRaw(quoted) : NULL;
        free(quoted);
        ok = s && cJSON_AddItemToArray(names, s);
        if (!ok)
            cJSON_Delete(s);
    }
    for (int64_t r = 0; ok && r < rows; r++) {
        cJSON *row = cJSON_CreateArray();
        ok = row && cJSON_AddItemToArray(jrows, row);
        if (!ok)
            cJSON_Delete(row);
        for (size_t j = 0; ok && j < n; j++) {
            int64_t k = 0;
            cJSON *cell = json_cell(&cols[j], r, 1, &k);
            ok = cell && cJSON_AddItemToArray(row, cell);
            if (!ok)
                cJSON_Delete(cell);
        }
    }
    if (!ok) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* A string for a terminal: valid UTF-8 as it is, backslashes doubled, control characters and
 * bytes that are not UTF-8 as \xNN, so that every byte shows and none is ambiguous. */
static void put_string(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t k = al_utf8_len(s + i, n - i);
        if (ch == '\\')
            fputs("\\\\", f);
        else if (k == 0 || ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fwrite(s + i, 1, k, f);
        i += k ? k : 1;
    }
}

/* As json_cell, printed: "[[1, 2], [3, 4]]". False when an element cannot be read. */
static bool print_cell(FILE *f, const head_col *c, int64_t row, int dim, int64_t *k)
{
    if (dim == al_tensor_ndim(c->t)) {
        char num[64];
        size_t len = 0;
        int kind = read_value(c, row, (*k)++, false, num, &len);
        if (kind == HEAD_STRING)
            put_string(f, c->str, len);
        else
            fputs(kind == HEAD_NULL ? "null" : num, f);
        return kind >= 0;
    }
    bool ok = true;
    fputc('[', f);
    for (int64_t i = 0; ok && i < al_tensor_shape(c->t)[dim]; i++) {
        fputs(i ? ", " : "", f);
        ok = print_cell(f, c, row, dim + 1, k);
    }
    fputc(']', f);
    return ok;
}

/* The table, tab-separated, into a memory buffer: nothing reaches stdout unless all of it
 * was made. Returns CLI_EXIT_OK or CLI_EXIT_FAILURE (reported). */
static int head_text(const head_col *cols, size_t n, int64_t rows)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return cli_fail("survey", "out of memory");
    bool ok = true;
    for (size_t j = 0; j < n; j++)
        fprintf(f, "%s%s", j ? "\t" : "", cols[j].name);
    fputc('\n', f);
    for (int64_t r = 0; ok && r < rows; r++) {
        for (size_t j = 0; ok && j < n; j++) {
            int64_t k = 0;
            fputs(j ? "\t" : "", f);
            ok = print_cell(f, &cols[j], r, 1, &k);
        }
        fputc('\n', f);
    }
    ok &= !ferror(f);
    ok &= fclose(f) == 0;
    int rc = ok ? cli_write_stdout("survey", text, size)
                : cli_fail("survey", "cannot format the rows (out of memory?)");
    free(text);
    return rc;
}

/* Every column of td with a handle of its own (a decoded copy for dictionary-encoded ones).
 * Returns CLI_EXIT_OK with *out (n entries; free with free_columns), or CLI_EXIT_FAILURE
 * (reported): a column that cannot be read fails the command rather than go missing. */
static int head_columns(const al_tensordict *td, head_col **out, size_t *n_out)
{
    size_t n = 0, cap = al_tensordict_len(td);
    head_col *cols = calloc(cap ? cap : 1, sizeof *cols);
    if (!cols)
        return cli_fail("survey", "out of memory");
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; rc == CLI_EXIT_OK && i < cap; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) != AL_OK) {
            rc = cli_fail("survey", "cannot read column %zu of %zu", i + 1, cap);
            break;
        }
        if (!e.tensor)
            continue; /* the "_null" masks */
        head_col *c = &cols[n];
        c->name = e.name;
        al_error err = {0};
        c->t = al_tensordict_get(td, e.name, &err);
        if (!c->t) {
            rc = cli_fail("survey", "cannot read column '%s': %s", e.name,
                          err.message[0] ? err.message : al_strerror(err.code));
            break;
        }
        n++;
        size_t klen = strlen(e.name) + sizeof "_null.";
        char *key = malloc(klen);
        if (key) {
            snprintf(key, klen, "_null.%s", e.name);
            c->mask = al_tensordict_borrow(td, key);
        }
        if (al_tensor_dtype(c->t) == AL_DTYPE_STRING)
            c->str = malloc(al_tensor_itemsize(c->t) + 1);
        if (!key || (al_tensor_dtype(c->t) == AL_DTYPE_STRING && !c->str))
            rc = cli_fail("survey", "out of memory");
        free(key);
    }
    *out = cols;
    *n_out = n;
    return rc;
}

static void free_columns(head_col *cols, size_t n)
{
    for (size_t j = 0; cols && j < n; j++) {
        al_tensor_free(cols[j].t);
        free(cols[j].str);
    }
    free(cols);
}

int survey_run_head(const survey_args *a)
{
    al_tensordict *td = survey_load(a, a->rows);
    if (!td)
        return CLI_EXIT_FAILURE;
    head_col *cols = NULL;
    size_t n = 0;
    int rc = head_columns(td, &cols, &n);
    int64_t rows = al_tensordict_batch_size(td);
    if (rc == CLI_EXIT_OK && a->json) {
        /* Printed by cJSON as it is, not through cli_print_json: an int64 or uint64 value must
         * not pass through a double. Every value is raw text, exact and valid UTF-8. */
        cJSON *doc = head_json(cols, n, rows);
        char *text = doc ? cJSON_Print(doc) : NULL;
        cJSON_Delete(doc);
        rc = text ? cli_print_json_text("survey", text)
                  : cli_fail("survey", "cannot build the JSON rows (out of memory?)");
    } else if (rc == CLI_EXIT_OK) {
        rc = head_text(cols, n, rows);
    }
    free_columns(cols, n);
    al_survey_free(td);
    return rc;
}
