/* Tests of the survey module: FITS (every binary column type, ASCII tables, HDU choice, column
 * and row selection) and CSV loading, saving and round trips, metadata, bad input with its
 * error text, fault injection at every allocation of a load, and the real Tycho-2 index files
 * from astrometry-data-tycho2-10-19-littleendian checked against astropy's reading. Fixtures
 * are generated into a temporary directory, removed at exit. */
#include <cjson/cJSON.h>
#include <fitsio.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "survey/csv_int.h"
#include "survey_fault.h"
#include "test.h"

#define TYCHO "/usr/share/astrometry/index-tycho2-10.littleendian.fits"

#define tmp_path test_tmp_path

static const char *write_text(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static double get_d(const al_tensordict *td, const char *key, int64_t i)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    double v = -12345;
    if (!t || al_tensor_get_double(t, &i, &v) != AL_OK)
        fprintf(stderr, "  no element %lld of '%s'\n", (long long)i, key);
    return v;
}

static double get_d2(const al_tensordict *td, const char *key, int64_t i, int64_t j)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    int64_t idx[2] = {i, j};
    double v = -12345;
    if (!t || al_tensor_get_double(t, idx, &v) != AL_OK)
        fprintf(stderr, "  no element (%lld,%lld) of '%s'\n", (long long)i, (long long)j, key);
    return v;
}

static int64_t get_i(const al_tensordict *td, const char *key, int64_t i)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    int64_t v = -12345;
    if (!t || al_tensor_get_int64(t, &i, &v) != AL_OK)
        fprintf(stderr, "  no int element %lld of '%s'\n", (long long)i, key);
    return v;
}

static const char *get_s(const al_tensordict *td, const char *key, int64_t i)
{
    static char buf[256];
    const al_tensor *t = al_tensordict_borrow(td, key);
    buf[0] = '\0';
    if (!t || al_tensor_get_string(t, &i, buf, sizeof buf, NULL) != AL_OK)
        snprintf(buf, sizeof buf, "<no element %lld of %s>", (long long)i, key);
    return buf;
}

static al_dtype dtype_of(const al_tensordict *td, const char *key)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    return t ? al_tensor_dtype(t) : AL_DTYPE_COUNT_;
}

static const al_survey_column *meta_col(const al_tensordict *td, const char *name)
{
    const al_survey_meta *m = al_survey_info(td);
    for (size_t i = 0; m && i < m->n_columns; i++)
        if (strcmp(m->columns[i].name, name) == 0)
            return &m->columns[i];
    return NULL;
}

#define CHECK_ERR_HAS(err, text)                                                                   \
    do {                                                                                           \
        if (!strstr((err).message, (text))) {                                                      \
            fprintf(stderr, "  %s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,          \
                    (err).message, (text));                                                        \
            test_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

static void check_same(const al_tensordict *a, const al_tensordict *b);

/* -------- A table with every binary column type, written by CFITSIO itself -------- */
#define NT 5
static const char *write_all_types(void)
{
    const char *path = tmp_path("types.fits");
    unlink(path);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"flag", "bits", "u8",  "i8",   "i16",    "u16",    "i32",    "u32", "i64",
                     "u64",  "f32",  "f64", "name", "scaled", "nulled", "scnull", "vec", "lvec"};
    char *tform[] = {"1L", "12X", "1B", "1B", "1I", "1I", "1J", "1J", "1K",
                     "1K", "1E",  "1D", "8A", "1J", "1J", "1I", "3E", "2L"};
    char *tunit[] = {"", "",    "",    "", "",    "", "", "", "",
                     "", "mag", "deg", "", "mas", "", "", "", ""};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, NT, 18, ttype, tform, tunit, "ALLTYPES", &st);
    fits_write_key_lng(f, "TZERO4", -128, NULL, &st);
    fits_write_key_lng(f, "TZERO6", 32768, NULL, &st);
    fits_write_key_lng(f, "TZERO8", 2147483648LL, NULL, &st);
    fits_write_record(f, "TZERO10 =  9223372036854775808", &st);
    fits_write_key_dbl(f, "TSCAL14", 0.5, -10, NULL, &st);
    fits_write_key_dbl(f, "TZERO14", 100.0, -10, NULL, &st);
    fits_write_key_lng(f, "TNULL15", -999, NULL, &st);
    fits_write_key_dbl(f, "TSCAL16", 0.25, -10, NULL, &st);
    fits_write_key_lng(f, "TNULL16", -1, NULL, &st);
    fits_write_key_str(f, "TELESCOP", "TESTSCOPE", NULL, &st);
    /* Reopen the HDU so CFITSIO applies the scaling keywords when writing. */
    int hdutype;
    fits_movabs_hdu(f, 1, &hdutype, &st);
    fits_movabs_hdu(f, 2, &hdutype, &st);
    char flags[NT] = {1, 0, 1, 0, 1};
    char bits[2 * NT] = {(char)0xA5, (char)0xF0, 0x01, 0x10, (char)0xFF,
                         (char)0xF0, 0,          0,    0x55, 0x50};
    unsigned char u8[NT] = {0, 1, 127, 200, 255};
    signed char i8[NT] = {-128, -1, 0, 1, 127};
    short i16[NT] = {-32768, -2, 0, 3, 32767};
    unsigned short u16[NT] = {0, 1, 32768, 40000, 65535};
    int i32[NT] = {INT32_MIN, -5, 0, 6, INT32_MAX};
    unsigned int u32[NT] = {0, 1, 2147483648u, 3000000000u, UINT32_MAX};
    long long i64[NT] = {INT64_MIN, -7, 0, 8, INT64_MAX};
    unsigned long long u64[NT] = {0, 1, 9223372036854775808ull, 12345678901234567890ull,
                                  UINT64_MAX};
    float f32[NT] = {-1.5f, 0.0f, 3.25f, 1e30f, NAN};
    double f64[NT] = {-2.5, 0.0, 1.0 / 3.0, 1e300, -0.0};
    char *names[NT] = {"alpha", "be ta", "", "12345678", "x"};
    double scaled[NT] = {100.0, 100.5, 99.0, 150.0, 0.0};
    int nulled[NT] = {1, -999, 3, -999, 5};
    short scnull_raw[NT] = {4, -1, 8, 0, -1}; /* written raw: TNULL compares stored values */
    float vec[3 * NT];
    for (int i = 0; i < 3 * NT; i++)
        vec[i] = (float)i * 0.5f;
    char lvec[2 * NT] = {1, 0, 0, 1, 1, 1, 0, 0, 1, 0};
    fits_write_col(f, TLOGICAL, 1, 1, 1, NT, flags, &st);
    fits_write_col(f, TBYTE, 2, 1, 1, 2 * NT, bits, &st); /* X: whole bytes */
    fits_write_col(f, TBYTE, 3, 1, 1, NT, u8, &st);
    fits_write_col(f, TSBYTE, 4, 1, 1, NT, i8, &st);
    fits_write_col(f, TSHORT, 5, 1, 1, NT, i16, &st);
    fits_write_col(f, TUSHORT, 6, 1, 1, NT, u16, &st);
    fits_write_col(f, TINT, 7, 1, 1, NT, i32, &st);
    fits_write_col(f, TUINT, 8, 1, 1, NT, u32, &st);
    fits_write_col(f, TLONGLONG, 9, 1, 1, NT, i64, &st);
    fits_write_col(f, TULONGLONG, 10, 1, 1, NT, u64, &st);
    fits_write_col(f, TFLOAT, 11, 1, 1, NT, f32, &st);
    fits_write_col(f, TDOUBLE, 12, 1, 1, NT, f64, &st);
    fits_write_col(f, TSTRING, 13, 1, 1, NT, names, &st);
    fits_write_col(f, TDOUBLE, 14, 1, 1, NT, scaled, &st);
    fits_write_col(f, TINT, 15, 1, 1, NT, nulled, &st);
    fits_set_tscale(f, 16, 1.0, 0.0, &st); /* raw values into the scaled column */
    fits_write_col(f, TSHORT, 16, 1, 1, NT, scnull_raw, &st);
    fits_write_col(f, TFLOAT, 17, 1, 1, 3 * NT, vec, &st);
    fits_write_col(f, TLOGICAL, 18, 1, 1, 2 * NT, lvec, &st);
    fits_close_file(f, &st);
    if (st) {
        char text[FLEN_STATUS];
        fits_get_errstatus(st, text);
        fprintf(stderr, "  writing %s: %s\n", path, text);
    }
    CHECK_EQ_INT(st, 0);
    return path;
}

TEST(test_fits_every_binary_column_type_loads_with_its_values)
{
    const char *path = write_all_types();
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensordict_batch_size(td), NT);
    CHECK_EQ_INT(dtype_of(td, "flag"), AL_DTYPE_BOOL);
    CHECK_EQ_INT(get_i(td, "flag", 0), 1);
    CHECK_EQ_INT(get_i(td, "flag", 1), 0);
    CHECK_EQ_INT(dtype_of(td, "bits"), AL_DTYPE_BOOL);
    CHECK_EQ_INT(al_tensor_shape(al_tensordict_borrow(td, "bits"))[1], 12);
    /* 0xA5 0xF0: 1010 0101 1111 */
    static const int row0[12] = {1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1};
    for (int k = 0; k < 12; k++)
        CHECK_EQ_INT(get_d2(td, "bits", 0, k), row0[k]);
    CHECK_EQ_INT(get_d2(td, "bits", 4, 1), 1);
    CHECK_EQ_INT(get_d2(td, "bits", 4, 0), 0);
    CHECK_EQ_INT(dtype_of(td, "u8"), AL_DTYPE_UINT8);
    CHECK_EQ_INT(get_i(td, "u8", 3), 200);
    CHECK_EQ_INT(dtype_of(td, "i8"), AL_DTYPE_INT8);
    CHECK_EQ_INT(get_i(td, "i8", 0), -128);
    CHECK_EQ_INT(get_i(td, "i8", 4), 127);
    CHECK_EQ_INT(dtype_of(td, "i16"), AL_DTYPE_INT16);
    CHECK_EQ_INT(get_i(td, "i16", 0), -32768);
    CHECK_EQ_INT(dtype_of(td, "u16"), AL_DTYPE_UINT16);
    CHECK_EQ_INT(get_i(td, "u16", 4), 65535);
    CHECK_EQ_INT(get_i(td, "u16", 2), 32768);
    CHECK_EQ_INT(dtype_of(td, "i32"), AL_DTYPE_INT32);
    CHECK_EQ_INT(get_i(td, "i32", 0), INT32_MIN);
    CHECK_EQ_INT(dtype_of(td, "u32"), AL_DTYPE_UINT32);
    CHECK_EQ_INT(get_i(td, "u32", 4), UINT32_MAX);
    CHECK_EQ_INT(get_i(td, "u32", 3), 3000000000LL);
    CHECK_EQ_INT(dtype_of(td, "i64"), AL_DTYPE_INT64);
    CHECK(get_i(td, "i64", 0) == INT64_MIN);
    CHECK(get_i(td, "i64", 4) == INT64_MAX);
    CHECK_EQ_INT(dtype_of(td, "u64"), AL_DTYPE_UINT64);
    const al_tensor *u64 = al_tensordict_borrow(td, "u64");
    if (u64) {
        const uint64_t *v = al_tensor_data(u64);
        CHECK(v[0] == 0 && v[2] == 9223372036854775808ull && v[3] == 12345678901234567890ull &&
              v[4] == UINT64_MAX);
    }
    CHECK_EQ_INT(dtype_of(td, "f32"), AL_DTYPE_FLOAT32);
    CHECK(get_d(td, "f32", 2) == 3.25 && isnan(get_d(td, "f32", 4)));
    CHECK_EQ_INT(dtype_of(td, "f64"), AL_DTYPE_FLOAT64);
    CHECK(get_d(td, "f64", 2) == 1.0 / 3.0 && get_d(td, "f64", 3) == 1e300);
    CHECK(signbit(get_d(td, "f64", 4)));
    CHECK_EQ_INT(dtype_of(td, "name"), AL_DTYPE_STRING);
    CHECK_EQ_STR(get_s(td, "name", 0), "alpha");
    CHECK_EQ_STR(get_s(td, "name", 1), "be ta");
    CHECK_EQ_STR(get_s(td, "name", 2), "");
    CHECK_EQ_STR(get_s(td, "name", 3), "12345678");
    CHECK_EQ_INT(dtype_of(td, "scaled"), AL_DTYPE_FLOAT64);
    CHECK(get_d(td, "scaled", 1) == 100.5 && get_d(td, "scaled", 3) == 150.0);
    CHECK_EQ_INT(dtype_of(td, "nulled"), AL_DTYPE_INT32);
    CHECK_EQ_INT(get_i(td, "nulled", 1), -999);
    CHECK_EQ_INT(get_i(td, "_null.nulled", 0), 0);
    CHECK_EQ_INT(get_i(td, "_null.nulled", 1), 1);
    CHECK_EQ_INT(get_i(td, "_null.nulled", 3), 1);
    CHECK_EQ_INT(dtype_of(td, "scnull"), AL_DTYPE_FLOAT64);
    CHECK(get_d(td, "scnull", 0) == 1.0 && isnan(get_d(td, "scnull", 1)));
    CHECK(get_d(td, "scnull", 3) == 0.0 && isnan(get_d(td, "scnull", 4)));
    CHECK_EQ_INT(al_tensor_ndim(al_tensordict_borrow(td, "vec")), 2);
    CHECK(get_d2(td, "vec", 2, 1) == 3.5);
    CHECK_EQ_INT(get_d2(td, "lvec", 1, 1), 1);
    CHECK_EQ_INT(get_d2(td, "lvec", 3, 0), 0);
    CHECK(!al_tensordict_contains(td, "_null.flag"));
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m != NULL);
    if (m) {
        CHECK_EQ_STR(m->survey, "TESTSCOPE");
        CHECK_EQ_STR(m->extname, "ALLTYPES");
        CHECK_EQ_INT(m->hdu, 1);
        CHECK_EQ_STR(m->format, "fits");
    }
    const al_survey_column *c = meta_col(td, "f64");
    CHECK(c && strcmp(c->unit, "deg") == 0);
    c = meta_col(td, "nulled");
    CHECK(c && c->has_tnull && c->tnull == -999);
    /* Saved and loaded again: the same entries (masks included), TNULL and units kept. */
    const char *again = tmp_path("types_again.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, again, NULL, &err), 0);
    al_tensordict *back = al_survey_load(again, NULL, &err);
    CHECK(back != NULL);
    if (back) {
        check_same(td, back);
        c = meta_col(back, "nulled");
        CHECK(c && c->has_tnull && c->tnull == -999);
        c = meta_col(back, "f64");
        CHECK(c && strcmp(c->unit, "deg") == 0);
        al_survey_free(back);
    }
    al_survey_free(td);
}

