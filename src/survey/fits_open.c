/* ali_fits_read: opens a FITS file (plain, or compressed with what CFITSIO decompresses itself),
 * moves to the table HDU asked for, decompresses a tile-compressed table into memory, reads the
 * header keywords the metadata keeps, and hands the table to the binary reader (fits_read.c) or
 * the ASCII one (fits_ascii.c). Also CFITSIO's error text and a string keyword, for both. */
#include <stdio.h>
#include <string.h>

#include "survey/survey_int.h"

const char *ali_fits_errtext(int status, char *buf, size_t len)
{
    char text[FLEN_STATUS] = "", msg[FLEN_ERRMSG] = "";
    fits_get_errstatus(status, text);
    /* The oldest message on CFITSIO's stack is the most specific one. */
    if (fits_read_errmsg(msg))
        snprintf(buf, len, "%s (%s)", text, msg);
    else
        snprintf(buf, len, "%s", text);
    fits_clear_errmsg();
    return buf;
}

int ali_fits_fail(al_error *err, int code, const char *path, int hdu, int status, const char *what)
{
    char text[160];
    ali_fits_errtext(status, text, sizeof text);
    if (hdu >= 0)
        return al_error_set(err, code, "%s: HDU %d: %s: %s", path, hdu, what, text);
    return al_error_set(err, code, "%s: %s: %s", path, what, text);
}

int ali_fits_str_key(fitsfile *f, const char *key, char **out)
{
    char val[FLEN_VALUE];
    int st = 0;
    *out = NULL;
    if (fits_read_key(f, TSTRING, key, val, NULL, &st)) {
        fits_clear_errmsg();
        return AL_OK;
    }
    size_t n = strlen(val);
    while (n && val[n - 1] == ' ')
        val[--n] = '\0';
    if (n && !(*out = al_strdup(val)))
        return AL_ENOMEM;
    return AL_OK;
}

/* Moves to the table HDU that opts asks for; sets *hdu (0 = primary). */
static int choose_hdu(fitsfile *f, const char *path, const al_survey_options *o, int *hdu,
                      al_error *err)
{
    int st = 0, n = 0, type = 0;
    if (fits_get_num_hdus(f, &n, &st))
        return ali_fits_fail(err, AL_EFORMAT, path, -1, st, "cannot count HDUs");
    if (o->hdu_name) {
        if (fits_movnam_hdu(f, ANY_HDU, (char *)o->hdu_name, 0, &st)) {
            fits_clear_errmsg();
            return al_error_set(err, AL_ENOTFOUND, "%s: no HDU named '%s' (the file has %d HDUs)",
                                path, o->hdu_name, n);
        }
        int num;
        fits_get_hdu_num(f, &num);
        *hdu = num - 1;
        fits_get_hdu_type(f, &type, &st);
    } else if (o->hdu >= 0) {
        if (o->hdu >= n)
            return al_error_set(err, AL_ENOTFOUND, "%s: no HDU %d: the file has %d (0..%d)", path,
                                o->hdu, n, n - 1);
        if (fits_movabs_hdu(f, o->hdu + 1, &type, &st))
            return ali_fits_fail(err, AL_EFORMAT, path, o->hdu, st, "cannot read the header");
        *hdu = o->hdu;
    } else {
        for (int i = 1; i < n; i++) {
            if (fits_movabs_hdu(f, i + 1, &type, &st))
                return ali_fits_fail(err, AL_EFORMAT, path, i, st, "cannot read the header");
            if (type != IMAGE_HDU) {
                *hdu = i;
                return AL_OK;
            }
        }
        return al_error_set(err, AL_ENOTFOUND, "%s: no table HDU among its %d HDUs", path, n);
    }
    if (type == IMAGE_HDU)
        return al_error_set(err, AL_ETYPE, "%s: HDU %d is an image, not a table", path, *hdu);
    return AL_OK;
}

/* A tile-compressed table (ZTABLE = T: fpack -table, fits_compress_table) at f's current HDU,
 * decompressed into a CFITSIO memory file (*mem, at that table); else *mem stays NULL. CFITSIO
 * decompresses images when it reads them, but not tables. AL_OK or AL_EFORMAT / AL_ENOMEM. */
static int uncompress_table(fitsfile *f, const char *path, int hdu, fitsfile **mem, al_error *err)
{
    int st = 0, ztable = 0;
    if (fits_read_key(f, TLOGICAL, "ZTABLE", &ztable, NULL, &st) || !ztable) {
        fits_clear_errmsg();
        return AL_OK;
    }
    st = 0;
    fits_create_file(mem, "mem://", &st);
    fits_create_img(*mem, BYTE_IMG, 0, NULL, &st);
    fits_uncompress_table(f, *mem, &st);
    if (st)
        return ali_fits_fail(err, st == MEMORY_ALLOCATION ? AL_ENOMEM : AL_EFORMAT, path, hdu, st,
                             "cannot decompress the tile-compressed table");
    return AL_OK;
}

int ali_fits_read(const char *path, const al_survey_options *o, ali_stable *t, al_error *err)
{
    fitsfile *f = NULL, *mem = NULL;
    int st = 0, hdu = 0, type = 0;
    t->format = "fits";
    ali_magic magic;
    int rc = ali_survey_magic(path, &magic, err);
    if (rc != AL_OK)
        return rc;
    bool compressed = magic == ALI_MAGIC_CFITSIO_COMPRESSED;
    /* A compressed file is guarded once CFITSIO has decompressed it (into memory, not onto
     * disk): opening parses only the primary header, which the crashes need no guard for. */
    if (!compressed && (rc = ali_fits_guard(path, err)) != AL_OK)
        return rc;
    if (fits_open_diskfile(&f, path, READONLY, &st)) {
        if (compressed)
            return ali_fits_fail(err, AL_EFORMAT, path, -1, st,
                                 "compressed, and not FITS once decompressed (a compressed CSV is "
                                 "not read: decompress it first)");
        int code = st == FILE_NOT_OPENED ? AL_ENOTFOUND : AL_EFORMAT;
        return ali_fits_fail(err, code, path, -1, st, "cannot open as FITS");
    }
    if (compressed)
        rc = ali_fits_guard_open(f, path, err);
    if (rc == AL_OK)
        rc = choose_hdu(f, path, o, &hdu, err);
    if (rc == AL_OK)
        rc = uncompress_table(f, path, hdu, &mem, err);
    if (rc == AL_OK) {
        t->hdu = hdu;
        if (ali_fits_str_key(f, "EXTNAME", &t->extname) ||
            ali_fits_str_key(f, "SURVEY", &t->survey) ||
            ali_fits_str_key(f, "TELESCOP", &t->origin) ||
            (!t->origin && ali_fits_str_key(f, "ORIGIN", &t->origin)))
            rc = al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
        fitsfile *tf = mem ? mem : f;
        fits_get_hdu_type(tf, &type, &st);
        if (rc == AL_OK)
            rc = type == ASCII_TBL
                     ? ali_fits_read_ascii(tf, path, hdu, o, t, err)
                     : ali_fits_read_binary(tf, path, hdu, compressed || mem, o, t, err);
    }
    st = 0;
    if (mem)
        fits_close_file(mem, &st);
    st = 0;
    fits_close_file(f, &st);
    fits_clear_errmsg();
    return rc;
}
