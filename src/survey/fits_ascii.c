/* Reading FITS ASCII tables (XTENSION = 'TABLE'): rare in modern catalogs, so each column is
 * read with fits_read_col a block of rows at a time, letting CFITSIO parse the text. Integers
 * (Iw) become int64, reals (Fw.d, Ew.d, Dw.d) float64, text (Aw) strings of width w; TNULLn
 * gives NaN or the null mask. Binary tables are in fits_read.c. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "survey/survey_int.h"

/* An Iw field: blanks, an optional sign, digits, blanks (all blank: 0, as CFITSIO reads it).
 * False when it is not an integer or does not fit int64. */
static bool parse_int(const char *s, int64_t *out)
{
    while (*s == ' ')
        s++;
    if (!*s) {
        *out = 0;
        return true;
    }
    bool neg = *s == '-';
    if (*s == '+' || *s == '-')
        s++;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    const char *digits = s;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    bool any = s > digits;
    while (*s == ' ')
        s++;
    if (!any || *s)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int read_column(fitsfile *f, int colnum, ali_scol *c, char letter, size_t twidth,
                       int64_t start, int64_t rows, int64_t block, const char *path, int hdu,
                       al_error *err)
{
    size_t tw = (letter == 'A' ? c->width : twidth) + 1; /* a field's text and its NUL */
    char *flags = al_malloc((size_t)block);
    bool as_text = letter == 'A' || letter == 'I';
    char **ptrs = as_text ? AL_NEW_ARRAY(char *, (size_t)block) : NULL;
    char *text = as_text ? al_malloc((size_t)block * tw) : NULL;
    if (!flags || (as_text && (!ptrs || !text)))
        return al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
    int rc = AL_OK;
    for (int64_t r = 0; r < rows && rc == AL_OK; r += block) {
        int64_t nb = rows - r < block ? rows - r : block;
        int st = 0, anynul = 0;
        if (letter == 'A') {
            for (int64_t i = 0; i < nb; i++)
                ptrs[i] = text + i * (int64_t)tw;
            fits_read_col(f, TSTRING, colnum, start + r + 1, 1, nb, "", ptrs, &anynul, &st);
            for (int64_t i = 0; !st && i < nb; i++)
                strncpy((char *)c->data + (r + i) * (int64_t)c->width, ptrs[i], c->width);
        } else if (letter == 'I' && c->dtype == AL_DTYPE_INT64) {
            /* As text, parsed here: CFITSIO converts Iw fields through a double, so integers
             * past 2^53 lose digits and 9223372036854775807 wraps to INT64_MIN. */
            for (int64_t i = 0; i < nb; i++)
                ptrs[i] = text + i * (int64_t)tw;
            fits_read_colnull_str(f, colnum, start + r + 1, 1, nb, ptrs, flags, &anynul, &st);
            for (int64_t i = 0; !st && i < nb && rc == AL_OK; i++)
                if (!flags[i] && !parse_int(ptrs[i], (int64_t *)c->data + r + i))
                    rc = al_error_set(err, AL_EFORMAT,
                                      "%s: HDU %d: column '%s', row %lld: '%s' is not an integer "
                                      "of 64 bits",
                                      path, hdu, c->key, (long long)(start + r + i), ptrs[i]);
            for (int64_t i = 0; !st && anynul && rc == AL_OK && i < nb; i++) {
                if (!flags[i])
                    continue;
                if (!c->nulls) {
                    c->nulls = ali_survey_col_alloc((uint64_t)rows, path, c->key, err);
                    if (!c->nulls) {
                        rc = AL_ENOMEM;
                        break;
                    }
                    memset(c->nulls, 0, (size_t)rows);
                }
                c->nulls[r + i] = 1;
                ((long long *)c->data)[r + i] = 0;
            }
        } else {
            double nan = NAN;
            fits_read_col(f, TDOUBLE, colnum, start + r + 1, 1, nb, &nan, (double *)c->data + r,
                          &anynul, &st);
        }
        if (st) {
            char text_err[160];
            rc = al_error_set(err, AL_EFORMAT, "%s: HDU %d: column '%s', rows %lld..%lld: %s", path,
                              hdu, c->key, (long long)(start + r), (long long)(start + r + nb - 1),
                              ali_fits_errtext(st, text_err, sizeof text_err));
        }
    }
    al_free(flags);
    al_free(ptrs);
    al_free(text);
    return rc;
}

/* Reads every wanted column of `cols`. */
static int read_named(fitsfile *f, const char *path, int hdu, const al_survey_options *o,
                      ali_stable *t, const ali_fits_cols *cols, al_error *err)
{
    int st = 0, ncols = cols->n;
    long long nrows = 0;
    fits_get_num_rowsll(f, &nrows, &st);
    if (st)
        return al_error_set(err, AL_EFORMAT, "%s: HDU %d: bad ASCII table header", path, hdu);
    int64_t start = o->row_start,
            stop = o->row_stop < 0 || o->row_stop > nrows ? nrows : o->row_stop;
    if (start > nrows)
        return al_error_set(err, AL_EINVAL, "%s: HDU %d: row %lld is past the %lld rows", path, hdu,
                            (long long)start, nrows);
    t->rows = stop - start;
    t->file_rows = nrows;
    size_t n_want = o->columns ? ali_survey_count_names(o->columns) : (size_t)ncols;
    t->cols = AL_NEW_ARRAY(ali_scol, n_want ? n_want : 1);
    if (!t->cols)
        return al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
    long optimal = 1;
    fits_get_rowsize(f, &optimal, &st);
    int64_t block = o->block_rows ? (int64_t)o->block_rows : (optimal > 0 ? optimal : 1);
    for (size_t j = 0; j < n_want; j++) {
        int i =
            o->columns ? ali_survey_find_name(cols->names, (size_t)ncols, o->columns[j]) : (int)j;
        if (i < 0)
            return al_error_set(err, AL_ENOTFOUND, "%s: HDU %d: no column '%s'", path, hdu,
                                o->columns[j]);
        const ali_fits_col *fc = &cols->col[i];
        ali_scol *c = &t->cols[j];
        t->n_cols = j + 1;
        char letter = fc->letter;
        bool scaled = fc->scale != 1.0 || fc->zero != 0.0;
        c->repeat = 1;
        c->ndim = 1;
        if (letter == 'A') {
            c->dtype = AL_DTYPE_STRING;
            c->width = fc->width > 0 ? (size_t)fc->width : 1;
        } else {
            c->dtype = letter == 'I' && !scaled ? AL_DTYPE_INT64 : AL_DTYPE_FLOAT64;
            c->width = 8;
        }
        char key[FLEN_KEYWORD];
        snprintf(key, sizeof key, "TUNIT%d", i + 1);
        bool unit_ok = ali_fits_str_key(f, key, &c->unit) == AL_OK;
        c->key = ali_survey_key(fc->name, (size_t)i + 1);
        c->format = al_strdup(fc->form);
        c->data = ali_survey_col_alloc((uint64_t)t->rows * c->width, path, fc->name, err);
        if (!unit_ok || !c->key || !c->format || !c->data)
            return al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
        if (c->dtype == AL_DTYPE_STRING)
            memset(c->data, 0, (size_t)t->rows * c->width);
        size_t tw = fc->width > 0 ? (size_t)fc->width : 1;
        int rc = read_column(f, i + 1, c, letter, tw, start, t->rows, block, path, hdu, err);
        if (rc != AL_OK)
            return rc;
        if (o->progress)
            o->progress(o->progress_user, (uint64_t)t->rows * (j + 1) / n_want, (uint64_t)t->rows);
    }
    return AL_OK;
}

int ali_fits_read_ascii(fitsfile *f, const char *path, int hdu, const al_survey_options *o,
                        ali_stable *t, al_error *err)
{
    ali_fits_cols cols;
    int rc = ali_fits_cols_read(f, path, hdu, &cols, err);
    if (rc != AL_OK)
        return rc;
    rc = read_named(f, path, hdu, o, t, &cols, err);
    ali_fits_cols_free(&cols);
    return rc;
}
