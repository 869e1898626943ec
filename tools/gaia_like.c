/* The Gaia DR3-like catalog generator shared by `astrolab demo` and bench/bench_survey.c (see
 * gaia_like.h). Deterministic: splitmix64 streams of fixed seeds. */
#include "gaia_like.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const gaia_like_column gaia_like_columns[GL_N_COLS] = {
    [GL_SOURCE_ID] = {"source_id", "", AL_DTYPE_INT64, 0},
    [GL_DESIGNATION] = {"designation", "", AL_DTYPE_STRING, 28},
    [GL_REF_EPOCH] = {"ref_epoch", "yr", AL_DTYPE_FLOAT64, 0},
    [GL_RA] = {"ra", "deg", AL_DTYPE_FLOAT64, 0},
    [GL_RA_ERROR] = {"ra_error", "mas", AL_DTYPE_FLOAT32, 0},
    [GL_DEC] = {"dec", "deg", AL_DTYPE_FLOAT64, 0},
    [GL_DEC_ERROR] = {"dec_error", "mas", AL_DTYPE_FLOAT32, 0},
    [GL_PARALLAX] = {"parallax", "mas", AL_DTYPE_FLOAT64, 0},
    [GL_PARALLAX_ERROR] = {"parallax_error", "mas", AL_DTYPE_FLOAT32, 0},
    [GL_PM] = {"pm", "mas.yr**-1", AL_DTYPE_FLOAT32, 0},
    [GL_PMRA] = {"pmra", "mas.yr**-1", AL_DTYPE_FLOAT64, 0},
    [GL_PMRA_ERROR] = {"pmra_error", "mas.yr**-1", AL_DTYPE_FLOAT32, 0},
    [GL_PMDEC] = {"pmdec", "mas.yr**-1", AL_DTYPE_FLOAT64, 0},
    [GL_PMDEC_ERROR] = {"pmdec_error", "mas.yr**-1", AL_DTYPE_FLOAT32, 0},
    [GL_RUWE] = {"ruwe", "", AL_DTYPE_FLOAT32, 0},
    [GL_ASTROMETRIC_PARAMS_SOLVED] = {"astrometric_params_solved", "", AL_DTYPE_INT16, 0},
    [GL_PHOT_G_MEAN_MAG] = {"phot_g_mean_mag", "mag", AL_DTYPE_FLOAT32, 0},
    [GL_PHOT_BP_MEAN_MAG] = {"phot_bp_mean_mag", "mag", AL_DTYPE_FLOAT32, 0},
    [GL_PHOT_RP_MEAN_MAG] = {"phot_rp_mean_mag", "mag", AL_DTYPE_FLOAT32, 0},
    [GL_BP_RP] = {"bp_rp", "mag", AL_DTYPE_FLOAT32, 0},
    [GL_RADIAL_VELOCITY] = {"radial_velocity", "km.s**-1", AL_DTYPE_FLOAT32, 0},
    [GL_PHOT_VARIABLE_FLAG] = {"phot_variable_flag", "", AL_DTYPE_STRING, 13},
    [GL_DUPLICATED_SOURCE] = {"duplicated_source", "", AL_DTYPE_BOOL, 0},
};

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(next(s) >> 11) * 0x1.0p-53; }

void gaia_like_init(gaia_like *g) { *g = (gaia_like){0xA57201AB5EED2026ull, 0x5EEDull}; }

