/* A partitioned Gaia-like catalog selection under MPI, with libastrolab_mpi:
 *
 *     mpirun -np 4 mpi_gaia_select [CATALOG.csv|.fits] [OUT.fits]
 *
 * Every rank loads its part of the catalog (without CATALOG, rank 0 first writes a synthetic
 * Gaia-like one of 20,000 stars), keeps the bright, nearby stars (G < 16 mag, parallax > 2 mas),
 * narrows the columns the same way on every rank, prints the job's memory diagnosis and
 * statistics, and writes the selection as one FITS file (default gaia_selection.fits), which rank
 * 0 reads back to check. Any failure on any rank ends every rank with the error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <astrolab/astrolab.h>
#include <astrolab/mpi.h>

static int rank;

/* Rank 0 writes a synthetic catalog with Gaia DR3's column names. */
static int write_catalog(const char *path, int rows)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "source_id,ra,dec,parallax,pmra,pmdec,phot_g_mean_mag,phot_bp_mean_mag\n");
    unsigned s = 12345;
    for (int i = 0; i < rows; i++) {
        s = s * 1103515245u + 12345u;
        double u = (s >> 8) / 16777216.0;
        fprintf(f, "%lld,%.6f,%.6f,%.4f,%.3f,%.3f,%.4f,%.4f\n", 4295806720LL + i * 7LL,
                fmod(i * 0.37, 360.0), -60.0 + fmod(i * 0.011, 120.0), 0.1 + 9.9 * u * u,
                (u - 0.5) * 40, (0.5 - u) * 30, 9.0 + 12.0 * u, 9.3 + 12.5 * u);
    }
    return fclose(f);
}

/* The rows of td where keep[i], as a new tensordict with td's survey metadata. */
static al_tensordict *select_rows(const al_tensordict *td, const unsigned char *keep, al_error *err)
{
    int64_t n = al_tensordict_batch_size(td), k = 0;
    for (int64_t i = 0; i < n; i++)
        k += keep[i];
    al_tensordict *out = al_tensordict_new(k, AL_CPU, err);
    const al_survey_meta *m = al_survey_info(td);
    for (size_t e = 0; out && e < al_tensordict_len(td); e++) {
        al_tensordict_entry en;
        if (al_tensordict_entry_at(td, e, &en) != AL_OK || !en.tensor)
            continue;
        const al_tensor *t = en.tensor;
        int64_t shape[AL_TENSOR_MAX_DIMS];
        memcpy(shape, al_tensor_shape(t), sizeof(int64_t) * (size_t)al_tensor_ndim(t));
        size_t row = (size_t)(al_tensor_nbytes(t) / (uint64_t)(n ? n : 1));
        shape[0] = k;
        al_tensor *c =
            al_tensor_dtype(t) == AL_DTYPE_STRING
                ? al_tensor_new_string(al_tensor_ndim(t), shape, al_tensor_itemsize(t), AL_CPU, err)
                : al_tensor_new(al_tensor_dtype(t), al_tensor_ndim(t), shape, AL_CPU, err);
        char key[512];
        int ok = c && al_tensordict_key_escape(en.name, key, sizeof key) < sizeof key;
        for (int64_t i = 0, j = 0; ok && i < n; i++)
            if (keep[i])
                memcpy((char *)al_tensor_data(c) + row * (size_t)j++,
                       (const char *)al_tensor_data(t) + row * (size_t)i, row);
        if (!ok || al_tensordict_set(out, key, c, 0, err) != AL_OK) {
            al_tensor_free(c);
            al_tensordict_free(out);
            return NULL;
        }
        al_tensor_free(c);
    }
    for (size_t j = 0; out && m && j < m->n_columns; j++)
        if (al_survey_set_column(out, m->columns[j].key, m->columns[j].unit, m->columns[j].role) !=
            AL_OK) {
            al_survey_free(out);
            return NULL;
        }
    if (out && m && al_survey_set_name(out, m->survey) != AL_OK) {
        al_survey_free(out);
        return NULL;
    }
    return out;
}

