/* Tests of multidimensional FITS cells (TDIMn, src/survey/fits_tdim.c): numeric, logical and
 * string cells read into [rows, ...] tensors in C order, saved back with the same TDIM, and a
 * malformed or mismatched TDIM refused with an error that names the keyword. */
#include <fitsio.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "survey_fault.h"
#include "test.h"

/* A 2-row table: img 12E as (4,3), names 30A as (10,3), flags 6L as (3,2) with one missing
 * value, vec 3J without TDIM; `img_tdim` replaces img's TDIM (NULL: none written). */
static const char *write_table(const char *name, const char *img_tdim)
{
    const char *path = test_tmp_path(name);
    unlink(path);
    char *ttype[] = {"img", "names", "flags", "vec"};
    char *tform[] = {"12E", "30A", "6L", "3J"};
    fitsfile *f = NULL;
    int st = 0;
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, 2, 4, ttype, tform, NULL, "CELLS", &st);
    if (img_tdim)
        fits_write_key_str(f, "TDIM1", img_tdim, NULL, &st);
    fits_write_key_str(f, "TDIM2", "(10,3)", NULL, &st);
    fits_write_key_str(f, "TDIM3", "(3,2)", NULL, &st);
    float img[24];
    for (int i = 0; i < 24; i++)
        img[i] = (float)i;
    char *names[] = {"alpha", "beta", "gamma", "delta", "", "zeta"};
    char flags[12] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
    int vec[6] = {1, 2, 3, 4, 5, 6};
    fits_write_col(f, TFLOAT, 1, 1, 1, 24, img, &st);
    /* With TDIM2 written first, CFITSIO writes the column as strings of 10. */
    fits_write_col(f, TSTRING, 2, 1, 1, 6, names, &st);
    fits_write_col(f, TLOGICAL, 3, 1, 1, 12, flags, &st);
    fits_write_col_null(f, 3, 2, 4, 1, &st); /* row 2, element 4: missing */
    fits_write_col(f, TINT, 4, 1, 1, 6, vec, &st);
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    return path;
}

static void check_shape(const al_tensordict *td, const char *key, int ndim, const int64_t *shape)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_EQ_INT(al_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim && d < al_tensor_ndim(t); d++)
        CHECK_EQ_INT(al_tensor_shape(t)[d], shape[d]);
}

static void check_cells(const al_tensordict *td)
{
    check_shape(td, "img", 3, (int64_t[]){2, 3, 4});
    const float *img = al_tensor_data(al_tensordict_borrow(td, "img"));
    /* C order [row][3][4] is the file's order: element (r, j, i) is 12 r + 4 j + i. */
    CHECK(img && img[0] == 0.0f && img[4 * 2 + 1] == 9.0f && img[12 + 4 * 1 + 3] == 19.0f);
    check_shape(td, "names", 2, (int64_t[]){2, 3});
    const al_tensor *names = al_tensordict_borrow(td, "names");
    CHECK_EQ_INT(al_tensor_itemsize(names), 10);
    const char *s = al_tensor_data(names);
    CHECK(s && strcmp(s, "alpha") == 0 && strcmp(s + 20, "gamma") == 0 && strcmp(s + 40, "") == 0 &&
          strcmp(s + 50, "zeta") == 0);
    check_shape(td, "flags", 3, (int64_t[]){2, 2, 3});
    check_shape(td, "_null.flags", 3, (int64_t[]){2, 2, 3});
    const unsigned char *nulls = al_tensor_data(al_tensordict_borrow(td, "_null.flags"));
    CHECK(nulls && nulls[6 + 3] == 1 && nulls[6 + 2] == 0 && nulls[0] == 0);
    check_shape(td, "vec", 2, (int64_t[]){2, 3});
}

TEST(test_tdim_cells_load_in_c_order)
{
    al_error err = {0};
    al_tensordict *td = al_survey_load(write_table("cells.fits", "(4,3)"), NULL, &err);
    CHECK(td != NULL);
    if (!td) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    check_cells(td);
    al_survey_free(td);
}

