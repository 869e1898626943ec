/* TDIMn: the shape of a binary-table cell ("(4,3)": 12 elements, the first axis varying
 * fastest), read into the column's shape in C order ([rows, 3, 4]) and written back from a
 * tensor's. A string column's first axis is the string width: "(10,3)" on TFORM 30A is three
 * 10-character strings per row. A numeric TDIM of one axis gives [rows, n] even when n is 1
 * (that is how a [rows, 1] tensor is saved). The keyword is parsed here rather than by CFITSIO:
 * its header parser is one more place for a hostile file to reach (fits_guard.c has the
 * history). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survey/survey_int.h"

/* "(a,b,...)" into axes (FITS order); the number of axes, or -1 when malformed or more than
 * `max`. Blanks are allowed around numbers; an axis may be 0 (an empty cell). */
static int parse(const char *text, int64_t *axes, int max)
{
    const char *s = text;
    while (*s == ' ')
        s++;
    if (*s++ != '(')
        return -1;
    int n = 0;
    for (;;) {
        while (*s == ' ')
            s++;
        if (!isdigit((unsigned char)*s) || n == max)
            return -1;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (v < 0 || v > INT32_MAX)
            return -1;
        axes[n++] = v;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ')')
            break;
        if (*s++ != ',')
            return -1;
    }
    for (s++; *s == ' '; s++)
        ;
    return *s ? -1 : n;
}

int ali_fits_tdim(fitsfile *f, int colnum, const char *name, char letter, int64_t repeat, bool raw,
                  ali_scol *c, const char *path, int hdu, al_error *err)
{
    char key[FLEN_KEYWORD], text[FLEN_VALUE];
    int st = 0;
    snprintf(key, sizeof key, "TDIM%d", colnum);
    if (fits_read_key(f, TSTRING, key, text, NULL, &st)) {
        fits_clear_errmsg();
        return AL_OK; /* no TDIM: one axis of TFORM's repeat */
    }
    bool string = letter == 'A';
    int64_t axes[AL_TENSOR_MAX_DIMS];
    int max = string ? AL_TENSOR_MAX_DIMS : AL_TENSOR_MAX_DIMS - 1; /* one is the rows' */
    int n = parse(text, axes, max);
    if (n < 0)
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: column '%s': %s = '%s' is not a list of 1 to %d axis "
                            "lengths such as '(4,3)'",
                            path, hdu, name, key, text, max);
    /* The standard allows fewer elements than TFORM's repeat (the rest undefined); CFITSIO
     * refuses that, and so do we: the product must be the repeat. */
    int64_t total = 1;
    bool overflow = false;
    for (int i = 0; i < n; i++)
        overflow |= __builtin_mul_overflow(total, axes[i], &total);
    if (overflow || total != repeat)
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: column '%s': %s = '%s' does not hold the %lld elements "
                            "TFORM declares",
                            path, hdu, name, key, text, (long long)repeat);
    if (raw && string)
        return AL_OK; /* raw strings stay one byte string per row */
    int first = 0;
    if (string) { /* the first axis is the width of each string */
        if (axes[0] == 0)
            return AL_OK; /* strings of no bytes: one empty string per row */
        c->width = (size_t)axes[0];
        c->repeat = repeat / axes[0];
        first = 1;
    }
    if (n - first == 0)
        return AL_OK; /* one string: the shape TFORM alone gives */
    c->ndim = 1 + (n - first);
    for (int i = first; i < n; i++)
        c->cell[n - 1 - i] = axes[i];
    return AL_OK;
}