/* The bright, nearby stars of this rank's part. Collective (agrees on failure). */
static al_tensordict *bright_nearby(const al_tensordict *td, al_error *err)
{
    const al_tensor *g = al_tensordict_borrow(td, "phot_g_mean_mag");
    const al_tensor *plx = al_tensordict_borrow(td, "parallax");
    int64_t n = al_tensordict_batch_size(td);
    unsigned char *keep = calloc((size_t)(n > 0 ? n : 1), 1);
    int rc = g && plx && keep ? AL_OK
                              : al_error_set(err, AL_ENOTFOUND, "no phot_g_mean_mag or parallax");
    for (int64_t i = 0; rc == AL_OK && i < n; i++) {
        double gv, pv;
        if (al_tensor_get_double(g, &i, &gv) == AL_OK &&
            al_tensor_get_double(plx, &i, &pv) == AL_OK)
            keep[i] = gv < 16.0 && pv > 2.0;
    }
    al_tensordict *sel = rc == AL_OK ? select_rows(td, keep, err) : NULL;
    free(keep);
    if (al_mpi_agree(MPI_COMM_WORLD,
                     sel         ? AL_OK
                     : err->code ? err->code
                                 : AL_ENOMEM,
                     err) != AL_OK) {
        al_survey_free(sel);
        return NULL;
    }
    return sel;
}

static int fail(const char *what, const al_error *err)
{
    fprintf(stderr, "rank %d: %s: %s\n", rank, what, err->message);
    MPI_Finalize();
    return 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char path[256] = "gaia_like.csv";
    const char *out = argc > 2 ? argv[2] : "gaia_selection.fits";
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else if (rank == 0 && write_catalog(path, 20000) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Barrier(MPI_COMM_WORLD);

    al_error err = {0};
    al_tensordict *td = al_mpi_survey_load(path, NULL, MPI_COMM_WORLD, &err); /* 1. load */
    if (!td)
        return fail("load", &err);
    al_tensordict *sel = bright_nearby(td, &err); /* 2. select */
    al_survey_free(td);
    if (!sel)
        return fail("select", &err);
    al_optimize_options oo; /* 3. optimize, the same way on every rank */
    al_optimize_options_init(&oo);
    oo.lossy_float = 1, oo.tolerance = 1e-6; /* float32 where values stay within 1e-6 */
    al_mpi_optimize_report rep;
    int rc = al_mpi_optimize_memory(sel, &oo, MPI_COMM_WORLD, &rep);
    if (rc != AL_OK) {
        al_error_set(&err, rc, "%s", al_strerror(rc));
        return fail("optimize", &err);
    }
    al_mpi_diagnosis *d = al_mpi_diagnose(MPI_COMM_WORLD, 0, &err); /* 4. diagnose the job */
    al_mpi_job_stats st;
    if (!d || al_mpi_memory_stats(MPI_COMM_WORLD, 0, &st) != AL_OK)
        return fail("diagnose", &err);
    if (al_mpi_survey_save_fits(sel, out, MPI_COMM_WORLD, &err) != AL_OK) /* 5. save */
        return fail("save", &err);

    int64_t mine = al_tensordict_batch_size(sel), total = 0, loaded = 0;
    MPI_Reduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        char *text = al_job_view_text(d), *json = al_mpi_memory_stats_json(&st);
        printf("%s\nmemory over the ranks: %s\n", text ? text : "", json ? json : "");
        free(text);
        free(json);
        al_tensordict *back = al_survey_load(out, NULL, &err);
        loaded = back ? al_tensordict_batch_size(back) : -1;
        al_survey_free(back);
        printf("optimize: %llu -> %llu bytes in the job (%zu columns narrowed)\n",
               (unsigned long long)rep.job_bytes_before, (unsigned long long)rep.job_bytes_after,
               rep.n_changed);
        printf("selected %lld stars; %s holds %lld rows\n", (long long)total, out,
               (long long)loaded);
    }
    al_mpi_diagnosis_free(d);
    al_survey_free(sel);
    MPI_Finalize();
    return rank == 0 && loaded != total ? 1 : 0;
}