TEST(test_fits_raw_strings_keep_trailing_blanks_and_nuls)
{
    const char *path = tmp_path("raw.fits");
    unlink(path);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"blob"}, *tform[] = {"6A"};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 1, ttype, tform, NULL, NULL, &st);
    unsigned char rows[12] = {'a', ' ', 0, 'b', ' ', ' ', 0xff, 0, 1, 2, 3, ' '};
    fits_write_tblbytes(f, 1, 1, 12, rows, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    al_survey_options o;
    al_survey_options_init(&o);
    o.raw_strings = 1;
    al_error err;
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    if (td) {
        const al_tensor *t = al_tensordict_borrow(td, "blob");
        CHECK(t && al_tensor_itemsize(t) == 6 && memcmp(al_tensor_data(t), rows, 12) == 0);
        al_survey_free(td);
    }
    td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (td) {
        CHECK_EQ_STR(get_s(td, "blob", 0), "a"); /* up to the NUL, blanks dropped */
        al_survey_free(td);
    }
}

static al_tensordict *make_catalog(int64_t n)
{
    al_error err;
    al_tensordict *td = al_tensordict_new(n, AL_CPU, &err);
    int64_t shape[2] = {n, 3};
    al_tensor *id = al_tensor_new(AL_DTYPE_INT64, 1, shape, AL_CPU, &err);
    al_tensor *ra = al_tensor_new(AL_DTYPE_FLOAT64, 1, shape, AL_CPU, &err);
    al_tensor *g = al_tensor_new(AL_DTYPE_FLOAT32, 1, shape, AL_CPU, &err);
    al_tensor *u16 = al_tensor_new(AL_DTYPE_UINT16, 1, shape, AL_CPU, &err);
    al_tensor *i8 = al_tensor_new(AL_DTYPE_INT8, 1, shape, AL_CPU, &err);
    al_tensor *u64 = al_tensor_new(AL_DTYPE_UINT64, 1, shape, AL_CPU, &err);
    al_tensor *ok = al_tensor_new(AL_DTYPE_BOOL, 1, shape, AL_CPU, &err);
    al_tensor *vec = al_tensor_new(AL_DTYPE_FLOAT64, 2, shape, AL_CPU, &err);
    al_tensor *des = al_tensor_new_string(1, shape, 32, AL_CPU, &err);
    for (int64_t i = 0; i < n; i++) {
        int rc = al_tensor_set_int64(id, &i, 4295128739LL * (i + 1));
        rc |= al_tensor_set_double(ra, &i, i * 0.1234567890123);
        rc |= al_tensor_set_double(g, &i, 12.0 + (float)i / 7.0f);
        rc |= al_tensor_set_int64(u16, &i, 65535 - i % 65536);
        rc |= al_tensor_set_int64(i8, &i, (i % 256) - 128);
        ((uint64_t *)al_tensor_data(u64))[i] = UINT64_MAX - (uint64_t)i;
        rc |= al_tensor_set_int64(ok, &i, i % 3 == 0);
        for (int64_t k = 0; k < 3; k++) {
            int64_t idx[2] = {i, k};
            rc |= al_tensor_set_double(vec, idx, i * 10.0 + k);
        }
        char s[32];
        int len = snprintf(s, sizeof s, "Gaia DR3 %lld", (long long)(4295128739LL * (i + 1)));
        rc |= al_tensor_set_string(des, &i, s, (size_t)len);
        CHECK_EQ_INT(rc, 0);
    }
    CHECK_EQ_INT(al_tensordict_set(td, "source_id", id, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "ra", ra, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "phot_g_mean_mag", g, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "u16", u16, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "i8", i8, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "u64", u64, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "ok", ok, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "vec", vec, 0, &err), 0);
    CHECK_EQ_INT(al_tensordict_set(td, "designation", des, 0, &err), 0);
    al_tensor *all[] = {id, ra, g, u16, i8, u64, ok, vec, des};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        al_tensor_free(all[i]);
    CHECK_EQ_INT(al_survey_set_name(td, "Gaia DR3"), 0);
    CHECK_EQ_INT(al_survey_set_column(td, "ra", "deg", NULL), 0);
    CHECK_EQ_INT(al_survey_set_column(td, "phot_g_mean_mag", "mag", NULL), 0);
    CHECK_EQ_INT(al_survey_set_column(td, "vec", "km/s", "velocity"), 0);
    return td;
}

