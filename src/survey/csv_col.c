/* The columns of a CSV load, typed in the one pass over the file (csv.c). A column starts
 * untyped and takes the narrowest type that holds its values so far: int64, float64, bool or
 * string; a value that does not fit widens it: int64 to float64 in place (a "-0" makes it read
 * the column again), anything else to string. A string column keeps, for each row, where its
 * value is in the file, and reads the values at the end, once the width is known; widening to
 * string reads the rows before again for those offsets. With csv_infer_rows the types freeze
 * after that many rows, and a value that does not fit is an error. Every column's data holds
 * 8 bytes a row (int64, double or an offset; bools use the first byte of each) until the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "survey/csv_int.h"

static const char *const type_names[] = {"float64", "bool", "int64", "float64", "string"};

bool ali_csv_is_null(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    switch (n) {
    case 0:
        return true;
    case 2:
        return strncasecmp(s, "na", 2) == 0;
    case 3:
        return strncasecmp(s, "n/a", 3) == 0 || strncasecmp(s, "nan", 3) == 0;
    case 4:
        return strncasecmp(s, "null", 4) == 0;
    default:
        return false;
    }
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
static bool parse_int(const char *s, size_t n, int64_t *out, bool *neg_zero)
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
    if (neg && v == 0)
        *neg_zero = true;
    return true;
}

static ali_csv_type classify(const char *t, size_t tn)
{
    int64_t i;
    bool nz = false;
    if (parse_int(t, tn, &i, &nz))
        return ALI_T_INT;
    if (parse_bool(t, tn) >= 0)
        return ALI_T_BOOL;
    if (ali_csv_is_float(t, tn))
        return ALI_T_FLOAT;
    return ALI_T_STRING;
}

/* Rows stored before the current one. */
static int64_t done_rows(const ali_csv_load *x)
{
    int64_t k = x->row - 1 - x->start, most = x->stop - x->start;
    if (most > x->cap)
        most = x->cap;
    return k < 0 ? 0 : k > most ? most : k;
}

int ali_csv_set_null(ali_csv_load *x, ali_csv_col *c, int64_t i, al_error *err)
{
    ali_scol *sc = c->sc;
    if (!sc->nulls) {
        sc->nulls = ali_survey_col_alloc((uint64_t)x->cap, x->path, sc->key, err);
        if (!sc->nulls)
            return AL_ENOMEM;
        memset(sc->nulls, 0, (size_t)x->cap);
    }
    sc->nulls[i] = 1;
    return AL_OK;
}

static void drop_nulls(ali_scol *sc) { AL_FREE(sc->nulls); }

static int bad_value(const ali_csv_load *x, const ali_csv_col *c, const char *v, size_t n,
                     al_error *err)
{
    return al_error_set(err, AL_EFORMAT,
                        "%s: row %lld (line %lld), column '%s': '%.*s' is not a "
                        "valid %s (the type inferred from the rows before)",
                        x->path, (long long)x->row, (long long)x->line, c->sc->key,
                        (int)(n < 40 ? n : 40), v, type_names[c->type]);
}

/* Stores a value that fits the column's type (else a bad-value error). */
static int put(ali_csv_load *x, ali_csv_col *c, int64_t i, const char *s, size_t n, uint64_t off,
               al_error *err)
{
    void *d = c->sc->data;
    if (c->type == ALI_T_STRING) {
        if (n > c->width)
            c->width = n;
        if (i >= 0)
            ((uint64_t *)d)[i] = ali_csv_is_null(s, n) ? ALI_CSV_NULL : off;
        return AL_OK;
    }
    if (ali_csv_is_null(s, n)) {
        if (i < 0 || c->type == ALI_T_NONE)
            return AL_OK;
        if (c->type == ALI_T_FLOAT) {
            ((double *)d)[i] = NAN;
            return AL_OK;
        }
        if (c->type == ALI_T_INT)
            ((int64_t *)d)[i] = 0;
        else
            ((uint8_t *)d)[i] = 0;
        return ali_csv_set_null(x, c, i, err);
    }
    size_t tn = n;
    const char *t = trim(s, &tn);
    double dv;
    int64_t iv;
    int b;
    switch (c->type) {
    case ALI_T_NONE:
    case ALI_T_FLOAT:
        if (!ali_csv_parse_float(t, tn, &dv))
            return bad_value(x, c, s, n, err);
        if (i >= 0)
            ((double *)d)[i] = dv;
        break;
    case ALI_T_INT:
        if (!parse_int(t, tn, &iv, &c->neg_zero))
            return bad_value(x, c, s, n, err);
        if (i >= 0)
            ((int64_t *)d)[i] = iv;
        break;
    case ALI_T_BOOL:
        if ((b = parse_bool(t, tn)) < 0)
            return bad_value(x, c, s, n, err);
        if (i >= 0)
            ((uint8_t *)d)[i] = (uint8_t)b;
        break;
    case ALI_T_STRING:
        break;
    }
    return AL_OK;
}

