/* Saving a table over the file it came from keeps the rest of that file
 * (al_survey_save_options.keep_source): every other HDU byte for byte, the primary header, and
 * every keyword of the table's own header that the new table does not define (WCS, provenance,
 * comments, history, per-column display and WCS keywords moved to the column's new number).
 * The other HDUs are spliced in as the source's bytes (so their checksums and layout stay
 * valid), or, from a compressed source, rewritten by CFITSIO. fits_write.c writes the table
 * itself; this file only copies. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "survey/survey_int.h"

int ali_fits_source_open(const al_survey_meta *m, ali_fits_source *s, al_error *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    int st = 0, type = 0;
    char text[160];
    if (!m || !m->format || strcmp(m->format, "fits") != 0 || !m->path || !*m->path || m->hdu < 1)
        return al_error_set(err, AL_EINVAL,
                            "keep_source: the tensordict was not loaded from a "
                            "FITS table");
    LONGLONG head = 0, data = 0, end = 0;
    if (fits_open_diskfile(&s->f, (char *)m->path, READONLY, &st) ||
        fits_get_num_hdus(s->f, &s->n_hdus, &st) || s->n_hdus <= m->hdu ||
        fits_movabs_hdu(s->f, m->hdu + 1, &type, &st) ||
        fits_read_key(s->f, TINT, "TFIELDS", &s->tfields, NULL, &st) ||
        fits_get_hduaddrll(s->f, &head, &data, &end, &st)) {
        ali_fits_source_close(s);
        return al_error_set(err, st ? AL_EIO : AL_ENOTFOUND,
                            "%s: cannot read the file it was loaded from (to keep its other HDUs "
                            "and keywords): %s",
                            m->path, st ? ali_fits_errtext(st, text, sizeof text) : "HDU missing");
    }
    s->hdu = m->hdu;
    s->table_start = head;
    s->table_end = end;
    char card[FLEN_CARD];
    s->checksum = fits_read_card(s->f, "CHECKSUM", card, &st) == 0;
    st = 0;
    s->survey = fits_read_card(s->f, "SURVEY", card, &st) == 0;
    fits_clear_errmsg();
    /* A compressed file's bytes are not the FITS file's: HDUs are copied through CFITSIO. */
    ali_magic magic;
    if (ali_survey_magic(m->path, &magic, NULL) == AL_OK && magic == ALI_MAGIC_FITS)
        s->fd = open(m->path, O_RDONLY | O_CLOEXEC);
    return AL_OK;
}

void ali_fits_source_close(ali_fits_source *s)
{
    int st = 0;
    if (s->f)
        fits_close_file(s->f, &st);
    s->f = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    fits_clear_errmsg();
}

/* Source bytes [from, to) (to < 0: its end) written to fd at the same offsets (at_end: after
 * what fd holds); errno tells a failure. */
static int copy_bytes(const ali_fits_source *s, int fd, int64_t from, int64_t to, bool at_end)
{
    char local[1 << 14];
    off_t dest = at_end ? lseek(fd, 0, SEEK_END) : (off_t)from;
    if (dest < 0)
        return WRITE_ERROR;
    for (int64_t at = from; to < 0 || at < to;) {
        size_t want = sizeof local;
        if (to >= 0 && (int64_t)want > to - at)
            want = (size_t)(to - at);
        ssize_t n = pread(s->fd, local, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return READ_ERROR;
        if (n == 0)
            return to < 0 ? 0 : (errno = EIO, READ_ERROR); /* the source shrank */
        for (ssize_t off = 0; off < n;) {
            ssize_t w = pwrite(fd, local + off, (size_t)(n - off), dest);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return WRITE_ERROR;
            off += w;
            dest += w;
        }
        at += n;
    }
    return 0;
}

int ali_fits_source_begin(ali_fits_source *s, const char *tmp, fitsfile **out, int *st)
{
    if (*st)
        return *st;
    if (s->fd < 0) { /* compressed: HDUs rewritten by CFITSIO (same cards and data) */
        int type;
        if (fits_create_diskfile(out, (char *)tmp, st))
            return *st;
        for (int h = 0; !*st && h < s->hdu; h++)
            if (!fits_movabs_hdu(s->f, h + 1, &type, st))
                fits_copy_hdu(s->f, *out, 0, st);
        return *st;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return *st = FILE_NOT_CREATED;
    *st = copy_bytes(s, fd, 0, s->table_start, false);
    if (close(fd) != 0 && !*st)
        *st = WRITE_ERROR;
    int type;
    if (!*st && !fits_open_diskfile(out, (char *)tmp, READWRITE, st))
        fits_movabs_hdu(*out, s->hdu, &type, st); /* the last one: the table goes after it */
    return *st;
}

int ali_fits_source_end(ali_fits_source *s, fitsfile *out, const char *tmp, bool closed, int *st)
{
    if (*st)
        return *st;
    if (s->fd < 0 && !closed) {
        int type;
        for (int h = s->hdu + 1; !*st && h < s->n_hdus; h++)
            if (!fits_movabs_hdu(s->f, h + 1, &type, st))
                fits_copy_hdu(s->f, out, 0, st);
    }
    if (s->fd >= 0 && closed) {
        /* Closing a file opened for writing, CFITSIO rewrites the END card of every header it
         * passed, dropping blank cards before it: the HDUs before the table are put back as
         * their bytes were (same length: CFITSIO never resizes a header it did not change). */
        int fd = open(tmp, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return *st = FILE_NOT_OPENED;
        *st = copy_bytes(s, fd, 0, s->table_start, false);
        if (!*st)
            *st = copy_bytes(s, fd, s->table_end, -1, true);
        if (close(fd) != 0 && !*st)
            *st = WRITE_ERROR;
    }
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

/* The new column number of source column n (1-based), or 0 when it was not saved. */
static int new_column(ali_fits_source *s, int n, const char *const *names, int n_out)
{
    char key[FLEN_KEYWORD], name[FLEN_VALUE] = "";
    int st = 0;
    snprintf(key, sizeof key, "TTYPE%d", n);
    if (fits_read_key(s->f, TSTRING, key, name, NULL, &st) || n < 1 || n > s->tfields) {
        fits_clear_errmsg();
        return 0;
    }
    int found = 0; /* names: the saved table's TTYPEs, the file's own names byte for byte */
    if (n <= n_out && strcmp(names[n - 1], name) == 0)
        found = n; /* the usual case: the columns kept their order */
    for (int i = 0; !found && i < n_out; i++)
        if (strcmp(names[i], name) == 0)
            found = i + 1;
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
