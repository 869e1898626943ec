/* Survey loading benchmark, driven by bench/survey.sh: one measurement per process, so that each
 * peak RSS is that method's alone. Modes:
 *   gen-fits PATH ROWS   a Gaia DR3-like BINTABLE (the declared types of gaia_source columns)
 *   gen-csv PATH ROWS    the same kind of rows as a Gaia archive CSV export
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

typedef struct gaia_col {
    const char *name, *form, *unit;
    int size; /* bytes in a row */
} gaia_col;

/* A subset of gaia_source with its declared types: 120 bytes a row. */
static const gaia_col cols[] = {
    {"source_id", "1K", "", 8},
    {"ref_epoch", "1D", "yr", 8},
    {"ra", "1D", "deg", 8},
    {"ra_error", "1E", "mas", 4},
    {"dec", "1D", "deg", 8},
    {"dec_error", "1E", "mas", 4},
    {"parallax", "1D", "mas", 8},
    {"parallax_error", "1E", "mas", 4},
    {"pm", "1E", "mas.yr**-1", 4},
    {"pmra", "1D", "mas.yr**-1", 8},
    {"pmra_error", "1E", "mas.yr**-1", 4},
    {"pmdec", "1D", "mas.yr**-1", 8},
    {"pmdec_error", "1E", "mas.yr**-1", 4},
    {"ruwe", "1E", "", 4},
    {"astrometric_params_solved", "1I", "", 2},
    {"phot_g_mean_mag", "1E", "mag", 4},
    {"phot_bp_mean_mag", "1E", "mag", 4},
    {"phot_rp_mean_mag", "1E", "mag", 4},
    {"bp_rp", "1E", "mag", 4},
    {"radial_velocity", "1E", "km.s**-1", 4},
    {"duplicated_source", "1L", "", 1},
    {"phot_variable_flag", "13A", "", 13},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static uint64_t rng = 0x5EED;
static uint64_t next(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uni(void) { return (double)(next() >> 11) * 0x1.0p-53; }

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

/* Values of row i, column c, as doubles (strings and bools handled by the callers). */
static double value(size_t c, int64_t i)
{
    switch (c) {
    case 0:
        return (double)(i * 1024 + (int64_t)(next() & 1023));
    case 1:
        return 2016.0;
    case 2:
        return 360.0 * uni();
    case 4:
        return asin(2.0 * uni() - 1.0) * 180.0 / M_PI;
    case 6:
        return 0.05 + 4.0 * pow(uni(), 4.0);
    case 14:
        return uni() < 0.9 ? 31 : 95;
    case 15:
        return 8.0 + 13.0 * pow(uni(), 0.35);
    case 19:
        return uni() < 0.05 ? 60.0 * (uni() - 0.5) : NAN;
    default:
        return 30.0 * (uni() - 0.5);
    }
}

static int gen_fits(const char *path, int64_t rows)
{
    char *ttype[NCOLS], *tform[NCOLS], *tunit[NCOLS];
    int rowlen = 0;
    for (size_t c = 0; c < NCOLS; c++) {
        ttype[c] = (char *)cols[c].name, tform[c] = (char *)cols[c].form;
        tunit[c] = (char *)cols[c].unit, rowlen += cols[c].size;
    }
    fitsfile *f;
    int st = 0;
    unlink(path);
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, rows, NCOLS, ttype, tform, tunit, "GAIA_SOURCE", &st);
    int64_t block = 65536;
    uint8_t *buf = malloc((size_t)(block * rowlen));
    for (int64_t r = 0; !st && r < rows; r += block) {
        int64_t nb = rows - r < block ? rows - r : block;
        for (int64_t i = 0; i < nb; i++) {
            uint8_t *d = buf + i * rowlen;
            for (size_t c = 0; c < NCOLS; c++) {
                double v = value(c, r + i);
                char k = cols[c].form[strlen(cols[c].form) - 1];
                if (k == 'K') {
                    int64_t x = (int64_t)v;
                    put_be(d, &x, 8);
                } else if (k == 'D') {
                    put_be(d, &v, 8);
                } else if (k == 'E') {
                    float x = (float)v;
                    put_be(d, &x, 4);
                } else if (k == 'I') {
                    int16_t x = (int16_t)v;
                    put_be(d, &x, 2);
                } else if (k == 'L') {
                    *d = uni() < 0.01 ? 'T' : 'F';
                } else {
                    memcpy(d, uni() < 0.02 ? "VARIABLE     " : "NOT_AVAILABLE", 13);
                }
                d += cols[c].size;
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
        fprintf(f, "%s%s", c ? "," : "", cols[c].name);
    fputc('\n', f);
    for (int64_t i = 0; i < rows; i++) {
        for (size_t c = 0; c < NCOLS; c++) {
            double v = value(c, i);
            char k = cols[c].form[strlen(cols[c].form) - 1];
            if (c)
                fputc(',', f);
            if (k == 'K' || k == 'I')
                fprintf(f, "%lld", (long long)v);
            else if (k == 'L')
                fputs(uni() < 0.01 ? "true" : "false", f);
            else if (k == 'A')
                fputs(uni() < 0.02 ? "VARIABLE" : "NOT_AVAILABLE", f);
            else if (isnan(v))
                ;
            else
                fprintf(f, k == 'D' ? "%.17g" : "%.9g", k == 'D' ? v : (double)(float)v);
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