/* Reads file rows 1 .. x->row - 1 again for column c, now string or float64: its offsets or
 * values and its width. */
static int reread(ali_csv_load *x, ali_csv_col *c, al_error *err)
{
    ali_csv q;
    int rc = ali_csv_open(&q, x->path, err);
    if (rc != AL_OK)
        return rc;
    rc = ali_csv_next(&q, err); /* the header */
    /* A byte range's first record is past the header (csv_byte_start): its rows start there. */
    if (rc > 0 && x->byte_start > q.base + (int64_t)q.pos) {
        int src = ali_csv_seek(&q, x->byte_start, err);
        rc = src == AL_OK ? 1 : src;
    }
    ali_csv_load y = *x; /* the same load, at earlier rows */
    for (y.row = 1; rc > 0 && y.row < x->row; y.row++) {
        if ((rc = ali_csv_next(&q, err)) <= 0)
            break;
        if (q.nf != x->nf) {
            rc = al_error_set(err, AL_EIO, "%s: the file changed while it was read", x->path);
            break;
        }
        y.line = q.rec_line;
        const char *s = q.fields[c->field];
        uint64_t off =
            q.rec_quoted ? ALI_CSV_REC | (uint64_t)q.rec_off : (uint64_t)(q.base + (s - q.buf));
        int prc = put(&y, c, ali_csv_slot(x, y.row), s, q.lens[c->field], off, err);
        if (prc != AL_OK)
            rc = prc;
    }
    ali_csv_close(&q);
    if (rc < 0)
        return rc;
    if (y.row < x->row)
        return al_error_set(err, AL_EIO, "%s: the file changed while it was read", x->path);
    return AL_OK;
}

/* Widens column c to type `to` at the current row. */
static int retype(ali_csv_load *x, ali_csv_col *c, ali_csv_type to, al_error *err)
{
    int64_t k = done_rows(x);
    ali_scol *sc = c->sc;
    ali_csv_type from = c->type;
    c->type = to;
    if (from == ALI_T_NONE) { /* every row before was missing */
        if (to == ALI_T_FLOAT)
            for (int64_t i = 0; i < k; i++)
                ((double *)sc->data)[i] = NAN;
        else if (to == ALI_T_STRING)
            for (int64_t i = 0; i < k; i++)
                ((uint64_t *)sc->data)[i] = ALI_CSV_NULL;
        else if (k > 0) {
            memset(sc->data, 0, (size_t)k * (to == ALI_T_INT ? 8 : 1));
            int rc = ali_csv_set_null(x, c, 0, err);
            if (rc != AL_OK)
                return rc;
            memset(sc->nulls, 1, (size_t)k);
        }
        return AL_OK;
    }
    if (from == ALI_T_INT && to == ALI_T_FLOAT && !c->neg_zero) {
        /* int64 to double is correctly rounded, as strtod of the same digits would be */
        for (int64_t i = 0; i < k; i++) {
            double v = sc->nulls && sc->nulls[i] ? NAN : (double)((int64_t *)sc->data)[i];
            ((double *)sc->data)[i] = v;
        }
        drop_nulls(sc);
        return AL_OK;
    }
    drop_nulls(sc);
    return reread(x, c, err);
}

int ali_csv_value(ali_csv_load *x, ali_csv_col *c, int64_t i, const char *s, size_t n, uint64_t off,
                  al_error *err)
{
    if (n > c->width)
        c->width = n;
    if (!x->frozen && !c->fixed && c->type != ALI_T_STRING && !ali_csv_is_null(s, n)) {
        size_t tn = n;
        const char *t = trim(s, &tn);
        ali_csv_type k = classify(t, tn), to = c->type;
        if (c->type == ALI_T_NONE)
            to = k;
        else if (k != c->type)
            to = (c->type == ALI_T_INT && k == ALI_T_FLOAT)   ? ALI_T_FLOAT
                 : (c->type == ALI_T_FLOAT && k == ALI_T_INT) ? ALI_T_FLOAT
                                                              : ALI_T_STRING;
        if (to != c->type) {
            int rc = retype(x, c, to, err);
            if (rc != AL_OK)
                return rc;
        }
    }
    return put(x, c, i, s, n, off, err);
}

void ali_csv_untyped_to_float(ali_csv_load *x)
{
    for (size_t j = 0; j < x->n; j++)
        if (x->cols[j].type == ALI_T_NONE) {
            int64_t k = done_rows(x);
            for (int64_t i = 0; i < k; i++)
                ((double *)x->cols[j].sc->data)[i] = NAN;
            x->cols[j].type = ALI_T_FLOAT;
        }
}

