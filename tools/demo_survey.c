/* The survey part of `astrolab demo` (called from cmd_demo.c's run_stages): a realistic
 * Gaia-like catalog written as FITS to a temporary directory, loaded with al_survey_load inside
 * a memory-managed scope, its memory_info, the lossless optimization, derived columns flagged
 * temporary and cleared, the diagnosis and a forced cleanup; then the real Tycho-2 V_T
 * magnitudes from Debian's astrometry-data-tycho2 package when it is installed. Every step
 * shows the memory figures. Deterministic: a fixed-seed generator. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "cli.h"
#include "demo_out.h"
#include "demo_survey.h"
#include "gaia_like.h"

#define SURVEY_ROWS 200000
#define TYCHO2 "/usr/share/astrometry/index-tycho2-10.littleendian.fits"
#define TYCHO2_MAG_HDU 13

static void put_memory_info(demo_out *o, const al_tensordict *td)
{
    if (o->json) {
        demo_put_raw(o, "memory_info", al_tensordict_memory_info_json(td));
        return;
    }
    al_tensordict_meminfo mi;
    if (al_tensordict_memory_info(td, &mi) != AL_OK) {
        o->failed = true;
        return;
    }
    char a[32];
    printf("  memory_info: %s in %llu tensors\n", cli_format_bytes(mi.total_bytes, a, sizeof a),
           (unsigned long long)mi.n_tensors);
    for (size_t i = 0; i < mi.n_rows; i++)
        printf("    %-24s %-8s %10s%s%s\n", mi.rows[i].name, al_dtype_name(mi.rows[i].dtype),
               cli_format_bytes(mi.rows[i].bytes, a, sizeof a),
               mi.rows[i].temporary ? "  temporary" : "", mi.rows[i].encoded ? "  encoded" : "");
    al_tensordict_memory_info_release(&mi);
}

/* -------- The catalog -------- */

/* The demo's columns of the shared Gaia-like catalog (gaia_like.h). */
static const gaia_like_col demo_cols[] = {
    GL_SOURCE_ID,
    GL_DESIGNATION,
    GL_REF_EPOCH,
    GL_RA,
    GL_RA_ERROR,
    GL_DEC,
    GL_DEC_ERROR,
    GL_PARALLAX,
    GL_PMRA,
    GL_PMDEC,
    GL_ASTROMETRIC_PARAMS_SOLVED,
    GL_PHOT_G_MEAN_MAG,
    GL_PHOT_BP_MEAN_MAG,
    GL_PHOT_RP_MEAN_MAG,
    GL_RADIAL_VELOCITY,
    GL_PHOT_VARIABLE_FLAG,
    GL_DUPLICATED_SOURCE,
};
#define N_DEMO_COLS (sizeof demo_cols / sizeof demo_cols[0])

/* Builds the catalog and writes it to path; 0, or -1 after reporting. */
static int write_catalog(demo_out *o, const char *path)
{
    al_error err = {0};
    al_tensordict *td = gaia_like_catalog(SURVEY_ROWS, demo_cols, N_DEMO_COLS, &err);
    int rc = td ? al_survey_save_fits(td, path, NULL, &err) : err.code;
    al_survey_free(td);
    if (rc != AL_OK) {
        cli_fail("demo", "cannot write the Gaia-like catalog: %s", err.message);
        return -1;
    }
    struct stat sb;
    demo_put_count(o, "rows", NULL, SURVEY_ROWS);
    demo_put_count(o, "columns", NULL, N_DEMO_COLS);
    demo_put_bytes(o, "file_bytes", NULL, stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0);
    cli_note(o->json, "written to %s", path);
    return 0;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    cli_progress *p = user;
    p->total = total;
    cli_progress_update(p, done);
}

