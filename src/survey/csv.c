/* Loading CSV catalogs: a header row of column names, then one record per row (tokenizer in
 * csv_tok.c). Two passes over the file, so memory holds only the final columns and one read
 * block: the first checks every record's field count and infers each column's type (bool,
 * int64, float64 or string, the narrowest that holds every value) and string width; the
 * second converts straight into the columns. Empty fields and "null" (Gaia archive exports)
 * are missing: NaN in float columns, else 0 / false / "" with the "_null.<name>" mask. A
 * column with no value at all is float64 of NaN. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "survey/csv_int.h"

typedef enum csv_type { T_NONE = 0, T_BOOL, T_INT, T_FLOAT, T_STRING, T_NULL } csv_type;

static const char *const type_names[] = {"float64", "bool", "int64", "float64", "string"};

typedef struct csv_col {
    int field;     /* index in the record */
    csv_type type; /* inferred */
    size_t width;  /* longest value, bytes */
} csv_col;

static bool is_null(const char *s, size_t n)
{
    return n == 0 || (n == 4 && strncasecmp(s, "null", 4) == 0);
}

/* Trims blanks around a field for numbers and bools. */
static const char *trim(const char *s, size_t *n)
{
    while (*n && (*s == ' ' || *s == '\t'))
        s++, (*n)--;
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

static int parse_bool(const char *s, size_t n)
{
    if (n == 4 && strncasecmp(s, "true", 4) == 0)
        return 1;
    if (n == 5 && strncasecmp(s, "false", 5) == 0)
        return 0;
    return -1;
}

/* Exact int64 parsing; false on anything else (overflow included). */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n || n - i > 19)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static csv_type classify(const char *s, size_t n)
{
    if (is_null(s, n))
        return T_NULL;
    size_t tn = n;
    const char *t = trim(s, &tn);
    int64_t i;
    if (parse_int(t, tn, &i))
        return T_INT;
    if (parse_bool(t, tn) >= 0)
        return T_BOOL;
    if (ali_csv_is_float(t, tn))
        return T_FLOAT;
    return T_STRING;
}

static csv_type merge(csv_type a, csv_type b)
{
    if (b == T_NULL || a == b)
        return a;
    if (a == T_NONE)
        return b;
    if ((a == T_INT && b == T_FLOAT) || (a == T_FLOAT && b == T_INT))
        return T_FLOAT;
    return T_STRING;
}

static int map_columns(ali_csv *r, const al_survey_options *o, ali_stable *t, csv_col **cols_out,
                       const char *const *names, size_t nf, al_error *err);

/* Reads the header, maps the wanted columns, and sets up t->cols' names. */
static int read_header(ali_csv *r, const al_survey_options *o, ali_stable *t, csv_col **cols_out,
                       size_t *n_fields, al_error *err)
{
    int rc = ali_csv_next(r, err);
    if (rc <= 0)
        return rc < 0 ? rc : al_error_set(err, AL_EFORMAT, "%s: no header row", r->path);
    size_t nf = r->nf;
    *n_fields = nf;
    /* The names live in the read buffer until the next record: map them now. */
    const char **names = AL_NEW_ARRAY(const char *, nf);
    if (!names)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory", r->path);
    for (size_t i = 0; i < nf; i++)
        names[i] = r->fields[i];
    rc = map_columns(r, o, t, cols_out, names, nf, err);
    al_free(names);
    return rc;
}

