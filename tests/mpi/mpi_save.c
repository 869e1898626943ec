/* al_mpi_optimize_memory and al_mpi_survey_save_fits on 4 ranks: every rank narrows every column
 * the same way, from the job's values (a column whose range outgrows int16 only in the last
 * parts becomes int32 everywhere; floats that do not all round-trip stay float64 everywhere);
 * the file all ranks write together reads back with astropy equal to the one-process save; a
 * save that fails on one rank fails on all and leaves the existing file as it was. */
#include <sys/stat.h>

#include "mpi_common.h"

static al_dtype dtype_of(const al_tensordict *td, const char *key)
{
    const al_tensor *t = al_tensordict_borrow(td, key);
    return t ? al_tensor_dtype(t) : AL_DTYPE_COUNT_;
}

/* Every rank's schema equals rank 0's. */
static void check_same_schema(const al_tensordict *td, const char *what)
{
    static char mine[8192], root[8192];
    mt_schema(td, mine, sizeof mine);
    memcpy(root, mine, sizeof root);
    MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (strcmp(mine, root) != 0) {
        fprintf(stderr, "rank %d: %s: schema differs from rank 0's:\n  %s\n  %s\n", mt_rank, what,
                mine, root);
        mt_failed++;
    }
}

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    size_t len;
    char *text = catalog_csv(1000, &len);
    const char *csv = mt_write("cat.csv", text, len);
    free(text);
    char whole_fits[128], job_fits[128];
    snprintf(whole_fits, sizeof whole_fits, "%s", mt_path("whole.fits"));
    snprintf(job_fits, sizeof job_fits, "%s", mt_path("job.fits"));
    al_error err;
    if (mt_rank == 0) {
        al_survey_options o;
        al_survey_options_init(&o);
        o.null_masks = 1;
        al_tensordict *whole = al_survey_load(csv, &o, &err);
        MT_CHECK(whole && al_survey_save_fits(whole, whole_fits, NULL, &err) == AL_OK);
        al_survey_free(whole);
    }
    al_tensordict *part = al_mpi_survey_load(csv, NULL, MPI_COMM_WORLD, &err);
    MT_CHECK(part != NULL);
    if (!part)
        return mt_finish();

    al_mpi_optimize_report rep;
    MT_CHECK(al_mpi_optimize_memory(part, NULL, MPI_COMM_WORLD, &rep) == AL_OK);
    MT_CHECK(rep.n_changed > 0 && rep.job_bytes_after < rep.job_bytes_before);
    MT_CHECK(rep.bytes_after < rep.bytes_before);
    check_same_schema(part, "optimized");
    MT_CHECK(dtype_of(part, "grow") == AL_DTYPE_INT32);   /* rank 0's part alone: int16 */
    MT_CHECK(dtype_of(part, "prec") == AL_DTYPE_FLOAT64); /* 0.1 is on rank 3 only */
    MT_CHECK(dtype_of(part, "ra") == AL_DTYPE_FLOAT32);

    MT_CHECK(al_mpi_survey_save_fits(part, job_fits, MPI_COMM_WORLD, &err) == AL_OK);
    if (mt_rank == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/mpi/compare_fits.py '%s' '%s'",
                 ASTROLAB_TESTS_DIR, whole_fits, job_fits);
        MT_CHECK(system(cmd) == 0);
    }

    /* Rank 1's part lacks a column: every rank fails, and job.fits stays as it was. */
    struct stat before, after;
    MT_CHECK(stat(job_fits, &before) == 0);
    if (mt_rank == 1)
        MT_CHECK(al_tensordict_remove(part, "prec", NULL) == AL_OK);
    int rc = al_mpi_survey_save_fits(part, job_fits, MPI_COMM_WORLD, &err);
    MT_CHECK(rc == (mt_rank == 0 ? AL_EINVAL : rc) && rc != AL_OK);
    MT_CHECK(stat(job_fits, &after) == 0 && after.st_ino == before.st_ino);
    MPI_Barrier(MPI_COMM_WORLD);
    if (mt_rank == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/mpi/compare_fits.py '%s' '%s' >/dev/null",
                 ASTROLAB_TESTS_DIR, whole_fits, job_fits);
        MT_CHECK(system(cmd) == 0);
    }
    al_survey_free(part);
    return mt_finish();
}