/* Adds derived columns flagged temporary: distance and absolute magnitude. */
static int add_temporaries(al_tensordict *td, const char *prefix)
{
    al_error err;
    const al_tensor *plx = al_tensordict_borrow(td, "parallax");
    const al_tensor *g = al_tensordict_borrow(td, "phot_g_mean_mag");
    if (!plx || !g)
        return AL_ENOTFOUND;
    int64_t n = al_tensordict_batch_size(td);
    al_tensor *dist = al_tensor_new(AL_DTYPE_FLOAT64, 1, &n, AL_CPU, &err);
    al_tensor *absg = al_tensor_new(AL_DTYPE_FLOAT64, 1, &n, AL_CPU, &err);
    int rc = dist && absg ? AL_OK : AL_ENOMEM;
    for (int64_t i = 0; rc == AL_OK && i < n; i++) {
        double p = 0, m = 0;
        rc = al_tensor_get_double(plx, &i, &p) | al_tensor_get_double(g, &i, &m);
        double d = p > 0 ? 1000.0 / p : NAN;
        ((double *)al_tensor_data(dist))[i] = d;
        ((double *)al_tensor_data(absg))[i] = m - 5.0 * log10(d / 10.0);
    }
    char k1[64], k2[64];
    snprintf(k1, sizeof k1, "%sdistance_pc", prefix);
    snprintf(k2, sizeof k2, "%sabs_g_mag", prefix);
    if (rc == AL_OK)
        rc = al_tensordict_set(td, k1, dist, AL_ENTRY_TEMPORARY, &err);
    if (rc == AL_OK)
        rc = al_tensordict_set(td, k2, absg, AL_ENTRY_TEMPORARY, &err);
    al_tensor_free(dist);
    al_tensor_free(absg);
    return rc;
}

/* The catalog's bytes (al_tensordict_nbytes); a failure fails the step. */
static uint64_t td_bytes(demo_out *o, const al_tensordict *td)
{
    uint64_t b = 0;
    if (al_tensordict_nbytes(td, &b) != AL_OK)
        o->failed = true;
    return b;
}

/* Load, memory_info, optimize, temporaries, diagnosis, forced cleanup. */
static int gaia_steps(demo_out *o, const char *path)
{
    demo_step(o, "survey", "survey_load", "al_survey_load in scope \"survey\"");
    cli_progress p;
    cli_progress_begin(&p, "astrolab demo: loading FITS", SURVEY_ROWS);
    al_survey_options opts;
    al_survey_options_init(&opts);
    opts.progress = on_progress;
    opts.progress_user = &p;
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, &opts, &err);
    cli_progress_end(&p);
    if (!td) {
        cli_fail("demo", "%s", err.message);
        return -1;
    }
    const al_survey_meta *m = al_survey_info(td);
    cli_note(o->json, "survey recognised: %s; %zu columns with units and roles", m->survey,
             m->n_columns);
    demo_put_check(o, "survey_is_gaia_dr3", NULL, strcmp(m->survey, "Gaia DR3") == 0);
    put_memory_info(o, td);
    demo_put_stats(o, NULL);

    demo_step(o, "survey", "survey_optimize", "al_tensordict_optimize_memory (lossless)");
    al_optimize_report rep;
    if (al_tensordict_optimize_memory(td, NULL, &rep) == AL_OK) {
        demo_put_bytes(o, "bytes_before", NULL, rep.bytes_before);
        demo_put_bytes(o, "bytes_after", NULL, rep.bytes_after);
        for (size_t i = 0; !o->json && i < rep.n_entries; i++)
            if (rep.entries[i].action)
                cli_note(o->json, "%-26s %s -> %s", rep.entries[i].name,
                         al_dtype_name(rep.entries[i].dtype_before),
                         al_dtype_name(rep.entries[i].dtype_after));
        demo_put_check(o, "saved_memory", NULL, rep.bytes_after < rep.bytes_before);
        al_optimize_report_release(&rep);
    } else
        demo_put_check(o, "optimize_ran", NULL, false);
    demo_put_stats(o, NULL);

    demo_step(o, "survey", "survey_temporaries", "derived columns flagged temporary, then cleared");
    int rc = add_temporaries(td, "");
    uint64_t with = td_bytes(o, td);
    demo_put_bytes(o, "bytes_with_temporaries", NULL, with);
    int dropped = rc == AL_OK ? al_tensordict_clear_temp_tensors(td) : -1;
    demo_put_count(o, "dropped", NULL, dropped < 0 ? 0 : (uint64_t)dropped);
    demo_put_bytes(o, "bytes_after_clear", NULL, td_bytes(o, td));
    demo_put_check(o, "temporaries_dropped", NULL, dropped == 2);
    demo_put_stats(o, NULL);

    demo_step(o, "survey", "survey_diagnosis", "diagnosis and a forced cleanup");
    al_diagnosis *d = al_diagnose_memory_leaks();
    if (d) {
        if (o->json) {
            demo_put_raw(o, "diagnosis", al_diagnosis_json(d));
        } else {
            char *text = al_diagnosis_text(d);
            if (text)
                fputs(text, stdout);
            else
                o->failed = true;
            free(text);
        }
        al_diagnosis_free(d);
    } else {
        o->failed = true;
    }
    rc = add_temporaries(td, "scratch_"); /* what the forced cleanup gives back */
    uint64_t before = td_bytes(o, td);
    al_cleanup_result cr = al_force_comprehensive_cleanup();
    demo_put_count(o, "callbacks_run", NULL, cr.callbacks_run);
    demo_put_bytes(o, "bytes_released", NULL, cr.bytes_released);
    demo_put_bytes(o, "catalog_bytes_before", NULL, before);
    demo_put_bytes(o, "catalog_bytes_after", NULL, td_bytes(o, td));
    demo_put_check(o, "cleanup_dropped_temporaries", NULL,
                   rc == AL_OK && !al_tensordict_contains(td, "scratch_distance_pc"));
    demo_put_stats(o, NULL);
    al_survey_free(td);
    return 0;
}