/* Every entry of a equals b's bitwise. */
static void check_same(const al_tensordict *a, const al_tensordict *b)
{
    CHECK_EQ_INT(al_tensordict_batch_size(a), al_tensordict_batch_size(b));
    CHECK_EQ_INT(al_tensordict_len(a), al_tensordict_len(b));
    for (size_t i = 0; i < al_tensordict_len(a); i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(a, i, &e) != AL_OK || !e.tensor)
            continue;
        al_error err;
        al_tensor *ta = al_tensordict_get(a, e.name, &err);
        al_tensor *tb = al_tensordict_get(b, e.name, &err);
        bool eq = false;
        if (!ta || !tb || al_tensor_equal(ta, tb, AL_EQUAL_BITWISE, &eq) != AL_OK || !eq)
            fprintf(stderr, "  entry '%s' differs\n", e.name);
        CHECK(eq);
        al_tensor_free(ta);
        al_tensor_free(tb);
    }
}

TEST(test_save_then_load_gives_every_value_unit_and_role_back)
{
    al_tensordict *td = make_catalog(1000);
    const char *path = tmp_path("roundtrip.fits");
    al_error err = {0};
    int rc = al_survey_save_fits(td, path, NULL, &err);
    if (rc)
        fprintf(stderr, "  %s\n", err.message);
    CHECK_EQ_INT(rc, 0);
    al_tensordict *back = al_survey_load(path, NULL, &err);
    CHECK(back != NULL);
    if (back) {
        check_same(td, back);
        const al_survey_meta *m = al_survey_info(back);
        CHECK(m && strcmp(m->survey, "Gaia DR3") == 0);
        CHECK(m && strcmp(m->extname, "CATALOG") == 0);
        const al_survey_column *c = meta_col(back, "ra");
        CHECK(c && strcmp(c->unit, "deg") == 0 && strcmp(c->role, "ra") == 0);
        c = meta_col(back, "phot_g_mean_mag");
        CHECK(c && strcmp(c->unit, "mag") == 0 && strcmp(c->role, "mag_g") == 0);
        c = meta_col(back, "vec");
        CHECK(c && strcmp(c->unit, "km/s") == 0 && strcmp(c->role, "velocity") == 0);
        c = meta_col(back, "source_id");
        CHECK(c && strcmp(c->role, "id") == 0);
        al_survey_free(back);
    }
    /* An optimized catalog (narrowed, dictionary-encoded) saves to the same values. */
    al_optimize_report rep;
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, &rep), 0);
    CHECK(rep.bytes_after <= rep.bytes_before);
    al_optimize_report_release(&rep);
    const char *path2 = tmp_path("optimized.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, path2, NULL, &err), 0);
    back = al_survey_load(path2, NULL, &err);
    CHECK(back != NULL);
    if (back) {
        check_same(td, back);
        al_survey_free(back);
    }
    al_survey_free(td);
}

TEST(test_column_subset_and_row_range_keep_only_what_was_asked)
{
    al_tensordict *td = make_catalog(300);
    const char *path = tmp_path("subset.fits");
    al_error err;
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), 0);
    al_survey_options o;
    al_survey_options_init(&o);
    const char *cols[] = {"designation", "RA", NULL}; /* case-insensitive match */
    o.columns = cols;
    o.row_start = 100;
    o.row_stop = 250;
    o.block_rows = 7; /* many blocks */
    al_tensordict *sub = al_survey_load(path, &o, &err);
    CHECK(sub != NULL);
    if (sub) {
        CHECK_EQ_INT(al_tensordict_len(sub), 2);
        CHECK_EQ_INT(al_tensordict_batch_size(sub), 150);
        al_tensordict_entry e;
        CHECK(al_tensordict_entry_at(sub, 0, &e) == AL_OK && strcmp(e.name, "designation") == 0);
        CHECK(get_d(sub, "ra", 0) == get_d(td, "ra", 100));
        CHECK(get_d(sub, "ra", 149) == get_d(td, "ra", 249));
        char want[64];
        snprintf(want, sizeof want, "%s", get_s(td, "designation", 120));
        CHECK_EQ_STR(get_s(sub, "designation", 20), want);
        al_survey_free(sub);
    }
    al_survey_free(td);
}

static uint64_t progress_last, progress_total, progress_calls;
static void on_progress(void *user, uint64_t done, uint64_t total)
{
    (void)user;
    progress_last = done;
    progress_total = total;
    progress_calls++;
}

TEST(test_progress_reports_every_block_up_to_the_total)
{
    al_tensordict *td = make_catalog(100);
    const char *path = tmp_path("progress.fits");
    al_error err;
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), 0);
    al_survey_free(td);
    al_survey_options o;
    al_survey_options_init(&o);
    o.block_rows = 10;
    o.progress = on_progress;
    progress_calls = 0;
    td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    CHECK_EQ_INT(progress_calls, 10);
    CHECK_EQ_INT(progress_last, 100);
    CHECK_EQ_INT(progress_total, 100);
    al_survey_free(td);
}

TEST(test_hdu_is_chosen_by_number_or_name_and_images_are_refused)
{
    const char *path = tmp_path("hdus.fits");
    unlink(path);
    fitsfile *f;
    int st = 0;
    long naxes[2] = {4, 4};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_img(f, SHORT_IMG, 2, naxes, &st); /* 0: primary image */
    fits_create_img(f, SHORT_IMG, 2, naxes, &st); /* 1: image extension */
    char *t1[] = {"a"}, *f1[] = {"1J"}, *t2[] = {"b"}, *f2[] = {"1D"};
    fits_create_tbl(f, BINARY_TBL, 3, 1, t1, f1, NULL, "FIRST", &st); /* 2 */
    int a[3] = {1, 2, 3};
    fits_write_col(f, TINT, 1, 1, 1, 3, a, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 1, t2, f2, NULL, "SECOND", &st); /* 3 */
    double b[2] = {0.5, 1.5};
    fits_write_col(f, TDOUBLE, 1, 1, 1, 2, b, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td && al_tensordict_contains(td, "a") && al_survey_info(td)->hdu == 2);
    al_survey_free(td);
    al_survey_options o;
    al_survey_options_init(&o);
    o.hdu = 3;
    td = al_survey_load(path, &o, &err);
    CHECK(td && get_d(td, "b", 1) == 1.5);
    al_survey_free(td);
    o.hdu = AL_SURVEY_HDU_FIRST;
    o.hdu_name = "second";
    td = al_survey_load(path, &o, &err);
    CHECK(td && al_tensordict_contains(td, "b"));
    al_survey_free(td);
    o.hdu_name = "THIRD";
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    CHECK_ERR_HAS(err, "THIRD");
    CHECK_ERR_HAS(err, path);
    o.hdu_name = NULL;
    o.hdu = 1;
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ETYPE);
    CHECK_ERR_HAS(err, "HDU 1 is an image");
    o.hdu = 9;
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    CHECK_ERR_HAS(err, "no HDU 9");
}

TEST(test_fits_ascii_table_loads_numbers_and_text)
{
    const char *path = tmp_path("ascii.fits");
    unlink(path);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"id", "mag", "name"}, *tform[] = {"I6", "F8.3", "A5"};
    char *tunit[] = {"", "mag", ""};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, ASCII_TBL, 3, 3, ttype, tform, tunit, "TXT", &st);
    long long id[3] = {7, -8, 9};
    double mag[3] = {1.25, 2.5, -3.125};
    char *names[3] = {"ab", "cde", "f"};
    fits_write_col(f, TLONGLONG, 1, 1, 1, 3, id, &st);
    fits_write_col(f, TDOUBLE, 2, 1, 1, 3, mag, &st);
    fits_write_col(f, TSTRING, 3, 1, 1, 3, names, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (td) {
        CHECK_EQ_INT(get_i(td, "id", 1), -8);
        CHECK(get_d(td, "mag", 2) == -3.125);
        CHECK_EQ_STR(get_s(td, "name", 1), "cde");
        const al_survey_column *c = meta_col(td, "mag");
        CHECK(c && strcmp(c->unit, "mag") == 0);
        al_survey_free(td);
    }
}

/* An ASCII table of Iw integer fields, each row's bytes written as given. */
static const char *write_ascii_ints(const char *name, const char *const *rows, int n)
{
    const char *path = tmp_path(name);
    unlink(path);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"big"}, *tform[] = {"I20"};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, ASCII_TBL, n, 1, ttype, tform, NULL, "INTS", &st);
    for (int i = 0; i < n; i++)
        fits_write_tblbytes(f, i + 1, 1, 20, (unsigned char *)rows[i], &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    return path;
}

TEST(test_fits_ascii_integers_keep_all_64_bits)
{
    static const char *const rows[] = {" 9223372036854775807", "-9223372036854775808",
                                       "    9007199254740993", "                   7",
                                       "                    "};
    al_error err;
    al_tensordict *td = al_survey_load(write_ascii_ints("i20.fits", rows, 5), NULL, &err);
    CHECK(td != NULL);
    if (td) {
        CHECK_EQ_INT(dtype_of(td, "big"), AL_DTYPE_INT64);
        CHECK(get_i(td, "big", 0) == INT64_MAX);
        CHECK(get_i(td, "big", 1) == INT64_MIN);
        CHECK(get_i(td, "big", 2) == 9007199254740993LL); /* 2^53 + 1: no double on the way */
        CHECK_EQ_INT(get_i(td, "big", 3), 7);
        CHECK_EQ_INT(get_i(td, "big", 4), 0); /* a blank field, as CFITSIO reads it */
        al_survey_free(td);
    }
    /* One past INT64_MAX cannot be held: an error naming the row, not a wrapped value. */
    static const char *const over[] = {"                   1", " 9223372036854775808"};
    td = al_survey_load(write_ascii_ints("i20_over.fits", over, 2), NULL, &err);
    CHECK(td == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "row 1");
    CHECK_ERR_HAS(err, "9223372036854775808");
    al_survey_free(td);
}

#define ASTROPY_DATA "/usr/lib/python3/dist-packages/astropy/io/fits/tests/data/"

