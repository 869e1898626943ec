/* Loading CSV catalogs: a header row of column names, then one record per row, in one pass
 * over the file, read in blocks, so memory holds the final columns and one read block. A
 * first quick scan counts the lines (an upper bound on the rows) to size the columns; then
 * each record is tokenized and converted in the same step, straight from the read buffer into
 * the columns, at the type each column's values so far need (csv_col.c widens a column when a
 * value does not fit). Records without quotes take the fast path here: numbers are parsed as
 * the delimiters are found; the rest (quotes, comments, blank lines, blanks around numbers,
 * nan, null, wrong field counts) go through the general tokenizer (csv_tok.c) and csv_col.c.
 * Missing values (ali_csv_is_null: empty, null as Gaia archive exports write it, NA, N/A, NaN)
 * are NaN in float columns, else 0 / false / "" with the "_null.<name>" mask. A column with no
 * value at all is float64 of NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "survey/csv_int.h"

static int map_columns(ali_csv *r, const al_survey_options *o, ali_stable *t,
                       ali_csv_col **cols_out, const char *const *names, size_t nf, al_error *err);
static int map_column(ali_csv *r, const al_survey_options *o, ali_stable *t, ali_csv_col *cols,
                      const char *const *names, size_t nf, const ali_name_lookup *lookup, size_t j,
                      al_error *err);

/* The offset of the first byte of s[0..n) that is not UTF-8 text (a control character other
 * than tab, or a malformed, overlong or surrogate sequence), or n when there is none. */
static size_t utf8_invalid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t')
                return i;
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (!len || c > 0xF4 || i + len > n)
            return i;
        uint32_t cp = c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* Reads the header, maps the wanted columns, and sets up t->cols' names. */