/* A window of the file in q's buffer holding [off, off + need), or up to the end. */
static int window(ali_csv *q, int64_t off, size_t need, al_error *err)
{
    if (off < q->base || off > q->base + (int64_t)q->len) {
        if (lseek(q->fd, off, SEEK_SET) < 0)
            return al_error_set(err, AL_EIO, "%s: cannot seek: %m", q->path);
        q->base = off;
        q->len = q->pos = 0;
        q->eof = false;
    } else
        q->pos = (size_t)(off - q->base);
    while (q->len - q->pos < need && !q->eof) {
        int rc = ali_csv_fill(q, err);
        if (rc != AL_OK)
            return rc;
    }
    return AL_OK;
}

/* One string value from the file into d (width bytes, zero padded). */
static int read_string(ali_csv_load *x, ali_csv *q, const ali_csv_col *c, uint64_t off, char *d,
                       al_error *err)
{
    const char *s;
    size_t n;
    int rc;
    if (off & ALI_CSV_REC) { /* a record with quotes: split again */
        if ((rc = window(q, (int64_t)(off & ~ALI_CSV_REC), 1, err)) != AL_OK)
            return rc;
        if ((rc = ali_csv_next(q, err)) < 0)
            return rc;
        if (rc == 0 || q->nf != x->nf)
            return al_error_set(err, AL_EIO, "%s: the file changed while it was read", x->path);
        s = q->fields[c->field];
        n = q->lens[c->field];
    } else {
        if ((rc = window(q, (int64_t)off, c->width + 2, err)) != AL_OK)
            return rc;
        s = q->buf + q->pos;
        size_t most = q->len - q->pos;
        n = 0;
        while (n < most && s[n] != ',' && s[n] != '\n')
            n++;
        if (n && s[n - 1] == '\r' && (n == most || s[n] == '\n'))
            n--;
    }
    if (n > c->width)
        return al_error_set(err, AL_EIO, "%s: the file changed while it was read", x->path);
    memcpy(d, s, n);
    memset(d + n, 0, c->width - n);
    return AL_OK;
}

/* Reads a string column's values into its final buffer. */
static int finish_string(ali_csv_load *x, ali_csv *q, ali_csv_col *c, al_error *err)
{
    ali_scol *sc = c->sc;
    int64_t rows = x->t->rows;
    if (c->width == 0)
        c->width = 1;
    char *data = ali_survey_col_alloc((uint64_t)rows * c->width, x->path, sc->key, err);
    if (!data)
        return AL_ENOMEM;
    const uint64_t *offs = sc->data;
    /* read_string's records leave the buffer changed: start afresh */
    int rc = ali_csv_rewind(q, err);
    q->started = true;
    for (int64_t i = 0; i < rows && rc == AL_OK; i++) {
        char *d = data + (size_t)i * c->width;
        if (offs[i] == ALI_CSV_NULL) {
            memset(d, 0, c->width);
            rc = ali_csv_set_null(x, c, i, err);
        } else
            rc = read_string(x, q, c, offs[i], d, err);
    }
    if (rc != AL_OK) {
        al_free(data);
        return rc;
    }
    al_free(sc->data);
    sc->data = data;
    return AL_OK;
}

static int finish_bool(ali_csv_load *x, ali_csv_col *c, al_error *err)
{
    ali_scol *sc = c->sc;
    int64_t rows = x->t->rows;
    uint8_t *data = ali_survey_col_alloc((uint64_t)rows, x->path, sc->key, err);
    if (!data)
        return AL_ENOMEM;
    memcpy(data, sc->data, (size_t)rows);
    al_free(sc->data);
    sc->data = data;
    return AL_OK;
}

int ali_csv_finish(ali_csv_load *x, al_error *err)
{
    ali_csv_untyped_to_float(x);
    ali_csv q;
    bool open = false;
    int rc = AL_OK;
    for (size_t j = 0; j < x->n && rc == AL_OK; j++) {
        ali_csv_col *c = &x->cols[j];
        ali_scol *sc = c->sc;
        sc->repeat = 1;
        sc->ndim = 1;
        sc->dtype = c->type == ALI_T_BOOL     ? AL_DTYPE_BOOL
                    : c->type == ALI_T_INT    ? AL_DTYPE_INT64
                    : c->type == ALI_T_STRING ? AL_DTYPE_STRING
                                              : AL_DTYPE_FLOAT64;
        char fmt[32];
        snprintf(fmt, sizeof fmt, "csv:%s", type_names[c->type]);
        if (!(sc->format = al_strdup(fmt)))
            rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", x->path);
        else if (c->type == ALI_T_STRING) {
            if (!open && (rc = ali_csv_open(&q, x->path, err)) == AL_OK)
                open = true;
            if (rc == AL_OK)
                rc = finish_string(x, &q, c, err);
        } else if (c->type == ALI_T_BOOL)
            rc = finish_bool(x, c, err);
        sc->width = c->type == ALI_T_STRING ? c->width : al_dtype_size(sc->dtype);
    }
    if (open)
        ali_csv_close(&q);
    return rc;
}