TEST(test_astropy_ascii_i4_i20_reads_as_astropy_does)
{
    const char *path = ASTROPY_DATA "ascii_i4-i20.fits";
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "  skipped: %s is missing (install python3-astropy)\n", path);
        return;
    }
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (td) {
        /* astropy: col3 = [65536, 9223372036854775807, -9223372036854775808, 40, same]. */
        CHECK_EQ_INT(get_i(td, "col3", 0), 65536);
        CHECK(get_i(td, "col3", 1) == INT64_MAX);
        CHECK(get_i(td, "col3", 2) == INT64_MIN);
        CHECK(get_i(td, "col3", 4) == INT64_MAX);
        CHECK_EQ_INT(get_i(td, "col2", 1), 2147483647);
        /* Optimizing keeps every value (it once wrote INT64_MIN for INT64_MAX). */
        CHECK(al_tensordict_optimize_memory(td, NULL, NULL) == AL_OK);
        const char *out = tmp_path("i4i20_opt.fits");
        CHECK(al_survey_save_fits(td, out, NULL, &err) == AL_OK);
        al_tensordict *back = al_survey_load(out, NULL, &err);
        CHECK(back && get_i(back, "col3", 1) == INT64_MAX && get_i(back, "col3", 2) == INT64_MIN);
        al_survey_free(back);
        al_survey_free(td);
    }
}

