/* Saving a table over the file it came from keeps the rest of that file
 * (al_survey_save_options.keep_source): every other HDU byte for byte, the primary header, and
 * every keyword of the table's own header that the new table does not define (WCS, provenance,
 * comments, history, per-column display and WCS keywords moved to the column's new number).
 * fits_write.c writes the table itself; this file only copies. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "survey/survey_int.h"

int ali_fits_source_open(const al_survey_meta *m, ali_fits_source *s, al_error *err)
{
    memset(s, 0, sizeof *s);
    int st = 0, type = 0;
    char text[160];
    if (!m || !m->format || strcmp(m->format, "fits") != 0 || !m->path || !*m->path || m->hdu < 1)
        return al_error_set(err, AL_EINVAL,
                            "keep_source: the tensordict was not loaded from a "
                            "FITS table");
    if (fits_open_diskfile(&s->f, (char *)m->path, READONLY, &st) ||
        fits_get_num_hdus(s->f, &s->n_hdus, &st) || s->n_hdus <= m->hdu ||
        fits_movabs_hdu(s->f, m->hdu + 1, &type, &st) ||
        fits_read_key(s->f, TINT, "TFIELDS", &s->tfields, NULL, &st)) {
        ali_fits_source_close(s);
        return al_error_set(err, st ? AL_EIO : AL_ENOTFOUND,
                            "%s: cannot read the file it was loaded from (to keep its other HDUs "
                            "and keywords): %s",
                            m->path, st ? ali_fits_errtext(st, text, sizeof text) : "HDU missing");
    }
    s->hdu = m->hdu;
    char card[FLEN_CARD];
    s->checksum = fits_read_card(s->f, "CHECKSUM", card, &st) == 0;
    st = 0;
    s->survey = fits_read_card(s->f, "SURVEY", card, &st) == 0;
    fits_clear_errmsg();
    return AL_OK;
}

void ali_fits_source_close(ali_fits_source *s)
{
    int st = 0;
    if (s->f)
        fits_close_file(s->f, &st);
    s->f = NULL;
    fits_clear_errmsg();
}

int ali_fits_source_copy_hdus(ali_fits_source *s, fitsfile *out, int from, int to, int *st)
{
    int type;
    for (int h = from; !*st && h < to && h < s->n_hdus; h++)
        if (!fits_movabs_hdu(s->f, h + 1, &type, st))
            fits_copy_hdu(s->f, out, 0, st);
    return *st;
}

/* Keywords a table's structure or our writer defines: never copied. */
static bool structural(const char *k)
{
    static const char *const exact[] = {
        "SIMPLE", "XTENSION", "BITPIX", "NAXIS",   "PCOUNT",   "GCOUNT",  "TFIELDS",
        "THEAP",  "EXTEND",   "END",    "EXTNAME", "CHECKSUM", "DATASUM", "SURVEY",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(k, exact[i]) == 0)
            return true;
    /* NAXISn; and the tile-compression keywords of an fpack'd table (ZTABLE, ZFORMn...). */
    static const char *const roots[] = {"NAXIS",   "ZTABLE",   "ZTILELEN", "ZNAXIS",   "ZPCOUNT",
                                        "ZFORM",   "ZCTYP",    "ZTHEAP",   "ZHECKSUM", "ZDATASUM",
                                        "ZSIMPLE", "ZTENSION", "ZEXTEND",  "ZBITPIX",  "ZGCOUNT",
                                        "ZIMAGE",  "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        size_t n = strlen(roots[i]);
        if (strncmp(k, roots[i], n) == 0 && (!k[n] || isdigit((unsigned char)k[n])))
            return true;
    }
    return false;
}

/* A column keyword: "T<letters><n>" or the cell-WCS form "<digit><letters><n>"; its root's
 * length and the column number n, or 0 when k is not one. */
static size_t column_key(const char *k, int *n)
{
    size_t len = strlen(k), end = len;
    while (end > 0 && isdigit((unsigned char)k[end - 1]))
        end--;
    if (end == len || end < 2 || k[end] == '0')
        return 0;
    if (k[0] != 'T' && !isdigit((unsigned char)k[0]))
        return 0;
    for (size_t i = 1; i < end; i++)
        if (!isupper((unsigned char)k[i]))
            return 0;
    *n = 0;
    for (size_t i = end; i < len; i++)
        *n = *n * 10 + (k[i] - '0');
    return end;
}