void gaia_like_next(gaia_like *g, int64_t i, gaia_like_row *r)
{
    uint64_t *m = &g->main, *x = &g->extra;
    double *v = r->value;
    /* The demo's columns, drawn in the order its catalog has always been drawn. */
    r->source_id = (int64_t)((uint64_t)i * 137438953472ull + (next(m) & 0xFFFFFFFull));
    double gmag = 8.0 + 13.0 * pow(uniform(m), 0.35);
    double plx = 0.05 + 4.0 * pow(uniform(m), 4.0);
    snprintf(r->designation, sizeof r->designation, "Gaia DR3 %lld", (long long)r->source_id);
    r->text[GL_DESIGNATION] = r->designation;
    v[GL_SOURCE_ID] = (double)r->source_id;
    v[GL_REF_EPOCH] = 2016.0;
    v[GL_RA] = 360.0 * uniform(m);
    v[GL_RA_ERROR] = 0.01 + 0.3 * uniform(m);
    v[GL_DEC] = asin(2.0 * uniform(m) - 1.0) * 180.0 / M_PI;
    v[GL_DEC_ERROR] = 0.01 + 0.3 * uniform(m);
    v[GL_PARALLAX] = plx;
    v[GL_PMRA] = 30.0 * (uniform(m) - 0.5);
    v[GL_PMDEC] = 30.0 * (uniform(m) - 0.5);
    v[GL_ASTROMETRIC_PARAMS_SOLVED] = gmag < 19.0 ? 31 : 95;
    v[GL_PHOT_G_MEAN_MAG] = gmag;
    v[GL_PHOT_BP_MEAN_MAG] = gmag + 0.2 + 0.6 * uniform(m);
    v[GL_PHOT_RP_MEAN_MAG] = gmag - 0.5 - 0.5 * uniform(m);
    v[GL_RADIAL_VELOCITY] = gmag < 14.0 ? 60.0 * (uniform(m) - 0.5) : NAN;
    r->text[GL_PHOT_VARIABLE_FLAG] = uniform(m) < 0.02 ? "VARIABLE" : "NOT_AVAILABLE";
    v[GL_DUPLICATED_SOURCE] = uniform(m) < 0.01;
    /* The others: their own stream, or derived. */
    v[GL_PARALLAX_ERROR] = 0.01 + 0.3 * uniform(x);
    v[GL_PMRA_ERROR] = 0.01 + 0.3 * uniform(x);
    v[GL_PMDEC_ERROR] = 0.01 + 0.3 * uniform(x);
    v[GL_RUWE] = 0.8 + 0.6 * uniform(x);
    v[GL_PM] = hypot(v[GL_PMRA], v[GL_PMDEC]);
    v[GL_BP_RP] = v[GL_PHOT_BP_MEAN_MAG] - v[GL_PHOT_RP_MEAN_MAG];
}

/* Sets element i of t, column c, from r. */
static int set(al_tensor *t, int64_t i, gaia_like_col c, const gaia_like_row *r)
{
    switch (gaia_like_columns[c].dtype) {
    case AL_DTYPE_STRING:
        return al_tensor_set_string(t, &i, r->text[c], strlen(r->text[c]));
    case AL_DTYPE_FLOAT32:
    case AL_DTYPE_FLOAT64:
        return al_tensor_set_double(t, &i, r->value[c]);
    default:
        return al_tensor_set_int64(t, &i, c == GL_SOURCE_ID ? r->source_id : (int64_t)r->value[c]);
    }
}

al_tensordict *gaia_like_catalog(int64_t rows, const gaia_like_col *cols, size_t n, al_error *err)
{
    al_tensordict *td = al_tensordict_new(rows, AL_CPU, err);
    al_tensor *t[GL_N_COLS] = {0};
    int rc = td ? AL_OK : AL_ENOMEM;
    if (n > GL_N_COLS)
        rc = al_error_set(err, AL_EINVAL, "%zu columns asked, the catalog has %d", n, GL_N_COLS);
    for (size_t c = 0; rc == AL_OK && c < n; c++) {
        const gaia_like_column *k = &gaia_like_columns[cols[c]];
        t[c] = k->dtype == AL_DTYPE_STRING ? al_tensor_new_string(1, &rows, k->width, AL_CPU, err)
                                           : al_tensor_new(k->dtype, 1, &rows, AL_CPU, err);
        rc = t[c] ? AL_OK : AL_ENOMEM;
    }
    gaia_like g;
    gaia_like_init(&g);
    gaia_like_row r;
    for (int64_t i = 0; rc == AL_OK && i < rows; i++) {
        gaia_like_next(&g, i, &r);
        for (size_t c = 0; rc == AL_OK && c < n; c++)
            if ((rc = set(t[c], i, cols[c], &r)) != AL_OK)
                al_error_set(err, rc, "row %lld, column %s: cannot set the value", (long long)i,
                             gaia_like_columns[cols[c]].name);
    }
    for (size_t c = 0; rc == AL_OK && c < n; c++) {
        const gaia_like_column *k = &gaia_like_columns[cols[c]];
        rc = al_tensordict_set(td, k->name, t[c], 0, err);
        if (rc == AL_OK && *k->unit && (rc = al_survey_set_column(td, k->name, k->unit, NULL)))
            al_error_set(err, rc, "column %s: cannot set its unit", k->name);
    }
    if (rc == AL_OK && (rc = al_survey_set_name(td, "Gaia DR3")) != AL_OK)
        al_error_set(err, rc, "cannot set the survey name");
    for (size_t c = 0; c < n && c < GL_N_COLS; c++)
        al_tensor_free(t[c]);
    if (rc != AL_OK) {
        al_survey_free(td);
        return NULL;
    }
    return td;
}