static int read_header(ali_csv *r, const al_survey_options *o, ali_stable *t,
                       ali_csv_col **cols_out, size_t *n_fields, al_error *err)
{
    int rc = ali_csv_next(r, err);
    if (rc <= 0)
        return rc < 0 ? rc : al_error_set(err, AL_EFORMAT, "%s: no header row", r->path);
    size_t nf = r->nf;
    *n_fields = nf;
    for (size_t i = 0; i < nf; i++) {
        size_t bad = utf8_invalid(r->fields[i], r->lens[i]);
        if (bad < r->lens[i])
            return al_error_set(err, AL_EFORMAT,
                                "%s: not a CSV file: the header's field %zu is not UTF-8 text "
                                "(byte 0x%02x at its offset %zu)",
                                r->path, i + 1, (unsigned char)r->fields[i][bad], bad);
    }
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

static int map_columns(ali_csv *r, const al_survey_options *o, ali_stable *t,
                       ali_csv_col **cols_out, const char *const *names, size_t nf, al_error *err)
{
    size_t n = o->columns ? ali_survey_count_names(o->columns) : nf;
    ali_csv_col *cols = AL_NEW_ARRAY(ali_csv_col, n ? n : 1);
    t->cols = AL_NEW_ARRAY(ali_scol, n ? n : 1);
    if (!cols || !t->cols)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu columns", r->path, n);
    *cols_out = cols;
    ali_name_lookup lookup;
    if (o->columns && ali_name_lookup_init(&lookup, names, nf) != AL_OK)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %zu column names", r->path, nf);
    int rc = AL_OK;
    for (size_t j = 0; j < n && rc == AL_OK; j++)
        rc = map_column(r, o, t, cols, names, nf, o->columns ? &lookup : NULL, j, err);
    if (o->columns)
        ali_name_lookup_free(&lookup);
    return rc;
}

/* Column j of the load: its field in the header, and its key. */
static int map_column(ali_csv *r, const al_survey_options *o, ali_stable *t, ali_csv_col *cols,
                      const char *const *names, size_t nf, const ali_name_lookup *lookup, size_t j,
                      al_error *err)
{
    int i = lookup ? ali_name_lookup_find(lookup, o->columns[j]) : (int)j;
    if (i < 0)
        return al_error_set(err, AL_ENOTFOUND,
                            "%s: no column '%s' in the header (%zu columns: %s%s)", r->path,
                            o->columns[j], nf, names[0], nf > 1 ? ", ..." : "");
    cols[j].field = i;
    t->n_cols = j + 1;
    if (!(t->cols[j].key = ali_survey_key(names[i], (size_t)i + 1)))
        return al_error_set(err, AL_ENOMEM, "%s: out of memory", r->path);
    return AL_OK;
}

static int wrong_count(const ali_csv *r, int64_t row, size_t want, al_error *err)
{
    return al_error_set(err, AL_EFORMAT, "%s: row %lld (line %lld): expected %zu fields, found %zu",
                        r->path, (long long)row, (long long)r->rec_line, want, r->nf);
}

enum { ROW_DONE, ROW_MORE, ROW_SLOW, ROW_ERROR };

/* Bytes that may end a field: ',', '\n', '"' and the NUL after the buffer's data. */
static const uint8_t stops[256] = {[','] = 1, ['\n'] = 1, ['"'] = 1, [0] = 1};

/* The end of the field at p: its delimiter, a '"' or the end of the data. */
static inline const char *field_end(const char *p, const char *end)
{
    for (;;) {
        while (!stops[(uint8_t)*p])
            p++;
        if (*p || p >= end)
            return p;
        p++; /* a NUL inside the data */
    }
}

/* After the value that ends at e, field f's delimiter: the next field's start, or NULL when
 * the field goes on (or the record has another field count); *more when the data ran out. */
static inline const char *delimiter(const char *e, bool last, const char *end, bool eof, bool *more)
{
    if (!last)
        return *e == ',' ? e + 1 : (*more = e == end && !eof, NULL);
    if (*e == '\n')
        return e + 1;
    if (*e == '\r' && e[1] == '\n')
        return e + 2;
    if (e == end || (*e == '\r' && e + 1 == end)) {
        *more = !eof;
        return eof ? end : NULL;
    }
    return NULL;
}

/* One record without quotes from r's buffer, row `row` at slot i (or -1). */
static int fast_row(ali_csv_load *x, ali_csv *r, int64_t i, int *rc, al_error *err)
{
    const char *b = r->buf, *p = b + r->pos, *end = b + r->len;
    bool eof = r->eof, more = false;
    size_t nf = x->nf;
    for (size_t f = 0; f < nf; f++) {
        ali_csv_col *c = x->fcol[f];
        bool last = f + 1 == nf;
        const char *fs = p, *e, *next;
        if (c) {
            switch (c->type) {
            case ALI_T_INT: {
                int64_t v;
                e = ali_csv_scan_int(p, &v, &c->neg_zero);
                if (e && (next = delimiter(e, last, end, eof, &more))) {
                    if (i < 0)
                        ;
                    else if (e > p)
                        ((int64_t *)c->sc->data)[i] = v;
                    else if ((((int64_t *)c->sc->data)[i] = 0,
                              *rc = ali_csv_set_null(x, c, i, err)) != AL_OK)
                        return ROW_ERROR;
                    p = next;
                    continue;
                }
                break;
            }
            case ALI_T_FLOAT: {
                double v = NAN;
                e = ali_csv_scan_float(p, &v);
                if (e && (next = delimiter(e, last, end, eof, &more))) {
                    if (i >= 0)
                        ((double *)c->sc->data)[i] = v;
                    p = next;
                    continue;
                }
                break;
            }
            case ALI_T_BOOL: {
                int v = -1;
                e = p;
                if (memcmp(p, "false", 5) == 0)
                    v = 0, e = p + 5;
                else if (memcmp(p, "true", 4) == 0)
                    v = 1, e = p + 4;
                if ((next = delimiter(e, last, end, eof, &more))) {
                    if (i < 0)
                        ;
                    else if (v >= 0)
                        ((uint8_t *)c->sc->data)[i] = (uint8_t)v;
                    else if ((((uint8_t *)c->sc->data)[i] = 0,
                              *rc = ali_csv_set_null(x, c, i, err)) != AL_OK)
                        return ROW_ERROR;
                    p = next;
                    continue;
                }
                break;
            }
            default:
                break;
            }
        }
        if (more)
            return ROW_MORE;
        /* The general path: the field's extent, then csv_col.c for a wanted one. */
        e = field_end(fs, end);
        if (*e == '"')
            return ROW_SLOW;
        if (e >= end && !eof)
            return ROW_MORE;
        if (!(next = delimiter(e, last, end, eof, &more))) {
            if (more)
                return ROW_MORE;
            return ROW_SLOW; /* another field count: the general tokenizer reports it */
        }
        size_t n = (size_t)(e - fs);
        if (last && n && fs[n - 1] == '\r')
            n--;
        if (c) {
            uint64_t off = (uint64_t)(r->base + (fs - b));
            if (c->type == ALI_T_STRING) {
                if (n > c->width)
                    c->width = n;
                if (i >= 0)
                    ((uint64_t *)c->sc->data)[i] = ali_csv_is_null(fs, n) ? ALI_CSV_NULL : off;
            } else if ((*rc = ali_csv_value(x, c, i, fs, n, off, err)) != AL_OK)
                return ROW_ERROR;
        }
        p = next;
    }
    r->pos = (size_t)(p - b);
    return ROW_DONE;
}

/* The record ali_csv_next has just split, through the general path. */
static int slow_row(ali_csv_load *x, ali_csv *r, int64_t i, al_error *err)
{
    if (r->nf != x->nf)
        return wrong_count(r, x->row, x->nf, err);
    for (size_t j = 0; j < x->n; j++) {
        ali_csv_col *c = &x->cols[j];
        const char *s = r->fields[c->field];
        uint64_t off =
            r->rec_quoted ? ALI_CSV_REC | (uint64_t)r->rec_off : (uint64_t)(r->base + (s - r->buf));
        int rc = ali_csv_value(x, c, i, s, r->lens[c->field], off, err);
        if (rc != AL_OK)
            return rc;
    }
    return AL_OK;
}

/* Every record into the columns. */
static int read_rows(ali_csv_load *x, ali_csv *r, al_error *err)
{
    const al_survey_options *o = x->o;
    int64_t stored = 0;
    for (;;) {
        if (r->pos >= r->len) {
            if (r->eof)
                break;
            int rc = ali_csv_fill(r, err);
            if (rc != AL_OK)
                return rc;
            continue;
        }
        x->row++;
        if (!x->frozen && o->csv_infer_rows && (uint64_t)x->row > o->csv_infer_rows) {
            x->frozen = true;
            ali_csv_untyped_to_float(x);
        }
        int64_t i = ali_csv_slot(x, x->row);
        if (r->base + (int64_t)r->pos >= x->byte_stop) {
            x->row--;
            break;
        }
        if (i >= x->cap)
            return al_error_set(err, AL_EIO, "%s: the file changed while it was read", x->path);
        char c0 = r->buf[r->pos];
        int rc = AL_OK, st = ROW_SLOW;
        x->line = r->rec_line = r->line;
        if (c0 != '#' && c0 != '\n' && c0 != '\r')
            st = fast_row(x, r, i, &rc, err);
        if (st == ROW_ERROR)
            return rc;
        if (st == ROW_MORE && !r->eof) {
            x->row--;
            if ((rc = ali_csv_fill(r, err)) != AL_OK)
                return rc;
            continue;
        }
        if (st == ROW_DONE)
            r->line++;
        else {
            if ((rc = ali_csv_next(r, err)) < 0)
                return rc;
            if (rc == 0 || r->rec_off >= x->byte_stop) { /* only blank or comment lines left */
                x->row--;
                break;
            }
            x->line = r->rec_line;
            if ((rc = slow_row(x, r, i, err)) != AL_OK)
                return rc;
        }
        if (i >= 0 && o->progress && ++stored % 65536 == 0)
            o->progress(o->progress_user, (uint64_t)stored, (uint64_t)x->cap);
    }
    return AL_OK;
}

/* The types the caller fixed (o->csv_types), set before the first row. */
static int fix_types(ali_csv_load *x, const al_survey_options *o, size_t n, const char *path,
                     al_error *err)
{
    for (size_t j = 0; o->csv_types && j < n; j++) {
        const al_survey_csv_type *f = &o->csv_types[j];
        ali_csv_col *c = &x->cols[j];
        c->width = f->width;
        if (!f->fixed)
            continue;
        switch (f->dtype) {
        case AL_DTYPE_BOOL:
            c->type = ALI_T_BOOL;
            break;
        case AL_DTYPE_INT64:
            c->type = ALI_T_INT;
            break;
        case AL_DTYPE_FLOAT64:
            c->type = ALI_T_FLOAT;
            break;
        case AL_DTYPE_STRING:
            c->type = ALI_T_STRING;
            break;
        default:
            return al_error_set(err, AL_EINVAL, "%s: column %zu: a CSV column cannot be read as %s",
                                path, j + 1, al_dtype_name(f->dtype));
        }
        c->fixed = true;
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
    ali_csv_load x = {.path = path, .o = o, .t = t, .start = o->row_start};
    x.stop = o->row_stop < 0 ? INT64_MAX : o->row_stop;
    x.byte_stop = o->csv_byte_stop < 0 ? INT64_MAX : o->csv_byte_stop;
    int64_t lines = 0;
    rc = read_header(&r, o, t, &x.cols, &x.nf, err);
    if (rc == AL_OK)
        rc = fix_types(&x, o, t->n_cols, path, err);
    if (rc == AL_OK) {
        int64_t from = r.base + (int64_t)r.pos;
        if (o->csv_byte_start > from)
            from = o->csv_byte_start < x.byte_stop ? o->csv_byte_start : x.byte_stop;
        x.byte_start = from;
        rc = ali_csv_count_lines(&r, from, x.byte_stop, &lines, err);
    }
    if (rc == AL_OK) {
        x.n = t->n_cols;
        x.cap = (x.stop < lines ? x.stop : lines) - x.start;
        if (x.cap < 0)
            x.cap = 0;
        x.fcol = AL_NEW_ARRAY(ali_csv_col *, x.nf);
        if (!x.fcol)
            rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
        for (size_t j = 0; j < x.n && rc == AL_OK; j++) {
            ali_csv_col *c = &x.cols[j];
            c->sc = &t->cols[j];
            x.fcol[c->field] = c;
            if (!(c->sc->data = ali_survey_col_alloc((uint64_t)x.cap * 8, path, c->sc->key, err)))
                rc = AL_ENOMEM;
        }
    }
    if (rc == AL_OK)
        rc = read_rows(&x, &r, err);
    if (rc == AL_OK) {
        int64_t rows = x.row;
        if (x.start > rows)
            rc = al_error_set(err, AL_EINVAL, "%s: row %lld is past the %lld rows", path,
                              (long long)x.start, (long long)rows);
        if (x.stop > rows)
            x.stop = rows;
        t->rows = x.stop > x.start ? x.stop - x.start : 0;
        t->file_rows = rows;
        x.row = rows + 1;
    }
    ali_csv_close(&r);
    if (rc == AL_OK)
        rc = ali_csv_finish(&x, err);
    if (rc == AL_OK && o->progress)
        o->progress(o->progress_user, (uint64_t)t->rows, (uint64_t)t->rows);
    AL_FREE(x.fcol);
    AL_FREE(x.cols);
    return rc;
}