TEST(test_bad_fits_input_names_file_hdu_and_column)
{
    al_error err;
    /* Missing file. */
    CHECK(al_survey_load(tmp_path("nope.fits"), NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    /* Truncated data. */
    al_tensordict *td = make_catalog(500);
    const char *path = tmp_path("trunc.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), 0);
    al_survey_free(td);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size / 2) == 0);
    CHECK(al_survey_load(path, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "truncated");
    CHECK_ERR_HAS(err, "HDU 1");
    /* Truncated inside the header. */
    CHECK(truncate(path, 4000) == 0);
    CHECK(al_survey_load(path, NULL, &err) == NULL);
    CHECK(err.code == AL_EFORMAT || err.code == AL_ENOTFOUND);
    CHECK_ERR_HAS(err, path);
    /* Unknown column. */
    path = write_all_types();
    al_survey_options o;
    al_survey_options_init(&o);
    const char *cols[] = {"f32", "parallax", NULL};
    o.columns = cols;
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    CHECK_ERR_HAS(err, "'parallax'");
    CHECK_ERR_HAS(err, "HDU 1");
    /* Complex and variable-length columns. */
    const char *cpath = tmp_path("complex.fits");
    unlink(cpath);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"ok", "z", "var"}, *tform[] = {"1J", "1C", "1PJ(4)"};
    fits_create_diskfile(&f, (char *)cpath, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 3, ttype, tform, NULL, NULL, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    CHECK(al_survey_load(cpath, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ETYPE);
    CHECK_ERR_HAS(err, "column 'z'");
    CHECK_ERR_HAS(err, "complex");
    const char *vcols[] = {"var", NULL};
    o.columns = vcols;
    CHECK(al_survey_load(cpath, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ETYPE);
    CHECK_ERR_HAS(err, "column 'var'");
    const char *okcols[] = {"ok", NULL};
    o.columns = okcols;
    td = al_survey_load(cpath, &o, &err);
    CHECK(td != NULL); /* the unsupported columns can be left out */
    al_survey_free(td);
    /* Not FITS at all, read as FITS. */
    const char *junk = write_text("junk.fits", "SIMPLE  = nonsense\n");
    CHECK(al_survey_load(junk, NULL, &err) == NULL);
    CHECK_ERR_HAS(err, junk);
}

TEST(test_columns_after_bits_complex_and_descriptors_are_read_at_their_offsets)
{
    /* The row layout is computed from TFORM (CFITSIO's column records are private): each
     * column here follows types of another size in a row (X packs bits, P and Q descriptors
     * take 8 and 16 bytes whatever their element type, C and M 8 and 16). */
    const char *path = tmp_path("offsets.fits");
    unlink(path);
    fitsfile *f;
    int st = 0;
    char *ttype[] = {"bits", "a", "z", "b", "p", "c", "q", "d", "m", "e"};
    char *tform[] = {"11X", "1J", "2C", "1I", "1PE(3)", "3K", "1QD(2)", "2D", "1M", "4A"};
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 10, ttype, tform, NULL, NULL, &st);
    int a[] = {7, -8};
    short b[] = {300, -301};
    long long c[] = {1, 2, 3, 4, 5, -6};
    double d[] = {0.5, 1.5, 2.5, 3.5};
    char *e[] = {"wxyz", "ab"};
    char bits[] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    float pv[] = {9, 8, 7};
    double qv[] = {6, 5};
    fits_write_col(f, TBIT, 1, 1, 1, 11, bits, &st);
    fits_write_col(f, TINT, 2, 1, 1, 2, a, &st);
    fits_write_col(f, TSHORT, 4, 1, 1, 2, b, &st);
    fits_write_col(f, TFLOAT, 5, 2, 1, 3, pv, &st);
    fits_write_col(f, TLONGLONG, 6, 1, 1, 6, c, &st);
    fits_write_col(f, TDOUBLE, 7, 1, 1, 2, qv, &st);
    fits_write_col(f, TDOUBLE, 8, 1, 1, 4, d, &st);
    fits_write_col(f, TSTRING, 10, 1, 1, 2, e, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    al_survey_options o;
    al_survey_options_init(&o);
    const char *want[] = {"e", "bits", "a", "b", "c", "d", NULL};
    o.columns = want;
    al_error err;
    al_tensordict *td = al_survey_load(path, &o, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(get_i(td, "a", 0), 7);
    CHECK_EQ_INT(get_i(td, "a", 1), -8);
    CHECK_EQ_INT(get_i(td, "b", 0), 300);
    CHECK_EQ_INT(get_i(td, "b", 1), -301);
    const al_tensor *ct = al_tensordict_borrow(td, "c");
    CHECK(ct && al_tensor_ndim(ct) == 2 && al_tensor_shape(ct)[1] == 3);
    const long long *cv = ct ? al_tensor_data(ct) : NULL;
    for (int i = 0; cv && i < 6; i++)
        CHECK_EQ_INT(cv[i], c[i]);
    const al_tensor *dt = al_tensordict_borrow(td, "d");
    const double *dv = dt ? al_tensor_data(dt) : NULL;
    for (int i = 0; dv && i < 4; i++)
        CHECK(dv[i] == d[i]);
    const al_tensor *et = al_tensordict_borrow(td, "e");
    CHECK(et && memcmp(al_tensor_data(et), "wxyzab\0\0", 8) == 0);
    const al_tensor *xt = al_tensordict_borrow(td, "bits");
    const uint8_t *xv = xt ? al_tensor_data(xt) : NULL;
    CHECK(xt && al_tensor_shape(xt)[1] == 11);
    for (int i = 0; xv && i < 11; i++)
        CHECK_EQ_INT(xv[i], bits[i]);
    al_survey_free(td);
}

TEST(test_fault_injection_at_every_allocation_of_a_load_leaks_nothing)
{
    fault_loop(write_all_types(), NULL);
    const char *csv = write_text("fault.csv", "a,b,c,d\n1,x,,true\n2,\"y,z\",2.5,\n,w,3,false\n");
    fault_loop(csv, NULL);
    al_tensordict *td = make_catalog(50);
    const char *path = tmp_path("fault_save.fits");
    al_error err;
    uint64_t before = test_live_blocks();
    for (uint64_t n = 1; n < 1000; n++) {
        al_memory_fail_after(n, 0);
        int rc = al_survey_save_fits(td, path, NULL, &err);
        al_memory_fail_after(0, 0);
        CHECK_EQ_INT(test_live_blocks(), before);
        if (rc == AL_OK)
            break;
        CHECK_EQ_INT(rc, AL_ENOMEM);
    }
    al_survey_free(td);
}

/* -------- CSV -------- */
TEST(test_csv_infers_types_and_marks_missing_values)
{
    const char *path = write_text("types.csv", "\xEF\xBB\xBFid,ra,flag,name,mixed,empty,big\r\n"
                                               "1,10.5,true,alpha,1,,9223372036854775807\r\n"
                                               "2,,False,,2.5,null,1\r\n"
                                               "\r\n"
                                               "3,-1e-3,TRUE,\"gam,ma\",3,,-9223372036854775808\r\n"
                                               ",7,,\"say \"\"hi\"\"\",4,,0");
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensordict_batch_size(td), 4);
    CHECK_EQ_INT(dtype_of(td, "id"), AL_DTYPE_INT64);
    CHECK_EQ_INT(get_i(td, "id", 2), 3);
    CHECK_EQ_INT(get_i(td, "_null.id", 3), 1);
    CHECK_EQ_INT(get_i(td, "_null.id", 0), 0);
    CHECK_EQ_INT(dtype_of(td, "ra"), AL_DTYPE_FLOAT64);
    CHECK(isnan(get_d(td, "ra", 1)) && get_d(td, "ra", 2) == -1e-3);
    CHECK(!al_tensordict_contains(td, "_null.ra"));
    CHECK_EQ_INT(dtype_of(td, "flag"), AL_DTYPE_BOOL);
    CHECK_EQ_INT(get_i(td, "flag", 1), 0);
    CHECK_EQ_INT(get_i(td, "flag", 2), 1);
    CHECK_EQ_INT(get_i(td, "_null.flag", 3), 1);
    CHECK_EQ_INT(dtype_of(td, "name"), AL_DTYPE_STRING);
    CHECK_EQ_STR(get_s(td, "name", 2), "gam,ma");
    CHECK_EQ_STR(get_s(td, "name", 3), "say \"hi\"");
    CHECK_EQ_INT(get_i(td, "_null.name", 1), 1);
    CHECK_EQ_INT(dtype_of(td, "mixed"), AL_DTYPE_FLOAT64);
    CHECK(get_d(td, "mixed", 1) == 2.5);
    CHECK_EQ_INT(dtype_of(td, "empty"), AL_DTYPE_FLOAT64);
    CHECK(isnan(get_d(td, "empty", 0)));
    CHECK_EQ_INT(dtype_of(td, "big"), AL_DTYPE_INT64);
    CHECK(get_i(td, "big", 0) == INT64_MAX && get_i(td, "big", 2) == INT64_MIN);
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m && strcmp(m->format, "csv") == 0 && m->hdu == -1 && m->file_rows == 4);
    al_survey_free(td);
}

/* The single pass converts at the type seen so far and re-types a column when a value does not
 * fit: late floats, a late string and a "-0", across several 4 MiB read blocks. */
TEST(test_csv_columns_retype_when_a_late_value_does_not_fit)
{
    enum { ROWS = 300000 };
    const char *path = tmp_path("retype.csv");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("a,b,c,d\n", f);
    for (int i = 0; i < ROWS; i++) {
        if (i == 250000)
            fprintf(f, "0.5,%d,%d,-0\n", i, i);
        else if (i == ROWS - 1)
            fprintf(f, "%d,x%d,%d,%d\n", i, i, i, i);
        else
            fprintf(f, "%d,%d,%d,%d\n", i, i, i, i);
    }
    fclose(f);
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensordict_batch_size(td), ROWS);
    CHECK_EQ_INT(dtype_of(td, "a"), AL_DTYPE_FLOAT64);
    CHECK(get_d(td, "a", 0) == 0.0 && get_d(td, "a", 249999) == 249999.0);
    CHECK(get_d(td, "a", 250000) == 0.5 && get_d(td, "a", ROWS - 1) == ROWS - 1);
    CHECK_EQ_INT(dtype_of(td, "b"), AL_DTYPE_STRING);
    CHECK_EQ_STR(get_s(td, "b", 7), "7");
    CHECK_EQ_STR(get_s(td, "b", 123456), "123456");
    CHECK_EQ_STR(get_s(td, "b", ROWS - 1), "x299999");
    CHECK_EQ_INT(dtype_of(td, "c"), AL_DTYPE_INT64);
    CHECK_EQ_INT(get_i(td, "c", ROWS - 1), ROWS - 1);
    /* "-0" in an integer column stays an integer 0. */
    CHECK_EQ_INT(dtype_of(td, "d"), AL_DTYPE_INT64);
    CHECK_EQ_INT(get_i(td, "d", 250000), 0);
    CHECK_EQ_INT(get_i(td, "d", 250001), 250001);
    al_survey_free(td);
}

TEST(test_csv_gaia_export_with_comments_and_quoted_newlines)
{
    const char *path =
        write_text("gaia.csv", "# Gaia DR3 archive export\n"
                               "# columns: source_id, ra, dec\n"
                               "source_id,ra,dec,parallax,pmra,pmdec,phot_g_mean_mag,note\n"
                               "4295806720,44.99615,0.00550,6.5,null,-1.2,17.64,\"two\nlines\"\n"
                               "34361129088,45.00432,0.02189,,1.5,2.5,16.01,plain\n");
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensordict_batch_size(td), 2);
    CHECK_EQ_STR(get_s(td, "note", 0), "two\nlines");
    CHECK(isnan(get_d(td, "pmra", 0)) && isnan(get_d(td, "parallax", 1)));
    CHECK(get_i(td, "source_id", 1) == 34361129088LL);
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m && strcmp(m->survey, "Gaia DR3") == 0);
    const al_survey_column *c = meta_col(td, "phot_g_mean_mag");
    CHECK(c && strcmp(c->role, "mag_g") == 0);
    c = meta_col(td, "dec");
    CHECK(c && strcmp(c->role, "dec") == 0);
    /* Saved as FITS and back: the same values, the masks too. */
    const char *fits = tmp_path("gaia_from_csv.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, fits, NULL, &err), 0);
    al_tensordict *back = al_survey_load(fits, NULL, &err);
    CHECK(back != NULL);
    if (back) {
        check_same(td, back);
        al_survey_free(back);
    }
    al_survey_free(td);
}

TEST(test_csv_recognises_sdss_2mass_and_tycho_columns)
{
    struct {
        const char *header, *survey, *col, *role;
    } cases[] = {
        {"objID,ra,dec,psfMag_u,psfMag_g,modelMag_r\n", "SDSS", "psfMag_g", "mag_g"},
        {"RAJ2000,DEJ2000,Jmag,Hmag,Kmag\n", "2MASS", "DEJ2000", "dec"},
        {"ra,dec,j_m,h_m,k_m\n", "2MASS", "k_m", "mag_k"},
        {"TYC,RAmdeg,DEmdeg,pmRA,pmDE,BTmag,VTmag\n", "Tycho-2", "VTmag", "mag_vt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        size_t commas = 0;
        for (const char *p = cases[i].header; *p; p++)
            commas += *p == ',';
        snprintf(text, sizeof text, "%s", cases[i].header);
        for (size_t k = 0; k <= commas; k++)
            strcat(text, k ? ",1" : "1");
        strcat(text, "\n");
        const char *path = write_text("survey.csv", text);
        al_error err;
        al_tensordict *td = al_survey_load(path, NULL, &err);
        CHECK(td != NULL);
        if (!td)
            continue;
        CHECK_EQ_STR(al_survey_info(td)->survey, cases[i].survey);
        const al_survey_column *c = meta_col(td, cases[i].col);
        CHECK(c && strcmp(c->role, cases[i].role) == 0);
        al_survey_free(td);
    }
}

TEST(test_bad_csv_rows_name_file_row_line_and_column)
{
    al_error err;
    const char *p = write_text("count.csv", "a,b\n1,2\n3\n");
    CHECK(al_survey_load(p, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, p);
    CHECK_ERR_HAS(err, "row 2 (line 3)");
    CHECK_ERR_HAS(err, "expected 2 fields, found 1");
    p = write_text("number.csv", "a,b\n1,2\n3,4\n5,x7\n");
    al_survey_options o;
    al_survey_options_init(&o);
    o.csv_infer_rows = 2;
    CHECK(al_survey_load(p, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "row 3 (line 4), column 'b'");
    CHECK_ERR_HAS(err, "'x7' is not a valid int64");
    al_tensordict *td = al_survey_load(p, NULL, &err); /* full inference: a string column */
    CHECK(td && dtype_of(td, "b") == AL_DTYPE_STRING);
    al_survey_free(td);
    p = write_text("quote.csv", "a,b\n1,\"open\n2,3\n");
    CHECK(al_survey_load(p, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "line 2");
    CHECK_ERR_HAS(err, "not closed");
    p = write_text("empty.csv", "");
    CHECK(al_survey_load(p, NULL, &err) == NULL);
    CHECK_ERR_HAS(err, "no header");
    p = write_text("dup.csv", "a,a\n1,2\n");
    CHECK(al_survey_load(p, NULL, &err) == NULL);
    CHECK_ERR_HAS(err, "'a' appears twice");
    p = write_text("cols.csv", "a,b\n1,2\n");
    const char *cols[] = {"c", NULL};
    o.columns = cols;
    CHECK(al_survey_load(p, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_ENOTFOUND);
    CHECK_ERR_HAS(err, "no column 'c'");
}

TEST(test_csv_header_only_gives_zero_rows)
{
    const char *p = write_text("header.csv", "x,y\n");
    al_error err;
    al_tensordict *td = al_survey_load(p, NULL, &err);
    CHECK(td != NULL);
    CHECK_EQ_INT(al_tensordict_batch_size(td), 0);
    CHECK_EQ_INT(al_tensordict_len(td), 2);
    al_survey_free(td);
}

TEST(test_info_json_lists_columns_units_roles_and_memory)
{
    al_tensordict *td = make_catalog(10);
    char *json = al_survey_info_json(td);
    CHECK(json != NULL);
    if (json) {
        CHECK(strstr(json, "\"survey\":\"Gaia DR3\"") != NULL);
        CHECK(
            strstr(json, "\"name\":\"ra\",\"dtype\":\"float64\",\"shape\":[10],\"unit\":\"deg\"") !=
            NULL);
        CHECK(strstr(json, "\"memory_info\"") != NULL);
        CHECK(strstr(json, "\"total_bytes\"") != NULL);
        free(json);
    }
    al_survey_free(td);
}

/* -------- The real Tycho-2 index from astrometry.net, against astropy -------- */

/* Runs python with astropy on the Tycho-2 file; the output's first line into buf. */
static bool astropy(const char *code, char *buf, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"from astropy.io import fits; h = fits.open('%s'); %s\" "
             "2>/dev/null",
             TYCHO, code);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    bool ok = fgets(buf, (int)len, p) != NULL;
    ok &= pclose(p) == 0;
    buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

TEST(test_real_tycho2_index_matches_astropy)
{
    struct stat sb;
    if (stat(TYCHO, &sb) != 0) {
        fprintf(stderr, "  %s is missing: install astrometry-data-tycho2-10-19-littleendian\n",
                TYCHO);
        CHECK(0);
        return;
    }
    char py[256];
    CHECK(astropy("print(len(h[13].data), ' '.join(repr(float(h[13].data['MAG_VT'][i])) for i in "
                  "(0, 1, 1000, 362949)))",
                  py, sizeof py));
    al_survey_options o;
    al_survey_options_init(&o);
    o.hdu = 13;
    al_error err = {0};
    al_tensordict *td = al_survey_load(TYCHO, &o, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (td) {
        int64_t rows = al_tensordict_batch_size(td);
        CHECK_EQ_INT(rows, 362950);
        /* Python's repr of a float is the shortest round-tripping text: %.17g parses back the
         * same, so compare as doubles. */
        long long n = 0;
        double v[4];
        CHECK(sscanf(py, "%lld %lf %lf %lf %lf", &n, &v[0], &v[1], &v[2], &v[3]) == 5);
        CHECK_EQ_INT(n, 362950);
        int64_t at[4] = {0, 1, 1000, 362949};
        for (int i = 0; i < 4; i++)
            CHECK(get_d(td, "MAG_VT", at[i]) == v[i]);
        const al_survey_meta *m = al_survey_info(td);
        CHECK(m && strcmp(m->survey, "Tycho-2") == 0);
        const al_survey_column *c = meta_col(td, "MAG_VT");
        CHECK(c && strcmp(c->role, "mag_vt") == 0);
        al_survey_free(td);
    }
    /* HDU 11: star vectors as raw bytes in a 12A column. */
    CHECK(astropy("d = h[11].data; print(len(d), d.tobytes()[:24].hex(), "
                  "d.tobytes()[-12:].hex())",
                  py, sizeof py));
    o.hdu = 11;
    o.raw_strings = 1;
    td = al_survey_load(TYCHO, &o, &err);
    CHECK(td != NULL);
    if (td) {
        const al_tensor *t = al_tensordict_borrow(td, "kdtree_data_stars");
        CHECK(t && al_tensor_itemsize(t) == 12);
        if (t) {
            char hex[128] = "";
            const uint8_t *b = al_tensor_data(t);
            int64_t rows = al_tensor_shape(t)[0];
            char *w = hex + sprintf(hex, "%lld ", (long long)rows);
            for (int i = 0; i < 24; i++)
                w += sprintf(w, "%02x", b[i]);
            *w++ = ' ';
            for (int i = 0; i < 12; i++)
                w += sprintf(w, "%02x", b[(rows - 1) * 12 + i]);
            CHECK_EQ_STR(hex, py);
        }
        al_survey_free(td);
    }
    /* HDU 2: a table of 0 rows with a 0A column. */
    o.hdu = 2;
    td = al_survey_load(TYCHO, &o, &err);
    CHECK(td != NULL);
    CHECK(td && al_tensordict_batch_size(td) == 0);
    al_survey_free(td);
    /* The first table (HDU 1, quads) loads by default. */
    al_survey_options_init(&o);
    const char *cols[] = {"quads", NULL};
    o.columns = cols;
    o.row_stop = 10;
    td = al_survey_load(TYCHO, &o, &err);
    CHECK(td && al_survey_info(td)->hdu == 1 && al_tensordict_batch_size(td) == 10);
    al_survey_free(td);
}

/* A FITS file of an empty primary and a one-column BINTABLE whose header also holds `extra`
 * (80-column cards, joined); written byte by byte, as CFITSIO would refuse to write them. */
static const char *write_raw_fits(const char *name, const char *const *extra)
{
    char hdr[2 * 2880];
    memset(hdr, ' ', sizeof hdr);
    const char *prim[] = {"SIMPLE  =                    T",
                          "BITPIX  =                    8",
                          "NAXIS   =                    0",
                          "EXTEND  =                    T",
                          "END",
                          NULL};
    const char *ext[] = {"XTENSION= 'BINTABLE'",
                         "BITPIX  =                    8",
                         "NAXIS   =                    2",
                         "NAXIS1  =                    4",
                         "NAXIS2  =                    1",
                         "PCOUNT  =                    0",
                         "GCOUNT  =                    1",
                         "TFIELDS =                    1",
                         "TFORM1  = '1J'",
                         NULL};
    int card = 0;
    for (int i = 0; prim[i]; i++)
        memcpy(hdr + 80 * card++, prim[i], strlen(prim[i]));
    card = 36;
    for (int i = 0; ext[i]; i++)
        memcpy(hdr + 80 * card++, ext[i], strlen(ext[i]));
    for (int i = 0; extra[i]; i++)
        memcpy(hdr + 80 * card++, extra[i], strlen(extra[i]) < 80 ? strlen(extra[i]) : 80);
    memcpy(hdr + 80 * card, "END", 3);
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    char data[2880] = {0, 0, 0, 1};
    CHECK(f && fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(data, 1, 2880, f) == 2880);
    if (f)
        fclose(f);
    return path;
}

TEST(test_fits_header_values_that_crash_cfitsio_are_refused)
{
    /* Found by tests/fuzz/fuzz_fits.c: each aborts the process inside CFITSIO 4.2.0 (ffgtbp). */
    char ttype_bare[81], ttype_tight[81], tnull[81];
    snprintf(ttype_bare, sizeof ttype_bare, "TTYPE1  = %070d", 0);
    snprintf(ttype_tight, sizeof ttype_tight, "TTYPE1  =%071d", 0);
    snprintf(tnull, sizeof tnull, "TNULL1  = '%060d'", 0);
    const char *const cases[][3] = {{ttype_bare, NULL},
                                    {ttype_tight, NULL},
                                    {"TTYPE1  = 'a'", tnull, NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_raw_fits("crash.fits", cases[i]);
        al_error err;
        CHECK(al_survey_load(path, NULL, &err) == NULL);
        CHECK_EQ_INT(err.code, AL_EFORMAT);
        CHECK_ERR_HAS(err, "HDU 1: keyword T");
    }
    const char *const fine[] = {"TTYPE1  = 'ok'", "TNULL1  = -999", NULL};
    al_error err;
    al_tensordict *td = al_survey_load(write_raw_fits("fine.fits", fine), NULL, &err);
    CHECK(td && get_i(td, "ok", 0) == 1);
    al_survey_free(td);
}

TEST(test_fits_sizing_keywords_must_be_integers)
{
    /* Found by fuzzing: a garbled NAXIS2 made CFITSIO ask for gigabytes. */
    const char *const garbled[] = {"NAXIS2  =                \xff\xff\xff\xff", NULL};
    al_error err;
    CHECK(al_survey_load(write_raw_fits("garbled.fits", garbled), NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "HDU 1: keyword NAXIS2 must have an integer value, not \?\?\?\?");
    const char *const many[] = {"TFIELDS =                 5000", NULL};
    CHECK(al_survey_load(write_raw_fits("many.fits", many), NULL, &err) == NULL);
    CHECK_ERR_HAS(err, "HDU 1: TFIELDS = 5000: a table has 0 to 999 columns");
    const char *const text[] = {"PCOUNT  = 'zero'", NULL};
    CHECK(al_survey_load(write_raw_fits("text.fits", text), NULL, &err) == NULL);
    CHECK_ERR_HAS(err, "keyword PCOUNT must have an integer value, not 'zero'");
    /* Legal: a sign, leading zeros past 18 digits, a comment right after the value, and
     * keywords that only begin with NAXIS. */
    const char *const legal[] = {"GCOUNT  =                   +1 / one group",
                                 "NAXIS2  = 00000000000000000001/", "NAXISLBL= 'rows'",
                                 "NAXIS_T = 'a string'", NULL};
    al_tensordict *td = al_survey_load(write_raw_fits("legal.fits", legal), NULL, &err);
    CHECK(td != NULL);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    al_survey_free(td);
}

TEST(test_csv_float_fast_path_agrees_with_strtod_bit_for_bit)
{
    uint64_t s = 12345;
    char buf[400];
    const char *fmts[] = {"%.17g", "%.9g", "%.6f", "%.3e", "%.15g", "%.1f", "%.20g"};
    int mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double v;
        uint64_t bits = s;
        if (i % 3 == 0) {
            memcpy(&v, &bits, 8); /* any double */
            if (isnan(v) || isinf(v))
                continue;
        } else {
            v = (double)(s >> 11) * 0x1.0p-53 * pow(10.0, (double)((int)(s % 40) - 20));
        }
        int len = snprintf(buf, sizeof buf, fmts[i % 7], i % 2 ? v : -v);
        double got = 0, want = strtod(buf, NULL);
        if (!ali_csv_parse_float(buf, (size_t)len, &got) || memcmp(&got, &want, 8) != 0) {
            if (mismatches++ < 5)
                fprintf(stderr, "  '%s': %.17g != strtod's %.17g\n", buf, got, want);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    const char *edge[] = {"0",
                          "-0",
                          "0.0",
                          "1e22",
                          "1e23",
                          "9007199254740993",
                          "4.9e-324",
                          "1.7976931348623157e308",
                          "2.2250738585072014e-308",
                          "0.1",
                          ".5",
                          "5.",
                          "+3",
                          "NaN",
                          "-inf",
                          "Infinity",
                          "123456789012345678901234"};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        double got = 0, want = strtod(edge[i], NULL);
        CHECK(ali_csv_parse_float(edge[i], strlen(edge[i]), &got));
        CHECK(memcmp(&got, &want, 8) == 0 || (isnan(got) && isnan(want)));
    }
    const char *bad[] = {"", ".", "e5", "1e", "1.2.3", "0x10", "1,5", "- 1", "infinit"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double got;
        CHECK(!ali_csv_parse_float(bad[i], strlen(bad[i]), &got));
    }
}

TEST(test_large_load_with_the_prefault_thread_gives_every_value_back)
{
    al_tensordict *td = make_catalog(450000); /* 36 MB of columns: above the prefault minimum */
    const char *path = tmp_path("large.fits");
    al_error err;
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), 0);
    al_tensordict *back = al_survey_load(path, NULL, &err);
    CHECK(back != NULL);
    if (back) {
        check_same(td, back);
        al_survey_free(back);
    }
    al_survey_free(td);
}

/* Runs the built astrolab with `args`; its stdout into buf. Returns the exit status. */
static int run_cli(const char *args, char *buf, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/astrolab %s 2>/dev/null", ASTROLAB_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(buf, 1, len - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(test_cli_survey_info_head_and_optimize)
{
    const char *csv = write_text("cli.csv", "source_id,ra,phot_g_mean_mag,name\n"
                                            "4295806720,44.5,17.25,\"a,b\"\n"
                                            "34361129088,,16.5,c\n"
                                            "34361129089,45.5,,\n");
    static char out[65536];
    char args[512];
    snprintf(args, sizeof args, "survey info %s --json", csv);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "\"survey\":\t\"Gaia DR3\"") || strstr(out, "\"survey\": \"Gaia DR3\""));
    CHECK(strstr(out, "\"memory_info\"") != NULL);
    CHECK(strstr(out, "\"role\":\t\"mag_g\"") || strstr(out, "\"role\": \"mag_g\""));
    snprintf(args, sizeof args, "survey head %s -n 2 --columns source_id,ra,name --json", csv);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    /* int64 exactly, NaN as null, the quoted comma kept. */
    char compact[65536];
    size_t k = 0;
    for (const char *p = out; *p && k + 1 < sizeof compact; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n')
            compact[k++] = *p;
    compact[k] = '\0';
    CHECK_EQ_STR(compact, "{\"columns\":[\"source_id\",\"ra\",\"name\"],\"rows\":"
                          "[[4295806720,44.5,\"a,b\"],[34361129088,null,\"c\"]]}");
    snprintf(args, sizeof args, "survey head %s -n 1", csv);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "source_id\tra\tphot_g_mean_mag\tname") != NULL);
    const char *opt = tmp_path("cli_opt.fits");
    snprintf(args, sizeof args, "survey optimize %s -o %s --json", csv, opt);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "\"bytes_before\"") != NULL);
    al_error err;
    al_tensordict *a = al_survey_load(csv, NULL, &err), *b = al_survey_load(opt, NULL, &err);
    CHECK(a && b);
    CHECK(a && al_tensordict_optimize_memory(a, NULL, NULL) == AL_OK); /* as the CLI did */
    if (a && b)
        check_same(a, b);
    al_survey_free(a);
    al_survey_free(b);
    snprintf(args, sizeof args, "survey info %s --hdu 5", opt);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    CHECK_EQ_INT(run_cli("survey frobnicate x", out, sizeof out), 2);
    CHECK_EQ_INT(run_cli("survey info", out, sizeof out), 2);
}

/* -------- Column names kept byte for byte; many columns; one definition of missing -------- */

/* The "columns" array of al_survey_info_json(td), parsed; NULL on failure. */
static cJSON *info_columns(const al_tensordict *td, cJSON **doc)
{
    char *json = al_survey_info_json(td);
    *doc = json ? cJSON_Parse(json) : NULL;
    free(json);
    return *doc ? cJSON_GetObjectItem(*doc, "columns") : NULL;
}

static const cJSON *info_column(const cJSON *cols, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        const cJSON *n = cJSON_GetObjectItem(c, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return c;
    }
    return NULL;
}

static int info_nulls(const cJSON *cols, const char *name)
{
    const cJSON *n = cJSON_GetObjectItem(info_column(cols, name), "nulls");
    return cJSON_IsNumber(n) ? n->valueint : -1;
}

TEST(test_column_names_keep_dots_and_backslashes_byte_for_byte)
{
    const char *path = write_text("dots.csv", "ANTENNA NO.,a\\b,x.y,_x\n"
                                              "10,1.5,7,a\n"
                                              "11,2.5,NA,b\n");
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    const char *want[] = {"ANTENNA NO.", "a\\b", "x.y", "_x"};
    for (size_t i = 0, k = 0; i < 4; i++, k++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, k, &e) == AL_OK && e.dict) /* the "_null" masks */
            k++;
        CHECK(al_tensordict_entry_at(td, k, &e) == AL_OK && strcmp(e.name, want[i]) == 0);
        CHECK(al_tensordict_borrow(td, want[i]) != NULL); /* the plain name finds it */
        const al_survey_column *c = al_survey_column_find(td, want[i]);
        CHECK(c && strcmp(c->name, want[i]) == 0);
    }
    CHECK_EQ_INT(get_i(td, "ANTENNA NO\\.", 1), 11);
    const al_survey_column *c = al_survey_column_find(td, "x.y");
    CHECK(c && strcmp(c->key, "x\\.y") == 0 && c == al_survey_column_find(td, "x\\.y"));
    CHECK(meta_col(td, "a\\b") && strcmp(meta_col(td, "a\\b")->key, "a\\\\b") == 0);
    /* The mask of "x.y" (row 1 is NA) under either spelling. */
    const al_tensor *mask = al_survey_null_mask(td, "x.y");
    CHECK(mask && mask == al_survey_null_mask(td, "x\\.y"));
    int64_t missing = -1;
    CHECK(al_survey_missing(td, "x.y", &missing) == AL_OK && missing == 1);
    cJSON *doc;
    cJSON *cols = info_columns(td, &doc);
    CHECK_EQ_INT(cJSON_GetArraySize(cols), 4);
    for (size_t i = 0; i < 4; i++)
        CHECK(info_column(cols, want[i]) != NULL);
    CHECK_EQ_INT(info_nulls(cols, "x.y"), 1);
    cJSON_Delete(doc);
    al_survey_free(td);
    /* The same names in the CLI's head, as JSON. */
    static char out[4096];
    char args[600];
    snprintf(args, sizeof args, "survey head %s --json", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    CHECK(strstr(out, "\"ANTENNA NO.\"") && strstr(out, "\"x.y\"") && strstr(out, "\"a\\\\b\""));
}

TEST(test_astropy_zerowidth_hdu4_keeps_antenna_no_with_its_dot)
{
    const char *path = ASTROPY_DATA "zerowidth.fits";
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "  skipped: %s is missing (install python3-astropy)\n", path);
        return;
    }
    al_survey_options o;
    al_survey_options_init(&o);
    o.hdu = 4;
    al_error err;
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK(al_tensordict_borrow(td, "ANTENNA NO.") != NULL);
    CHECK(!al_tensordict_contains(td, "ANTENNA NO_"));
    CHECK_EQ_INT(get_i(td, "ANTENNA NO.", 0), 10); /* astropy: data['ANTENNA NO.'][0] == 10 */
    cJSON *doc;
    CHECK(info_column(info_columns(td, &doc), "ANTENNA NO.") != NULL);
    cJSON_Delete(doc);
    al_survey_free(td);
}