TEST(test_tdim_saved_and_loaded_again)
{
    al_error err = {0};
    al_tensordict *td = al_survey_load(write_table("cells2.fits", "(4,3)"), NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    const char *again = test_tmp_path("cells_again.fits");
    unlink(again);
    CHECK_EQ_INT(al_survey_save_fits(td, again, NULL, &err), AL_OK);
    al_survey_free(td);
    /* The header says what the cells are. */
    fitsfile *f = NULL;
    int st = 0, ncols = 0;
    char value[FLEN_VALUE];
    fits_open_table(&f, again, READONLY, &st);
    fits_get_num_cols(f, &ncols, &st);
    bool img = false, names = false;
    for (int c = 1; c <= ncols && !st; c++) {
        char key[16], ttype[FLEN_VALUE];
        snprintf(key, sizeof key, "TTYPE%d", c);
        fits_read_key(f, TSTRING, key, ttype, NULL, &st);
        snprintf(key, sizeof key, "TDIM%d", c);
        int miss = 0;
        if (fits_read_key(f, TSTRING, key, value, NULL, &miss) != 0) {
            fits_clear_errmsg();
            continue;
        }
        img |= strcmp(ttype, "img") == 0 && strcmp(value, "(4,3)") == 0;
        names |= strcmp(ttype, "names") == 0 && strcmp(value, "(10,3)") == 0;
    }
    fits_close_file(f, &st);
    CHECK(img && names);
    td = al_survey_load(again, NULL, &err);
    CHECK(td != NULL);
    if (td)
        check_cells(td);
    al_survey_free(td);
}

TEST(test_tdim_of_a_new_tensor_round_trips)
{
    al_error err = {0};
    al_tensordict *td = al_tensordict_new(5, AL_CPU, &err);
    al_tensor *cube = al_tensor_new(AL_DTYPE_FLOAT64, 4, (int64_t[]){5, 2, 3, 2}, AL_CPU, &err);
    CHECK(td && cube);
    if (!td || !cube)
        return;
    double *v = al_tensor_data(cube);
    for (int i = 0; i < 60; i++)
        v[i] = i * 0.5;
    CHECK_EQ_INT(al_tensordict_set(td, "cube", cube, 0, &err), AL_OK);
    al_tensor_free(cube);
    const char *path = test_tmp_path("cube.fits");
    unlink(path);
    CHECK_EQ_INT(al_survey_save_fits(td, path, NULL, &err), AL_OK);
    al_tensordict_free(td);
    td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    check_shape(td, "cube", 4, (int64_t[]){5, 2, 3, 2});
    const double *w = al_tensor_data(al_tensordict_borrow(td, "cube"));
    CHECK(w && w[0] == 0.0 && w[59] == 29.5 && w[13] == 6.5);
    al_survey_free(td);
}

/* `astrolab survey head` shows each cell nested as its shape is: text and JSON. */
TEST(test_tdim_cells_in_survey_head)
{
    const char *path = write_table("head.fits", "(4,3)");
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "%s/astrolab survey head %s --columns img,names,flags --json",
             ASTROLAB_BUILD_DIR, path);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    CHECK(p && pclose(p) == 0);
    char compact[4096];
    size_t k = 0;
    for (const char *c = out; *c && k + 1 < sizeof compact; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n')
            compact[k++] = *c;
    compact[k] = '\0';
    const char *row1 = "[[[0,1,2,3],[4,5,6,7],[8,9,10,11]],[\"alpha\",\"beta\",\"gamma\"],"
                       "[[true,false,true],[true,false,false]]]";
    const char *flags2 = "[[false,true,true],[null,true,true]]";
    if (!strstr(compact, row1) || !strstr(compact, flags2))
        fprintf(stderr, "  survey head --json gave %s\n", compact);
    CHECK(strstr(compact, row1) != NULL);
    CHECK(strstr(compact, flags2) != NULL);
}

/* Out of memory at every allocation of loading TDIM cells, strings and masks: AL_ENOMEM, and
 * nothing left behind. */
TEST(test_tdim_load_under_fault_injection_leaks_nothing)
{
    fault_loop(write_table("fault.fits", "(4,3)"), NULL);
}

static void check_refused(const char *tdim, const char *expect)
{
    al_error err = {0};
    al_tensordict *td = al_survey_load(write_table("bad.fits", tdim), NULL, &err);
    CHECK(td == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    if (!strstr(err.message, expect))
        fprintf(stderr, "  TDIM '%s': message '%s' lacks '%s'\n", tdim, err.message, expect);
    CHECK(strstr(err.message, expect) != NULL);
    al_survey_free(td);
}

TEST(test_tdim_malformed_or_mismatched_is_refused)
{
    check_refused("(4,4)", "column 'img': TDIM1 = '(4,4)' does not hold the 12 elements TFORM "
                           "declares");
    check_refused("(4,x)", "TDIM1 = '(4,x)' is not a list of 1 to 7 axis lengths");
    check_refused("4,3", "is not a list");
    check_refused("(4,3", "is not a list");
    check_refused("(12,0)", "does not hold the 12 elements");
    check_refused("(-12)", "is not a list");
    check_refused("(1,1,1,1,1,1,1,12)", "is not a list of 1 to 7");
    check_refused("(99999999999,1)", "is not a list");
    check_refused("(12) junk", "is not a list");
    /* Axes whose product overflows 64 bits (and wraps to a small number) are refused. */
    check_refused("(65536,65536,65536,65536,12)", "does not hold the 12 elements");
}

/* Shapes at the edges: an empty cell axis, [rows, 1], bits with a shape. */
TEST(test_tdim_edge_shapes_round_trip)
{
    al_error err = {0};
    al_tensordict *td = al_tensordict_new(3, AL_CPU, &err);
    const int64_t shapes[][3] = {{3, 0, 4}, {3, 4, 0}, {3, 1, 0}};
    const char *names[] = {"empty_mid", "empty_last", "column"};
    for (int i = 0; td && i < 3; i++) {
        int nd = i == 2 ? 2 : 3;
        al_tensor *t = al_tensor_new(AL_DTYPE_FLOAT32, nd, shapes[i], AL_CPU, &err);
        CHECK(t != NULL);
        if (i == 2 && t)
            for (int r = 0; r < 3; r++)
                ((float *)al_tensor_data(t))[r] = (float)r + 0.5f;
        CHECK(t && al_tensordict_set(td, names[i], t, 0, &err) == AL_OK);
        al_tensor_free(t);
    }
    const char *path = test_tmp_path("edges.fits");
    unlink(path);
    CHECK(td && al_survey_save_fits(td, path, NULL, &err) == AL_OK);
    al_tensordict_free(td);
    td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    check_shape(td, "empty_mid", 3, (int64_t[]){3, 0, 4});
    check_shape(td, "empty_last", 3, (int64_t[]){3, 4, 0});
    check_shape(td, "column", 2, (int64_t[]){3, 1});
    const float *v = al_tensor_data(al_tensordict_borrow(td, "column"));
    CHECK(v && v[2] == 2.5f);
    al_survey_free(td);

    /* 16 bits per row shaped (8,2): [rows, 2, 8] bools, most significant bit first. */
    path = test_tmp_path("bits.fits");
    unlink(path);
    char *ttype[] = {"bits"}, *tform[] = {"16X"};
    fitsfile *f = NULL;
    int st = 0;
    fits_create_diskfile(&f, (char *)path, &st);
    fits_create_tbl(f, BINARY_TBL, 1, 1, ttype, tform, NULL, "BITS", &st);
    fits_write_key_str(f, "TDIM1", "(8,2)", NULL, &st);
    unsigned char bytes[2] = {0x80, 0x01};
    fits_write_col(f, TBYTE, 1, 1, 1, 2, bytes, &st); /* the bits' bytes, as CFITSIO packs them */
    fits_close_file(f, &st);
    CHECK_EQ_INT(st, 0);
    td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (td) {
        check_shape(td, "bits", 3, (int64_t[]){1, 2, 8});
        const unsigned char *b = al_tensor_data(al_tensordict_borrow(td, "bits"));
        CHECK(b && b[0] == 1 && b[1] == 0 && b[14] == 0 && b[15] == 1);
    }
    al_survey_free(td);
}

TEST_MAIN()
