/* The Gaia DR3-like catalog of `astrolab demo` (demo_survey.c) and of the survey benchmark
 * (bench/bench_survey.c, which compiles tools/gaia_like.c in): gaia_source columns with their
 * declared types and units, and one deterministic row generator, so both draw the same stars.
 * Each program picks its columns from the table; the values of the demo's columns come from
 * one stream of the generator and the others from a second, so that adding a column to one
 * program never changes the other's catalog. */
#ifndef ASTROLAB_GAIA_LIKE_H
#define ASTROLAB_GAIA_LIKE_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* int64_t, uint64_t */

#include "astrolab/astrolab.h" /* al_dtype, al_tensor, al_tensordict */

/* The columns, in gaia_source's order. */
typedef enum gaia_like_col {
    GL_SOURCE_ID,
    GL_DESIGNATION,
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
    GL_PHOT_VARIABLE_FLAG,
    GL_DUPLICATED_SOURCE,
    GL_N_COLS,
} gaia_like_col;

typedef struct gaia_like_column {
    const char *name;
    const char *unit; /* "" when none */
    al_dtype dtype;   /* as gaia_source declares it */
    size_t width;     /* strings: bytes; else 0 */
} gaia_like_column;

extern const gaia_like_column gaia_like_columns[GL_N_COLS];

/* One row's values. */
typedef struct gaia_like_row {
    int64_t source_id;
    double value[GL_N_COLS];     /* the other numeric and bool columns (NaN: missing) */
    const char *text[GL_N_COLS]; /* string columns: NUL-terminated, at most their width */
    char designation[40];        /* text[GL_DESIGNATION] points here */
} gaia_like_row;

/* The generator's state: two streams of a fixed seed. */
typedef struct gaia_like {
    uint64_t main;  /* the demo's columns */
    uint64_t extra; /* the others */
} gaia_like;

void gaia_like_init(gaia_like *g);
/* Row i (rows are drawn in order: call with i = 0, 1, 2, ...). */
void gaia_like_next(gaia_like *g, int64_t i, gaia_like_row *r);

/* A tensordict of `rows` rows of the n columns `cols` (their units set, survey "Gaia DR3"),
 * or NULL with err filled. Free it with al_survey_free. */
al_tensordict *gaia_like_catalog(int64_t rows, const gaia_like_col *cols, size_t n, al_error *err);

#endif