/* 200,000 columns and one row: a linear search per column name made `survey info` take
 * minutes (5k columns 0.37 s, 40k 48 s). Not timed: it simply has to finish. */
TEST(test_csv_of_200000_columns_loads_and_info_lists_them)
{
    enum { N = 200000 };
    const char *path = tmp_path("wide.csv");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int i = 0; i < N; i++)
        fprintf(f, "%sc%d", i ? "," : "", i);
    fputc('\n', f);
    for (int i = 0; i < N; i++)
        fprintf(f, "%s%d", i ? "," : "", i);
    fputc('\n', f);
    fclose(f);
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT((int)al_tensordict_len(td), N);
    CHECK_EQ_INT(get_i(td, "c199999", 0), 199999);
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m && m->n_columns == N);
    const al_survey_column *c = al_survey_column_find(td, "c123456");
    CHECK(c && strcmp(c->format, "csv:int64") == 0);
    cJSON *doc;
    cJSON *cols = info_columns(td, &doc);
    CHECK_EQ_INT(cJSON_GetArraySize(cols), N);
    cJSON_Delete(doc);
    al_survey_free(td);
    /* Columns chosen by name: exact first, then case-insensitive, each found through a hash. */
    al_survey_options o;
    al_survey_options_init(&o);
    o.columns = (const char *const[]){"C199998", "c5", NULL};
    td = al_survey_load(path, &o, &err);
    CHECK(td && al_tensordict_len(td) == 2);
    CHECK(td && get_i(td, "c199998", 0) == 199998 && get_i(td, "c5", 0) == 5);
    al_survey_free(td);
    /* A second column of one name is refused, found without comparing every pair. */
    f = fopen(path, "wb");
    for (int i = 0; i < N; i++)
        fprintf(f, "%sc%d", i ? "," : "", i == N - 1 ? 7 : i);
    fputs("\n", f);
    fclose(f);
    td = al_survey_load(path, NULL, &err);
    CHECK(td == NULL);
    CHECK_ERR_HAS(err, "'c7' appears twice");
    al_survey_free(td);
}

