/* Shared by the MPI test programs (tests/mpi/mpi_*.c, run by mpirun -np 4): checks that report
 * rank, file and line, a directory every rank sees, and the comparison of a partitioned load with
 * the whole one. */
#ifndef ASTROLAB_TESTS_MPI_COMMON_H
#define ASTROLAB_TESTS_MPI_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astrolab/astrolab.h"
#include "astrolab/mpi.h"

static int mt_rank, mt_size, mt_failed;

#define MT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: %s:%d: CHECK failed: %s\n", mt_rank, __FILE__, __LINE__,     \
                    #cond);                                                                        \
            mt_failed++;                                                                           \
        }                                                                                          \
    } while (0)

static char mt_dir[64];

/* Starts MPI and makes rank 0's temporary directory known to every rank. */
static void mt_init(int *argc, char ***argv)
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &mt_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mt_size);
    if (mt_rank == 0) {
        snprintf(mt_dir, sizeof mt_dir, "/tmp/astrolab-mpi-XXXXXX");
        if (!mkdtemp(mt_dir))
            MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Bcast(mt_dir, sizeof mt_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
}

__attribute__((unused)) static const char *mt_path(const char *name)
{
    static char bufs[4][128];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, 128, "%s/%s", mt_dir, name);
    return b;
}

/* Rank 0 writes `text` to `name`; every rank returns its path once it is there. */
__attribute__((unused)) static const char *mt_write(const char *name, const char *text, size_t len)
{
    const char *p = mt_path(name);
    if (mt_rank == 0) {
        FILE *f = fopen(p, "w");
        if (!f || fwrite(text, 1, len, f) != len)
            MPI_Abort(MPI_COMM_WORLD, 2);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return p;
}

/* Ends the program: zero live tracked blocks on every rank, the directory removed; the exit
 * status is 1 on every rank when a check failed on any. */
static int mt_finish(void)
{
    al_memory_stats s;
    if (al_get_memory_stats(&s) == AL_OK && s.live_blocks != 0) {
        fprintf(stderr, "rank %d: %llu tracked blocks still live\n", mt_rank,
                (unsigned long long)s.live_blocks);
        mt_failed++;
    }
    int any = 0;
    MPI_Allreduce(&mt_failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (mt_rank == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", mt_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", mt_dir);
        printf("%s: %d failed checks on %d ranks\n", any ? "FAIL" : "ok", any, mt_size);
    }
    MPI_Finalize();
    return any ? 1 : 0;
}

/* A catalog whose parts differ: a nullable int that is missing only early on, strings of
 * growing width, bools with a gap, an int whose range grows past int16 in the last parts
 * ("grow"), floats that round-trip through float32 except in the last rows ("prec"). */
__attribute__((unused)) static char *catalog_csv(int rows, size_t *len)
{
    size_t cap = (size_t)rows * 128 + 64, at = 0;
    char *s = malloc(cap);
    at += (size_t)snprintf(s, cap, "source_id,ra,dec,phot_g_mean_mag,name,flag,n,grow,prec\n");
    for (int i = 0; i < rows; i++) {
        char n[16] = "";
        if (i % 7 || i > rows / 3)
            snprintf(n, sizeof n, "%d", i * 3);
        at +=
            (size_t)snprintf(s + at, cap - at, "%d,%.6f,%.6f,%s,star%.*s%d,%s,%s,%d,%s\n", 1000 + i,
                             i * 0.25, -i * 0.125, i % 11 ? "12.5" : "", i % 5, "xxxxx", i,
                             i % 13 == 0 ? ""
                             : i % 2     ? "true"
                                         : "false",
                             n, i * i, i >= rows - 10 ? "0.1" : "0.5");
    }
    *len = at;
    return s;
}

/* A text that names td's entries, dtypes and widths and its metadata (all but row counts of
 * the part): equal on every rank of a partitioned load, and to the whole load's. */
static void mt_schema(const al_tensordict *td, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < al_tensordict_len(td); i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(td, i, &e) != AL_OK || !e.tensor)
            continue;
        at += (size_t)snprintf(buf + at, len - at, "%s:%s:%zu;", e.name,
                               al_dtype_name(al_tensor_dtype(e.tensor)),
                               al_tensor_itemsize(e.tensor));
        if (at >= len)
            return;
    }
    const al_survey_meta *m = al_survey_info(td);
    if (!m)
        return;
    at += (size_t)snprintf(buf + at, len - at, "|%s|%s|%s|%lld|", m->survey, m->path, m->format,
                           (long long)m->file_rows);
    for (size_t j = 0; j < m->n_columns && at < len; j++)
        at += (size_t)snprintf(buf + at, len - at, "%s,%s,%s,%s;", m->columns[j].name,
                               m->columns[j].unit, m->columns[j].role, m->columns[j].format);
}

/* Checks that the parts `part` of every rank, concatenated in rank order, equal `whole` (rank
 * 0's; NULL elsewhere) byte for byte, with the same schema and metadata. Collective. */
__attribute__((unused)) static void mt_check_parts(const al_tensordict *part,
                                                   const al_tensordict *whole, const char *what)
{
    static char mine[8192], want[8192], got[8192];
    mt_schema(part, mine, sizeof mine);
    if (mt_rank == 0)
        mt_schema(whole, want, sizeof want);
    MPI_Bcast(want, sizeof want, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (strcmp(mine, want) != 0) {
        fprintf(stderr, "rank %d: %s: schema\n  %s\nwhole:\n  %s\n", mt_rank, what, mine, want);
        mt_failed++;
    }
    (void)got;
    int64_t first = -1;
    MT_CHECK(al_mpi_first_row(part, MPI_COMM_WORLD, &first, NULL) == AL_OK);
    size_t n = al_tensordict_len(part);
    for (size_t i = 0; i < n; i++) {
        al_tensordict_entry e;
        if (al_tensordict_entry_at(part, i, &e) != AL_OK || !e.tensor)
            continue;
        int bytes = (int)al_tensor_nbytes(e.tensor);
        int *counts = mt_rank == 0 ? calloc((size_t)mt_size, sizeof(int)) : NULL;
        int *displs = mt_rank == 0 ? calloc((size_t)mt_size, sizeof(int)) : NULL;
        MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
        char *all = NULL;
        int total = 0;
        if (mt_rank == 0) {
            for (int r = 0; r < mt_size; r++)
                displs[r] = total, total += counts[r];
            all = malloc((size_t)total + 1);
        }
        MPI_Gatherv(al_tensor_data(e.tensor), bytes, MPI_BYTE, all, counts, displs, MPI_BYTE, 0,
                    MPI_COMM_WORLD);
        if (mt_rank == 0) {
            const al_tensor *w = al_tensordict_borrow(whole, e.name);
            if (!w || (int)al_tensor_nbytes(w) != total ||
                (total && memcmp(al_tensor_data(w), all, (size_t)total) != 0)) {
                int at = 0;
                while (w && at < total && at < (int)al_tensor_nbytes(w) &&
                       ((const char *)al_tensor_data(w))[at] == all[at])
                    at++;
                fprintf(stderr,
                        "rank 0: %s: column %s: the parts differ from the whole (%d of %d "
                        "bytes equal)\n",
                        what, e.name, at, total);
                mt_failed++;
            }
        }
        free(all);
        free(counts);
        free(displs);
    }
    /* The parts' first rows: the sums of the rows before. */
    int64_t rows = al_tensordict_batch_size(part), before = 0;
    MPI_Exscan(&rows, &before, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MT_CHECK(first == (mt_rank ? before : 0));
}

#endif