/* The real Tycho-2 V_T magnitudes, when the Debian package is installed. */
static void tycho2_step(demo_out *o)
{
    demo_step(o, "survey", "survey_tycho2", "real Tycho-2 magnitudes from astrometry.net's index");
    struct stat sb;
    if (stat(TYCHO2, &sb) != 0) {
        cli_note(o->json,
                 "%s not installed (apt install astrometry-data-tycho2-10-19-littleendian)",
                 TYCHO2);
        if (o->json)
            demo_track(o, cJSON_AddBoolToObject(o->step, "available", false));
        return;
    }
    al_survey_options opts;
    al_survey_options_init(&opts);
    opts.hdu = TYCHO2_MAG_HDU;
    al_error err = {0};
    al_tensordict *td = al_survey_load(TYCHO2, &opts, &err);
    if (!td) {
        cli_fail("demo", "%s", err.message);
        o->failed = true;
        return;
    }
    const al_tensor *vt = al_tensordict_borrow(td, "MAG_VT");
    int64_t n = al_tensordict_batch_size(td);
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t i = 0; vt && i < n; i++) {
        double v = ((const float *)al_tensor_data(vt))[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    if (o->json) {
        demo_track(o, cJSON_AddBoolToObject(o->step, "available", true));
        demo_put_text(o, "file", NULL, TYCHO2);
        demo_put_count(o, "stars", NULL, (uint64_t)n);
        demo_put_number(o, "vt_min", NULL, lo, "mag");
        demo_put_number(o, "vt_max", NULL, hi, "mag");
        demo_put_number(o, "vt_mean", NULL, n ? sum / (double)n : 0, "mag");
    } else {
        cli_note(o->json, "%s HDU %d: %lld stars, V_T %.2f..%.2f mag (mean %.2f); survey %s",
                 TYCHO2, TYCHO2_MAG_HDU, (long long)n, lo, hi, n ? sum / (double)n : 0.0,
                 al_survey_info(td)->survey);
    }
    demo_put_check(o, "tycho2_stars_loaded", NULL, n > 0 && vt != NULL);
    put_memory_info(o, td);
    al_survey_free(td);
    demo_put_stats(o, NULL);
}

int demo_survey_stages(demo_out *o)
{
    char dir[] = "/tmp/astrolab-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        cli_fail("demo", "cannot make a temporary directory: %m");
        return -1;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/gaia_like.fits", dir);
    int rc = -1;
    al_scope *s = al_scope_begin("survey");
    if (s) {
        demo_step(o, "survey", "survey_generate", "a Gaia DR3-like catalog written as FITS");
        rc = write_catalog(o, path);
        if (rc == 0)
            rc = gaia_steps(o, path);
        if (rc == 0)
            tycho2_step(o);
        al_scope_report r = {0}; /* zeros if the end is refused (logged) */
        (void)!al_scope_end(s, &r);
        demo_step(o, "survey", "survey_scope", "the scope \"survey\" ends");
        demo_put_bytes(o, "bytes_allocated", NULL, r.bytes_allocated);
        demo_put_bytes(o, "peak_bytes", NULL, r.peak_bytes);
        demo_put_count(o, "reclaimed_blocks", NULL, r.reclaimed_blocks);
        demo_put_stats(o, NULL);
    } else
        cli_fail("demo", "out of memory beginning scope \"survey\"");
    unlink(path);
    rmdir(dir);
    return rc;
}