static int map_columns(ali_csv *r, const al_survey_options *o, ali_stable *t, csv_col **cols_out,
                       const char *const *names, size_t nf, al_error *err)
{
    size_t n = o->columns ? ali_survey_count_names(o->columns) : nf;
    csv_col *cols = AL_NEW_ARRAY(csv_col, n ? n : 1);
    t->cols = AL_NEW_ARRAY(ali_scol, n ? n : 1);
    if (!cols || !t->cols)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu columns", r->path, n);
    *cols_out = cols;
    for (size_t j = 0; j < n; j++) {
        int i = o->columns ? ali_survey_find_name(names, nf, o->columns[j]) : (int)j;
        if (i < 0)
            return al_error_set(err, AL_ENOTFOUND,
                                "%s: no column '%s' in the header (%zu "
                                "columns: %s%s)",
                                r->path, o->columns[j], nf, names[0], nf > 1 ? ", ..." : "");
        cols[j].field = i;
        t->n_cols = j + 1;
        if (!(t->cols[j].key = ali_survey_key(names[i], (size_t)i + 1)))
            return al_error_set(err, AL_ENOMEM, "%s: out of memory", r->path);
        for (size_t k = 0; k < j; k++)
            if (strcmp(t->cols[k].key, t->cols[j].key) == 0)
                return al_error_set(err, AL_EFORMAT, "%s: column name '%s' appears twice", r->path,
                                    t->cols[j].key);
    }
    return AL_OK;
}

static int wrong_count(const ali_csv *r, int64_t row, size_t want, al_error *err)
{
    return al_error_set(err, AL_EFORMAT, "%s: row %lld (line %lld): expected %zu fields, found %zu",
                        r->path, (long long)row, (long long)r->rec_line, want, r->nf);
}

/* Pass 1: field counts, types, widths, rows. */
static int infer(ali_csv *r, const al_survey_options *o, csv_col *cols, size_t n, size_t nf,
                 int64_t *rows, al_error *err)
{
    int64_t row = 0;
    int rc;
    while ((rc = ali_csv_next(r, err)) > 0) {
        row++;
        if (r->nf != nf)
            return wrong_count(r, row, nf, err);
        bool classify_row = !o->csv_infer_rows || (uint64_t)row <= o->csv_infer_rows;
        for (size_t j = 0; j < n; j++) {
            csv_col *c = &cols[j];
            size_t len = r->lens[c->field];
            if (len > c->width)
                c->width = len;
            if (classify_row && c->type != T_STRING)
                c->type = merge(c->type, classify(r->fields[c->field], len));
        }
    }
    *rows = row;
    return rc;
}

static int bad_value(const ali_csv *r, int64_t row, const char *col, const char *type,
                     const char *v, al_error *err)
{
    return al_error_set(err, AL_EFORMAT,
                        "%s: row %lld (line %lld), column '%s': '%.40s' is not a "
                        "valid %s (the type inferred from the rows before)",
                        r->path, (long long)row, (long long)r->rec_line, col, v, type);
}

static int set_null(ali_scol *c, int64_t rows, int64_t i, const char *path, al_error *err)
{
    if (!c->nulls) {
        if (!(c->nulls = ali_survey_col_alloc((uint64_t)rows, path, c->key, err)))
            return AL_ENOMEM;
        memset(c->nulls, 0, (size_t)rows);
    }
    c->nulls[i] = 1;
    return AL_OK;
}

/* Converts field `s` of row i into column c. */
static int convert(const ali_csv *r, const csv_col *cc, ali_scol *c, int64_t i, int64_t rows,
                   al_error *err)
{
    const char *s = r->fields[cc->field];
    size_t n = r->lens[cc->field];
    if (is_null(s, n)) {
        if (cc->type == T_FLOAT || cc->type == T_NONE) {
            ((double *)c->data)[i] = NAN;
            return AL_OK;
        }
        if (cc->type == T_STRING)
            memset((char *)c->data + (size_t)i * c->width, 0, c->width);
        return set_null(c, rows, i, r->path, err);
    }
    size_t tn = n;
    const char *t = trim(s, &tn);
    switch (cc->type) {
    case T_NONE:
    case T_NULL:
    case T_FLOAT:
        if (!ali_csv_parse_float(t, tn, &((double *)c->data)[i]))
            return bad_value(r, i + 1, c->key, "float64", s, err);
        break;
    case T_INT:
        if (!parse_int(t, tn, &((int64_t *)c->data)[i]))
            return bad_value(r, i + 1, c->key, "int64", s, err);
        break;
    case T_BOOL: {
        int b = parse_bool(t, tn);
        if (b < 0)
            return bad_value(r, i + 1, c->key, "bool", s, err);
        ((uint8_t *)c->data)[i] = (uint8_t)b;
        break;
    }
    case T_STRING: {
        char *d = (char *)c->data + (size_t)i * c->width;
        memcpy(d, s, n);
        memset(d + n, 0, c->width - n);
        break;
    }
    }
    return AL_OK;
}

