/* Survey loading benchmark, driven by bench/survey.sh: one measurement per process, so that each
 * peak RSS is that method's alone. Modes:
 *   gen-fits PATH ROWS   a Gaia DR3-like BINTABLE (the declared types of gaia_source columns;
 *                        the stars of `astrolab demo`, tools/gaia_like.c)
 *   gen-csv PATH ROWS    the same rows as a Gaia archive CSV export
 *   load PATH            al_survey_load, every column, native order
 *   cfitsio PATH         plain CFITSIO: fits_read_col per column, in fits_get_rowsize blocks
 *   fill BYTES           the page-fault floor: fill freshly allocated memory of that size
 * Each measuring mode prints one JSON line: {"method", "seconds", "peak_rss_bytes",
 * "start_rss_bytes", "data_bytes"}. */
#include <fitsio.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "gaia_like.h"

/* A subset of gaia_source with its declared types, from the catalog `astrolab demo` draws
 * (tools/gaia_like.c): 120 bytes a row. */
static const gaia_like_col cols[] = {
    GL_SOURCE_ID,
    GL_REF_EPOCH,
    GL_RA,
    GL_RA_ERROR,
    GL_DEC,
    GL_DEC_ERROR,
    GL_PARALLAX,
    GL_PARALLAX_ERROR,
    GL_PM,
    GL_PMRA,
    GL_PMRA_ERROR,
    GL_PMDEC,
    GL_PMDEC_ERROR,
    GL_RUWE,
    GL_ASTROMETRIC_PARAMS_SOLVED,
    GL_PHOT_G_MEAN_MAG,
    GL_PHOT_BP_MEAN_MAG,
    GL_PHOT_RP_MEAN_MAG,
    GL_BP_RP,
    GL_RADIAL_VELOCITY,
    GL_DUPLICATED_SOURCE,
    GL_PHOT_VARIABLE_FLAG,
};
#define NCOLS (sizeof cols / sizeof cols[0])

/* Bytes of column c in a row: its type's size, or a string's width. */
static int col_size(size_t c)
{
    const gaia_like_column *k = &gaia_like_columns[cols[c]];
    return k->dtype == AL_DTYPE_STRING ? (int)k->width : (int)al_dtype_size(k->dtype);
}

/* Its TFORM into buf. */
static char *col_form(size_t c, char *buf, size_t len)
{
    const gaia_like_column *k = &gaia_like_columns[cols[c]];
    static const char letter[AL_DTYPE_COUNT_] = {
        [AL_DTYPE_BOOL] = 'L',    [AL_DTYPE_INT16] = 'I',   [AL_DTYPE_INT64] = 'K',
        [AL_DTYPE_FLOAT32] = 'E', [AL_DTYPE_FLOAT64] = 'D', [AL_DTYPE_STRING] = 'A',
    };
    snprintf(buf, len, "%d%c", k->dtype == AL_DTYPE_STRING ? (int)k->width : 1, letter[k->dtype]);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long rss_peak(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024;
}

static void put_be(uint8_t *d, const void *v, int size)
{
    const uint8_t *s = v;
    for (int i = 0; i < size; i++)
        d[i] = s[size - 1 - i];
}

static int gen_fits(const char *path, int64_t rows)
{
    char *ttype[NCOLS], *tform[NCOLS], *tunit[NCOLS], forms[NCOLS][8];
    int rowlen = 0;
    for (size_t c = 0; c < NCOLS; c++) {
        const gaia_like_column *k = &gaia_like_columns[cols[c]];
        ttype[c] = (char *)k->name, tform[c] = col_form(c, forms[c], sizeof forms[c]);
        tunit[c] = (char *)k->unit, rowlen += col_size(c);
    }
    fitsfile *f;
    int st = 0;
    unlink(path);
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, rows, NCOLS, ttype, tform, tunit, "GAIA_SOURCE", &st);
    int64_t block = 65536;
    uint8_t *buf = malloc((size_t)(block * rowlen));
    gaia_like g;
    gaia_like_init(&g);
    gaia_like_row row;
    for (int64_t r = 0; !st && r < rows; r += block) {
        int64_t nb = rows - r < block ? rows - r : block;
        for (int64_t i = 0; i < nb; i++) {
            uint8_t *d = buf + i * rowlen;
            gaia_like_next(&g, r + i, &row);
            for (size_t c = 0; c < NCOLS; c++) {
                double v = row.value[cols[c]];
                switch (gaia_like_columns[cols[c]].dtype) {
                case AL_DTYPE_INT64:
                    put_be(d, &row.source_id, 8);
                    break;
                case AL_DTYPE_FLOAT64:
                    put_be(d, &v, 8);
                    break;
                case AL_DTYPE_FLOAT32: {
                    float x = (float)v;
                    put_be(d, &x, 4);
                } break;
                case AL_DTYPE_INT16: {
                    int16_t x = (int16_t)v;
                    put_be(d, &x, 2);
                } break;
                case AL_DTYPE_BOOL:
                    *d = v != 0 ? 'T' : 'F';
                    break;
                default: { /* a string, blank-padded */
                    const char *t = row.text[cols[c]];
                    size_t n = strlen(t);
                    memcpy(d, t, n);
                    memset(d + n, ' ', (size_t)col_size(c) - n);
                }
                }
                d += col_size(c);
            }
        }
        fits_write_tblbytes(f, r + 1, 1, nb * rowlen, buf, &st);
    }
    fits_close_file(f, &st);
    free(buf);
    if (st)
        fprintf(stderr, "gen-fits: CFITSIO status %d\n", st);
    return st ? 1 : 0;
}