/* Roots of the column keywords fits_write.c writes itself (TROLEn only where a role is not the
 * one the name gives: the source's are copied). */
static bool regenerated(const char *k, size_t root)
{
    static const char *const ours[] = {"TTYPE", "TFORM", "TUNIT", "TNULL",
                                       "TSCAL", "TZERO", "TDIM",  "TBCOL"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strlen(ours[i]) == root && strncmp(k, ours[i], root) == 0)
            return true;
    return false;
}

/* The new column number of source column n (1-based), 0 when it was not saved, -1 when out of
 * memory. */
static int new_column(ali_fits_source *s, int n, const char *const *names, int n_out)
{
    char key[FLEN_KEYWORD], name[FLEN_VALUE] = "";
    int st = 0;
    snprintf(key, sizeof key, "TTYPE%d", n);
    if (fits_read_key(s->f, TSTRING, key, name, NULL, &st) || n < 1 || n > s->tfields) {
        fits_clear_errmsg();
        return 0;
    }
    char *entry = ali_survey_key(name, (size_t)(n - 1)); /* the name loading gave it */
    int found = 0;
    if (entry && n <= n_out && strcmp(names[n - 1], entry) == 0)
        found = n; /* the usual case: the columns kept their order */
    for (int i = 0; entry && !found && i < n_out; i++)
        if (strcmp(names[i], entry) == 0)
            found = i + 1;
    if (!entry)
        return -1;
    al_free(entry);
    return found;
}

/* Does out's current header already have keyword k? */
static bool defined(fitsfile *out, const char *k)
{
    char card[FLEN_CARD];
    int st = 0;
    fits_read_card(out, (char *)k, card, &st);
    fits_clear_errmsg();
    return st == 0;
}

int ali_fits_source_copy_keys(ali_fits_source *s, fitsfile *out, const char *const *names,
                              int n_out, int *st)
{
    int nkeys = 0, type = 0;
    if (*st || fits_movabs_hdu(s->f, s->hdu + 1, &type, st) ||
        fits_get_hdrspace(s->f, &nkeys, NULL, st))
        return *st;
    bool skipping = false; /* the keyword that a CONTINUE card goes on was not copied */
    for (int i = 1; !*st && i <= nkeys; i++) {
        char card[FLEN_CARD], k[FLEN_KEYWORD], moved[FLEN_CARD];
        int klen = 0, n = 0;
        if (fits_read_record(s->f, i, card, st))
            break;
        fits_get_keyname(card, k, &klen, st);
        if (*st)
            break;
        bool free_text = !*k || strcmp(k, "COMMENT") == 0 || strcmp(k, "HISTORY") == 0;
        if (strcmp(k, "CONTINUE") == 0) {
            if (!skipping)
                fits_write_record(out, card, st);
            continue;
        }
        skipping = true;
        if (!free_text && structural(k))
            continue;
        size_t root = free_text ? 0 : column_key(k, &n);
        if (root) {
            int to = regenerated(k, root) ? 0 : new_column(s, n, names, n_out);
            if (to < 0)
                return *st = MEMORY_ALLOCATION;
            if (!to || root + (size_t)snprintf(NULL, 0, "%d", to) > 8)
                continue;
            snprintf(moved, sizeof moved, "%.*s%d", (int)root, k, to);
            /* The card's name field is 8 columns; the value indicator follows at column 9. */
            snprintf(moved + strlen(moved), sizeof moved - strlen(moved), "%*s%s",
                     (int)(8 - strlen(moved)), "", card + (strlen(card) > 8 ? 8 : strlen(card)));
            memcpy(card, moved, sizeof card);
            snprintf(k + root, sizeof k - root, "%d", to);
        }
        if (!free_text && defined(out, k))
            continue;
        skipping = false;
        fits_write_record(out, card, st);
    }
    return *st;
}
