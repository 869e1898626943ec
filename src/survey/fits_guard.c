/* A guard run before CFITSIO opens a file: it walks every HDU's header cards (seeking over the
 * data) and refuses the keyword values that crash Debian's CFITSIO 4.2.0 while it parses a
 * table header. Fuzzing (tests/fuzz/fuzz_fits.c) found them: ffgtbp copies a TTYPEn value
 * into a 70-byte field and a TNULLn string into a 20-byte field without checking the length,
 * so an unquoted TTYPE of 70 characters, or a TNULL string of 20 or more, aborts the process
 * (glibc's fortified strcpy). Legal headers never hold such values (a FITS string value is at
 * most 68 characters; TNULL is an integer). Remove when CFITSIO checks the lengths itself. The
 * keywords that size the data (BITPIX, NAXISn, PCOUNT, GCOUNT, TFIELDS) must be integers, and
 * TFIELDS at most 999: a garbled one made CFITSIO ask for gigabytes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "survey/survey_int.h"

#define CARD 80
#define BLOCK 2880

/* The value text of a card (quoted content or the bare token before '/'), its length. */
static size_t value_len(const char *card)
{
    const char *p = card + 9, *end = card + CARD;
    while (p < end && *p == ' ')
        p++;
    if (p < end && *p == '\'') {
        size_t n = 0, last = 0;
        for (p++; p < end; p++) {
            if (*p == '\'') {
                if (p + 1 < end && p[1] == '\'') {
                    p++;
                } else
                    break;
            }
            n++;
            if (*p != ' ')
                last = n;
        }
        return last;
    }
    size_t n = 0, last = 0;
    for (; p < end && *p != '/'; p++) {
        n++;
        if (*p != ' ')
            last = n;
    }
    return last;
}

/* True when the card's value is an integer: blanks, an optional sign, digits, blanks, then the
 * end of the card or a '/' comment. The keywords that size the data must be one: CFITSIO reads
 * a garbled NAXIS2 as a huge count and then asks for gigabytes (found by fuzzing). */
static bool is_integer(const char *card)
{
    const char *p = card + 9, *end = card + CARD;
    while (p < end && *p == ' ')
        p++;
    if (p < end && (*p == '+' || *p == '-'))
        p++;
    while (p + 1 < end && *p == '0' && p[1] >= '0' && p[1] <= '9')
        p++; /* leading zeros do not count against the 18 digits */
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    if (p == digits || p - digits > 18)
        return false;
    while (p < end && *p == ' ')
        p++;
    return p == end || *p == '/';
}

static long long int_value(const char *card)
{
    char buf[CARD - 8];
    memcpy(buf, card + 9, CARD - 9);
    buf[CARD - 9] = '\0';
    return strtoll(buf, NULL, 10);
}

typedef struct hdr {
    long long bitpix, naxis, pcount, gcount, axes[999];
} hdr;

/* Checks one card; notes the keywords that size the data. AL_OK or AL_EFORMAT. */
static int check_card(const char *card, hdr *h, const char *path, int hdu, al_error *err)
{
    if (card[8] != '=') /* CFITSIO takes "=" with no blank after it as a value too */
        return AL_OK;
    char key[9];
    memcpy(key, card, 8);
    key[8] = '\0';
    for (int i = 7; i >= 0 && key[i] == ' '; i--)
        key[i] = '\0';
    size_t limit = 0;
    if (strncmp(key, "TTYPE", 5) == 0 || strncmp(key, "TUNIT", 5) == 0)
        limit = 68;
    else if (strncmp(key, "TNULL", 5) == 0)
        limit = 19;
    if (limit && value_len(card) > limit)
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: keyword %s has a value of %zu "
                            "characters (at most %zu are valid)",
                            path, hdu, key, value_len(card), limit);
    bool naxis_n = strncmp(key, "NAXIS", 5) == 0 && key[5] >= '1' && key[5] <= '9' &&
                   strspn(key + 5, "0123456789") == strlen(key + 5); /* not NAXISLBL */
    bool sizing = strcmp(key, "BITPIX") == 0 || strcmp(key, "NAXIS") == 0 || naxis_n ||
                  strcmp(key, "PCOUNT") == 0 || strcmp(key, "GCOUNT") == 0 ||
                  strcmp(key, "TFIELDS") == 0;
    if (sizing && !is_integer(card)) {
        char shown[21]; /* the value's start, printable */
        const char *v = card + 9;
        while (v < card + CARD - 1 && *v == ' ')
            v++;
        size_t n = 0;
        for (; n < sizeof shown - 1 && v + n < card + CARD; n++)
            shown[n] = v[n] >= ' ' && v[n] <= '~' ? v[n] : '?';
        while (n && shown[n - 1] == ' ')
            n--;
        shown[n] = '\0';
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: keyword %s must have an integer value, not %s", path, hdu,
                            key, shown);
    }
    if (strcmp(key, "TFIELDS") == 0 && (int_value(card) < 0 || int_value(card) > 999))
        return al_error_set(err, AL_EFORMAT,
                            "%s: HDU %d: TFIELDS = %lld: a table has 0 to 999 columns", path, hdu,
                            int_value(card));
    if (strcmp(key, "BITPIX") == 0)
        h->bitpix = int_value(card);
    else if (strcmp(key, "NAXIS") == 0)
        h->naxis = int_value(card);
    else if (strcmp(key, "PCOUNT") == 0)
        h->pcount = int_value(card);
    else if (strcmp(key, "GCOUNT") == 0)
        h->gcount = int_value(card);
    else if (naxis_n) {
        long i = strtol(key + 5, NULL, 10);
        if (i >= 1 && i <= 999)
            h->axes[i - 1] = int_value(card);
    }
    return AL_OK;
}