/* Pass 2: every row into the columns, rows start..stop-1 of the file's. */
static int fill(ali_csv *r, const al_survey_options *o, const csv_col *cols, ali_stable *t,
                int64_t start, al_error *err)
{
    int rc = ali_csv_next(r, err); /* the header */
    int64_t file_row = 0, i = 0;
    while (rc >= 0 && i < t->rows && (rc = ali_csv_next(r, err)) > 0) {
        if (file_row++ < start)
            continue;
        for (size_t j = 0; j < t->n_cols && rc > 0; j++) {
            int crc = convert(r, &cols[j], &t->cols[j], i, t->rows, err);
            if (crc != AL_OK)
                rc = crc;
        }
        i++;
        if (rc > 0 && o->progress && (i % 65536 == 0 || i == t->rows))
            o->progress(o->progress_user, (uint64_t)i, (uint64_t)t->rows);
    }
    if (rc < 0)
        return rc;
    if (i != t->rows)
        return al_error_set(err, AL_EIO, "%s: the file changed while it was read", r->path);
    return AL_OK;
}

static int setup_columns(const csv_col *cols, ali_stable *t, const char *path, al_error *err)
{
    for (size_t j = 0; j < t->n_cols; j++) {
        ali_scol *c = &t->cols[j];
        c->repeat = 1;
        c->ndim = 1;
        switch (cols[j].type) {
        case T_BOOL:
            c->dtype = AL_DTYPE_BOOL;
            break;
        case T_INT:
            c->dtype = AL_DTYPE_INT64;
            break;
        case T_STRING:
            c->dtype = AL_DTYPE_STRING;
            break;
        default:
            c->dtype = AL_DTYPE_FLOAT64;
        }
        c->width = c->dtype == AL_DTYPE_STRING ? (cols[j].width ? cols[j].width : 1)
                                               : al_dtype_size(c->dtype);
        char fmt[32];
        snprintf(fmt, sizeof fmt, "csv:%s", type_names[cols[j].type == T_NULL ? 0 : cols[j].type]);
        c->format = al_strdup(fmt);
        if (!c->format)
            return al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
        c->data = ali_survey_col_alloc((uint64_t)t->rows * c->width, path, c->key, err);
        if (!c->data)
            return AL_ENOMEM;
    }
    return AL_OK;
}

int ali_csv_read(const char *path, const al_survey_options *o, ali_stable *t, al_error *err)
{
    ali_csv r;
    t->format = "csv";
    t->hdu = -1;
    int rc = ali_csv_open(&r, path, err);
    if (rc != AL_OK)
        return rc;
    csv_col *cols = NULL;
    size_t nf = 0;
    int64_t rows = 0;
    rc = read_header(&r, o, t, &cols, &nf, err);
    if (rc == AL_OK)
        rc = infer(&r, o, cols, t->n_cols, nf, &rows, err);
    if (rc == AL_OK) {
        int64_t start = o->row_start,
                stop = o->row_stop < 0 || o->row_stop > rows ? rows : o->row_stop;
        if (start > rows)
            rc = al_error_set(err, AL_EINVAL, "%s: row %lld is past the %lld rows", path,
                              (long long)start, (long long)rows);
        t->rows = stop - start;
        t->file_rows = rows;
        if (rc == AL_OK)
            rc = setup_columns(cols, t, path, err);
        if (rc == AL_OK)
            rc = ali_csv_rewind(&r, err);
        if (rc == AL_OK)
            rc = fill(&r, o, cols, t, start, err);
    }
    ali_csv_close(&r);
    return rc;
}
