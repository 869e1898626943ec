/* al_mpi_agree and al_mpi_survey_load on 4 ranks: the parts of a FITS table and of CSV files
 * (quoted newlines at every place a cut can fall, types that only the whole file decides)
 * concatenate to the single-process load, with the same schema on every rank; a failure on one rank
 * (every allocation of its load in turn) makes every rank fail in the same call, and leaks nothing.
 */
#include "mpi_common.h"

static void test_fits_parts_equal_the_whole(void)
{
    size_t len;
    char *text = catalog_csv(1003, &len);
    const char *csv = mt_write("cat.csv", text, len);
    free(text);
    const char *fits = mt_path("cat.fits");
    al_error err;
    if (mt_rank == 0) {
        al_tensordict *td = al_survey_load(csv, NULL, &err);
        MT_CHECK(td && al_survey_save_fits(td, fits, NULL, &err) == AL_OK);
        al_survey_free(td);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    al_survey_options o;
    al_survey_options_init(&o);
    o.null_masks = 1; /* as the parts have them */
    al_tensordict *whole = mt_rank == 0 ? al_survey_load(fits, &o, &err) : NULL;
    al_tensordict *part = al_mpi_survey_load(fits, NULL, MPI_COMM_WORLD, &err);
    MT_CHECK(part != NULL);
    if (part)
        mt_check_parts(part, whole, "fits");
    al_survey_free(part);
    /* A row range of the whole table, cut among the ranks. */
    o.row_start = 10, o.row_stop = 500;
    al_survey_free(whole);
    whole = mt_rank == 0 ? al_survey_load(fits, &o, &err) : NULL;
    al_survey_options r;
    al_survey_options_init(&r);
    r.row_start = 10, r.row_stop = 500;
    part = al_mpi_survey_load(fits, &r, MPI_COMM_WORLD, &err);
    MT_CHECK(part && al_tensordict_batch_size(part) >= 122 &&
             al_tensordict_batch_size(part) <= 123);
    if (part)
        mt_check_parts(part, whole, "fits rows 10..500");
    al_survey_free(part);
    al_survey_free(whole);
}

/* Records with quoted newlines, commas and doubled quotes. Shifting the file by `pad` bytes
 * moves the 3 cuts of 4 ranks through every byte of a record. */
static char *quoted_csv(int pad, size_t *len)
{
    size_t cap = 8192, at = 0;
    char *s = malloc(cap);
    at += (size_t)snprintf(s, cap, "id,pad,text,v\n0,%.*s,\"first\",1\n", pad,
                           "pppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
    for (int i = 1; i < 24; i++)
        at += (size_t)snprintf(s + at, cap - at, "%d,p,\"a\n\"\"q\"\",\nb\n\",%d.5\n", i, i);
    *len = at;
    return s;
}

static void test_csv_cuts_inside_quoted_newlines(void)
{
    for (int pad = 0; pad < 40; pad++) {
        size_t len;
        char *text = quoted_csv(pad, &len);
        const char *csv = mt_write("quoted.csv", text, len);
        free(text);
        al_error err;
        al_survey_options o;
        al_survey_options_init(&o);
        o.null_masks = 1;
        al_tensordict *whole = mt_rank == 0 ? al_survey_load(csv, &o, &err) : NULL;
        al_tensordict *part = al_mpi_survey_load(csv, NULL, MPI_COMM_WORLD, &err);
        MT_CHECK(part != NULL);
        if (!part)
            fprintf(stderr, "rank %d: pad %d: %s\n", mt_rank, pad, err.message);
        char what[32];
        snprintf(what, sizeof what, "quoted csv, pad %d", pad);
        if (part)
            mt_check_parts(part, whole, what);
        al_survey_free(part);
        al_survey_free(whole);
    }
}

static void test_csv_types_are_the_whole_files(void)
{
    size_t len;
    char *text = catalog_csv(400, &len);
    /* The last row makes column "n" a string column and "flag" a string one too. */
    text = realloc(text, len + 64);
    len += (size_t)snprintf(text + len, 64, "9999,1.0,2.0,3.0,lastname,7,n/a?,1,0.5\n");
    const char *csv = mt_write("types.csv", text, len);
    free(text);
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    o.null_masks = 1;
    al_tensordict *whole = mt_rank == 0 ? al_survey_load(csv, &o, &err) : NULL;
    if (whole) {
        MT_CHECK(al_tensor_dtype(al_tensordict_borrow(whole, "n")) == AL_DTYPE_STRING);
        MT_CHECK(al_tensor_dtype(al_tensordict_borrow(whole, "flag")) == AL_DTYPE_STRING);
    }
    al_tensordict *part = al_mpi_survey_load(csv, NULL, MPI_COMM_WORLD, &err);
    MT_CHECK(part != NULL);
    if (part)
        mt_check_parts(part, whole, "types");
    al_survey_free(part);
    al_survey_free(whole);
}

/* Rank 2's n-th tracked allocation fails, for every n until its load succeeds. */
static void test_failure_on_one_rank_fails_every_rank(void)
{
    const char *csv = mt_path("types.csv");
    size_t len;
    char *text = catalog_csv(300, &len);
    csv = mt_write("fault.csv", text, len);
    free(text);
    for (uint64_t n = 1; n < 10000; n++) {
        al_memory_stats before;
        MT_CHECK(al_get_memory_stats(&before) == AL_OK);
        if (mt_rank == 2)
            al_memory_fail_after(n, 0);
        al_error err;
        al_error_clear(&err);
        al_tensordict *td = al_mpi_survey_load(csv, NULL, MPI_COMM_WORLD, &err);
        if (mt_rank == 2)
            al_memory_fail_after(0, 0);
        int ok = td != NULL, all = 0, any = 0;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&ok, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MT_CHECK(all == any); /* every rank succeeded, or every rank failed */
        if (!ok)
            MT_CHECK(err.code == (mt_rank == 2 ? AL_ENOMEM : AL_EPEER));
        if (!ok && mt_rank != 2)
            MT_CHECK(strncmp(err.message, "rank 2: ", 8) == 0);
        al_survey_free(td);
        al_memory_stats after;
        MT_CHECK(al_get_memory_stats(&after) == AL_OK && after.live_blocks == before.live_blocks);
        if (all) {
            if (mt_rank == 0)
                printf("fault sweep: every rank failed together for n = 1..%llu\n",
                       (unsigned long long)n - 1);
            break;
        }
    }
}

static void test_bad_file_fails_every_rank(void)
{
    al_error err;
    /* Rank 1 asks for a file that is not there: the others must not wait for it. */
    const char *path = mt_rank == 1 ? mt_path("missing.csv") : mt_path("fault.csv");
    al_tensordict *td = al_mpi_survey_load(path, NULL, MPI_COMM_WORLD, &err);
    MT_CHECK(td == NULL);
    MT_CHECK(err.code == (mt_rank == 1 ? AL_ENOTFOUND : AL_EPEER));
    al_survey_free(td);
}

/* Two ranks fail with their own errors: each keeps its own; the others quote the lowest. */
static void test_agree_quotes_the_lowest_failing_rank(void)
{
    al_error err;
    al_error_clear(&err);
    int mine = mt_rank == 1   ? al_error_set(&err, AL_EIO, "disk gone on 1")
               : mt_rank == 3 ? al_error_set(&err, AL_EFORMAT, "bad row on 3")
                              : AL_OK;
    int rc = al_mpi_agree(MPI_COMM_WORLD, mine, &err);
    MT_CHECK(rc == (mt_rank == 1 ? AL_EIO : mt_rank == 3 ? AL_EFORMAT : AL_EPEER));
    if (mt_rank == 0 || mt_rank == 2)
        MT_CHECK(strcmp(err.message, "rank 1: disk gone on 1") == 0);
    if (mt_rank == 3)
        MT_CHECK(strcmp(err.message, "bad row on 3") == 0);
    MT_CHECK(al_mpi_agree(MPI_COMM_WORLD, AL_OK, NULL) == AL_OK);
}

int main(int argc, char **argv)
{
    mt_init(&argc, &argv);
    test_agree_quotes_the_lowest_failing_rank();
    test_fits_parts_equal_the_whole();
    test_csv_cuts_inside_quoted_newlines();
    test_csv_types_are_the_whole_files();
    test_failure_on_one_rank_fails_every_rank();
    test_bad_file_fails_every_rank();
    return mt_finish();
}