/* Where the guard reads: a plain file with stdio, or a file CFITSIO has open (a compressed
 * file it has decompressed into memory) through its byte-level reads, which parse nothing. */
typedef struct src {
    FILE *fp;
    fitsfile *f;
    LONGLONG pos;
} src;

/* ffmbyt's "report the end of the file" (REPORT_EOF), defined only in CFITSIO's internal
 * fitsio2.h, as ffgbyt, its raw read at the current byte position (cfitsio_int.h declares it). */
#define GUARD_REPORT_EOF 0

static bool read_block(src *s, char *block)
{
    if (s->fp)
        return fread(block, 1, BLOCK, s->fp) == BLOCK;
    int st = 0;
    ffmbyt(s->f, s->pos, GUARD_REPORT_EOF, &st);
    ffgbyt(s->f, BLOCK, block, &st);
    fits_clear_errmsg();
    s->pos += BLOCK;
    return st == 0;
}

static bool skip(src *s, long long bytes)
{
    if (s->fp)
        return fseeko(s->fp, (off_t)bytes, SEEK_CUR) == 0;
    s->pos += bytes;
    return true;
}

static int guard(src *s, const char *path, al_error *err)
{
    hdr *h = al_malloc(sizeof *h); /* 8 KB of axes: not on the stack */
    char block[BLOCK];
    int rc = h ? AL_OK : al_error_set(err, AL_ENOMEM, "%s: out of memory", path);
    for (int hdu = 0; h && rc == AL_OK && hdu < 100000; hdu++) {
        memset(h, 0, sizeof *h);
        h->gcount = 1;
        bool end = false;
        while (!end && rc == AL_OK && read_block(s, block))
            for (int c = 0; c < BLOCK / CARD && !end && rc == AL_OK; c++) {
                const char *card = block + c * CARD;
                end = memcmp(card, "END     ", 8) == 0;
                rc = check_card(card, h, path, hdu, err);
            }
        if (!end)
            break; /* end of file or a broken header: CFITSIO reports it */
        long long n = h->naxis > 0 ? 1 : 0;
        for (long long i = 0; i < h->naxis && i < 999; i++)
            n = h->axes[i] >= 0 && n <= (1LL << 62) / (h->axes[i] + 1) ? n * h->axes[i] : -1;
        long long bytes = h->bitpix ? llabs(h->bitpix) / 8 : 0;
        if (n < 0 || h->pcount < 0 || h->gcount < 0 || h->gcount > (1LL << 20))
            break;
        long long size = bytes * h->gcount * (h->pcount + n);
        if (size < 0 || !skip(s, (size + BLOCK - 1) / BLOCK * BLOCK))
            break;
    }
    al_free(h);
    return rc;
}

int ali_fits_guard(const char *path, al_error *err)
{
    src s = {fopen(path, "rb"), NULL, 0};
    if (!s.fp)
        return AL_OK; /* CFITSIO reports it */
    int rc = guard(&s, path, err);
    fclose(s.fp);
    return rc;
}

int ali_fits_guard_open(fitsfile *f, const char *path, al_error *err)
{
    src s = {NULL, f, 0};
    return guard(&s, path, err);
}