TEST(test_missing_values_have_one_definition_in_info_and_head)
{
    /* ra: NaN and an empty field; id: NA and a quoted "NA"; name: a quoted "null" and NA;
     * flag: N/A. Each is missing, whatever its spelling or quotes. */
    const char *path = write_text("missing.csv", "ra,id,name,flag\n"
                                                 "nan,1,\"null\",true\n"
                                                 ",NA,NA,N/A\n"
                                                 "1.5,\"NA\",x,false\n"
                                                 "2.5, 4 ,\" y \",True\n");
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(dtype_of(td, "ra"), AL_DTYPE_FLOAT64);
    CHECK_EQ_INT(dtype_of(td, "id"), AL_DTYPE_INT64);
    CHECK_EQ_INT(dtype_of(td, "name"), AL_DTYPE_STRING);
    CHECK_EQ_INT(dtype_of(td, "flag"), AL_DTYPE_BOOL);
    CHECK_EQ_INT(get_i(td, "id", 3), 4);
    CHECK_EQ_STR(get_s(td, "name", 3), " y ");
    int64_t n = -1;
    CHECK(al_survey_missing(td, "ra", &n) == AL_OK && n == 2);
    CHECK(al_survey_missing(td, "id", &n) == AL_OK && n == 2);
    CHECK(al_survey_missing(td, "name", &n) == AL_OK && n == 2);
    CHECK(al_survey_missing(td, "flag", &n) == AL_OK && n == 1);
    CHECK(al_survey_null_mask(td, "ra") == NULL); /* floats: NaN, no mask */
    cJSON *doc;
    cJSON *cols = info_columns(td, &doc);
    CHECK_EQ_INT(info_nulls(cols, "ra"), 2);
    CHECK_EQ_INT(info_nulls(cols, "id"), 2);
    CHECK_EQ_INT(info_nulls(cols, "name"), 2);
    CHECK_EQ_INT(info_nulls(cols, "flag"), 1);
    cJSON_Delete(doc);
    al_survey_free(td);
    /* head shows exactly those as null. */
    static char out[4096];
    char args[600], compact[4096];
    snprintf(args, sizeof args, "survey head %s --json", path);
    CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    size_t k = 0;
    for (const char *p = out; *p && k + 1 < sizeof compact; p++)
        if (*p != '\t' && *p != '\n' && *p != ' ')
            compact[k++] = *p;
    compact[k] = '\0';
    CHECK(strstr(compact, "\"rows\":[[null,1,null,true],[null,null,null,null],[1.5,null,\"x\","
                          "false],[2.5,4,\"y\",true]]") != NULL);
}