static int gen_csv(const char *path, int64_t rows)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "# Gaia DR3 archive export (synthetic)\n");
    for (size_t c = 0; c < NCOLS; c++)
        fprintf(f, "%s%s", c ? "," : "", gaia_like_columns[cols[c]].name);
    fputc('\n', f);
    gaia_like g;
    gaia_like_init(&g);
    gaia_like_row row;
    for (int64_t i = 0; i < rows; i++) {
        gaia_like_next(&g, i, &row);
        for (size_t c = 0; c < NCOLS; c++) {
            double v = row.value[cols[c]];
            al_dtype t = gaia_like_columns[cols[c]].dtype;
            if (c)
                fputc(',', f);
            if (t == AL_DTYPE_INT64)
                fprintf(f, "%lld", (long long)row.source_id);
            else if (t == AL_DTYPE_INT16)
                fprintf(f, "%lld", (long long)v);
            else if (t == AL_DTYPE_BOOL)
                fputs(v != 0 ? "true" : "false", f);
            else if (t == AL_DTYPE_STRING)
                fputs(row.text[cols[c]], f);
            else if (isnan(v))
                ;
            else
                fprintf(f, t == AL_DTYPE_FLOAT64 ? "%.17g" : "%.9g",
                        t == AL_DTYPE_FLOAT64 ? v : (double)(float)v);
        }
        fputc('\n', f);
    }
    return fclose(f) != 0;
}

static void report(const char *method, double t, long long start_rss, uint64_t data_bytes)
{
    printf("{\"method\": \"%s\", \"seconds\": %.4f, \"peak_rss_bytes\": %lld, "
           "\"start_rss_bytes\": %lld, \"data_bytes\": %llu}\n",
           method, t, rss_peak(), start_rss, (unsigned long long)data_bytes);
}

static int load(const char *path)
{
    long long start = rss_peak();
    double t0 = now();
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    double t = now() - t0;
    uint64_t bytes = 0;
    if (!td || al_tensordict_nbytes(td, &bytes) != AL_OK) {
        fprintf(stderr, "load: %s\n", td ? "out of memory" : err.message);
        al_survey_free(td);
        return 1;
    }
    report("al_survey_load", t, start, bytes);
    al_survey_free(td);
    return 0;
}

/* The way CFITSIO's guide reads a table: for each block of fits_get_rowsize rows, every
 * column with fits_read_col, into native arrays allocated up front. */
static int plain_cfitsio(const char *path)
{
    long long start = rss_peak();
    double t0 = now();
    fitsfile *f;
    int st = 0, ncols = 0, type;
    long long rows = 0;
    fits_open_diskfile(&f, path, READONLY, &st);
    fits_movabs_hdu(f, 2, &type, &st);
    fits_get_num_rowsll(f, &rows, &st);
    fits_get_num_cols(f, &ncols, &st);
    void *data[64] = {0};
    int dtype[64];
    long width[64];
    uint64_t total = 0;
    for (int c = 0; c < ncols && !st; c++) {
        long long repeat, w;
        int code;
        fits_get_coltypell(f, c + 1, &code, &repeat, &w, &st);
        dtype[c] = code == TLONG ? TINT : code;
        width[c] = code == TSTRING                     ? (long)repeat
                   : code == TLOGICAL || code == TBYTE ? 1
                   : code == TSHORT                    ? 2
                   : code == TFLOAT || code == TLONG   ? 4
                                                       : 8;
        /* Strings: CFITSIO writes each with its NUL, so width + 1 bytes a row. */
        data[c] = malloc((size_t)(rows * (width[c] + (code == TSTRING))));
        total += (uint64_t)(rows * width[c]);
    }
    long block = 1;
    fits_get_rowsize(f, &block, &st);
    char **ptrs = malloc((size_t)block * sizeof *ptrs);
    for (long long r = 0; r < rows && !st; r += block) {
        long long nb = rows - r < block ? rows - r : block;
        for (int c = 0; c < ncols && !st; c++) {
            int anynul;
            if (dtype[c] == TSTRING) {
                for (long long i = 0; i < nb; i++)
                    ptrs[i] = (char *)data[c] + (r + i) * (width[c] + 1);
                fits_read_col(f, TSTRING, c + 1, r + 1, 1, nb, "", ptrs, &anynul, &st);
            } else
                fits_read_col(f, dtype[c], c + 1, r + 1, 1, nb, NULL,
                              (char *)data[c] + r * width[c], &anynul, &st);
        }
    }
    free(ptrs);
    double t = now() - t0;
    if (st)
        fprintf(stderr, "cfitsio: status %d\n", st);
    else
        report("cfitsio_read_col", t, start, total);
    fits_close_file(f, &st);
    for (int c = 0; c < ncols; c++)
        free(data[c]);
    return st ? 1 : 0;
}

static int fill(uint64_t bytes)
{
    long long start = rss_peak();
    double t0 = now();
    char *p = malloc(bytes);
    if (!p)
        return 1;
    memset(p, 1, bytes);
    double t = now() - t0;
    report("fill_fresh_memory", t, start, bytes);
    volatile char sink = p[bytes / 2];
    (void)sink;
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "gen-fits") == 0)
        return gen_fits(argv[2], atoll(argv[3]));
    if (argc >= 4 && strcmp(argv[1], "gen-csv") == 0)
        return gen_csv(argv[2], atoll(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "load") == 0)
        return load(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "cfitsio") == 0)
        return plain_cfitsio(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "fill") == 0)
        return fill(strtoull(argv[2], NULL, 10));
    fprintf(stderr, "usage: bench_survey gen-fits|gen-csv PATH ROWS | load|cfitsio PATH | "
                    "fill BYTES\n");
    return 2;
}
