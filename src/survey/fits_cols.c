/* The columns a FITS table declares (TTYPEn, TFORMn, TSCALn, TZEROn), read once for the binary
 * reader (fits_read.c) and the ASCII one (fits_ascii.c) through CFITSIO's public calls only.
 * CFITSIO's own column records (tcolumn, inside its fitsfile) are not part of its interface and
 * change layout between releases (tbcol was `long`, then LONGLONG): a library reading them
 * breaks silently on another distribution's CFITSIO. */
#include <stdio.h>
#include <string.h>

#include "survey/survey_int.h"

/* Column colnum's entry: its name and scaling from CFITSIO's parse of the header, its TFORM from
 * the keyword itself (CFITSIO keeps only 9 characters of it). Returns *st. */
static int read_col(fitsfile *f, bool ascii, int colnum, ali_fits_col *c, int *st)
{
    char key[FLEN_KEYWORD];
    snprintf(key, sizeof key, "TFORM%d", colnum);
    if (ascii) {
        long tbcol = 0, width = 0;
        int code = 0, decimals = 0;
        fits_get_acolparms(f, colnum, c->name, &tbcol, NULL, NULL, &c->scale, &c->zero, NULL, NULL,
                           st);
        fits_read_key(f, TSTRING, key, c->form, NULL, st);
        fits_ascii_tform(c->form, &code, &width, &decimals, st);
        c->repeat = 1;
        c->width = width;
        c->letter = c->form[0];
    } else {
        LONGLONG repeat = 0;
        fits_get_bcolparmsll(f, colnum, c->name, NULL, NULL, &repeat, &c->scale, &c->zero, NULL,
                             NULL, st);
        fits_read_key(f, TSTRING, key, c->form, NULL, st);
        c->repeat = repeat;
        const char *letter = c->form + strspn(c->form, " 0123456789");
        c->letter = *letter;
    }
    return *st;
}

int ali_fits_cols_read(fitsfile *f, const char *path, int hdu, ali_fits_cols *out, al_error *err)
{
    int st = 0, n = 0, type = 0;
    if (fits_get_hdu_type(f, &type, &st) || fits_get_num_cols(f, &n, &st))
        return ali_fits_fail(err, AL_EFORMAT, path, hdu, st, "cannot count the columns");
    ali_fits_col *col = AL_NEW_ARRAY(ali_fits_col, n ? (size_t)n : 1);
    const char **names = AL_NEW_ARRAY(const char *, (size_t)n + 1);
    if (!col || !names) {
        al_free(col);
        al_free(names);
        return al_error_set(err, AL_ENOMEM, "%s: out of memory for %d columns", path, n);
    }
    for (int i = 0; i < n; i++) {
        if (read_col(f, type == ASCII_TBL, i + 1, &col[i], &st)) {
            char what[32];
            snprintf(what, sizeof what, "column %d", i + 1);
            al_free(col);
            al_free(names);
            return ali_fits_fail(err, AL_EFORMAT, path, hdu, st, what);
        }
        names[i] = col[i].name;
    }
    *out = (ali_fits_cols){.n = n, .col = col, .names = names};
    return AL_OK;
}

void ali_fits_cols_free(ali_fits_cols *c)
{
    al_free(c->col);
    al_free(c->names);
    *c = (ali_fits_cols){0};
}