/* Writes n bytes of data to tmp file `name`. */
static const char *write_bytes(const char *name, const void *data, size_t n)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
    return p;
}

/* `head -c 600M /dev/zero > z.csv` loaded as a CSV with a column "col1" (after growing the read
 * buffer to 1 GiB). Binary data is refused, from its first block. */
TEST(test_binary_files_are_not_csv)
{
    static char zeros[8192];
    al_error err;
    al_tensordict *td = al_survey_load(write_bytes("zeros.csv", zeros, sizeof zeros), NULL, &err);
    CHECK(td == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "not a CSV file: a NUL byte at offset 0");
    al_survey_free(td);
    /* A NUL in the header line; then one in a later row. */
    static const char nul_head[] = "ra,de\0c\n1,2\n";
    td = al_survey_load(write_bytes("nulhead.csv", nul_head, sizeof nul_head - 1), NULL, &err);
    CHECK(td == NULL);
    CHECK_ERR_HAS(err, "a NUL byte at offset 5");
    static const char nul_row[] = "ra,dec\n1,2\n3,\0\n";
    al_survey_options o;
    al_survey_options_init(&o);
    o.format = AL_SURVEY_FORMAT_CSV; /* forced: the check is the reader's, not only the sniff's */
    td = al_survey_load(write_bytes("nulrow.csv", nul_row, sizeof nul_row - 1), &o, &err);
    CHECK(td == NULL);
    CHECK_ERR_HAS(err, "a NUL byte at offset 13");
    /* A header that is not UTF-8 text. */
    td = al_survey_load(write_text("latin1.csv", "ra,d\xe9\x63\n1,2\n"), NULL, &err);
    CHECK(td == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "field 2 is not UTF-8 text");
    /* UTF-8 names are fine. */
    td = al_survey_load(write_text("utf8.csv", "ra,d\xc3\xa9\x63,\xe2\x84\xab\n1,2,3\n"), NULL,
                        &err);
    CHECK(td && al_tensordict_borrow(td, "d\xc3\xa9\x63") != NULL);
    al_survey_free(td);
}

/* -------- Compressed FITS: gzip, bzip2 (CFITSIO decompresses them), tile-compressed tables */

/* `tool -c src > dst`; false (the test skips that case) when the tool is missing. */
static bool compress_with(const char *tool, const char *src, const char *dst)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null && %s -c '%s' > '%s'", tool, tool, src,
             dst);
    int st = system(cmd);
    if (st != 0)
        fprintf(stderr, "  %s is missing: that case is skipped\n", tool);
    return st == 0;
}

/* Loads `path` and checks it holds what write_all_types wrote. */
static void check_all_types_file(const char *path)
{
    al_error err;
    al_tensordict *td = al_survey_load(path, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s: %s\n", path, err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m && strcmp(m->format, "fits") == 0);
    CHECK_EQ_INT(al_tensordict_batch_size(td), NT);
    CHECK_EQ_INT(get_i(td, "nulled", 1), -999);
    CHECK_EQ_INT(get_i(td, "_null.nulled", 1), 1);
    CHECK(get_d(td, "f32", 2) == 3.25);
    al_survey_free(td);
}

TEST(test_gzip_and_bzip2_fits_load_by_content_whatever_the_name)
{
    const char *plain = write_all_types();
    const char *gz = tmp_path("types.fits.gz"), *bz = tmp_path("types.fits.bz2");
    const char *noext = tmp_path("types_gz.dat");
    if (compress_with("gzip", plain, gz)) {
        check_all_types_file(gz);
        CHECK(compress_with("gzip", plain, noext));
        check_all_types_file(noext); /* found by its magic bytes, 1f 8b */
    }
    /* Debian's CFITSIO 4.2.0 is built with bzip2 (its static libs name -lbz2). */
    if (compress_with("bzip2", plain, bz))
        check_all_types_file(bz);
    /* A gzipped CSV is not read as one: a clear error, not garbage column names. */
    const char *csv = write_text("plain.csv", "ra,dec\n1,2\n");
    const char *csvgz = tmp_path("plain.csv.gz");
    if (compress_with("gzip", csv, csvgz)) {
        al_error err;
        CHECK(al_survey_load(csvgz, NULL, &err) == NULL);
        CHECK_EQ_INT(err.code, AL_EFORMAT);
        CHECK_ERR_HAS(err, "compressed CSV is not read");
    }
    /* xz and zstd: CFITSIO cannot read them; said so. */
    al_error err;
    static const char xz[] = "\xfd"
                             "7zXZ\0\0\4\xe6\xd6\xb4\x46";
    CHECK(al_survey_load(write_bytes("types.fits.xz", xz, sizeof xz - 1), NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EUNSUPPORTED);
    CHECK_ERR_HAS(err, "compressed with xz, which CFITSIO cannot read");
}

TEST(test_gzipped_truncated_table_is_refused_as_truncated)
{
    /* CFITSIO reads the decompressed copy in memory: the file's own size says nothing. */
    al_tensordict *td = make_catalog(500);
    const char *path = tmp_path("trunc_gz.fits"), *gz = tmp_path("trunc_gz.fits.gz");
    al_error err;
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), 0);
    al_survey_free(td);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size / 2) == 0);
    if (!compress_with("gzip", path, gz))
        return;
    CHECK(al_survey_load(gz, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "truncated");
    CHECK_ERR_HAS(err, "HDU 1");
}

TEST(test_gzipped_headers_that_crash_cfitsio_are_refused_too)
{
    char ttype_bare[81];
    snprintf(ttype_bare, sizeof ttype_bare, "TTYPE1  = %070d", 0);
    const char *const crash[] = {ttype_bare, NULL};
    const char *path = write_raw_fits("crash2.fits", crash), *gz = tmp_path("crash2.fits.gz");
    if (!compress_with("gzip", path, gz))
        return;
    al_error err;
    CHECK(al_survey_load(gz, NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_ERR_HAS(err, "HDU 1: keyword TTYPE1");
}

TEST(test_tile_compressed_table_loads_its_values)
{
    enum { ROWS = 20000 }; /* fits_compress_table leaves small tables uncompressed */
    const char *plain = tmp_path("tiles.fits"), *fz = tmp_path("tiles.fits.fz");
    unlink(plain);
    unlink(fz);
    fitsfile *f, *out;
    int st = 0;
    char *ttype[] = {"id", "x.y", "name"}, *tform[] = {"K", "D", "8A"}, *tunit[] = {"", "deg", ""};
    static long long id[ROWS];
    static double x[ROWS];
    static char text[ROWS][9], *names[ROWS];
    for (int i = 0; i < ROWS; i++) {
        id[i] = (long long)i * 1000003 - 5;
        x[i] = i * 0.25;
        snprintf(text[i], sizeof text[i], "s%d", i % 97);
        names[i] = text[i];
    }
    fits_create_diskfile(&f, (char *)plain, &st);
    fits_create_img(f, BYTE_IMG, 0, NULL, &st);
    fits_create_tbl(f, BINARY_TBL, ROWS, 3, ttype, tform, tunit, "TILES", &st);
    fits_write_col(f, TLONGLONG, 1, 1, 1, ROWS, id, &st);
    fits_write_col(f, TDOUBLE, 2, 1, 1, ROWS, x, &st);
    fits_write_col(f, TSTRING, 3, 1, 1, ROWS, names, &st);
    fits_create_diskfile(&out, (char *)fz, &st);
    fits_copy_hdu(f, out, 0, &st); /* the primary: movabs below leaves f at the table */
    fits_movabs_hdu(f, 2, NULL, &st);
    fits_compress_table(f, out, &st);
    int ztable = 0;
    fits_read_key(out, TLOGICAL, "ZTABLE", &ztable, NULL, &st);
    fits_close_file(out, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    CHECK(ztable); /* really a compressed table */
    al_error err;
    al_tensordict *td = al_survey_load(fz, NULL, &err);
    if (!td)
        fprintf(stderr, "  %s\n", err.message);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensordict_batch_size(td), ROWS);
    CHECK(get_i(td, "id", ROWS - 1) == (long long)(ROWS - 1) * 1000003 - 5);
    CHECK(get_d(td, "x.y", 12345) == 12345 * 0.25);
    CHECK_EQ_STR(get_s(td, "name", 98), "s1");
    const al_survey_meta *m = al_survey_info(td);
    CHECK(m && strcmp(m->extname, "TILES") == 0 && m->hdu == 1);
    const al_survey_column *c = al_survey_column_find(td, "x.y");
    CHECK(c && strcmp(c->unit, "deg") == 0);
    al_survey_free(td);
}

TEST_MAIN()
